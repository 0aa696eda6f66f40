use event_core::prelude::*;
use serde::{Deserialize, Serialize};

#[derive(Debug, Serialize, Deserialize, Event)]
pub struct OrderPlaced;

#[listener(event = OrderPlaced, queued)]
async fn gate(_event: &OrderPlaced) -> anyhow::Result<Propagation> {
    Ok(Propagation::Stop)
}

fn main() {}
