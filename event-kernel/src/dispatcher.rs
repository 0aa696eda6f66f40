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
//!
//! Here: the `Dispatcher` handle, registration and the public dispatch
//! calls. `registry` holds who listens to what and its published
//! snapshot; `local` each thread's resolved lists; `delivery` one
//! dispatch's path to its listeners; `mode` what `dispatch` and `until`
//! make of the results; `failure` the errors a dispatch returns;
//! `intercept` the seam the test fakes install through.

use std::any::TypeId;
use std::collections::HashMap;
use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock, Weak};

use anyhow::Result;
use arc_swap::ArcSwap;

use crate::broadcasting::Broadcaster;
use crate::event::{Event, IntoEvent};
use crate::handler::QueueableHandler;
use crate::listener::EventListener;
use crate::pattern;
use crate::scope::Recorder;

mod delivery;
mod failure;
mod held;
pub mod intercept;
mod local;
mod mode;
mod registry;
#[cfg(test)]
mod tests;

pub use failure::{BroadcastFailed, ListenerFailed, QueueFailed};
use mode::{Halting, Propagating};
use registry::{Entry, Registry, Snapshot};

type Listeners = Arc<[Arc<dyn EventListener>]>;
/// The queue handler and broadcaster a dispatch uses, after interceptors,
/// and whether that broadcaster is the one installed on the dispatcher (a
/// fake that replaced it records broadcasts now, never through the queue).
type Route = (
    Option<Arc<dyn QueueableHandler>>,
    Option<Arc<dyn Broadcaster>>,
    bool,
);

/// Dispatches events to listeners. Cheap to clone: clones share listeners.
///
/// The free functions (`dispatch`, `listen::<E>`, ...) use one global instance,
/// [`Dispatcher::global`] (`event_core::event_dispatcher()`);
/// `Dispatcher::new()` makes an independent one.
#[derive(Clone)]
pub struct Dispatcher {
    inner: Arc<Inner>,
}

/// A [`Dispatcher`] handle that does not keep it alive (a queue installed
/// on a dispatcher holds one: the dispatcher holds the queue).
#[derive(Clone)]
pub struct WeakDispatcher(Weak<Inner>);

impl std::fmt::Debug for WeakDispatcher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WeakDispatcher").finish_non_exhaustive()
    }
}

impl WeakDispatcher {
    /// The dispatcher, while something else keeps it alive.
    pub fn upgrade(&self) -> Option<Dispatcher> {
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

    /// A number naming this dispatcher for as long as the process runs
    /// (what a fake bound to one dispatcher keys on).
    pub fn id(&self) -> u64 {
        self.inner.id
    }

    /// True for the process-wide dispatcher, [`Dispatcher::global`].
    pub fn is_global(&self) -> bool {
        self.inner.is_global
    }

    /// A handle that does not keep the dispatcher alive (a queue installed
    /// on it holds one: the dispatcher holds the queue).
    pub fn downgrade(&self) -> WeakDispatcher {
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
    pub fn set_recorder(&self, recorder: Option<Arc<dyn Recorder>>) {
        self.edit(|r| r.recorder = recorder);
    }

    /// The recorder set with [`set_recorder`](Self::set_recorder), if any
    /// (what opens a chain outside a dispatch, such as event-core's HTTP
    /// origin layer, reports its own hop to it).
    pub fn recorder(&self) -> Option<Arc<dyn Recorder>> {
        self.inner.snapshot.load().recorder.clone()
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
}
