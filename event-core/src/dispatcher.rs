//! The dispatcher: who listens to what, and running them.
//!
//! Registration is rare and dispatch is hot, so the two are kept apart:
//! writers edit a `Registry` under a mutex and publish an immutable
//! `Snapshot` (arc-swap) plus a new epoch number (from one process-wide
//! counter, so an epoch names its dispatcher too). Each thread keeps its own
//! resolved listener lists, checked against the epoch with one atomic load, so
//! a dispatch writes no counter shared with other threads and takes no lock;
//! it leases its thread's last resolved list (moved out of a thread-local
//! cell and back), so the only reference count it writes is its own event's.
//! With no interceptor, queue handler, broadcaster or recorder installed
//! (one flag of the resolved list, one atomic load for interceptors), the
//! dispatch is the bare loop over the listeners.
//! Nothing is borrowed across a listener's `.await`: listeners may listen,
//! forget, flush or dispatch again.

use std::any::TypeId;
use std::collections::HashMap;
use std::future::Future;
use std::ops::ControlFlow;
use std::panic::AssertUnwindSafe;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock, Weak};

use anyhow::{Context, Result, anyhow};
use arc_swap::ArcSwap;
use futures::FutureExt;
use rustc_hash::FxHashMap;

use crate::broadcasting::{BroadcastMessage, Broadcaster};
use crate::event::{Event, IntoEvent};
use crate::listener::{EventListener, QueueableHandler};
use crate::pattern;

mod failure;
pub(crate) mod intercept;
mod local;
mod mode;
#[cfg(test)]
mod tests;

use crate::store::scope::{self, Recorder};
pub use failure::{BroadcastFailed, ListenerFailed, QueueFailed};
use intercept::{Flow, Interception};
use local::Resolved;
use mode::{Halting, Mode, Propagating};

type Listeners = Arc<[Arc<dyn EventListener>]>;
/// The queue handler and broadcaster a dispatch uses, after interceptors.
type Route = (
    Option<Arc<dyn QueueableHandler>>,
    Option<Arc<dyn Broadcaster>>,
);

/// Dispatches events to listeners. Cheap to clone: clones share listeners.
///
/// The free functions (`dispatch`, `listen::<E>`, ...) use one global instance,
/// [`event_dispatcher`]; `Dispatcher::new()` makes an independent one.
#[derive(Clone)]
pub struct Dispatcher {
    inner: Arc<Inner>,
}

/// A [`Dispatcher`] handle that does not keep it alive.
#[derive(Clone)]
pub(crate) struct WeakDispatcher(Weak<Inner>);

impl WeakDispatcher {
    pub(crate) fn upgrade(&self) -> Option<Dispatcher> {
        self.0.upgrade().map(|inner| Dispatcher { inner })
    }
}

struct Inner {
    id: u64,
    is_global: bool,
    epoch: AtomicU64,
    registry: Mutex<Registry>,
    snapshot: ArcSwap<Snapshot>,
}

#[derive(Clone)]
struct Entry {
    listener: Arc<dyn EventListener>,
    /// The event type of a `listen::<E>` registration, for re-keying.
    typed: Option<TypeId>,
}

#[derive(Default)]
struct Registry {
    by_name: FxHashMap<String, Vec<Entry>>,
    patterns: Vec<(String, Arc<dyn EventListener>)>,
    handler: Option<Arc<dyn QueueableHandler>>,
    broadcaster: Option<Arc<dyn Broadcaster>>,
    recorder: Option<Arc<dyn Recorder>>,
}

/// An immutable view of a `Registry`, with per-name resolution cached.
struct Snapshot {
    /// Names with listeners of their own, wildcard matches appended.
    direct: FxHashMap<Box<str>, Listeners>,
    patterns: Vec<(Box<str>, Arc<dyn EventListener>)>,
    /// Event type -> the name its typed listeners are registered under.
    typed: FxHashMap<TypeId, Box<str>>,
    handler: Option<Arc<dyn QueueableHandler>>,
    broadcaster: Option<Arc<dyn Broadcaster>>,
    recorder: Option<Arc<dyn Recorder>>,
    /// Wildcard matches of names without listeners of their own, filled on first use.
    wildcard_cache: Mutex<FxHashMap<Box<str>, Listeners>>,
}

