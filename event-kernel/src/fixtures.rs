//! What this crate's unit tests share.

use crate::event::Event;

/// An event with a name and nothing else.
#[derive(Debug)]
pub(crate) struct Ping;

impl Event for Ping {
    fn event_name(&self) -> &'static str {
        "Ping"
    }
    fn to_json(&self) -> serde_json::Value {
        serde_json::Value::Null
    }
}
