//! Faking events, queued listeners and broadcasts in tests.
//!
//! Two families:
//!
//! - The seed's process-wide [`fake`] / [`restore`] / `EventFacade::assert_*`
//!   on the global dispatcher. Simple, but `cargo test` runs tests on parallel
//!   threads, and two tests faking the global dispatcher see each other's events.
//! - Scoped fakes that parallel tests can use safely: [`EventFake`],
//!   [`QueueFake`] and [`BroadcastFake`]. Each is bound to one of
//!   * the current thread (`::new()`), which is the test: `cargo test` gives
//!     every test its own thread and `#[tokio::test]` runs the test body on it.
//!     Ended when the value is dropped, also when the test panics;
//!   * an explicit dispatcher (`::for_dispatcher(&d)`), for code that dispatches
//!     from spawned tasks on other threads;
//!   * a tokio task ([`fake_scope`]), for a block of async code.
//!
//! ```
//! use event_core::prelude::*;
//! use event_core::testing::EventFake;
//!
//! #[derive(Debug, Clone, serde::Serialize, serde::Deserialize, Event)]
//! struct OrderShippedEvent { order_id: String }
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> anyhow::Result<()> {
//! let events = EventFake::new();
//! OrderShippedEvent { order_id: "1".into() }.dispatch().await?;
//! events.assert_dispatched_with::<OrderShippedEvent>(|e| e.order_id == "1");
//! # Ok(())
//! # }
//! ```

mod broadcast_fake;
mod event_fake;
mod queue_fake;
mod recorder;
pub(crate) mod scope;

use std::sync::Mutex;

use event_kernel::{Dispatcher, Event, EventListener};

pub use broadcast_fake::BroadcastFake;
pub use event_fake::{EventAssertions, EventFake, fake_except, fake_only, fake_scope};
pub use queue_fake::QueueFake;
pub use recorder::{EventMatcher, QueuedJob};
pub(crate) use scope::global_recorder;

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

// ----- the seed's process-wide fake ---------------------------------------------

/// Fakes the global dispatcher: dispatched events are recorded, not delivered.
/// Process-wide, like the seed's; parallel tests should use
/// [`EventFake`].
pub async fn fake() {
    scope::fake_global();
}

/// Ends the global fake: events are delivered again and the record is dropped.
pub async fn restore() {
    scope::restore_global();
}

/// True while the global dispatcher is faked.
pub async fn is_faking() -> bool {
    scope::faking_global()
}

// ----- registry assertions -------------------------------------------------------

/// Panics unless listener `L` is registered for event `E` on `dispatcher`
/// (Laravel's `Event::assertListening`). Pair it with the generated
/// `event_registry::register_on(&dispatcher)`.
#[track_caller]
pub fn assert_listening<E: Event, L: EventListener + 'static>(dispatcher: &Dispatcher) {
    let event = E::static_event_name();
    let wanted = std::any::type_name::<L>();
    let listeners = dispatcher.listeners_for(&event);
    if !listeners
        .iter()
        .any(|l| names_listener::<L>(l.listener_name()))
    {
        let names: Vec<&str> = listeners.iter().map(|l| l.listener_name()).collect();
        panic!(
            "expected listener `{wanted}` to listen to `{event}`; its listeners are: {}",
            if names.is_empty() {
                "none".to_string()
            } else {
                names.join(", ")
            }
        );
    }
}

/// Panics unless a listener named `name` is registered for event `E` on
/// `dispatcher`: the listener's whole name or its end
/// (`"UserEventSubscriber::on_login"`). For the `#[listen]` methods of a
/// `#[subscriber]`, whose listener types are private.
#[track_caller]
pub fn assert_listening_named<E: Event>(dispatcher: &Dispatcher, name: &str) {
    let event = E::static_event_name();
    let listeners = dispatcher.listeners_for(&event);
    if !listeners.iter().any(|l| is_named(l.listener_name(), name)) {
        let names: Vec<&str> = listeners.iter().map(|l| l.listener_name()).collect();
        panic!(
            "expected listener `{name}` to listen to `{event}`; its listeners are: {}",
            if names.is_empty() {
                "none".to_string()
            } else {
                names.join(", ")
            }
        );
    }
}

/// `listener_name` is `name`, or ends with `::name`.
pub(crate) fn is_named(listener_name: &str, name: &str) -> bool {
    listener_name == name
        || listener_name
            .strip_suffix(name)
            .is_some_and(|head| head.ends_with("::"))
}

/// Whether `name` is `L`'s listener name: its type path, or (a
/// `#[listener]`, named under its package) the same path in another crate.
pub(crate) fn names_listener<L: 'static>(name: &str) -> bool {
    let path = std::any::type_name::<L>();
    let rest = |n: &str| n.split_once("::").map(|(_, r)| r.to_string());
    name == path || (rest(name).is_some() && rest(name) == rest(path))
}

pub(crate) fn type_label<E>() -> &'static str {
    let full = std::any::type_name::<E>();
    full.rsplit("::").next().unwrap_or(full)
}

/// "Dispatched: A (2), B (1)." or "Nothing was dispatched."
pub(crate) fn summarize(items: impl Iterator<Item = String>) -> String {
    let mut counts: Vec<(String, usize)> = Vec::new();
    for item in items {
        match counts.iter_mut().find(|(n, _)| *n == item) {
            Some((_, c)) => *c += 1,
            None => counts.push((item, 1)),
        }
    }
    if counts.is_empty() {
        return "Nothing was recorded.".to_string();
    }
    let list: Vec<String> = counts.iter().map(|(n, c)| format!("{n} ({c})")).collect();
    format!("Recorded: {}.", list.join(", "))
}
