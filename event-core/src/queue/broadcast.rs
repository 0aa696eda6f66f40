//! Broadcasting as a job: an event whose `ShouldBroadcast::should_queue_broadcast()`
//! is true (the seed's default, Laravel's `ShouldBroadcast`) is broadcast by
//! a queue worker, not by the dispatch that raised it.

use std::sync::Arc;

use anyhow::Context;
use async_trait::async_trait;

use crate::broadcasting::{BroadcastMessage, Broadcaster};
use crate::event::Event;
use crate::listener::{EventListener, QueueableHandler};

/// The name broadcast jobs are stored under; a worker finds its
/// broadcaster by it ([`super::JobRegistry::broadcaster`]).
pub const BROADCAST_LISTENER: &str = "event_core::broadcast";

/// The listener a broadcast job runs: sends the event to its broadcaster.
pub(crate) struct BroadcastListener(pub Arc<dyn Broadcaster>);

#[async_trait]
impl EventListener for BroadcastListener {
    async fn handle(&self, event: Arc<dyn Event>) -> anyhow::Result<()> {
        match BroadcastMessage::for_event(&*event) {
            Some(message) => self
                .0
                .broadcast(&message)
                .await
                .with_context(|| format!("failed to broadcast event `{}`", event.event_name())),
            None => Ok(()),
        }
    }

    fn should_queue(&self) -> bool {
        true
    }

    fn listener_name(&self) -> &str {
        BROADCAST_LISTENER
    }
}

/// True when `event` is broadcast through the queue.
pub(crate) fn is_queued(event: &dyn Event) -> bool {
    event
        .as_should_broadcast()
        .is_some_and(|b| b.should_queue_broadcast())
}

/// Queues the broadcast of `event` as a job for `broadcaster`.
pub(crate) async fn queue(
    handler: &Arc<dyn QueueableHandler>,
    broadcaster: &Arc<dyn Broadcaster>,
    event: &Arc<dyn Event>,
) -> anyhow::Result<()> {
    let listener: Arc<dyn EventListener> = Arc::new(BroadcastListener(broadcaster.clone()));
    match handler.queue_listener_now(&listener, event) {
        Some(result) => result,
        None => handler.queue_listener(listener, event.clone()).await,
    }
}
