//! The seam queued work goes through.

use std::sync::Arc;

use anyhow::Result;
use async_trait::async_trait;

use crate::event::Event;
use crate::listener::EventListener;

/// What the listeners of a queued event ask of the event's job, which
/// carries the event to the worker before any of them sees it: sealed
/// when one of them is `encrypted` (its payload must not be stored in
/// plain text on the way), held to the unit of work's commit when one of
/// them is `after_commit`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct EventJobNeeds {
    /// A queued listener of the event is `encrypted`.
    pub sealed: bool,
    /// A listener of the event is `after_commit`.
    pub after_commit: bool,
}

impl EventJobNeeds {
    /// Needs the listeners of an event declare.
    pub fn new(sealed: bool, after_commit: bool) -> Self {
        Self {
            sealed,
            after_commit,
        }
    }

    /// True when the event's job needs more than the event's own settings.
    pub fn any(self) -> bool {
        self.sealed || self.after_commit
    }
}

/// Where queued listeners and queued events go instead of running inline.
/// With none set, they run inline (Laravel's `sync` connection).
#[async_trait]
pub trait QueueableHandler: Send + Sync {
    /// Takes a [`should_queue`](Event::should_queue) event; the dispatcher
    /// then calls none of its listeners itself. An error becomes the
    /// dispatch's [`QueueFailed`](crate::QueueFailed).
    async fn queue_event(&self, event: Arc<dyn Event>) -> Result<()>;

    /// Takes a queued event whose listeners ask more of its job
    /// ([`EventJobNeeds`]: sealed, after commit). The default hands the
    /// event to [`QueueableHandler::queue_event`]; the queue
    /// (`event_core::queue::Queue`) seals the job or holds it to the commit.
    async fn queue_event_with(&self, event: Arc<dyn Event>, needs: EventJobNeeds) -> Result<()> {
        let _ = needs;
        self.queue_event(event).await
    }
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
