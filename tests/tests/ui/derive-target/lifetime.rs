use event_core::Event;
use serde::Serialize;

#[derive(Debug, Serialize, Event)]
pub struct UserRegisteredEvent<'a> {
    pub email: &'a str,
}

fn main() {}
