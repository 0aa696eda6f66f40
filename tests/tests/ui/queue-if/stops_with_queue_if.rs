use event_core::prelude::*;
use serde::{Deserialize, Serialize};

#[derive(Debug, Serialize, Deserialize, Event)]
pub struct OrderPlaced {
    pub total: u32,
}

fn is_large(event: &OrderPlaced) -> bool {
    event.total > 100
}

#[listener(event = OrderPlaced, queue_if = is_large)]
async fn charge(_event: &OrderPlaced) -> anyhow::Result<Propagation> {
    Ok(Propagation::Continue)
}

fn main() {}
