//! The `Event` trait, what every event gets for free, and the views an
//! event offers the queue (`ShouldQueue`) and broadcasting
//! (`Broadcastable`, `ShouldBroadcast`).

use std::any::Any;
use std::borrow::Cow;
use std::fmt::Debug;
use std::sync::Arc;

// The name the convention gives a type (`shop::OrderProcessedEvent` ->
// `OrderProcessed`): one function for the macros, the runtime and artisan.
use event_macros_internals::naming::conventional_event_name;

/// Something that happened in the application.
///
/// Implement it by hand (the seed's way) or with `#[derive(Event)]`. Because
/// `Any` is a supertrait, a listener can downcast an `Arc<dyn Event>` back to
/// its concrete type with [`downcast_ref`](trait.Event.html#method.downcast_ref)
/// instead of parsing JSON.
pub trait Event: Any + Send + Sync + Debug {
    /// The name listeners are registered under, e.g. `"OrderProcessed"`.
    fn event_name(&self) -> &'static str;
    /// The event's payload as JSON (what queues store and broadcasts send).
    fn to_json(&self) -> serde_json::Value;
    /// True to hand the whole event to the queue: with a queue installed,
    /// its listeners run on a worker instead of during `dispatch`. Without
    /// one they run inline. Defaults to false.
    fn should_queue(&self) -> bool {
        false
    }
    /// The named queue a queued event's job goes to; `None` (the default)
    /// is the connection's default queue (`EVENTS_DEFAULT_QUEUE`). A
    /// [`ShouldQueue::queue`] overrides it.
    fn queue_name(&self) -> Option<&str> {
        None
    }
    /// Labels stored with the event's jobs (merged with a listener's own)
    /// and its event-store record, where `artisan event:history --tag`
    /// filters by them. Defaults to none.
    fn tags(&self) -> Vec<String> {
        vec![]
    }
    /// Whether the event's listeners run inside `dispatch`; defaults to
    /// `!should_queue()`. A `should_queue` event that says `true` here is
    /// not queued as a whole: its listeners run at dispatch (the queued
    /// ones among them still go to the queue).
    fn is_synchronous(&self) -> bool {
        !self.should_queue()
    }
    /// Queue priority of the event's jobs, and of its listeners' jobs that
    /// set none: higher is fetched first on every connection. Defaults to 0.
    fn priority(&self) -> i32 {
        0
    }
    /// True to dispatch the event only when the surrounding unit of work
    /// commits (Laravel's `ShouldDispatchAfterCommit`): dispatched inside
    /// `event_core::queue::defer`, it reaches none of its listeners (inline
    /// or queued) until the unit returns `Ok`, and none at all if it
    /// returns `Err`. Outside a unit it dispatches at once. Defaults to
    /// false; `#[derive(Event)]` with `#[event(after_commit)]` says true.
    fn dispatch_after_commit(&self) -> bool {
        false
    }
    /// Whether a queued event may be taken off its queue before it runs
    /// (the seed's API). Defaults to true; no queue connection reads it yet.
    fn can_unqueue(&self) -> bool {
        true
    }

    /// The name `listen::<Self>()` registers under, known without a value.
    ///
    /// `#[derive(Event)]` returns the exact name. For a hand-written event the
    /// default follows the naming convention: the type name without a trailing
    /// `Event` (`OrderProcessedEvent` -> `"OrderProcessed"`). If a hand-written
    /// `event_name` does not follow it, the dispatcher re-keys the typed
    /// listeners the first time it sees a value of the type; override this to
    /// make `has_listeners(name)` right before that first dispatch too.
    fn static_event_name() -> Cow<'static, str>
    where
        Self: Sized,
    {
        Cow::Owned(conventional_event_name(std::any::type_name::<Self>()))
    }

    /// The queue settings of a [`ShouldQueue`] event: the one way queue
    /// connections see them, on every dispatch path (`.dispatch()`,
    /// `dispatch(..)`, `Dispatcher::dispatch`, the seed macros).
    ///
    /// `#[derive(Event)]` with `queued` returns them. A hand-written
    /// `impl ShouldQueue` opts in with one line in its `impl Event`:
    ///
    /// ```ignore
    /// fn as_should_queue(&self) -> Option<&dyn ShouldQueue> { Some(self) }
    /// ```
    ///
    /// (Stable Rust cannot ask an `Arc<dyn Event>` whether its type also
    /// implements `ShouldQueue`; the same line opts a hand-written
    /// `ShouldQueueListener` in, `as_should_queue_listener`.)
    fn as_should_queue(&self) -> Option<&dyn ShouldQueue> {
        None
    }