static NEXT_ID: AtomicU64 = AtomicU64::new(1);
/// Epochs start at 1: the `LAST` slot's initial tag matches no dispatcher.
static NEXT_EPOCH: AtomicU64 = AtomicU64::new(1);
static GLOBAL: OnceLock<Dispatcher> = OnceLock::new();

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panic elsewhere never leaves the registry half-edited (edits are
    // single statements), so a poisoned lock is still safe to use.
    mutex.lock().unwrap_or_else(|e| e.into_inner())
}

impl Default for Dispatcher {
    fn default() -> Self {
        Self::new()
    }
}

impl std::fmt::Debug for Dispatcher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Dispatcher")
            .field("id", &self.inner.id)
            .field("global", &self.inner.is_global)
            .finish_non_exhaustive()
    }
}

impl Dispatcher {
    /// A new dispatcher with no listeners, independent of the global one.
    pub fn new() -> Self {
        Self::with_global(false)
    }

    fn with_global(is_global: bool) -> Self {
        let registry = Registry::default();
        let snapshot = registry.snapshot();
        Self {
            inner: Arc::new(Inner {
                id: NEXT_ID.fetch_add(1, Ordering::Relaxed),
                is_global,
                epoch: AtomicU64::new(NEXT_EPOCH.fetch_add(1, Ordering::Relaxed)),
                registry: Mutex::new(registry),
                snapshot: ArcSwap::from_pointee(snapshot),
            }),
        }
    }

