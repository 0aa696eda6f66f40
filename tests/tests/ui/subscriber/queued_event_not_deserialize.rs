use event_core::prelude::*;
use serde::Serialize;

#[derive(Debug, Serialize, Event)]
pub struct Logout;

pub struct UserEventSubscriber;

#[subscriber]
impl UserEventSubscriber {
    #[listen(queued)]
    async fn on_logout(&self, _event: &Logout) -> anyhow::Result<()> {
        Ok(())
    }
}

fn main() {}
