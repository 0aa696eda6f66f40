use event_core::prelude::*;
use serde::{Deserialize, Serialize};

#[derive(Debug, Serialize, Deserialize, Event)]
pub struct OrderPlaced;

pub struct Gate;

#[listener(event = OrderPlaced, queue = "orders")]
impl Gate {
    async fn handle(&self, _event: &OrderPlaced) -> anyhow::Result<Propagation> {
        Ok(Propagation::Stop)
    }
}

fn main() {}
