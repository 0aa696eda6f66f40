//! The worker of the `memory` connection: `concurrency` long-lived tasks
//! that take jobs in small batches and run them in place.
//!
//! The general worker spawns a task per job and tracks each claim for its
//! storage's sake (leases, batched acknowledgements). An in-process queue
//! needs none of that, so this one spends per job only the listener call
//! and a share of a lock: the rest is per batch.

use std::collections::VecDeque;
use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::Poll;
use std::time::{Duration, Instant};

use tokio::sync::Notify;
use tokio::task::JoinSet;

use super::job::coarse_now_ms;
use super::memory::{MemJob, MemoryBackend};
use super::registry::JobRegistry;
use super::worker::{Attempt, Failure, Verdict, WorkerReport, attempt, failed_attempt};
use super::{FailedJob, QueueError};
use crate::event::Event;
use crate::listener::EventListener;

/// At most this many jobs taken at once by one runner.
const BATCH: usize = 64;
/// Jobs faster than this on average are taken a batch at a time; slower
/// ones a fair share at a time, so one runner does not sit on jobs another
/// could start.
const FAST_JOB: Duration = Duration::from_micros(100);
/// A batch still running after this long (ms, on the coarse clock) hands
/// its unstarted jobs back.
const SLOW_BATCH_MS: i64 = 2;

/// Set once; futures waiting on it wake.
#[derive(Default)]
struct Signal {
    set: AtomicBool,
    notify: Notify,
}

impl Signal {
    fn trigger(&self) {
        self.set.store(true, Ordering::SeqCst);
        self.notify.notify_waiters();
    }

    fn is_set(&self) -> bool {
        self.set.load(Ordering::Acquire)
    }

    async fn wait(&self) {
        loop {
            let notified = self.notify.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            if self.is_set() {
                return;
            }
            notified.await;
        }
    }
}

struct Shared {
    memory: Arc<MemoryBackend>,
    registry: Arc<JobRegistry>,
    lanes: Vec<usize>,
    runners: usize,
    cap: usize,
    poll: Duration,
    /// Jobs measured fast (by any runner): take whole batches.
    fast: AtomicBool,
    /// Shutdown asked: take no new job.
    draining: AtomicBool,
    /// The grace period is over: stop running jobs and hand them back.
    cancel: Signal,
}

/// Settings the memory worker takes from [`super::Worker`].
pub(super) struct Plan {
    pub registry: Arc<JobRegistry>,
    pub queues: Vec<String>,
    pub concurrency: usize,
    pub grace: Duration,
    pub poll: Duration,
    pub prefetch: Option<usize>,
}

pub(super) async fn run(
    plan: Plan,
    memory: Arc<MemoryBackend>,
    shutdown: impl Future<Output = ()>,
) -> Result<WorkerReport, QueueError> {
    let shared = Arc::new(Shared {
        lanes: memory.lanes(&plan.queues),
        memory,
        registry: plan.registry,
        runners: plan.concurrency,
        cap: plan
            .prefetch
            .map_or(BATCH, |p| p.div_ceil(plan.concurrency)),
        poll: plan.poll,
        fast: AtomicBool::new(false),
        draining: AtomicBool::new(false),
        cancel: Signal::default(),
    });
    let mut runners = JoinSet::new();
    for _ in 0..plan.concurrency {
        runners.spawn(runner(shared.clone()));
    }
    shutdown.await;
    shared.draining.store(true, Ordering::SeqCst);
    shared.memory.wake_all();

    let mut report = WorkerReport::default();
    let deadline = tokio::time::Instant::now() + plan.grace;
    loop {
        match tokio::time::timeout_at(deadline, runners.join_next()).await {
            Ok(Some(done)) => add(&mut report, done),
            Ok(None) => break,
            Err(_) => {
                // Grace is over: running jobs are cancelled and handed back.
                shared.cancel.trigger();
                while let Some(done) = runners.join_next().await {
                    add(&mut report, done);
                }
                break;
            }
        }
    }
    Ok(report)
}

fn add(report: &mut WorkerReport, done: Result<WorkerReport, tokio::task::JoinError>) {
    match done {
        Ok(r) => {
            report.succeeded += r.succeeded;
            report.retried += r.retried;
            report.failed += r.failed;
            report.released += r.released;
        }
        Err(e) => tracing::error!(error = %e, "a memory queue worker task ended abnormally"),
    }
}

/// Gives the jobs a runner took and has not started back to the queue, for
/// idle runners, and stops taking batches until jobs measure fast again.
fn hand_back(shared: &Shared, batch: &mut VecDeque<MemJob>) {
    if !batch.is_empty() {
        shared.fast.store(false, Ordering::Relaxed);
        shared.memory.put_back(batch.drain(..), 0);
    }
}

/// How one job's run ended.
enum Ran {
    Succeeded,
    Retried,
    Failed,
    /// Cancelled at the end of the grace period: the job, to hand back.
    Cancelled(MemJob),
}

