//! `JobRegistry`: event name -> deserialiser, listener name -> listener.
//!
//! A worker receives JSON; to run it, it needs the concrete event type back
//! and the listener object. artisan generates `event_registry::job_registry()`;
//! apps without artisan build one by hand:
//!
//! ```
//! # use std::sync::Arc;
//! # use event_jobs::JobRegistry;
//! # use event_kernel::{Event, EventListener};
//! # #[derive(Debug, serde::Serialize, serde::Deserialize)]
//! # struct OrderShippedEvent { order_id: String }
//! # impl Event for OrderShippedEvent {
//! #     fn event_name(&self) -> &'static str { "OrderShipped" }
//! #     fn to_json(&self) -> serde_json::Value { serde_json::json!({ "order_id": self.order_id }) }
//! # }
//! # struct SendShipmentEmailListener;
//! # #[async_trait::async_trait]
//! # impl EventListener for SendShipmentEmailListener {
//! #     async fn handle(&self, _: Arc<dyn Event>) -> anyhow::Result<()> { Ok(()) }
//! #     fn should_queue(&self) -> bool { true }
//! # }
//! let jobs = JobRegistry::new()
//!     .listener::<OrderShippedEvent>(Arc::new(SendShipmentEmailListener));
//! assert_eq!(jobs.listeners_of("OrderShipped").len(), 1);
//! ```

use std::collections::BTreeMap;
use std::sync::Arc;

use serde::de::DeserializeOwned;

use crate::error::{MiddlewareError, RegistryError};
use crate::middleware::spec::Spec;
use crate::middleware::{JobMiddleware, RateLimit};
use event_kernel::broadcasting::Broadcaster;
use event_kernel::broadcasting::queued::{BROADCAST_LISTENER, BroadcastListener};
use event_kernel::replay_job::{
    REPLAY_EVENT, REPLAY_LISTENER, ReplayListener, ReplayRequested, Replayer,
};
use event_kernel::{
    Dispatcher, Event, EventListener, QueuedListenerEvent, Rebuild, Subscriber, Subscriptions,
};

/// Rebuilds an event from its JSON payload.
pub type EventDecoder = fn(serde_json::Value) -> Result<Arc<dyn Event>, serde_json::Error>;

struct EventEntry {
    decode: EventDecoder,
    /// Listener names in registration order.
    listeners: Vec<String>,
}

/// What a queue worker needs to turn a job back into an event and a listener.
#[derive(Default)]
pub struct JobRegistry {
    events: BTreeMap<String, EventEntry>,
    listeners: BTreeMap<String, Arc<dyn EventListener>>,
    middleware: BTreeMap<String, Arc<dyn JobMiddleware>>,
    rate_limits: BTreeMap<String, RateLimit>,
    /// Names given twice (name, first type, second type); reported by
    /// [`JobRegistry::check`].
    duplicates: Vec<(String, &'static str, &'static str)>,
}

impl Clone for JobRegistry {
    fn clone(&self) -> Self {
        Self {
            events: self
                .events
                .iter()
                .map(|(k, v)| {
                    (
                        k.clone(),
                        EventEntry {
                            decode: v.decode,
                            listeners: v.listeners.clone(),
                        },
                    )
                })
                .collect(),
            listeners: self.listeners.clone(),
            middleware: self.middleware.clone(),
            rate_limits: self.rate_limits.clone(),
            duplicates: self.duplicates.clone(),
        }
    }
}

impl std::fmt::Debug for JobRegistry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_map()
            .entries(self.events.iter().map(|(k, v)| (k, &v.listeners)))
            .finish()
    }
}

fn decode<E: Event + DeserializeOwned>(
    payload: serde_json::Value,
) -> Result<Arc<dyn Event>, serde_json::Error> {
    Ok(Arc::new(serde_json::from_value::<E>(payload)?))
}

impl JobRegistry {
    /// An empty registry; add events, listeners and middleware with the
    /// builder methods below.
    pub fn new() -> Self {
        Self::default()
    }

    /// Makes events of type `E` rebuildable from their JSON.
    pub fn event<E: Event + DeserializeOwned>(mut self) -> Self {
        self.add_event::<E>();
        self
    }

    fn add_event<E: Event + DeserializeOwned>(&mut self) -> &mut EventEntry {
        self.events
            .entry(E::static_event_name().into_owned())
            .or_insert_with(|| EventEntry {
                decode: decode::<E>,
                listeners: Vec::new(),
            })
    }

