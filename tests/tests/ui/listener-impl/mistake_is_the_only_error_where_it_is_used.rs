// A mistake in an impl-block `#[listener]` is reported once, at the mistake;
// the code registering the listener sees a stub `EventListener` impl and
// reports nothing more.
use std::sync::Arc;

use event_core::{Event, EventListener, listener};
use serde::Serialize;

#[derive(Debug, Serialize, Event)]
pub struct OrderShippedEvent {
    pub order_id: u64,
}

pub struct ChargeCard;

#[listener(event = OrderShippedEvent, qeue = "payments")]
impl ChargeCard {
    async fn handle(&self, _event: &OrderShippedEvent) -> anyhow::Result<()> {
        Ok(())
    }
}

fn main() {
    let _listener: Arc<dyn EventListener> = Arc::new(ChargeCard);
}
