//! The seam queued work goes through.

use std::sync::Arc;

use anyhow::Result;
use async_trait::async_trait;

use crate::event::Event;
use crate::listener::EventListener;

/// Where queued listeners and queued events go instead of running inline.
/// With none set, they run inline (Laravel's `sync` connection).
#[async_trait]
pub trait QueueableHandler: Send + Sync {
    /// Takes a [`should_queue`](Event::should_queue) event; the dispatcher
    /// then calls none of its listeners itself. An error becomes the
    /// dispatch's [`QueueFailed`](crate::QueueFailed).
    async fn queue_event(&self, event: Arc<dyn Event>) -> Result<()>;
    /// Queues one queued listener's handling of `event`; an error becomes
    /// the dispatch's [`QueueFailed`](crate::QueueFailed).
    async fn queue_listener(
        &self,
        listener: Arc<dyn EventListener>,
        event: Arc<dyn Event>,
    ) -> Result<()>;

    /// A fast path for handlers that can queue an event without waiting
    /// (the in-process `memory` connection): `Some(result)` when it was
    /// handled, `None` to go through [`QueueableHandler::queue_event`].
    fn queue_event_now(&self, _event: &Arc<dyn Event>) -> Option<Result<()>> {
        None
    }

    /// A fast path for handlers that can queue a listener without waiting:
    /// `Some(result)` when it was handled, `None` to go through
    /// [`QueueableHandler::queue_listener`].
    fn queue_listener_now(
        &self,
        _listener: &Arc<dyn EventListener>,
        _event: &Arc<dyn Event>,
    ) -> Option<Result<()>> {
        None
    }
}