    /// Adds `listener` for events of type `E` (and `E` itself).
    pub fn listener<E: Event + DeserializeOwned>(
        mut self,
        listener: Arc<dyn EventListener>,
    ) -> Self {
        let name = listener.listener_name().to_string();
        if let Some(known) = self.listeners.get(&name) {
            let (first, second) = (known.__listener_type(), listener.__listener_type());
            if first != second {
                self.duplicates.push((name, first, second));
                return self;
            }
        }
        let entry = self.add_event::<E>();
        if !entry.listeners.contains(&name) {
            entry.listeners.push(name.clone());
        }
        self.listeners.entry(name).or_insert(listener);
        self
    }

    /// Adds the listeners of a subscriber (`#[subscriber]`): each queued
    /// `#[listen]` method with its event, so a worker can rebuild its jobs;
    /// each other method under its event when the event is already here
    /// (add events with [`JobRegistry::event`] first), so it runs when the
    /// event itself is queued.
    pub fn subscriber<S: Subscriber>(mut self, subscriber: Arc<S>) -> Self {
        subscriber.subscribe(&mut self);
        self
    }

    /// Lets the worker run broadcast jobs (events whose
    /// `should_queue_broadcast()` is true) through `broadcaster`; add the
    /// broadcast events with [`JobRegistry::event`].
    pub fn broadcaster(mut self, broadcaster: Arc<dyn Broadcaster>) -> Self {
        let listener: Arc<dyn EventListener> = Arc::new(BroadcastListener(broadcaster));
        self.listeners
            .insert(BROADCAST_LISTENER.to_string(), listener);
        self
    }

    /// Lets the worker run replay jobs (a stored event replayed to this
    /// app's listeners, queued by the standalone dashboard) through
    /// `replayer`: the event store's (`EventStore::replayer`). Without it a
    /// replay job fails, saying the worker has no event store.
    pub fn replayer(mut self, replayer: Arc<dyn Replayer>) -> Self {
        let listener: Arc<dyn EventListener> = Arc::new(ReplayListener(Some(replayer)));
        self.listeners.insert(REPLAY_LISTENER.to_string(), listener);
        self
    }

    /// Makes a [`JobMiddleware`] written in Rust available under `name`,
    /// for listeners that list it in their `middleware`.
    pub fn middleware(mut self, name: &str, middleware: Arc<dyn JobMiddleware>) -> Self {
        self.middleware.insert(name.to_string(), middleware);
        self
    }

    /// Defines the limit `rate_limited:NAME` refers to.
    pub fn rate_limit(mut self, name: &str, limit: RateLimit) -> Self {
        self.rate_limits.insert(name.to_string(), limit);
        self
    }

    pub(crate) fn middleware_named(&self, name: &str) -> Option<&Arc<dyn JobMiddleware>> {
        self.middleware.get(name)
    }

    pub(crate) fn rate_limit_named(&self, name: &str) -> Option<RateLimit> {
        self.rate_limits.get(name).copied()
    }

    /// Every problem found while building: two listeners under one name,
    /// a listener whose middleware this registry does not provide. A
    /// [`Worker`](crate::Worker) checks it before taking a job.
    pub fn check(&self) -> Result<(), RegistryError> {
        if let Some((name, first, second)) = self.duplicates.first() {
            return Err(RegistryError::DuplicateName {
                name: name.clone(),
                first,
                second,
            });
        }
        for (name, listener) in &self.listeners {
            check_with(self, &listener.options().middleware).map_err(|source| {
                RegistryError::Middleware {
                    listener: name.clone(),
                    source,
                }
            })?;
        }
        Ok(())
    }

    /// Rebuilds an event from its name and JSON payload.
    pub fn decode(
        &self,
        event_name: &str,
        payload: serde_json::Value,
    ) -> Result<Arc<dyn Event>, RegistryError> {
        if event_name == REPLAY_EVENT && !self.events.contains_key(event_name) {
            return ReplayRequested::from_json(payload).map_err(|source| {
                RegistryError::BadPayload {
                    event: event_name.to_string(),
                    source,
                }
            });
        }
        let entry = self
            .events
            .get(event_name)
            .ok_or_else(|| RegistryError::UnknownEvent(event_name.to_string()))?;
        (entry.decode)(payload).map_err(|source| RegistryError::BadPayload {
            event: event_name.to_string(),
            source,
        })
    }

    /// The listener registered under `name` (its `listener_name()`).
    pub fn listener_named(&self, name: &str) -> Result<Arc<dyn EventListener>, RegistryError> {
        if let Some(listener) = self.listeners.get(name) {
            return Ok(listener.clone());
        }
        if name == REPLAY_LISTENER {
            // No replayer given: the job fails, saying why.
            return Ok(Arc::new(ReplayListener(None)));
        }
        self.listener_in_another_crate(name)
            .ok_or_else(|| RegistryError::UnknownListener(name.to_string()))
    }

