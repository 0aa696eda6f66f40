use event_core::Event;
use serde::Serialize;

#[derive(Debug, Serialize, Event)]
#[event(channel = "users")]
pub struct UserRegisteredEvent {
    pub email: String,
}

fn main() {}
