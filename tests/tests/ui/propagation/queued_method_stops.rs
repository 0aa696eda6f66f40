use event_core::prelude::*;
use serde::{Deserialize, Serialize};

#[derive(Debug, Serialize, Deserialize, Event)]
pub struct Login;

#[derive(Debug, Serialize, Deserialize, Event)]
pub struct Logout;

pub struct UserEventSubscriber;

#[subscriber]
impl UserEventSubscriber {
    #[listen(queued, tries = 3)]
    async fn on_logout(&self, _event: &Logout) -> anyhow::Result<Propagation> {
        Ok(Propagation::Continue)
    }
}

fn main() {}
