use event_core::{Event, listener};
use serde::Serialize;

#[derive(Debug, Serialize, Event)]
pub struct UserRegisteredEvent {
    pub email: String,
}

#[derive(Debug, Serialize, Event)]
pub struct OrderShippedEvent;

#[listener(event = UserRegisteredEvent)]
fn send_welcome_email(_event: &UserRegisteredEvent) -> anyhow::Result<()> {
    Ok(())
}

fn main() {}
