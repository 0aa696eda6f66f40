//! The unit-of-work seam (Laravel's `ShouldDispatchAfterCommit` and
//! `ShouldHandleEventsAfterCommit`): deliveries held until a unit of work
//! commits, and dropped when it rolls back.
//!
//! The kernel knows no database: whoever owns the unit (the queue's
//! `defer`, `postgres::in_transaction`) runs its work inside [`scope`] and
//! then calls [`Held::commit`] or [`Held::roll_back`]. Inside the scope, the
//! dispatcher holds a dispatch of an event whose
//! [`dispatch_after_commit`](crate::Event::dispatch_after_commit) is true,
//! and a call of a listener declaring `after_commit` that would run inline.
//! [`scope_unseen`] marks work whose commit the owner does not see: a
//! delivery that would be held there is an error naming the owner.

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use anyhow::Result;

use crate::event::Event;

/// A held delivery: runs the dispatch (or the one listener) it stands for.
pub(crate) type Run = Box<dyn FnOnce() -> Pin<Box<dyn Future<Output = Result<()>> + Send>> + Send>;

/// One held delivery: its event (what [`crate::deferral`] deduplicates by)
/// and how to run it.
pub(crate) struct Delivery {
    pub(crate) event: Arc<dyn Event>,
    pub(crate) run: Run,
}

struct Unit {
    /// `Some(owner)`: the owner cannot see the commit, so nothing may be held.
    unseen: Option<&'static str>,
    held: Vec<Delivery>,
}

type Shared = Arc<Mutex<Unit>>;

tokio::task_local! {
    static UNIT: Shared;
}

/// Set once a unit or a deferral was entered in this process: until then
/// the dispatcher holds nothing, for one relaxed load.
static ENTERED: AtomicBool = AtomicBool::new(false);

pub(crate) fn mark_entered() {
    if !ENTERED.load(Ordering::Relaxed) {
        ENTERED.store(true, Ordering::Relaxed);
    }
}

/// True once any unit of work or deferral was entered in this process.
#[inline]
pub(crate) fn ever_entered() -> bool {
    ENTERED.load(Ordering::Relaxed)
}

/// True when this task runs inside a unit of work.
pub fn active() -> bool {
    ever_entered() && UNIT.try_with(|_| ()).is_ok()
}

/// What [`hold`] did with a delivery.
pub(crate) enum Hold {
    /// No unit: deliver now.
    Now,
    /// Held until the unit commits.
    Held,
    /// Inside a unit whose commit its owner cannot see (the owner's name).
    Unseen(&'static str),
}

/// Holds `delivery` in this task's unit of work, if there is one.
pub(crate) fn hold(delivery: Delivery) -> Hold {
    let mut delivery = Some(delivery);
    let unseen = UNIT.try_with(|unit| {
        let mut unit = unit.lock().unwrap_or_else(|e| e.into_inner());
        match unit.unseen {
            Some(owner) => Some(owner),
            None => {
                unit.held.extend(delivery.take());
                None
            }
        }
    });
    match (unseen, delivery) {
        (Ok(Some(owner)), _) => Hold::Unseen(owner),
        (_, Some(_)) => Hold::Now,
        (_, None) => Hold::Held,
    }
}

/// The error of an `after_commit` delivery inside a unit whose owner does
/// not see the commit (`listener`: the listener's name when one listener's
/// call is held, not the whole dispatch).
pub(crate) fn unseen_error(
    owner: &str,
    event: &dyn Event,
    listener: Option<&str>,
) -> anyhow::Error {
    let what = match listener {
        Some(listener) => format!(
            "listener `{listener}` of event `{}` declares `after_commit`",
            event.event_name()
        ),
        None => format!("event `{}` is `after_commit`", event.event_name()),
    };
    anyhow::anyhow!(
        "{what}, but it was dispatched inside `{owner}`, which does not see the commit: \
         wrap the work and the commit in `event_core::queue::defer(async {{ .. }})`"
    )
}

/// Holds the call of `listener` (a queued listener declaring
/// `after_commit` that a queue handler runs inline, on its `sync`
/// connection) until this task's unit of work commits, as the dispatcher
/// holds an inline `after_commit` listener. `Ok(None)`: held; `Ok(Some(run))`:
/// no unit, run it now; an error inside a unit whose owner does not see
/// the commit.
pub fn hold_call<F>(event: Arc<dyn Event>, listener: &str, run: F) -> Result<Option<F>>
where
    F: FnOnce() -> Pin<Box<dyn Future<Output = Result<()>> + Send>> + Send + 'static,
{
    if !active() {
        return Ok(Some(run));
    }
    let delivery = Delivery {
        event: event.clone(),
        run: Box::new(run),
    };
    match hold(delivery) {
        Hold::Held => Ok(None),
        Hold::Unseen(owner) => Err(unseen_error(owner, &*event, Some(listener))),
        // `active()` saw the unit; it cannot have gone.
        Hold::Now => Ok(None),
    }
}

/// The deliveries a unit of work held, in dispatch order: run them with
/// [`commit`](Held::commit) once the unit committed, or drop them with
/// [`roll_back`](Held::roll_back).
#[must_use = "held deliveries run only through `commit`"]
pub struct Held {
    deliveries: Vec<Delivery>,
}

impl std::fmt::Debug for Held {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Held")
            .field("deliveries", &self.deliveries.len())
            .finish()
    }
}

impl Held {
    /// True when nothing was held.
    pub fn is_empty(&self) -> bool {
        self.deliveries.is_empty()
    }

    /// The unit committed: inside an enclosing unit, hands the deliveries
    /// to it (it decides); otherwise runs them in dispatch order. The first
    /// error (a listener's, with its `failed` hook called) stops the rest
    /// and is returned.
    pub async fn commit(self) -> Result<()> {
        let mut deliveries = Some(self.deliveries);
        let _ = UNIT.try_with(|outer| {
            let mut outer = outer.lock().unwrap_or_else(|e| e.into_inner());
            // An enclosing unit that cannot see its commit: run now, as the
            // inner unit's owner saw its own commit.
            if outer.unseen.is_none()
                && let Some(deliveries) = deliveries.take()
            {
                outer.held.extend(deliveries);
            }
        });
        for delivery in deliveries.into_iter().flatten() {
            (delivery.run)().await?;
        }
        Ok(())
    }

    /// The unit rolled back: the held deliveries never run.
    pub fn roll_back(self) {}
}

/// Runs `work` as a unit of work; returns its output and what it held.
pub async fn scope<F: Future>(work: F) -> (F::Output, Held) {
    run(None, work).await
}

/// Runs `work` inside a unit whose commit `owner` (e.g.
/// `"postgres::in_transaction"`) does not see: a dispatch that would be
/// held there fails with an error naming `owner`. Inside an enclosing unit
/// of work, `work` simply runs in it (the enclosing unit holds).
pub async fn scope_unseen<F: Future>(owner: &'static str, work: F) -> F::Output {
    if active() {
        return work.await;
    }
    run(Some(owner), work).await.0
}

async fn run<F: Future>(unseen: Option<&'static str>, work: F) -> (F::Output, Held) {
    mark_entered();
    let unit: Shared = Arc::new(Mutex::new(Unit {
        unseen,
        held: Vec::new(),
    }));
    let output = UNIT.scope(unit.clone(), work).await;
    let deliveries = std::mem::take(&mut unit.lock().unwrap_or_else(|e| e.into_inner()).held);
    (output, Held { deliveries })
}
