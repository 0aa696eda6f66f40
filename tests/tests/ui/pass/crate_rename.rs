// A renamed event-core dependency, reached through `crate = "..."`.
extern crate event_core as events;

use events::{Event, EventListener, listener};
use serde::{Deserialize, Serialize};

#[derive(Debug, Serialize, Deserialize, Event)]
#[event(crate = "events", queued, broadcast = "users.{id}")]
pub struct UserRegisteredEvent {
    pub id: u32,
}

#[listener(crate = "::events", event = UserRegisteredEvent, connection = "sync")]
async fn welcome(_event: &UserRegisteredEvent) -> anyhow::Result<()> {
    Ok(())
}

fn main() {
    assert_eq!(UserRegisteredEvent { id: 1 }.event_name(), "UserRegistered");
    assert_eq!(WelcomeListener.options().connection.as_deref(), Some("sync"));
}
