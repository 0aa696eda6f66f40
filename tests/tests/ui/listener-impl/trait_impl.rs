use event_core::{Event, listener};
use serde::Serialize;

#[derive(Debug, Serialize, Event)]
pub struct OrderShippedEvent {
    pub order_id: u64,
}

pub struct ChargeCard {
    pub gateway: String,
}

#[listener(event = OrderShippedEvent)]
impl Clone for ChargeCard {
    fn clone(&self) -> Self {
        ChargeCard { gateway: self.gateway.clone() }
    }
}

fn main() {}
