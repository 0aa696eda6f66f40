use event_core::Event;
use serde::Serialize;

#[derive(Debug, Serialize, Event)]
#[event(name = "order.shipped", presence)]
pub struct OrderShippedEvent {
    pub order_id: u64,
    pub carrier: String,
}

fn main() {}
