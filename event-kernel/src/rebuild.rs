//! Rebuilding events and listeners by name: what a queue worker needs to
//! run a stored job and what a replay needs to run a stored event again.

use std::sync::Arc;

use crate::event::Event;
use crate::listener::EventListener;

/// Turns a stored event name and JSON payload back into the event, and
/// names its listeners. The queue's `JobRegistry` implements it (artisan
/// generates one per app); the event store's replay reads through it, so
/// neither knows the other.
pub trait Rebuild: Send + Sync {
    /// Why an event could not be rebuilt.
    type Error: std::error::Error + Send + Sync + 'static;

    /// The event `event_name` with this payload.
    fn rebuild_event(
        &self,
        event_name: &str,
        payload: serde_json::Value,
    ) -> Result<Arc<dyn Event>, Self::Error>;

    /// The listeners of `event_name`, in registration order.
    fn listeners_of(&self, event_name: &str) -> Vec<Arc<dyn EventListener>>;
}