    /// The process-wide dispatcher the free functions use.
    pub fn global() -> &'static Dispatcher {
        GLOBAL.get_or_init(|| Dispatcher::with_global(true))
    }

    pub(crate) fn id(&self) -> u64 {
        self.inner.id
    }

    /// True for the dispatcher behind [`event_dispatcher`].
    pub fn is_global(&self) -> bool {
        self.inner.is_global
    }

    /// A handle that does not keep the dispatcher alive (a queue installed
    /// on it holds one: the dispatcher holds the queue).
    pub(crate) fn downgrade(&self) -> WeakDispatcher {
        WeakDispatcher(Arc::downgrade(&self.inner))
    }

    /// True when both handles share listeners.
    pub fn same_as(&self, other: &Dispatcher) -> bool {
        Arc::ptr_eq(&self.inner, &other.inner)
    }

    fn edit<R>(&self, change: impl FnOnce(&mut Registry) -> R) -> R {
        let mut registry = lock(&self.inner.registry);
        let result = change(&mut registry);
        self.inner.snapshot.store(Arc::new(registry.snapshot()));
        // Published after the snapshot, so a reader that sees the new epoch
        // also sees the new snapshot. Drawn from the process-wide counter
        // (edits of one dispatcher are serialised by its registry lock), so
        // no two dispatchers ever share an epoch.
        let epoch = NEXT_EPOCH.fetch_add(1, Ordering::Relaxed);
        self.inner.epoch.store(epoch, Ordering::Release);
        result
    }

    // ----- registration -------------------------------------------------

    /// Registers `listener` for events of type `E`, under `E`'s name.
    pub async fn listen<E: Event + 'static>(&self, listener: Arc<dyn EventListener>) {
        self.listen_typed::<E>(listener);
    }

    pub(crate) fn listen_typed<E: Event + 'static>(&self, listener: Arc<dyn EventListener>) {
        let name = E::static_event_name().into_owned();
        self.edit(|r| {
            r.by_name.entry(name).or_default().push(Entry {
                listener,
                typed: Some(TypeId::of::<E>()),
            })
        });
    }

    /// Registers `listener` under an event name, or under a wildcard pattern
    /// when the name contains `*` (`"order.*"`, `"Order*"`, `"*"`).
    pub async fn listen_pattern(&self, name_or_pattern: &str, listener: Arc<dyn EventListener>) {
        self.listen_name(name_or_pattern, listener);
    }

    pub(crate) fn listen_name(&self, name_or_pattern: &str, listener: Arc<dyn EventListener>) {
        self.edit(|r| {
            if pattern::is_pattern(name_or_pattern) {
                r.patterns.push((name_or_pattern.to_string(), listener));
            } else {
                r.by_name
                    .entry(name_or_pattern.to_string())
                    .or_default()
                    .push(Entry {
                        listener,
                        typed: None,
                    });
            }
        });
    }

    /// Registers `listener` for every event (the `*` pattern).
    pub async fn listen_wildcard(&self, listener: Arc<dyn EventListener>) {
        self.listen_name("*", listener);
    }

    /// Removes the listeners of an event name, or of a wildcard pattern.
    pub async fn forget(&self, name_or_pattern: &str) {
        self.edit(|r| {
            if pattern::is_pattern(name_or_pattern) {
                r.patterns.retain(|(p, _)| p != name_or_pattern);
            } else {
                r.by_name.remove(name_or_pattern);
            }
        });
    }

    /// Removes every listener (the queue handler and broadcaster stay).
    pub async fn flush(&self) {
        self.edit(|r| {
            r.by_name.clear();
            r.patterns.clear();
        });
    }

    /// Sends queued listeners and queued events to `handler` from now on.
    pub async fn set_queueable_handler(&self, handler: Arc<dyn QueueableHandler>) {
        self.edit(|r| r.handler = Some(handler));
    }

    /// Runs queued listeners and events inline again (the `sync` connection).
    pub async fn clear_queueable_handler(&self) {
        self.edit(|r| r.handler = None);
    }

    /// Records every dispatch through `recorder` (the event store), or stops.
    pub(crate) fn set_recorder(&self, recorder: Option<Arc<dyn Recorder>>) {
        self.edit(|r| r.recorder = recorder);
    }

    /// Broadcasts broadcastable events through `broadcaster` from now on.
    pub async fn set_broadcaster(&self, broadcaster: Arc<dyn Broadcaster>) {
        self.edit(|r| r.broadcaster = Some(broadcaster));
    }

    // ----- inspection ---------------------------------------------------

    /// True when a dispatch of `event_name` would reach a listener, directly
    /// or through a wildcard pattern.
    pub async fn has_listeners(&self, event_name: &str) -> bool {
        let r = lock(&self.inner.registry);
        r.by_name.get(event_name).is_some_and(|l| !l.is_empty())
            || r.patterns
                .iter()
                .any(|(p, _)| p == event_name || pattern::matches(p, event_name))
    }

    /// Listener count per event name and per wildcard pattern.
    pub async fn get_listeners(&self) -> HashMap<String, usize> {
        let r = lock(&self.inner.registry);
        let mut counts: HashMap<String, usize> = r
            .by_name
            .iter()
            .filter(|(_, l)| !l.is_empty())
            .map(|(name, l)| (name.clone(), l.len()))
            .collect();
        for (p, _) in &r.patterns {
            *counts.entry(p.clone()).or_default() += 1;
        }
        counts
    }

    /// The listeners a dispatch of `event_name` runs, in order (without
    /// typed re-keying, which needs a value of the event).
    pub fn listeners_for(&self, event_name: &str) -> Vec<Arc<dyn EventListener>> {
        self.inner.snapshot.load().resolve_name(event_name).to_vec()
    }

    // ----- dispatch -----------------------------------------------------

    /// Dispatches an event: faked, broadcast, queued (a `should_queue` event
    /// with a queue handler set), or handed to each listener in order.
    ///
    /// The first listener error stops the dispatch, calls that listener's
    /// `failed` hook and is returned with a [`ListenerFailed`] context naming
    /// the event and listener; a queue that refuses a job gives a
    /// [`QueueFailed`], a failed broadcast a [`BroadcastFailed`] (after the
    /// listeners ran). Downcast the error to tell them apart. A listener
    /// that panics unwinds through the caller like any Rust panic (the
    /// dispatcher holds no lock across a listener, so it stays usable).
    pub fn dispatch(&self, event: impl IntoEvent) -> impl Future<Output = Result<()>> + Send + '_ {
        self.dispatch_arc(event.into_event(), true, Propagating, false)
    }

    /// Dispatches now: runs the listeners even of a `should_queue` event
    /// (queued listeners still go to the queue handler).
    pub fn dispatch_now(
        &self,
        event: impl IntoEvent,
    ) -> impl Future<Output = Result<()>> + Send + '_ {
        self.dispatch_arc(event.into_event(), false, Propagating, false)
    }

    /// Runs listeners in order until `decide` returns `Some` for a listener's
    /// result, and returns that (Laravel's `until`, which is `dispatch` in
    /// halting mode): fakes, broadcasting, queueing and `failed` hooks work
    /// as in [`Dispatcher::dispatch`]. `decide` sees each listener's result
    /// (an error after its `failed` hook ran) and each failure to queue; a
    /// listener that was queued gives no result, nor does a queued event.
    /// A failed broadcast is logged.
    pub async fn until<T: Send, F>(&self, event: impl IntoEvent, decide: F) -> Option<T>
    where
        F: FnMut(&Result<()>) -> Option<T> + Send,
    {
        self.dispatch_arc(event.into_event(), true, Halting(decide), false)
            .await
    }

    /// The one dispatch loop; `mode` says what the results make of it.
    /// `wrapped` is true inside the interceptors' `around`.
    async fn dispatch_arc<M: Mode>(
        &self,
        event: Arc<dyn Event>,
        queue_event: bool,
        mut mode: M,
        wrapped: bool,
    ) -> M::Output {
        let idle = intercept::idle();
        if !idle && !wrapped && intercept::wraps() {
            return self.dispatch_wrapped(event, queue_event, mode).await;
        }
        let resolved = self.resolve(&*event);
        if idle && resolved.plain {
            // Nothing to route, record, broadcast or queue: `deliver`'s loop
            // without a queue handler, run here rather than in a nested future.
            let output = 'listeners: {
                for listener in resolved.listeners.iter() {
                    let step = match listener.handle(event.clone()).await {
                        Ok(()) => mode.handled(Ok(())),
                        Err(error) => {
                            mode.handled(Err(listener_failed(listener, &event, error).await))
                        }
                    };
                    if let ControlFlow::Break(output) = step {
                        break 'listeners output;
                    }
                }
                mode.finish(Ok(()))
            };
            resolved.give_back();
            return output;
        }
        let routed;
        // Without interceptors, borrow the resolved handler and broadcaster
        // rather than cloning their (shared) Arcs.
        let (handler, broadcaster) = if idle {
            (resolved.handler.as_ref(), resolved.broadcaster.as_ref())
        } else {
            match self.intercept(&event, &resolved) {
                Some(route) => {
                    routed = route;
                    (routed.0.as_ref(), routed.1.as_ref())
                }
                None => return mode.taken(),
            }
        };
        match resolved.recorder.as_ref() {
            None => {
                self.deliver(&event, &resolved, handler, broadcaster, queue_event, mode)
                    .await
            }
            // The event store: one record per dispatch that interceptors let
            // through (a faked event is never recorded); its listeners run in
            // the event's correlation scope.
            Some(recorder) => {
                let causation = recorder.record(&event);
                let delivery =
                    self.deliver(&event, &resolved, handler, broadcaster, queue_event, mode);
                scope::within(causation, delivery).await
            }
        }
    }

    /// Broadcasts, then queues the event or runs (or queues) each listener.
    async fn deliver<M: Mode>(
        &self,
        event: &Arc<dyn Event>,
        resolved: &Resolved,
        handler: Option<&Arc<dyn QueueableHandler>>,
        broadcaster: Option<&Arc<dyn Broadcaster>>,
        queue_event: bool,
        mut mode: M,
    ) -> M::Output {
        // `should_queue_broadcast`: a worker broadcasts through the queue; a
        // faked broadcaster records the broadcast now.
        let broadcast = match (broadcaster, handler) {
            (Some(used), Some(handler))
                if resolved
                    .broadcaster
                    .as_ref()
                    .is_some_and(|real| Arc::ptr_eq(real, used))
                    && crate::queue::broadcast::is_queued(&**event) =>
            {
                crate::queue::broadcast::queue(handler, used, event)
                    .await
                    .map_err(|error| queue_failed(event, None, error))
            }
            (Some(broadcaster), _) => broadcast(broadcaster.as_ref(), &**event).await,
            (None, _) => Ok(()),
        };
        if let Some(handler) = handler
            && queue_event
            && event.should_queue()
        {
            let queued = match handler.queue_event_now(event) {
                Some(done) => done,
                None => handler.queue_event(event.clone()).await,
            };
            if let Err(error) = queued
                && let ControlFlow::Break(output) =
                    mode.queue_failed(queue_failed(event, None, error))
            {
                return output;
            }
            return mode.finish(broadcast);
        }
        // The hot loop: kept in this function (no nested future per listener).
        for listener in resolved.listeners.iter() {
            let step = if let Some(handler) = handler
                && listener.should_queue()
            {
                let queued = match handler.queue_listener_now(listener, event) {
                    Some(done) => done,
                    None => {
                        handler
                            .queue_listener(listener.clone(), event.clone())
                            .await
                    }
                };
                match queued {
                    Ok(()) => continue,
                    Err(error) => mode.queue_failed(queue_failed(event, Some(listener), error)),
                }
            } else {
                match listener.handle(event.clone()).await {
                    Ok(()) => mode.handled(Ok(())),
                    Err(error) => mode.handled(Err(listener_failed(listener, event, error).await)),
                }
            };
            if let ControlFlow::Break(output) = step {
                return output;
            }
        }
        mode.finish(broadcast)
    }

    /// Offers the dispatch to the interceptors: `None` when one took the
    /// event, else the queue handler and broadcaster to use.
    #[inline(never)]
    fn intercept(&self, event: &Arc<dyn Event>, resolved: &Resolved) -> Option<Route> {
        let mut dispatch = Interception {
            dispatcher: self,
            event,
            handler: resolved.handler.clone(),
            broadcaster: resolved.broadcaster.clone(),
        };
        match intercept::before(&mut dispatch) {
            Flow::Taken => None,
            Flow::Deliver => Some((dispatch.handler, dispatch.broadcaster)),
        }
    }

    /// The dispatch run inside the interceptors that wrap deliveries.
    #[inline(never)]
    fn dispatch_wrapped<'a, M: Mode + 'a>(
        &'a self,
        event: Arc<dyn Event>,
        queue_event: bool,
        mode: M,
    ) -> Pin<Box<dyn Future<Output = M::Output> + Send + 'a>> {
        Box::pin(async move {
            let mut output = None;
            let scoped = event.clone();
            let delivery: intercept::Delivery<'_> = Box::pin(async {
                output = Some(self.dispatch_arc(event, queue_event, mode, true).await);
            });
            intercept::around(&scoped, delivery).await;
            // `None`: an interceptor dropped the delivery without running it.
            output.unwrap_or_else(M::dropped)
        })
    }

    fn resolve_uncached(&self, event: &dyn Event) -> Resolved {
        let name = event.event_name();
        let mut snapshot = self.inner.snapshot.load_full();
        if !snapshot.direct.contains_key(name) {
            let type_id = (event as &dyn std::any::Any).type_id();
            if snapshot
                .typed
                .get(&type_id)
                .is_some_and(|key| &**key != name)
            {
                self.rekey(type_id, name);
                snapshot = self.inner.snapshot.load_full();
            }
        }
        Resolved::new(
            snapshot.resolve_name(name),
            snapshot.handler.clone(),
            snapshot.broadcaster.clone(),
            snapshot.recorder.clone(),
        )
    }

    /// Moves `listen::<E>` registrations made under the conventional name to
    /// the name `E`'s values actually carry.
    fn rekey(&self, type_id: TypeId, actual: &str) {
        self.edit(|r| {
            let mut moved = Vec::new();
            for entries in r.by_name.values_mut() {
                let (typed, rest): (Vec<Entry>, Vec<Entry>) =
                    entries.drain(..).partition(|e| e.typed == Some(type_id));
                *entries = rest;
                moved.extend(typed);
            }
            r.by_name.retain(|_, entries| !entries.is_empty());
            r.by_name
                .entry(actual.to_string())
                .or_default()
                .extend(moved);
        });
    }
}

