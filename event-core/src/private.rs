//! Items the expansions of `#[derive(Event)]` and `#[listener]` refer to as
//! `::event_core::__private::...`. Owned by the macros; not a public API.

pub use anyhow;
pub use async_trait::async_trait;
pub use chrono;
pub use serde;
pub use serde_json;

use std::sync::{Arc, Mutex};

use event_kernel::{Event, EventListener, ListenerOptions, ShouldQueue, ShouldQueueListener};

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

/// `timeout = 60`, `delay = 10` as a duration.
pub fn secs(seconds: u64) -> chrono::Duration {
    duration(seconds)
}

/// `middleware = ["throttle:10,1"]` as the settings hold it.
pub fn strings(items: &[&str]) -> Vec<String> {
    items.iter().map(|s| s.to_string()).collect()
}

// ----- the seed's hand-written traits, seen where the type is concrete ----
//
// Stable Rust cannot ask an `Arc<dyn EventListener>` whether its type also
// implements `ShouldQueueListener`. The macros (`register_listener!`,
// `as_listener!`, `fire_event!`, `dispatch_event!`) still see the concrete
// type, and pick the impl up by autoref specialisation: the method call on
// `&&Probe(..)` finds the impl on `&Probe<T>` (bounded on the seed trait)
// first, the fallback on `Probe<T>` otherwise.

/// Wraps a listener, or a reference to an event, for the macros' probe.
#[derive(Debug)]
pub struct Probe<T>(pub T);

/// An `Arc` of a listener, erased: what `listen::<E>` takes.
pub trait IntoListener {
    fn into_listener(self) -> Arc<dyn EventListener>;
}

impl<L: EventListener + 'static> IntoListener for Arc<L> {
    fn into_listener(self) -> Arc<dyn EventListener> {
        self
    }
}

impl IntoListener for Arc<dyn EventListener> {
    fn into_listener(self) -> Arc<dyn EventListener> {
        self
    }
}

/// The fallback: the listener as it is.
pub trait ViaListener {
    fn erase(&self) -> Arc<dyn EventListener>;
}

impl<T: IntoListener + Clone> ViaListener for Probe<T> {
    fn erase(&self) -> Arc<dyn EventListener> {
        self.0.clone().into_listener()
    }
}

/// A listener whose type implements `ShouldQueueListener`: wrapped so its
/// settings reach the queue even though it did not opt in.
pub trait ViaShouldQueueListener {
    fn erase(&self) -> Arc<dyn EventListener>;
}

impl<L: ShouldQueueListener + 'static> ViaShouldQueueListener for &Probe<Arc<L>> {
    fn erase(&self) -> Arc<dyn EventListener> {
        if self.0.as_should_queue_listener().is_some() {
            return self.0.clone();
        }
        Arc::new(SeedQueued(self.0.clone()))
    }
}

/// A hand-written listener with its `ShouldQueueListener` impl in view.
struct SeedQueued<L>(Arc<L>);

#[async_trait]
impl<L: ShouldQueueListener + 'static> EventListener for SeedQueued<L> {
    async fn handle(&self, event: Arc<dyn Event>) -> anyhow::Result<()> {
        self.0.handle(event).await
    }
    async fn failed(&self, event: Arc<dyn Event>, exception: &anyhow::Error) -> anyhow::Result<()> {
        self.0.failed(event, exception).await
    }
    /// Implementing `ShouldQueueListener` is what makes a listener queued
    /// (Laravel's `ShouldQueue`).
    fn should_queue(&self) -> bool {
        true
    }
    fn queue_name(&self) -> Option<&str> {
        ShouldQueueListener::queue(&*self.0)
    }
    fn can_retry(&self) -> bool {
        self.0.can_retry()
    }
    fn max_exceptions(&self) -> Option<u32> {
        self.0.max_exceptions()
    }
    fn backoff(&self) -> Vec<chrono::Duration> {
        self.0.backoff()
    }
    fn listener_name(&self) -> &str {
        self.0.listener_name()
    }
    fn as_should_queue_listener(&self) -> Option<&dyn ShouldQueueListener> {
        Some(&*self.0)
    }
    fn options(&self) -> ListenerOptions {
        let mut settings = ListenerOptions::declared_by_listener(&*self.0, Some(&*self.0));
        settings.queued = true;
        settings
    }
    fn __listener_type(&self) -> &'static str {
        self.0.__listener_type()
    }
}

