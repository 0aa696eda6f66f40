//! What a failed dispatch says about itself.
//!
//! `dispatch` keeps the seed's `anyhow::Result<()>`; the error carries one
//! of these as its context, so a caller can tell a listener's failure from
//! a queue that is down or a broadcaster that refused, and name the event
//! and listener, by downcasting:
//!
//! ```
//! use event_kernel::{BroadcastFailed, Dispatcher, IntoEvent, ListenerFailed, QueueFailed};
//! # async fn demo(events: &Dispatcher, event: impl IntoEvent) {
//! if let Err(error) = events.dispatch(event).await {
//!     if let Some(failed) = error.downcast_ref::<ListenerFailed>() {
//!         eprintln!("listener {} failed: {:#}", failed.listener, error);
//!     } else if let Some(failed) = error.downcast_ref::<QueueFailed>() {
//!         // The cause is the queue's own error (`event_core::queue::QueueError`,
//!         // whose `is_unreachable()` tells an outage from a bug).
//!         eprintln!("could not queue {}: {error:#}", failed.event);
//!     } else if error.downcast_ref::<BroadcastFailed>().is_some() {
//!         eprintln!("broadcast failed: {error:#}");
//!     }
//! }
//! # }
//! ```
//!
//! Also here: the helpers that attach these contexts.

use std::sync::Arc;

use crate::call::call_failed_hook;
use crate::event::Event;
use crate::listener::EventListener;

/// A listener returned an error (its `failed` hook has run). The error's
/// source is the listener's own error.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("listener `{listener}` failed handling event `{event}`")]
pub struct ListenerFailed {
    /// The listener's [`listener_name`](EventListener::listener_name).
    pub listener: String,
    /// The event's [`event_name`](Event::event_name).
    pub event: String,
}

/// A queued listener or a queued event could not be handed to its queue.
/// The error's source is the queue's error (usually a
/// `event_core::queue::QueueError`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}", match .listener {
    Some(listener) => format!("failed to queue listener `{listener}` for event `{}`", .event),
    None => format!("failed to queue event `{}`", .event),
})]
pub struct QueueFailed {
    /// The event's [`event_name`](Event::event_name).
    pub event: String,
    /// `None` for a queued event (all of its listeners were to be queued).
    pub listener: Option<String>,
}

/// The event's broadcast failed; its listeners still ran. The error's
/// source is the broadcaster's error.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("failed to broadcast event `{event}`")]
pub struct BroadcastFailed {
    /// The event's [`event_name`](Event::event_name).
    pub event: String,
}

/// Names the event (and listener) a queue refused, keeping the queue's error.
#[inline(never)]
pub(super) fn queue_failed(
    event: &Arc<dyn Event>,
    listener: Option<&Arc<dyn EventListener>>,
    error: anyhow::Error,
) -> anyhow::Error {
    error.context(QueueFailed {
        event: event.event_name().to_string(),
        listener: listener.map(|l| l.listener_name().to_string()),
    })
}

/// Calls the listener's `failed` hook and names the listener and the event
/// in the error. Out of line: only failures pay for it.
#[inline(never)]
pub(super) async fn listener_failed(
    listener: &Arc<dyn EventListener>,
    event: &Arc<dyn Event>,
    error: anyhow::Error,
) -> anyhow::Error {
    call_failed_hook(listener, event, &error).await;
    error.context(ListenerFailed {
        listener: listener.listener_name().to_string(),
        event: event.event_name().to_string(),
    })
}
