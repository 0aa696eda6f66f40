// A mistake in a subscriber is reported once, at the mistake; the code
// subscribing it sees a stub `Subscriber` impl and reports nothing more.
use event_core::prelude::*;
use serde::{Deserialize, Serialize};

#[derive(Debug, Serialize, Deserialize, Event)]
pub struct Login;

#[derive(Debug, Serialize, Deserialize, Event)]
pub struct Logout;

pub struct UserEventSubscriber;

#[subscriber]
impl UserEventSubscriber {
    #[listen(tries = "three")]
    async fn on_login(&self, _event: &Login) -> anyhow::Result<()> {
        Ok(())
    }
}

async fn boot(events: &Dispatcher) {
    events.subscribe(UserEventSubscriber).await;
}

fn main() {
    let _ = boot;
}
