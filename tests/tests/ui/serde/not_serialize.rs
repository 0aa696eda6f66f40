use event_core::Event;

#[derive(Debug, Event)]
pub struct UserRegisteredEvent {
    pub email: String,
}

fn main() {}