/// The fallback for events: nothing to check.
pub trait ViaEvent {
    fn check_should_queue(&self) {}
}

impl<T> ViaEvent for Probe<T> {}

/// An event whose type implements `ShouldQueue`: its settings reach the
/// queue only through `Event::as_should_queue`, on every dispatch path. A
/// type that implements the trait but does not return itself there is told
/// so, once, with the line to add (a diagnostic: what happens does not
/// depend on it).
pub trait ViaShouldQueue {
    fn check_should_queue(&self);
}

impl<E: ShouldQueue> ViaShouldQueue for &Probe<&E> {
    fn check_should_queue(&self) {
        unseen_should_queue::<E>(self.0);
    }
}

fn unseen_should_queue<E: ShouldQueue>(event: &E) {
    if event.as_should_queue().is_none() {
        warn_unseen(std::any::type_name::<E>());
    }
}

#[cold]
fn warn_unseen(type_name: &str) {
    static WARNED: Mutex<Vec<String>> = Mutex::new(Vec::new());
    let mut warned = WARNED.lock().unwrap_or_else(|e| e.into_inner());
    if warned.iter().any(|t| t == type_name) {
        return;
    }
    warned.push(type_name.to_string());
    tracing::warn!(
        event = type_name,
        "`{type_name}` implements ShouldQueue, but its `impl Event` does not return it from \
         `as_should_queue`, so its queue settings (connection, queue, delay, tries, timeout, \
         after_commit) are not used; add `fn as_should_queue(&self) -> Option<&dyn ShouldQueue> \
         {{ Some(self) }}` to the `impl Event`"
    );
}

/// `#[listener]`'s `listener_name`: the type's path with its first segment
/// (the crate compiling it) replaced by `package`'s crate name, so a
/// listener keeps its name in every binary of the package. Made once per
/// type.
pub fn listener_name<L: 'static>(package: &str) -> &'static str {
    use std::any::TypeId;
    use std::collections::HashMap;
    use std::sync::{OnceLock, RwLock};
    static NAMES: OnceLock<RwLock<HashMap<TypeId, &'static str>>> = OnceLock::new();
    let names = NAMES.get_or_init(RwLock::default);
    let id = TypeId::of::<L>();
    if let Some(name) = names.read().unwrap_or_else(|e| e.into_inner()).get(&id) {
        return name;
    }
    let path = std::any::type_name::<L>();
    let name = match path.split_once("::") {
        Some((_, rest)) => format!("{}::{rest}", package.replace('-', "_")),
        None => path.to_string(),
    };
    let mut names = names.write().unwrap_or_else(|e| e.into_inner());
    names
        .entry(id)
        .or_insert_with(|| Box::leak(name.into_boxed_str()))
}

/// The name of a `#[listen]` method's listener: the subscriber's
/// [`listener_name`] and the method, `app::listeners::UserEventSubscriber::on_login`.
/// Made once per method (`M` is its listener type).
pub fn method_listener_name<M: 'static, S: 'static>(package: &str, method: &str) -> &'static str {
    use std::any::TypeId;
    use std::collections::HashMap;
    use std::sync::{OnceLock, RwLock};
    static NAMES: OnceLock<RwLock<HashMap<TypeId, &'static str>>> = OnceLock::new();
    let names = NAMES.get_or_init(RwLock::default);
    let id = TypeId::of::<M>();
    if let Some(name) = names.read().unwrap_or_else(|e| e.into_inner()).get(&id) {
        return name;
    }
    let name = format!("{}::{method}", listener_name::<S>(package));
    let mut names = names.write().unwrap_or_else(|e| e.into_inner());
    names
        .entry(id)
        .or_insert_with(|| Box::leak(name.into_boxed_str()))
}

/// What a `-> anyhow::Result<Propagation>` listener returned, as
/// `EventListener::handle`'s result.
pub fn propagation<E: Into<anyhow::Error>>(
    result: Result<event_kernel::Propagation, E>,
) -> anyhow::Result<()> {
    result.map_err(Into::into)?.into_result()
}
