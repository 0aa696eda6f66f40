use event_core::Event;
use serde::Serialize;

#[derive(Debug, Serialize, Event)]
#[event(priority = "high")]
pub struct UserRegisteredEvent;

fn main() {}
