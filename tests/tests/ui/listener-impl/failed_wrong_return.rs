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
impl ChargeCard {
    async fn handle(&self, _event: &OrderShippedEvent) -> anyhow::Result<()> {
        Ok(())
    }

    async fn failed(&self, _event: &OrderShippedEvent, _error: &anyhow::Error) -> bool {
        true
    }
}

fn main() {}