    /// The one listener whose name differs from `name` only in its crate:
    /// the same source compiled into another crate of the package (an
    /// app's `src/bin/artisan.rs` compiles `src/main.rs`'s modules itself,
    /// so `shop::listeners::X` is `artisan::listeners::X` there).
    fn listener_in_another_crate(&self, name: &str) -> Option<Arc<dyn EventListener>> {
        let path = |n: &str| n.split_once("::").map(|(_, rest)| rest.to_string());
        let wanted = path(name)?;
        let mut found = self
            .listeners
            .iter()
            .filter(|(k, _)| path(k).as_deref() == Some(wanted.as_str()));
        match (found.next(), found.next()) {
            (Some((_, listener)), None) => Some(listener.clone()),
            _ => None,
        }
    }

    /// The listeners of an event, in registration order.
    pub fn listeners_of(&self, event_name: &str) -> Vec<Arc<dyn EventListener>> {
        self.events
            .get(event_name)
            .map(|e| {
                e.listeners
                    .iter()
                    .filter_map(|n| self.listeners.get(n).cloned())
                    .collect()
            })
            .unwrap_or_default()
    }

    /// The listeners a queued event's job runs: [`JobRegistry::listeners_of`]
    /// `event_name` less the queued ones whose [`EventListener::queue_if`]
    /// says no for `event` (Laravel's `shouldQueue($event)`: not queued,
    /// not run).
    pub fn listeners_for_job(
        &self,
        event_name: &str,
        event: &dyn Event,
    ) -> Vec<Arc<dyn EventListener>> {
        let mut listeners = self.listeners_of(event_name);
        listeners.retain(|l| !l.should_queue() || l.queue_if(event));
        listeners
    }

    /// Event names this registry can rebuild.
    pub fn event_names(&self) -> impl Iterator<Item = &str> {
        self.events.keys().map(String::as_str)
    }

    /// Registers every listener of this registry on `dispatcher`, under its event's name.
    pub async fn register_on(&self, dispatcher: &Dispatcher) {
        for (event, entry) in &self.events {
            for name in &entry.listeners {
                if let Some(listener) = self.listeners.get(name) {
                    dispatcher.listen_pattern(event, listener.clone()).await;
                }
            }
        }
    }
}

/// A subscriber's listeners, as [`JobRegistry::subscriber`] adds them.
impl Subscriptions for JobRegistry {
    fn listen<E: Event + 'static>(&mut self, listener: Arc<dyn EventListener>) {
        let name = E::static_event_name();
        let listener_name = listener.listener_name().to_string();
        if let Some(known) = self.listeners.get(&listener_name) {
            let (first, second) = (known.__listener_type(), listener.__listener_type());
            if first != second {
                self.duplicates.push((listener_name, first, second));
                return;
            }
        }
        if let Some(entry) = self.events.get_mut(&*name) {
            if !entry.listeners.contains(&listener_name) {
                entry.listeners.push(listener_name.clone());
            }
            self.listeners.entry(listener_name).or_insert(listener);
        }
    }

    fn listen_queued<E: Event + QueuedListenerEvent + 'static>(
        &mut self,
        listener: Arc<dyn EventListener>,
    ) {
        let registry = std::mem::take(self);
        *self = registry.listener::<E>(listener);
    }
}

/// Checks every middleware string against what `registry` provides.
fn check_with(registry: &JobRegistry, middleware: &[String]) -> Result<(), MiddlewareError> {
    for text in middleware {
        match Spec::parse(text)? {
            Spec::Custom(name) if registry.middleware_named(&name).is_none() => {
                return Err(MiddlewareError::Unknown(text.clone()));
            }
            Spec::RateLimited(name) if registry.rate_limit_named(&name).is_none() => {
                return Err(MiddlewareError::UnknownLimit(text.clone()));
            }
            _ => {}
        }
    }
    Ok(())
}

/// What a replay (the event store's) reads: events rebuilt and their
/// listeners named through this registry.
impl Rebuild for JobRegistry {
    type Error = RegistryError;

    fn rebuild_event(
        &self,
        event_name: &str,
        payload: serde_json::Value,
    ) -> Result<Arc<dyn Event>, RegistryError> {
        self.decode(event_name, payload)
    }

    fn listeners_of(&self, event_name: &str) -> Vec<Arc<dyn EventListener>> {
        JobRegistry::listeners_of(self, event_name)
    }
}