impl Registry {
    fn snapshot(&self) -> Snapshot {
        let patterns: Vec<(Box<str>, Arc<dyn EventListener>)> = self
            .patterns
            .iter()
            .map(|(p, l)| (p.as_str().into(), l.clone()))
            .collect();
        let direct = self
            .by_name
            .iter()
            .filter(|(_, entries)| !entries.is_empty())
            .map(|(name, entries)| {
                let listeners: Listeners = entries
                    .iter()
                    .map(|e| e.listener.clone())
                    .chain(wildcard_matches(&patterns, name))
                    .collect();
                (name.as_str().into(), listeners)
            })
            .collect();
        let typed = self
            .by_name
            .iter()
            .flat_map(|(name, entries)| {
                entries
                    .iter()
                    .filter_map(move |e| e.typed.map(|t| (t, name.as_str().into())))
            })
            .collect();
        Snapshot {
            direct,
            patterns,
            typed,
            handler: self.handler.clone(),
            broadcaster: self.broadcaster.clone(),
            recorder: self.recorder.clone(),
            wildcard_cache: Mutex::default(),
        }
    }
}

fn wildcard_matches<'a>(
    patterns: &'a [(Box<str>, Arc<dyn EventListener>)],
    name: &'a str,
) -> impl Iterator<Item = Arc<dyn EventListener>> + 'a {
    patterns
        .iter()
        .filter(move |(p, _)| pattern::matches(p, name))
        .map(|(_, l)| l.clone())
}

