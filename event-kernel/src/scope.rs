//! Correlation: which event's listener is running right now.
//!
//! The dispatcher sets a tokio task-local scope around the listeners of a
//! recorded event, so an event dispatched inside one gets that event as its
//! cause and inherits its correlation id. Queued jobs carry the two ids in
//! their envelope and the worker restores the scope when it runs the job.
//! Replays set the scope too, with [`is_replaying`] true.
//!
//! The store sets the scope through [`Recorder`] (the dispatcher calls it),
//! the queues carry the ids ([`job_ids`]) and restore them ([`within_job`]),
//! replays set it with [`within`].

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use ulid::Ulid;

use crate::event::Event;

/// The event whose listeners are running.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Causation {
    /// The id of that event.
    pub event_id: Ulid,
    /// The id of the top-level event of its chain.
    pub correlation_id: Ulid,
    /// During a replay: the id of the stored event being replayed.
    pub replay_of: Option<Ulid>,
}

tokio::task_local! {
    static CURRENT: Causation;
}

/// Set once any scope was entered in this process: until then no task can
/// be in one, and [`recorded`] answers without looking.
static ENTERED: AtomicBool = AtomicBool::new(false);

/// The event whose listener is running on this task, if any.
pub fn current() -> Option<Causation> {
    CURRENT.try_with(|c| *c).ok()
}

/// True inside a listener run by a replay (`EventStore::replay`): skip side
/// effects such as mail here, or opt the listener out of replays with
/// [`EventListener::replayable`](crate::EventListener::replayable).
pub fn is_replaying() -> bool {
    current().is_some_and(|c| c.replay_of.is_some())
}

/// Runs `future` with `causation` as the running event.
pub async fn within<F: Future>(causation: Causation, future: F) -> F::Output {
    if !ENTERED.load(Ordering::Relaxed) {
        ENTERED.store(true, Ordering::Relaxed);
    }
    CURRENT.scope(causation, future).await
}

/// True when this task runs inside a recorded event's listeners (not a
/// replay): a job queued now must carry the ids ([`job_ids`]). One relaxed
/// load while no scope was ever entered.
#[inline]
pub fn recorded() -> bool {
    ENTERED.load(Ordering::Relaxed) && current().is_some_and(|c| c.replay_of.is_none())
}

/// The ids a queued job carries: the running event and its chain.
pub fn job_ids() -> (Option<String>, Option<String>) {
    match current() {
        Some(c) if c.replay_of.is_none() => (
            Some(c.event_id.to_string()),
            Some(c.correlation_id.to_string()),
        ),
        _ => (None, None),
    }
}

/// The scope a worker restores from a job's ids (`None` when it has none or
/// they do not parse: the job's dispatches then start chains of their own).
pub fn from_job(event_id: Option<&str>, correlation_id: Option<&str>) -> Option<Causation> {
    let event_id = Ulid::from_string(event_id?).ok()?;
    let correlation_id = Ulid::from_string(correlation_id?).ok()?;
    Some(Causation {
        event_id,
        correlation_id,
        replay_of: None,
    })
}

/// Runs `future` inside the scope of a job's ids, or as it is without them.
pub async fn within_job<F: Future>(
    event_id: Option<&str>,
    correlation_id: Option<&str>,
    future: F,
) -> F::Output {
    match from_job(event_id, correlation_id) {
        Some(causation) => within(causation, future).await,
        None => future.await,
    }
}

/// What the dispatcher calls once per dispatch of a recorded event; the
/// scope it returns is set around that event's listeners.
pub trait Recorder: Send + Sync {
    /// Records the event; returns the scope its listeners run in.
    fn record(&self, event: &Arc<dyn Event>) -> Causation;

    /// Whether the dispatcher should time and report the
    /// [`Hop`](crate::hop::Hop)s of recorded events (default: no; nothing
    /// is measured then).
    fn records_hops(&self) -> bool {
        false
    }

    /// A hop of the recorded event `event_id` (its sync listener calls,
    /// the listeners it queued, its broadcast), when [`records_hops`](Self::records_hops).
    fn hop(&self, _event_id: Ulid, _hop: crate::hop::Hop) {}
}
