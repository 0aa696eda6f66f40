//! Listeners and the seam queued work goes through.

use std::sync::Arc;

use anyhow::Result;
use async_trait::async_trait;

use crate::event::Event;

/// Handles an event. Implement it by hand (the seed's way) or generate it with
/// `#[listener(event = E)]`, which hands your function the typed `&E`.
#[async_trait]
pub trait EventListener: Send + Sync {
    async fn handle(&self, event: Arc<dyn Event>) -> Result<()>;

    /// Called when `handle` failed (for a queued listener: after the last try).
    async fn failed(&self, _event: Arc<dyn Event>, _exception: &anyhow::Error) -> Result<()> {
        Ok(())
    }

    fn should_queue(&self) -> bool {
        false
    }
    fn queue_name(&self) -> Option<&str> {
        None
    }
    fn can_retry(&self) -> bool {
        true
    }
    fn max_exceptions(&self) -> Option<u32> {
        None
    }
    fn backoff(&self) -> Vec<chrono::Duration> {
        vec![]
    }

    /// False for listeners with side effects (mail, payments) that must not
    /// run again when the event store replays an event; inside a listener,
    /// [`is_replaying`](crate::store::is_replaying) tells the two apart.
    fn replayable(&self) -> bool {
        true
    }

    /// A stable name for the listener: queue jobs and error messages use it.
    /// Defaults to the Rust type path.
    fn listener_name(&self) -> &str {
        std::any::type_name::<Self>()
    }

    /// The [`ShouldQueueListener`] view of this listener. Return `Some(self)`
    /// from a hand-written impl so queue workers see its `tries`, `timeout`...
    fn as_should_queue_listener(&self) -> Option<&dyn ShouldQueueListener> {
        None
    }

    /// Every queue knob in one place; what queue connections and workers read.
    /// The default gathers them from the methods above and, when present,
    /// from the [`ShouldQueueListener`] view; `#[listener]` overrides it.
    fn options(&self) -> ListenerOptions {
        let mut options = ListenerOptions {
            queued: self.should_queue(),
            queue: self.queue_name().map(str::to_string),
            max_exceptions: self.max_exceptions(),
            backoff: self.backoff(),
            retry: self.can_retry(),
            ..ListenerOptions::default()
        };
        if let Some(queued) = self.as_should_queue_listener() {
            options.connection = queued.queue_connection().map(str::to_string);
            if let Some(queue) = queued.queue() {
                options.queue = Some(queue.to_string());
            }
            options.delay = queued.delay();
            options.tries = queued.tries();
            options.timeout = queued.timeout();
            options.after_commit = queued.after_commit();
        }
        options
    }
}

/// The queue knobs of a listener, as one value.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ListenerOptions {
    pub queued: bool,
    pub connection: Option<String>,
    pub queue: Option<String>,
    pub tries: Option<u32>,
    pub timeout: Option<chrono::Duration>,
    pub delay: Option<chrono::Duration>,
    pub backoff: Vec<chrono::Duration>,
    pub max_exceptions: Option<u32>,
    pub after_commit: bool,
    /// `can_retry()`: false means one attempt whatever `tries` says.
    pub retry: bool,
}

/// Laravel's `ShouldQueue` for listeners, with its builder methods.
#[async_trait]
pub trait ShouldQueueListener: EventListener {
    fn queue_connection(&self) -> Option<&str> {
        None
    }
    fn queue(&self) -> Option<&str> {
        self.queue_name()
    }
    fn delay(&self) -> Option<chrono::Duration> {
        None
    }
    fn tries(&self) -> Option<u32> {
        None
    }
    fn timeout(&self) -> Option<chrono::Duration> {
        None
    }
    fn middleware(&self) -> Vec<String> {
        vec![]
    }
    fn after_commit(&self) -> bool {
        false
    }
    /// Route this listener to another connection.
    fn via_connection(self, connection: &str) -> Self
    where
        Self: Sized;
    /// Route this listener to another queue.
    fn via_queue(self, queue: &str) -> Self
    where
        Self: Sized;
    /// Delay this listener's jobs.
    fn with_delay(self, delay: chrono::Duration) -> Self
    where
        Self: Sized;
}

/// Where queued listeners and queued events go instead of running inline.
/// With none set, they run inline (Laravel's `sync` connection).
#[async_trait]
pub trait QueueableHandler: Send + Sync {
    async fn queue_event(&self, event: Arc<dyn Event>) -> Result<()>;
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
