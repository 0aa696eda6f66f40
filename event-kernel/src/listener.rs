//! Listeners: what handles an event, and Laravel's `ShouldQueue` for them.

use std::sync::Arc;

use anyhow::Result;
use async_trait::async_trait;

use crate::event::Event;
use crate::options::ListenerOptions;

/// Handles an event. Implement it by hand (the seed's way) or generate it with
/// `#[listener(event = E)]`, which hands your function the typed `&E`.
#[async_trait]
pub trait EventListener: Send + Sync {
    /// Handles one event; an error runs [`failed`](EventListener::failed)
    /// (for a queued listener, once no try is left) and is returned by
    /// `dispatch`.
    async fn handle(&self, event: Arc<dyn Event>) -> Result<()>;

    /// Called when `handle` failed (for a queued listener: after the last try).
    async fn failed(&self, _event: Arc<dyn Event>, _exception: &anyhow::Error) -> Result<()> {
        Ok(())
    }

    /// True to run on a queue worker instead of inside `dispatch` (inline
    /// still when no queue is installed). Defaults to false.
    fn should_queue(&self) -> bool {
        false
    }
    /// Laravel's `shouldQueue($event)`: for a listener that
    /// [`should_queue`](EventListener::should_queue), whether this event is
    /// queued at all. False means the listener is neither queued nor run
    /// for it. Decided at dispatch, before anything reaches a queue (for a
    /// queued event, on the worker, before the listener runs); not asked of
    /// listeners that run inline. Defaults to true.
    /// `#[listener(queued, queue_if = path)]` writes it.
    fn queue_if(&self, _event: &dyn Event) -> bool {
        true
    }
    /// The named queue this listener's jobs go to; `None` (the default) is
    /// the connection's default queue (`EVENTS_DEFAULT_QUEUE`).
    fn queue_name(&self) -> Option<&str> {
        None
    }
    /// False to give each job a single attempt, whatever `tries` says.
    /// Defaults to true.
    fn can_retry(&self) -> bool {
        true
    }
    /// Fail the job for good after this many attempts that returned an
    /// error or panicked; `None` (the default) sets no such limit.
    fn max_exceptions(&self) -> Option<u32> {
        None
    }
    /// The delay before each retry (the last value repeats); empty (the
    /// default) leaves it to the worker (`Worker::backoff`, else
    /// `EVENTS_RETRY_DELAY_SECONDS`).
    fn backoff(&self) -> Vec<chrono::Duration> {
        vec![]
    }

    /// False for listeners with side effects (mail, payments) that must not
    /// run again when the event store replays an event; inside a listener,
    /// [`is_replaying`](crate::scope::is_replaying) tells the two apart.
    fn replayable(&self) -> bool {
        true
    }

    /// A stable name for the listener: queue jobs and error messages use it.
    /// Defaults to the Rust type path.
    fn listener_name(&self) -> &str {
        std::any::type_name::<Self>()
    }

    /// The [`ShouldQueueListener`] view of this listener: how a worker
    /// sees its `tries`, `timeout`, `delay`, `after_commit`, `middleware`...
    ///
    /// `register_listener!(E, Arc::new(listener))` and
    /// `event_core::as_listener!(...)` see the concrete type and find a
    /// hand-written `ShouldQueueListener` impl by themselves. Where the type
    /// is already erased (`listen::<E>(Arc::new(listener))`, a
    /// `JobRegistry` built by hand), opt in with one line in the
    /// `EventListener` impl:
    ///
    /// ```ignore
    /// fn as_should_queue_listener(&self) -> Option<&dyn ShouldQueueListener> { Some(self) }
    /// ```
    fn as_should_queue_listener(&self) -> Option<&dyn ShouldQueueListener> {
        None
    }

    /// Everything this listener declares about its jobs, as one
    /// [`ListenerOptions`]: what queue connections read, layered over the
    /// event's settings and the config defaults. The default gathers the
    /// methods above and, when present, the [`ShouldQueueListener`] view;
    /// `#[listener]` overrides it.
    fn options(&self) -> ListenerOptions {
        ListenerOptions::declared_by_listener(self, self.as_should_queue_listener())
    }

    /// The listener's type, to tell two listeners that give the same
    /// `listener_name()` apart. Not for implementing.
    #[doc(hidden)]
    fn __listener_type(&self) -> &'static str {
        std::any::type_name::<Self>()
    }
}

impl ListenerOptions {
    /// What a listener declares through the plain `EventListener` methods
    /// and, when given, its [`ShouldQueueListener`] impl: the default of
    /// [`EventListener::options`].
    pub fn declared_by_listener<L: EventListener + ?Sized>(
        listener: &L,
        queued: Option<&dyn ShouldQueueListener>,
    ) -> Self {
        let mut declared = Self {
            queued: listener.should_queue(),
            queue: listener.queue_name().map(str::to_string),
            max_exceptions: listener.max_exceptions(),
            backoff: listener.backoff(),
            retry: listener.can_retry(),
            ..Self::default()
        };
        if let Some(queued) = queued {
            declared.connection = queued.queue_connection().map(str::to_string);
            if let Some(queue) = queued.queue() {
                declared.queue = Some(queue.to_string());
            }
            declared.delay = queued.delay();
            declared.tries = queued.tries();
            declared.timeout = queued.timeout();
            declared.after_commit = queued.after_commit();
            declared.middleware = queued.middleware();
        }
        declared
    }
}

/// Laravel's `ShouldQueue` for listeners, with its builder methods.
#[async_trait]
pub trait ShouldQueueListener: EventListener {
    /// The connection to queue on (`memory`, `sqlite`, `redis`, `postgres`,
    /// `sync`, or a name the app gave one); `None` (the default) is the
    /// default connection.
    fn queue_connection(&self) -> Option<&str> {
        None
    }
    /// The named queue; defaults to [`EventListener::queue_name`].
    fn queue(&self) -> Option<&str> {
        self.queue_name()
    }
    /// Holds each job back this long before a worker may run it; `None`
    /// (the default) uses the queue's default delay, usually none.
    fn delay(&self) -> Option<chrono::Duration> {
        None
    }
    /// Attempts in all, 0 meaning no limit; `None` (the default) leaves it
    /// to the worker (`Worker::tries`, else `EVENTS_RETRY_ATTEMPTS`).
    fn tries(&self) -> Option<u32> {
        None
    }
    /// An attempt running longer is cancelled and counts as failed (zero:
    /// none); `None` (the default) leaves it to the worker.
    fn timeout(&self) -> Option<chrono::Duration> {
        None
    }
    /// Job middleware names run around each attempt (`throttle:N,M`,
    /// `rate_limited:NAME`, `without_overlapping:KEY`, or one the worker's
    /// registry provides). Defaults to none.
    fn middleware(&self) -> Vec<String> {
        vec![]
    }
    /// True to write the job only when the surrounding unit of work
    /// (`event_core::queue::defer`) succeeds, and drop it when it fails.
    /// Defaults to false: written at once.
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
