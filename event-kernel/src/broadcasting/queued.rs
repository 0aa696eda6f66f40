//! Broadcasting as a job: an event whose `ShouldBroadcast::should_queue_broadcast()`
//! is true (the seed's default, Laravel's `ShouldBroadcast`) is broadcast by
//! a queue worker, not by the dispatch that raised it.

use std::sync::Arc;

use anyhow::Context;
use async_trait::async_trait;

use super::{BroadcastMessage, Broadcaster};
use crate::event::Event;
use crate::handler::QueueableHandler;
use crate::listener::EventListener;

/// The name broadcast jobs are stored under; a worker finds its
/// broadcaster by it (`JobRegistry::broadcaster` in the queue).
pub const BROADCAST_LISTENER: &str = "event_core::broadcast";

/// The listener a broadcast job runs: sends the event to its broadcaster.
pub struct BroadcastListener(pub Arc<dyn Broadcaster>);

impl std::fmt::Debug for BroadcastListener {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("BroadcastListener")
    }
}

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
pub fn is_queued(event: &dyn Event) -> bool {
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
