use event_core::{Event, listener};
use serde::Serialize;

#[derive(Debug, Serialize, Event)]
pub struct UserRegisteredEvent;

#[listener(event = UserRegisteredEvent, queued, encrypted = "yes")]
async fn send_welcome_email(_event: &UserRegisteredEvent) -> anyhow::Result<()> {
    Ok(())
}

fn main() {}
