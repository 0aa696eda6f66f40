use event_core::{Event, listener};
use serde::Serialize;

#[derive(Debug, Serialize, Event)]
pub struct UserRegisteredEvent;

#[listener(event = UserRegisteredEvent, queued, retry_until = 0)]
async fn send_welcome_email(_event: &UserRegisteredEvent) -> anyhow::Result<()> {
    Ok(())
}

fn main() {}
