use event_core::{Event, listener};
use serde::Serialize;

#[derive(Debug, Serialize, Event)]
pub struct PaymentTaken;

#[listener(event = PaymentTaken, encrypted)]
async fn record_card(_event: &PaymentTaken) -> anyhow::Result<()> {
    Ok(())
}

fn main() {}
