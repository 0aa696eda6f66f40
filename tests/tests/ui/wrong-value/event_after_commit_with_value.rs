use event_core::Event;
use serde::Serialize;

#[derive(Debug, Serialize, Event)]
#[event(after_commit = true)]
pub struct InvoicePaid;

fn main() {}
