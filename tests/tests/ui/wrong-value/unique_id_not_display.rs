use event_core::{Event, listener};
use serde::Serialize;

#[derive(Debug, Serialize, Event)]
pub struct UserRegisteredEvent {
    pub tags: Vec<String>,
}

#[listener(event = UserRegisteredEvent, queued, unique_id = |e: &UserRegisteredEvent| e.tags.clone())]
async fn send_welcome_email(_event: &UserRegisteredEvent) -> anyhow::Result<()> {
    Ok(())
}

fn main() {}
