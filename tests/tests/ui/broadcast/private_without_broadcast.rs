use event_core::Event;
use serde::Serialize;

#[derive(Debug, Serialize, Event)]
#[event(private)]
pub struct OrderShippedEvent {
    pub order_id: u64,
    pub carrier: String,
}

fn main() {}
