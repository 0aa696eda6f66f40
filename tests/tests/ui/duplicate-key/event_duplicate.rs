use event_core::Event;
use serde::Serialize;

#[derive(Debug, Serialize, Event)]
#[event(queue = "emails")]
#[event(priority = 5, queue = "mail")]
pub struct UserRegisteredEvent;

fn main() {}
