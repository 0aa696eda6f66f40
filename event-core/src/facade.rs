//! The Laravel-compatible facade: the seed's free functions on the global
//! dispatcher (`dispatch`, `event`, `listen`, `listen_wildcard`,
//! `event_dispatcher`), its process-wide fake (`fake`, `restore`,
//! `is_faking`), and `EventFacade` over both. Every name here is also at
//! the crate root, where the seed's snippets find them.
//!
//! Everything here forwards to [`Dispatcher::global`] or to the testing
//! module; it holds no rules of its own. Code that is not the seed's can
//! hold a [`Dispatcher`] (or `Dispatcher::global()`) instead.

use std::collections::HashMap;
use std::sync::Arc;

use anyhow::Result;

use event_kernel::{Dispatcher, Event, EventListener, IntoEvent, Subscriber};

use crate::testing;
pub use crate::testing::{fake, is_faking, restore};

// ----- free functions ------------------------------------------------------

/// The global dispatcher (async to match the seed: `event_dispatcher().await`).
pub async fn event_dispatcher() -> &'static Dispatcher {
    Dispatcher::global()
}

/// Dispatches an event on the global dispatcher.
pub async fn dispatch(event: impl IntoEvent) -> Result<()> {
    Dispatcher::global().dispatch(event).await
}

/// Alias of [`dispatch`] (Laravel's `event()` helper).
pub async fn event(event: impl IntoEvent) -> Result<()> {
    Dispatcher::global().dispatch(event).await
}

/// Registers a listener for events of type `E` on the global dispatcher.
pub async fn listen<E: Event + 'static>(listener: Arc<dyn EventListener>) {
    Dispatcher::global().listen::<E>(listener).await;
}

/// Registers a listener for every event on the global dispatcher.
pub async fn listen_wildcard(listener: Arc<dyn EventListener>) {
    Dispatcher::global().listen_wildcard(listener).await;
}

/// Registers a listener for an event name or wildcard pattern on the global dispatcher.
pub async fn listen_pattern(name_or_pattern: &str, listener: Arc<dyn EventListener>) {
    Dispatcher::global()
        .listen_pattern(name_or_pattern, listener)
        .await;
}

