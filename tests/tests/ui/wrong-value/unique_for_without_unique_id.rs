use event_core::{Event, listener};
use serde::Serialize;

#[derive(Debug, Serialize, Event)]
pub struct UserRegisteredEvent {
    pub id: u64,
}

#[listener(event = UserRegisteredEvent, queued, unique_for = 60)]
async fn send_welcome_email(_event: &UserRegisteredEvent) -> anyhow::Result<()> {
    Ok(())
}

fn main() {}
