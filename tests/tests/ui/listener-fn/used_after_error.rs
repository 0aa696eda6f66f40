// A listener with a mistake still yields its struct, so code registering it
// reports nothing more than the one error.
use std::sync::Arc;

use event_core::{Dispatcher, Event, listener};
use serde::Serialize;

#[derive(Debug, Serialize, Event)]
pub struct UserRegisteredEvent;

#[listener(event = UserRegisteredEvent, tries = -1)]
async fn send_welcome_email(_event: &UserRegisteredEvent) -> anyhow::Result<()> {
    Ok(())
}

pub fn register(events: &Dispatcher) {
    let _ = events.listen::<UserRegisteredEvent>(Arc::new(SendWelcomeEmailListener));
}

fn main() {}
