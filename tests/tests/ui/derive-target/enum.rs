use event_core::Event;
use serde::Serialize;

#[derive(Debug, Serialize, Event)]
pub enum UserEvent {
    Registered { email: String },
    Deleted,
}

fn main() {}
