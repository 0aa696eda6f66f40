use event_core::Event;
use serde::Serialize;

#[derive(Debug, Serialize, Event)]
#[event(queued)]
pub struct UserRegisteredEvent {
    pub email: String,
}

fn main() {}
