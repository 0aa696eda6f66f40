//! Items the expansions of `#[derive(Event)]` and `#[listener]` refer to as
//! `::event_core::__private::...`. Owned by the macros; not a public API.

pub use anyhow;
pub use async_trait::async_trait;
pub use chrono;
pub use serde;
pub use serde_json;

use crate::event::{Event, ShouldQueue};
use crate::listener::{EventListener, ListenerOptions};

/// What `#[derive(Event)]` needs for `to_json`: the event type is `Serialize`.
#[diagnostic::on_unimplemented(
    message = "`{Self}` must implement `serde::Serialize` to derive `Event`",
    label = "`to_json` serialises this event with serde",
    note = "add `serde::Serialize` to the derives: `#[derive(Debug, serde::Serialize, Event)]`"
)]
pub trait SerializeEvent: serde::Serialize {}

impl<T: serde::Serialize + ?Sized> SerializeEvent for T {}

/// What `#[derive(Event)]` with `queued` needs: a worker rebuilds the event
/// from JSON (`JobRegistry::event::<E>()`), so it must be `Deserialize`.
#[diagnostic::on_unimplemented(
    message = "a queued event must implement `serde::Deserialize`: `{Self}` does not",
    label = "queued here: a queue worker rebuilds the event from its JSON",
    note = "add `serde::Deserialize` to the derives: `#[derive(Debug, serde::Serialize, serde::Deserialize, Event)]`"
)]
pub trait QueuedEvent: serde::de::DeserializeOwned {}

impl<T: serde::de::DeserializeOwned> QueuedEvent for T {}

/// `Event::to_json` of a derived event.
///
/// Serialising a `Serialize` struct to a `Value` only fails for maps with
/// non-string keys or a custom `Serialize` that errors. That is a bug in the
/// event type, but dispatch must go on: log it and return a payload that says
/// what happened (and that no worker will decode), never a silent `null`.
pub fn to_json<E: SerializeEvent + ?Sized>(event: &E) -> serde_json::Value {
    match serde_json::to_value(event) {
        Ok(value) => value,
        Err(error) => serialisation_failed(std::any::type_name::<E>(), &error),
    }
}

// Not generic, so each event type compiles only the happy path above.
#[cold]
fn serialisation_failed(type_name: &str, error: &serde_json::Error) -> serde_json::Value {
    let message = format!("event `{type_name}` could not be serialised: {error}");
    tracing::error!("{message}");
    serde_json::json!({ "$error": message })
}

/// `Event::as_should_queue` of a derived queued event; also where a missing
/// `Deserialize` is reported.
pub fn queued_event<E: QueuedEvent + ShouldQueue>(event: &E) -> Option<&dyn ShouldQueue> {
    Some(event)
}

/// The error a `#[listener]` returns when handed an event of another type
/// (registered by name or pattern for an event it does not handle).
/// Not generic: one copy serves every listener.
#[cold]
pub fn unexpected_event(expected: &str, event: &dyn Event, listener: &str) -> anyhow::Error {
    anyhow::anyhow!(
        "listener `{listener}` handles `{expected}` but was given event `{}` ({event:?})",
        event.event_name(),
    )
}

/// `backoff = [5, 15, 30]` as durations.
pub fn seconds(seconds: &[u64]) -> Vec<chrono::Duration> {
    seconds.iter().map(|s| duration(*s)).collect()
}

fn duration(seconds: u64) -> chrono::Duration {
    // The macros accept at most `u32::MAX` seconds, far inside chrono's range.
    chrono::Duration::seconds(i64::try_from(seconds.min(u64::from(u32::MAX))).unwrap_or(0))
}

/// The `#[listener]` knobs `EventListener` has no plain method for.
#[derive(Debug, Clone, Copy, Default)]
pub struct Knobs {
    pub connection: Option<&'static str>,
    pub tries: Option<u32>,
    pub timeout: Option<u64>,
    pub delay: Option<u64>,
    pub after_commit: bool,
}

/// `EventListener::options()` of a `#[listener]`: its own methods plus `knobs`.
pub fn listener_options(listener: &dyn EventListener, knobs: Knobs) -> ListenerOptions {
    ListenerOptions {
        queued: listener.should_queue(),
        connection: knobs.connection.map(str::to_string),
        queue: listener.queue_name().map(str::to_string),
        tries: knobs.tries,
        timeout: knobs.timeout.map(duration),
        delay: knobs.delay.map(duration),
        backoff: listener.backoff(),
        max_exceptions: listener.max_exceptions(),
        after_commit: knobs.after_commit,
        retry: listener.can_retry(),
    }
}
