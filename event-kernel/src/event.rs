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
    fn should_queue(&self) -> bool {
        false
    }
    fn queue_name(&self) -> Option<&str> {
        None
    }
    fn tags(&self) -> Vec<String> {
        vec![]
    }
    fn is_synchronous(&self) -> bool {
        !self.should_queue()
    }
    fn priority(&self) -> i32 {
        0
    }
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
}

/// Downcasts a shared event to its concrete type without copying it.
pub fn downcast_arc<T: Event>(event: Arc<dyn Event>) -> Result<Arc<T>, Arc<dyn Event>> {
    if event.is::<T>() {
        let any: Arc<dyn Any + Send + Sync> = event;
        Ok(any
            .downcast::<T>()
            .unwrap_or_else(|_| unreachable!("type was checked above")))
    } else {
        Err(event)
    }
}

/// Queue settings of an event (Laravel's `ShouldQueue` interface).
///
/// Seen through [`Event::as_should_queue`]: a hand-written impl returns
/// `Some(self)` there.
pub trait ShouldQueue: Event {
    fn queue_connection(&self) -> Option<&str> {
        None
    }
    fn queue(&self) -> Option<&str> {
        None
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
    fn after_commit(&self) -> bool {
        false
    }
}

/// Anything that can be dispatched as an event: a value, an `Arc<E>`, or an
/// `Arc<dyn Event>`.
pub trait IntoEvent {
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
    fn broadcast_channel(&self) -> String;
    fn broadcast_data(&self) -> serde_json::Value;
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
    fn broadcast_as(&self) -> Option<String> {
        None
    }
    fn broadcast_with(&self) -> serde_json::Value {
        self.to_json()
    }
    fn should_queue_broadcast(&self) -> bool {
        true
    }
}
