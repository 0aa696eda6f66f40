use event_core::{Event, listener};
use serde::Serialize;

#[derive(Debug, Serialize, Event)]
pub struct OrderPlacedEvent;

#[listener(event = OrderPlacedEvent, replayable = "no")]
async fn charge_card(_event: &OrderPlacedEvent) -> anyhow::Result<()> {
    Ok(())
}

fn main() {}