/// Laravel 12's `Event::defer`: runs `work`, holding every event it
/// dispatches (in this task, on any dispatcher); when it returns `Ok`,
/// dispatches them in order and returns its value. On `Err` they are
/// dropped (as Laravel drops them when the callback throws). See
/// [`event_kernel::deferral::defer`].
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> anyhow::Result<()> {
/// use event_core::prelude::*;
/// # #[derive(Debug, serde::Serialize, Event)] struct Saved;
/// event_core::defer_events(async {
///     dispatch(Saved).await?; // held: no listener ran yet
///     Ok::<_, anyhow::Error>(())
/// })
/// .await?; // Saved's listeners ran here
/// # Ok(()) }
/// ```
pub async fn defer_events<T, E, F>(work: F) -> std::result::Result<T, E>
where
    F: std::future::Future<Output = std::result::Result<T, E>>,
    E: From<anyhow::Error>,
{
    event_kernel::deferral::defer(work).await
}

/// [`defer_events`], delivering each distinct event once: an event of the
/// same type and payload (`to_json`) as one held before it is dropped.
pub async fn defer_events_dedup<T, E, F>(work: F) -> std::result::Result<T, E>
where
    F: std::future::Future<Output = std::result::Result<T, E>>,
    E: From<anyhow::Error>,
{
    event_kernel::deferral::defer_dedup(work).await
}

/// Registers every `#[listen]` method of `subscriber` on the global
/// dispatcher (Laravel's `Event::subscribe`).
///
/// ```
/// use event_core::prelude::*;
///
/// #[derive(Debug, Clone, serde::Serialize, serde::Deserialize, Event)]
/// pub struct Login { pub user: String }
/// #[derive(Debug, Clone, serde::Serialize, serde::Deserialize, Event)]
/// pub struct Logout { pub user: String }
///
/// pub struct UserEventSubscriber;
///
/// #[subscriber]
/// impl UserEventSubscriber {
///     #[listen]
///     async fn on_login(&self, event: &Login) -> anyhow::Result<Propagation> {
///         // Laravel's `return false`: the listeners after this one do not run.
///         Ok(if event.user.is_empty() { Propagation::Stop } else { Propagation::Continue })
///     }
///
///     #[listen(queued, tries = 3)]
///     async fn on_logout(&self, _event: &Logout) -> anyhow::Result<()> {
///         Ok(())
///     }
/// }
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> anyhow::Result<()> {
/// event_core::subscribe(UserEventSubscriber).await;
/// assert!(EventFacade::has_listeners("Login").await);
/// assert!(EventFacade::has_listeners("Logout").await);
/// # Ok(())
/// # }
/// ```
pub async fn subscribe<S: Subscriber>(subscriber: S) {
    Dispatcher::global().subscribe(subscriber).await;
}

// ----- EventFacade -------------------------------------------------------------

/// Laravel's `Event` facade. Every method works on the global dispatcher.
///
/// The `assert_*` methods return `bool` as the seed documents; they read what
/// the global fake recorded (all false/zero when nothing is faked).
#[derive(Debug)]
pub struct EventFacade;

impl EventFacade {
    /// Starts faking the global dispatcher.
    pub async fn fake() {
        fake().await;
    }

    /// Ends faking.
    pub async fn restore() {
        restore().await;
    }

    /// True while the global dispatcher is faked.
    pub async fn is_faking() -> bool {
        is_faking().await
    }

    /// True when at least one event called `event_name` was dispatched while faking.
    pub async fn assert_dispatched(event_name: &str) -> bool {
        Self::recorded_count(event_name) > 0
    }

    /// True when no event called `event_name` was dispatched while faking.
    pub async fn assert_not_dispatched(event_name: &str) -> bool {
        Self::recorded_count(event_name) == 0
    }

    /// True when nothing at all was dispatched while faking.
    pub async fn assert_nothing_dispatched() -> bool {
        testing::global_recorder().is_none_or(|r| r.events().is_empty())
    }

    /// True when `event_name` was dispatched exactly `times` times while faking.
    pub async fn assert_dispatched_times(event_name: &str, times: usize) -> bool {
        Self::recorded_count(event_name) == times
    }

    fn recorded_count(event_name: &str) -> usize {
        testing::global_recorder().map_or(0, |r| r.count(event_name))
    }

    /// Every event the global fake recorded, oldest first.
    pub async fn dispatched_events() -> Vec<Arc<dyn Event>> {
        testing::global_recorder().map_or_else(Vec::new, |r| r.events())
    }

    /// Registers a listener for events of type `E`; the same as [`listen`].
    pub async fn listen<E: Event + 'static>(listener: Arc<dyn EventListener>) {
        Dispatcher::global().listen::<E>(listener).await;
    }

    /// Registers every `#[listen]` method of `subscriber` (Laravel's
    /// `Event::subscribe`); the same as [`subscribe`].
    pub async fn subscribe<S: Subscriber>(subscriber: S) {
        Dispatcher::global().subscribe(subscriber).await;
    }

    /// Dispatches an event; the same as [`dispatch`] (recorded instead while
    /// faking).
    pub async fn dispatch_event(event: impl IntoEvent) -> Result<()> {
        Dispatcher::global().dispatch(event).await
    }

    /// True when a dispatch of `event_name` would reach a listener, directly
    /// or through a wildcard pattern.
    pub async fn has_listeners(event_name: &str) -> bool {
        Dispatcher::global().has_listeners(event_name).await
    }

    /// Listener count per event name and per wildcard pattern (for debugging).
    pub async fn get_listeners() -> HashMap<String, usize> {
        Dispatcher::global().get_listeners().await
    }

    /// Removes the listeners of an event name, or of a wildcard pattern.
    pub async fn forget(event_name: &str) {
        Dispatcher::global().forget(event_name).await;
    }

    /// Removes every listener (the queue handler and broadcaster stay).
    pub async fn flush() {
        Dispatcher::global().flush().await;
    }

    /// Laravel 12's `Event::defer`; the same as [`defer_events`].
    pub async fn defer<T, E, F>(work: F) -> std::result::Result<T, E>
    where
        F: std::future::Future<Output = std::result::Result<T, E>>,
        E: From<anyhow::Error>,
    {
        defer_events(work).await
    }

    /// [`EventFacade::defer`], each distinct event delivered once; the
    /// same as [`defer_events_dedup`].
    pub async fn defer_dedup<T, E, F>(work: F) -> std::result::Result<T, E>
    where
        F: std::future::Future<Output = std::result::Result<T, E>>,
        E: From<anyhow::Error>,
    {
        defer_events_dedup(work).await
    }
}
