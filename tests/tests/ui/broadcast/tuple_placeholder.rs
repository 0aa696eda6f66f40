use event_core::Event;
use serde::Serialize;

#[derive(Debug, Serialize, Event)]
#[event(broadcast = "rooms.{1}")]
pub struct RoomJoined(pub String);

fn main() {}