impl Snapshot {
    fn resolve_name(&self, name: &str) -> Listeners {
        if let Some(listeners) = self.direct.get(name) {
            return listeners.clone();
        }
        if self.patterns.is_empty() {
            return Arc::from([]);
        }
        let mut cache = lock(&self.wildcard_cache);
        cache
            .entry(name.into())
            .or_insert_with(|| wildcard_matches(&self.patterns, name).collect())
            .clone()
    }
}

async fn broadcast(broadcaster: &dyn Broadcaster, event: &dyn Event) -> Result<()> {
    match BroadcastMessage::for_event(event) {
        Some(message) => broadcaster
            .broadcast(&message)
            .await
            .with_context(|| BroadcastFailed {
                event: event.event_name().to_string(),
            }),
        None => Ok(()),
    }
}

/// Names the event (and listener) a queue refused, keeping the queue's error.
#[inline(never)]
fn queue_failed(
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
async fn listener_failed(
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

/// Calls `failed`, logging (not returning) what goes wrong in the hook itself:
/// the caller gets the listener's own error.
async fn call_failed_hook(
    listener: &Arc<dyn EventListener>,
    event: &Arc<dyn Event>,
    error: &anyhow::Error,
) {
    let hook = AssertUnwindSafe(listener.failed(event.clone(), error))
        .catch_unwind()
        .await;
    match hook {
        Ok(Ok(())) => {}
        Ok(Err(hook_error)) => tracing::error!(
            listener = listener.listener_name(),
            error = %hook_error,
            "the listener's failed hook returned an error"
        ),
        Err(panic) => tracing::error!(
            listener = listener.listener_name(),
            panic = panic_message(&*panic),
            "the listener's failed hook panicked"
        ),
    }
}

/// Runs `handle`, turning a panic into an error.
pub(crate) async fn invoke(
    listener: &Arc<dyn EventListener>,
    event: &Arc<dyn Event>,
) -> Result<()> {
    match AssertUnwindSafe(listener.handle(event.clone()))
        .catch_unwind()
        .await
    {
        Ok(result) => result,
        Err(panic) => Err(anyhow!("listener panicked: {}", panic_message(&*panic))),
    }
}

/// The text of a panic payload (`panic!("...")` gives a `&str` or `String`).
pub fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    if let Some(s) = payload.downcast_ref::<&str>() {
        (*s).to_string()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "non-string panic payload".to_string()
    }
}

// `event.rs` dispatches through this path.
pub(crate) use crate::seed::dispatch;
