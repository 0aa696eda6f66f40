//! The running job, as its listener sees it (Laravel's `InteractsWithQueue`):
//! the attempt number and job id, and the listener's own say on how the
//! attempt ends: `release` (back on the queue), `delete` (give up quietly)
//! or `fail` (straight to the failed store).
//!
//! A listener keeps the seed's signature (`handle(&self, event) ->
//! Result<()>`); the worker runs it inside a tokio task-local that
//! [`CurrentJob::get`] reads. The claim loop sets the task-local around
//! each job's task; the memory worker sets it once per runner task and
//! fills it per job (a runner runs one job at a time), so its fast path
//! pays a cell write, not a scope, per job.
//!
//! The call records a decision; the worker applies it when the listener
//! returns, whatever it returns. Outside a job run by a worker (a direct
//! listener, the `sync` connection, a task the listener spawned) every call
//! is an error, [`JobControlError::NotInJob`].

use std::cell::RefCell;
use std::future::Future;
use std::time::Duration;

tokio::task_local! {
    static RUNNING: RefCell<Option<Running>>;
}

/// The job a worker is running on this task.
pub(crate) struct Running {
    /// 1-based.
    attempt: u32,
    id: RunningId,
    /// The listener being called (its index in the job's listeners).
    listener: usize,
    decision: Option<(usize, Decision)>,
}

/// A job's id: stored, or (memory) made when first asked for and then kept
/// with the job.
pub(crate) enum RunningId {
    Stored(String),
    Lazy {
        created_at: i64,
        made: Option<ulid::Ulid>,
    },
}

/// What a listener said about its attempt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Decision {
    /// Back on the queue after the delay; the attempt counts against `tries`.
    Release(Duration),
    /// Remove the job: not failed, not retried.
    Delete,
    /// Fail for good with this reason.
    Fail(String),
}

impl Decision {
    fn name(&self) -> &'static str {
        match self {
            Decision::Release(_) => "release",
            Decision::Delete => "delete",
            Decision::Fail(_) => "fail",
        }
    }
}

impl Running {
    pub(crate) fn new(attempt: u32, id: RunningId) -> Self {
        Self {
            attempt,
            id,
            listener: 0,
            decision: None,
        }
    }

    /// How the run ended: the id made for a memory job during it (to keep
    /// with the job), and the decision not yet taken.
    pub(crate) fn end(self) -> (Option<ulid::Ulid>, Option<(usize, Decision)>) {
        let made = match self.id {
            RunningId::Lazy { made, .. } => made,
            RunningId::Stored(_) => None,
        };
        (made, self.decision)
    }
}

/// Runs `future` (a job's task) with `running` as its job.
pub(crate) async fn run_as<F: Future>(running: Running, future: F) -> F::Output {
    RUNNING.scope(RefCell::new(Some(running)), future).await
}

/// Runs `future` (a memory runner) with a slot the runner fills per job
/// ([`enter`], [`leave`]).
pub(crate) async fn with_slot<F: Future>(future: F) -> F::Output {
    RUNNING.scope(RefCell::new(None), future).await
}

/// Makes `running` the job of this runner's slot.
pub(crate) fn enter(running: Running) {
    let _ = RUNNING.try_with(|slot| *slot.borrow_mut() = Some(running));
}

/// Empties this runner's slot; the job it held.
pub(crate) fn leave() -> Option<Running> {
    RUNNING
        .try_with(|slot| slot.borrow_mut().take())
        .ok()
        .flatten()
}

/// Notes which of the job's listeners runs now.
pub(crate) fn calling(listener: usize) {
    let _ = RUNNING.try_with(|slot| {
        if let Some(running) = slot.borrow_mut().as_mut() {
            running.listener = listener;
        }
    });
}

/// True once a listener of the running job has decided how it ends.
pub(crate) fn decided() -> bool {
    RUNNING
        .try_with(|slot| slot.borrow().as_ref().is_some_and(|r| r.decision.is_some()))
        .unwrap_or(false)
}

/// The decision of the running job's listeners, and which listener made it.
pub(crate) fn take_decision() -> Option<(usize, Decision)> {
    RUNNING
        .try_with(|slot| slot.borrow_mut().as_mut().and_then(|r| r.decision.take()))
        .ok()
        .flatten()
}