    /// A [`Broadcastable`] view of the event: return `Some(self)` to have the
    /// dispatcher broadcast it. `#[derive(Event)]` with `broadcast = ...` does.
    fn as_broadcastable(&self) -> Option<&dyn Broadcastable> {
        None
    }

    /// A [`ShouldBroadcast`] view of the event (Laravel's interface).
    fn as_should_broadcast(&self) -> Option<&dyn ShouldBroadcast> {
        None
    }
}

impl dyn Event {
    /// The concrete event, if it is a `T`.
    pub fn downcast_ref<T: Event>(&self) -> Option<&T> {
        (self as &dyn Any).downcast_ref::<T>()
    }

    /// True when the event is a `T`.
    pub fn is<T: Event>(&self) -> bool {
        (self as &dyn Any).is::<T>()
    }

    /// The shared concrete event, without copying it, if it is a `T`;
    /// otherwise the event back.
    pub fn downcast_arc<T: Event>(self: Arc<Self>) -> Result<Arc<T>, Arc<dyn Event>> {
        if self.is::<T>() {
            let any: Arc<dyn Any + Send + Sync> = self;
            Ok(any
                .downcast::<T>()
                .unwrap_or_else(|_| unreachable!("type was checked above")))
        } else {
            Err(self)
        }
    }
}

/// Queue settings of an event (Laravel's `ShouldQueue` interface).
///
/// Seen through [`Event::as_should_queue`]: a hand-written impl returns
/// `Some(self)` there.
pub trait ShouldQueue: Event {
    /// The connection to queue on (`memory`, `sqlite`, `redis`, `postgres`,
    /// `sync`, or a name the app gave one); `None` (the default) is the
    /// default connection.
    fn queue_connection(&self) -> Option<&str> {
        None
    }
    /// The named queue; overrides [`Event::queue_name`]. `None` (the
    /// default) keeps that one.
    fn queue(&self) -> Option<&str> {
        None
    }
    /// Holds the job back this long before a worker may run it; `None` (the
    /// default) uses the queue's default delay, usually none.
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
    /// True to write the job only when the surrounding unit of work
    /// (`event_core::queue::defer`) succeeds, and drop it when it fails.
    /// Defaults to false: written at once.
    fn after_commit(&self) -> bool {
        false
    }
}

/// Anything that can be dispatched as an event: a value, an `Arc<E>`, or an
/// `Arc<dyn Event>`.
pub trait IntoEvent {
    /// The event, shared (no copy for an `Arc`).
    fn into_event(self) -> Arc<dyn Event>;
}

impl<E: Event> IntoEvent for E {
    fn into_event(self) -> Arc<dyn Event> {
        Arc::new(self)
    }
}

impl<E: Event> IntoEvent for Arc<E> {
    fn into_event(self) -> Arc<dyn Event> {
        self
    }
}

impl IntoEvent for Arc<dyn Event> {
    fn into_event(self) -> Arc<dyn Event> {
        self
    }
}

/// The seed's broadcasting interface: one channel, a payload, public or private.
pub trait Broadcastable: Send + Sync {
    /// The channel name without its prefix (`orders.42`); the prefix comes
    /// from `is_private` / `is_presence`.
    fn broadcast_channel(&self) -> String;
    /// The payload clients receive.
    fn broadcast_data(&self) -> serde_json::Value;
    /// True to broadcast on `private-<channel>`, which clients must be
    /// authorised to join. Defaults to false (a public channel).
    fn is_private(&self) -> bool {
        false
    }
    /// Presence channels (who is online) are private channels with member data.
    fn is_presence(&self) -> bool {
        false
    }
}

/// Laravel's `ShouldBroadcast`: several channels and a custom event name.
pub trait ShouldBroadcast: Event {
    /// Full channel names, with `private-` / `presence-` prefixes where needed.
    fn broadcast_on(&self) -> Vec<String>;
    /// The event name clients bind to; `None` (the default) is
    /// [`Event::event_name`].
    fn broadcast_as(&self) -> Option<String> {
        None
    }
    /// The payload clients receive; defaults to [`Event::to_json`].
    fn broadcast_with(&self) -> serde_json::Value {
        self.to_json()
    }
    /// True (the default) to send the broadcast from a queue worker when a
    /// queue is installed (without one, during `dispatch`); false always
    /// sends it during `dispatch`.
    fn should_queue_broadcast(&self) -> bool {
        true
    }
}
