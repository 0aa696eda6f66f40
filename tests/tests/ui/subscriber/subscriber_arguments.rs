use event_core::prelude::*;
use serde::{Deserialize, Serialize};

#[derive(Debug, Serialize, Deserialize, Event)]
pub struct Login;

#[derive(Debug, Serialize, Deserialize, Event)]
pub struct Logout;

pub struct UserEventSubscriber;

#[subscriber(queued)]
impl UserEventSubscriber {
    #[listen]
    async fn on_login(&self, _event: &Login) -> anyhow::Result<()> {
        Ok(())
    }
}

fn main() {}