/// A control call outside a queued job, or a second decision in one attempt.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum JobControlError {
    /// Not inside a job run by a queue worker (a listener run at dispatch,
    /// on the `sync` connection, or a task the listener spawned).
    #[error(
        "`CurrentJob::{call}` called outside a queued job: only a listener run by a queue worker has a job (not one run at dispatch, on the `sync` connection, or in a task it spawned)"
    )]
    NotInJob {
        /// The call made (`get`, `release`, `delete`, `fail`).
        call: &'static str,
    },
    /// The attempt's end was decided already (one decision per attempt).
    #[error("`CurrentJob::{call}` after `{earlier}`: this attempt's end is already decided")]
    AlreadyDecided {
        /// The call made.
        call: &'static str,
        /// The earlier decision.
        earlier: &'static str,
    },
}

/// The job the running listener was queued as (Laravel's
/// `InteractsWithQueue`). Get it inside a queued listener's `handle`:
///
/// ```no_run
/// # async fn handle() -> anyhow::Result<()> {
/// use event_jobs::CurrentJob;
/// use std::time::Duration;
/// let job = CurrentJob::get()?;
/// if job.attempts() < 3 && !ready() {
///     job.release(Duration::from_secs(10))?; // back on the queue in 10 s
///     return Ok(());
/// }
/// # Ok(()) }
/// # fn ready() -> bool { true }
/// ```
///
/// `release`, `delete` and `fail` record how the attempt ends; the worker
/// applies it when `handle` returns, whatever `handle` returns (an error
/// returned after one of them is logged, not counted). One decision per
/// attempt: a second is [`JobControlError::AlreadyDecided`]. On a queued
/// event's job, the listeners after the one that decided do not run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CurrentJob {
    attempt: u32,
    id: String,
}

impl CurrentJob {
    /// The job running on this task, or [`JobControlError::NotInJob`].
    pub fn get() -> Result<Self, JobControlError> {
        let not_in_job = JobControlError::NotInJob { call: "get" };
        RUNNING
            .try_with(|slot| {
                let mut slot = slot.borrow_mut();
                let running = slot.as_mut()?;
                let id = match &mut running.id {
                    RunningId::Stored(id) => id.clone(),
                    RunningId::Lazy { created_at, made } => made
                        .get_or_insert_with(|| crate::job::made_at(*created_at))
                        .to_string(),
                };
                Some(Self {
                    attempt: running.attempt,
                    id,
                })
            })
            .ok()
            .flatten()
            .ok_or(not_in_job)
    }

    /// This attempt's number, 1-based (Laravel's `attempts()`): a release
    /// counts as an attempt, as in Laravel.
    pub fn attempts(&self) -> u32 {
        self.attempt
    }

    /// The job's id (a ULID), as the failed store and the worker's log show it.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// Puts the job back on its queue, runnable after `delay` (Laravel's
    /// `release($delay)`). The attempt counts against `tries`: released on
    /// its last try, the job fails for good (its `failed` hook runs) with
    /// a reason saying it was released with no tries left.
    pub fn release(&self, delay: Duration) -> Result<(), JobControlError> {
        decide("release", Decision::Release(delay))
    }

    /// Removes the job quietly (Laravel's `delete()`): not failed, not
    /// retried, no `failed` hook; the worker counts it as processed and
    /// logs it as `DELETED`.
    pub fn delete(&self) -> Result<(), JobControlError> {
        decide("delete", Decision::Delete)
    }

    /// Fails the job for good with `reason` (Laravel's `fail($reason)`):
    /// no more retries, the listener's `failed` hook runs with the reason,
    /// and the job goes to the failed store with it.
    pub fn fail(&self, reason: impl Into<String>) -> Result<(), JobControlError> {
        decide("fail", Decision::Fail(reason.into()))
    }
}

fn decide(call: &'static str, decision: Decision) -> Result<(), JobControlError> {
    RUNNING
        .try_with(|slot| {
            let mut slot = slot.borrow_mut();
            let running = slot.as_mut().ok_or(JobControlError::NotInJob { call })?;
            if let Some((_, earlier)) = &running.decision {
                return Err(JobControlError::AlreadyDecided {
                    call,
                    earlier: earlier.name(),
                });
            }
            running.decision = Some((running.listener, decision));
            Ok(())
        })
        .unwrap_or(Err(JobControlError::NotInJob { call }))
}
