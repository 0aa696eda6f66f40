use event_core::Event;
use serde::Serialize;

#[derive(Debug, Serialize, Event)]
#[event(broadcast = "orders.{order_id")]
pub struct OrderShippedEvent {
    pub order_id: u64,
    pub carrier: String,
}

fn main() {}