async fn runner(shared: Arc<Shared>) -> WorkerReport {
    let mut report = WorkerReport::default();
    let mut batch = VecDeque::new();
    // This runner's copy of the backend's interned listeners.
    let mut table = Vec::new();
    // Succeeded jobs not yet reported to the queue's running count.
    let mut finished = 0;
    // Until jobs are measured fast, take a fair share of what waits: a
    // runner holding several slow jobs would keep them from idle runners.
    while !shared.draining.load(Ordering::Acquire) {
        let fast = shared.fast.load(Ordering::Relaxed);
        let (share, cap) = if fast {
            (None, shared.cap)
        } else {
            (Some(shared.runners), 1.max(shared.cap / shared.runners))
        };
        let next_due =
            shared
                .memory
                .take(&shared.lanes, share, cap, finished, &mut batch, &mut table);
        finished = 0;
        if batch.is_empty() {
            shared
                .memory
                .wait_for_job(&shared.lanes, next_due, shared.poll, &shared.draining)
                .await;
            continue;
        }
        let began = Instant::now();
        let began_ms = coarse_now_ms();
        let mut ran = 0u32;
        let mut cancelled = false;
        while let Some(job) = batch.pop_front() {
            ran += 1;
            let outcome = match job.quick(&table) {
                // The common case, kept to one small future per job.
                Some((event, listener)) => {
                    let result = {
                        let call = crate::dispatcher::invoke(listener, event);
                        tokio::pin!(call);
                        match futures::poll!(call.as_mut()) {
                            Poll::Ready(result) => Some(result),
                            Poll::Pending => {
                                // It waits on something: the rest of the
                                // batch should not wait for it.
                                hand_back(&shared, &mut batch);
                                tokio::select! {
                                    biased;
                                    result = call => Some(result),
                                    () = shared.cancel.wait() => None,
                                }
                            }
                        }
                    };
                    match result {
                        Some(Ok(())) => Ran::Succeeded,
                        Some(Err(error)) => {
                            let run = attempt_of(&job, event, std::slice::from_ref(listener));
                            let verdict =
                                failed_attempt(&run, listener, Failure::Error(error)).await;
                            settle(&shared, &table, job, verdict)
                        }
                        None => Ran::Cancelled(job),
                    }
                }
                None => {
                    let run = run_one(&shared, &table, job);
                    tokio::pin!(run);
                    match futures::poll!(run.as_mut()) {
                        Poll::Ready(outcome) => outcome,
                        Poll::Pending => {
                            hand_back(&shared, &mut batch);
                            run.await
                        }
                    }
                }
            };
            match outcome {
                Ran::Succeeded => {
                    report.succeeded += 1;
                    finished += 1;
                }
                Ran::Retried => report.retried += 1,
                Ran::Failed => report.failed += 1,
                Ran::Cancelled(job) => {
                    batch.push_front(job);
                    cancelled = true;
                    break;
                }
            }
            if shared.draining.load(Ordering::Acquire) {
                break;
            }
            // Busy computing for a while: let idle runners have the rest.
            if !batch.is_empty() && coarse_now_ms() - began_ms > SLOW_BATCH_MS {
                hand_back(&shared, &mut batch);
            }
        }
        let measured_fast = began.elapsed() < FAST_JOB * ran;
        if measured_fast != fast {
            shared.fast.store(measured_fast, Ordering::Relaxed);
        }
        if !batch.is_empty() {
            report.released += batch.len() as u64;
            shared.memory.put_back(batch.drain(..), finished);
            finished = 0;
        }
        if cancelled {
            break;
        }
    }
    if finished > 0 {
        shared.memory.put_back([], finished);
    }
    report
}

/// The general path: jobs rebuilt from JSON, queued events with several
/// listeners, timeouts, jobs out of tries.
async fn run_one(shared: &Shared, table: &[Arc<dyn EventListener>], job: MemJob) -> Ran {
    let verdict = match job.parts(&shared.registry, table) {
        Err(reason) => Verdict::Fail {
            reason,
            attempts: job.attempts + 1,
        },
        Ok((event, listeners)) => {
            let run = attempt(attempt_of(&job, &event, &listeners));
            let outcome = tokio::select! {
                biased;
                verdict = run => Some(verdict),
                () = shared.cancel.wait() => None,
            };
            match outcome {
                Some(verdict) => verdict,
                None => {
                    drop((event, listeners));
                    return Ran::Cancelled(job);
                }
            }
        }
    };
    settle(shared, table, job, verdict)
}

/// The next attempt at `job`, with its limits.
fn attempt_of<'a>(
    job: &MemJob,
    event: &'a Arc<dyn Event>,
    listeners: &'a [Arc<dyn EventListener>],
) -> Attempt<'a> {
    Attempt {
        event,
        listeners,
        attempt: job.attempts + 1,
        exceptions: job.exceptions(),
        tries: job.tries(),
        timeout_ms: job.timeout_ms(),
        max_exceptions: job.max_exceptions(),
    }
}

/// Records how an attempt ended: nothing to do on success, the job back in
/// its queue after its backoff, or in the failed store.
fn settle(
    shared: &Shared,
    table: &[Arc<dyn EventListener>],
    mut job: MemJob,
    verdict: Verdict,
) -> Ran {
    let this_attempt = job.attempts + 1;
    match verdict {
        Verdict::Done => Ran::Succeeded,
        Verdict::Retry { exceptions, error } => {
            let id = job.id();
            tracing::info!(job = %id, attempt = this_attempt, error = %format!("{error:#}"), "job attempt failed; retrying");
            job.attempts = this_attempt;
            job.set_exceptions(exceptions);
            job.available_at =
                super::job::now_ms() + job.backoff_after(this_attempt).as_millis() as i64;
            shared.memory.retry_job(job);
            Ran::Retried
        }
        Verdict::Fail { reason, attempts } => {
            let id = job.id();
            tracing::warn!(job = %id, %reason, "job failed for good");
            let queue = shared.memory.lane_name(job.lane as usize);
            let stored = job.into_job(&queue, table).stored_envelope();
            shared
                .memory
                .fail_job(FailedJob::new(stored, reason, attempts));
            Ran::Failed
        }
    }
}
