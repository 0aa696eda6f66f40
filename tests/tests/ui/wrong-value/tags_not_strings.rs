use event_core::Event;
use serde::Serialize;

#[derive(Debug, Serialize, Event)]
#[event(tags("user", auth))]
pub struct UserRegisteredEvent;

fn main() {}
