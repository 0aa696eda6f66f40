use event_core::prelude::*;
use serde::{Deserialize, Serialize};

#[derive(Debug, Serialize, Deserialize, Event)]
pub struct OrderPlaced {
    pub total: u32,
}

fn is_large(total: u32) -> bool {
    total > 100
}

#[listener(event = OrderPlaced, queued, queue_if = is_large)]
async fn charge(_event: &OrderPlaced) -> anyhow::Result<()> {
    Ok(())
}

fn main() {}
