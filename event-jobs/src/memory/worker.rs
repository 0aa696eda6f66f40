//! The worker of the `memory` connection: `concurrency` long-lived tasks
//! that take jobs in small batches and run them in place.
//!
//! The general worker spawns a task per job and tracks each claim for its
//! storage's sake (leases, batched acknowledgements). An in-process queue
//! needs none of that, so this one spends per job only the listener call
//! and a share of a lock: the rest is per batch.

use std::collections::VecDeque;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::Poll;
use std::time::{Duration, Instant};

use tokio::sync::Notify;
use tokio::task::JoinSet;

use super::batch::BatchCounts;
use super::{MemJob, MemoryBackend};
use crate::attempt::{Attempt, Failure, Verdict, Wrap, attempt, decided, failed_attempt};
use crate::attempt_record::{self, AttemptRecord};
use crate::current_job::{self, Running};
use crate::job::coarse_now_ms;
use crate::middleware::run::Gate;
use crate::monitor::{Outcome, Tallies};
use crate::registry::JobRegistry;
use crate::settings::JobSettings;
use crate::stats::{Ended, WorkerStats};
use crate::worker::control::Control;
use crate::worker::hops::AttemptHops;
use crate::worker::{StopWhen, WorkerReport};
use crate::{FailedJob, QueueError};
use event_kernel::Event;
use event_kernel::EventListener;

/// A runner hands its figures to the worker's stats this often (ms).
const HAND_OVER_MS: i64 = 100;
/// Of the jobs a runner completed between two hand-overs, the latest this
/// many go to the completed log: at millions of jobs a second, naming each
/// would cost more than the job, and the log keeps the latest anyway.
const COMPLETED_KEPT: usize = 16;

/// A completed job, by its tally's slot: (slot, wait ms, run ms, attempts,
/// done at).
type Completion = (usize, u64, u64, u32, i64);

/// Hands a runner's tallies and latest completions to the worker's stats
/// (the completions named by their tally's slot, before the slots go).
fn hand_over(shared: &Shared, tallies: &mut Tallies, done: &mut VecDeque<Completion>) {
    shared.stats.add_completed(done.drain(..).filter_map(
        |(slot, wait_ms, run_ms, attempts, done_at_ms)| {
            let (queue, name) = tallies.names(slot)?;
            Some(crate::monitor::CompletedJob {
                id: String::new(),
                name: name.to_string(),
                queue: queue.to_string(),
                wait_ms,
                run_ms,
                attempts,
                worker: String::new(),
                done_at_ms,
            })
        },
    ));
    shared.stats.add_tallies(tallies.take());
}

/// At most this many jobs taken at once by one runner.
const BATCH: usize = 64;
/// Jobs faster than this on average are taken a batch at a time; slower
/// ones a fair share at a time, so one runner does not sit on jobs another
/// could start.
const FAST_JOB: Duration = Duration::from_micros(100);
/// A batch still running after this long (ms, on the coarse clock) hands
/// its unstarted jobs back.
const SLOW_BATCH_MS: i64 = 2;
/// How long a runner that just ran jobs looks for more before it parks
/// (only where other threads can push meanwhile).
const LOOK_BEFORE_PARKING: Duration = Duration::from_micros(20);

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
    memory: MemoryBackend,
    /// A queued event's queued listeners are queued through it.
    queue: crate::Queue,
    registry: Arc<JobRegistry>,
    /// The queue's app keys: open sealed payloads.
    keys: crate::AppKeys,
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
    limits: StopWhen,
    fallback: JobSettings,
    stats: WorkerStats,
    /// Queue names by lane number, for the stats.
    names: Vec<(usize, String)>,
    /// `stop_when_empty` or `max_jobs` reached: the worker stops.
    stop: Arc<tokio::sync::Notify>,
    /// Jobs finished by all runners (for `max_jobs`).
    finished: std::sync::atomic::AtomicU64,
    control: Arc<Control>,
    worker_id: String,
    hops: Option<AttemptHops>,
}

impl Shared {
    /// The lanes to take from: all of them, or those not paused.
    fn runnable(&self) -> std::borrow::Cow<'_, [usize]> {
        if !self.control.any_paused() {
            return std::borrow::Cow::Borrowed(&self.lanes);
        }
        std::borrow::Cow::Owned(
            self.names
                .iter()
                .filter(|(_, name)| !self.control.is_paused(name))
                .map(|(lane, _)| *lane)
                .collect(),
        )
    }

    fn lane_name(&self, lane: u32) -> &str {
        self.names
            .iter()
            .find(|(l, _)| *l == lane as usize)
            .map_or("", |(_, n)| n.as_str())
    }
}

/// A future a backend's worker loop runs as.
pub(crate) type WorkerRun = Pin<Box<dyn Future<Output = Result<WorkerReport, QueueError>> + Send>>;

/// What a backend's own worker loop takes from [`Worker`](crate::Worker).
pub(crate) struct WorkerPlan {
    /// The worker's queue: a queued event's queued listeners are queued
    /// through it.
    pub(crate) queue: crate::Queue,
    pub(crate) registry: Arc<JobRegistry>,
    /// The queue's app keys: open sealed payloads.
    pub(crate) keys: crate::AppKeys,
    pub(crate) queues: Vec<String>,
    pub(crate) concurrency: usize,
    pub(crate) grace: Duration,
    pub(crate) poll: Duration,
    pub(crate) prefetch: Option<usize>,
    pub(crate) limits: StopWhen,
    /// Tries and timeout for the jobs that declare none.
    pub(crate) fallback: JobSettings,
    pub(crate) stats: WorkerStats,
    /// Notified when the loop stops by itself (`stop_when_empty`,
    /// `max_jobs`).
    pub(crate) stop: Arc<tokio::sync::Notify>,
    /// The paused queues, read every second.
    pub(crate) control: Arc<Control>,
    /// This worker's id: what its jobs' attempts name.
    pub(crate) worker_id: String,
    /// Where each attempt is reported under its event (`Worker::hops_to`).
    pub(crate) hops: Option<AttemptHops>,
}

/// The worker loop [`MemoryBackend`] runs for [`crate::Worker`].
pub(super) async fn run(
    plan: WorkerPlan,
    memory: MemoryBackend,
    shutdown: impl Future<Output = ()>,
) -> Result<WorkerReport, QueueError> {
    let lanes = memory.store.lanes(&plan.queues);
    let names = lanes
        .iter()
        .copied()
        .zip(plan.queues.iter().cloned())
        .collect();
    let shared = Arc::new(Shared {
        queue: plan.queue,
        names,
        limits: plan.limits,
        fallback: plan.fallback,
        stats: plan.stats,
        stop: plan.stop,
        finished: std::sync::atomic::AtomicU64::new(0),
        control: plan.control,
        worker_id: plan.worker_id,
        hops: plan.hops,
        lanes,
        memory,
        registry: plan.registry,
        keys: plan.keys,
        runners: plan.concurrency,
        cap: plan
            .prefetch
            .map_or(BATCH, |p| p.div_ceil(plan.concurrency)),
        poll: plan.poll,
        fast: AtomicBool::new(false),
        draining: AtomicBool::new(false),
        cancel: Signal::default(),
    });
    // Its counts tell the connection's stats what runs on which queue.
    let registered = {
        static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
        let id = NEXT.fetch_add(1, Ordering::Relaxed);
        shared
            .memory
            .store
            .workers
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push((id, shared.stats.clone()));
        id
    };
    let mut runners = JoinSet::new();
    for _ in 0..plan.concurrency {
        runners.spawn(current_job::with_slot(runner(shared.clone())));
    }
    shutdown.await;
    shared.draining.store(true, Ordering::SeqCst);
    shared.memory.store.wake_all();

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
    shared
        .memory
        .store
        .workers
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .retain(|(id, _)| *id != registered);
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
        shared.memory.store.put_back(batch.drain(..), 0);
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
    // Looking for arrivals before parking pays only when producers can run
    // meanwhile (another worker thread), and only right after a batch: an
    // idle runner's polls do not spin.
    let may_look =
        tokio::runtime::Handle::try_current().is_ok_and(|rt| rt.metrics().num_workers() > 1);
    let mut just_ran = false;
    // This runner's figures of the batch, handed to the stats after it.
    let mut tallies = Tallies::default();
    // Succeeded jobs of the batch: (slot, wait ms, run ms, attempts, done at).
    let mut done: VecDeque<Completion> = VecDeque::with_capacity(COMPLETED_KEPT);
    let figures = shared.stats.figures();
    let mut handed_at = coarse_now_ms();
    // Figures of jobs run since the last hand-over.
    let mut unhanded = false;
    // Until jobs are measured fast, take a fair share of what waits: a
    // runner holding several slow jobs would keep them from idle runners.
    while !shared.draining.load(Ordering::Acquire) {
        let fast = shared.fast.load(Ordering::Relaxed);
        let (share, cap) = if fast {
            (None, shared.cap)
        } else {
            (Some(shared.runners), 1.max(shared.cap / shared.runners))
        };
        let lanes = shared.runnable();
        let next_due = shared
            .memory
            .store
            .take(&lanes, share, cap, finished, &mut batch, &mut table);
        finished = 0;
        if batch.is_empty() {
            if shared.limits.empty && shared.memory.store.is_idle(&lanes) {
                tracing::info!("queue is empty; the worker stops (stop_when_empty)");
                stop(&shared);
                break;
            }
            if std::mem::take(&mut just_ran)
                && may_look
                && shared.memory.store.look_for_arrivals(LOOK_BEFORE_PARKING)
            {
                continue;
            }
            // Figures not yet handed over would otherwise wait, unseen,
            // for this runner's next batch.
            if figures && std::mem::take(&mut unhanded) {
                handed_at = coarse_now_ms();
                hand_over(&shared, &mut tallies, &mut done);
            }
            shared
                .memory
                .store
                .wait_for_job(&lanes, next_due, shared.poll, &shared.draining)
                .await;
            continue;
        }
        just_ran = true;
        let began = Instant::now();
        let began_ms = coarse_now_ms();
        let mut ran = 0u32;
        let mut cancelled = false;
        let mut counts = BatchCounts::default();
        counts.started(&batch, began_ms);
        let mut job_began = began_ms;
        while let Some(mut job) = batch.pop_front() {
            ran += 1;
            let lane = job.lane;
            let waited = (job_began - job.available_at).max(0) as u64;
            let attempt = job.attempts + 1;
            let slot = if figures {
                tallies.started(
                    shared.lane_name(lane),
                    job.job_name(&table),
                    job_began,
                    waited,
                )
            } else {
                usize::MAX
            };
            let span = job.span(shared.lane_name(lane), job.job_name(&table));
            // The job its listener sees (`CurrentJob`), in this runner's slot.
            current_job::enter(Running::new(attempt, job.running_id()));
            let outcome = match job.quick(&table, &shared.fallback) {
                // The common case, kept to one small future per job.
                Some((event, listener)) => {
                    let result = {
                        let call = tracing::Instrument::instrument(
                            event_kernel::call::invoke(listener, event),
                            span,
                        );
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
                    let (made, decision) = current_job::leave().map_or((None, None), |r| r.end());
                    let verdict = match (result, decision) {
                        (None, _) => None,
                        (Some(Ok(())), None) => Some(Verdict::Done),
                        (Some(result), Some((_, decision))) => {
                            if let Err(error) = result {
                                tracing::warn!(listener = listener.listener_name(), error = %format!("{error:#}"), "listener returned an error after deciding its job's end; the decision stands");
                            }
                            let run = attempt_of(
                                &job,
                                &shared.fallback,
                                event,
                                std::slice::from_ref(listener),
                            );
                            Some(decided(&run, 0, decision).await)
                        }
                        (Some(Err(error)), None) => {
                            let run = attempt_of(
                                &job,
                                &shared.fallback,
                                event,
                                std::slice::from_ref(listener),
                            );
                            Some(failed_attempt(&run, listener, Failure::Error(error)).await)
                        }
                    };
                    if let Some(id) = made {
                        job.keep_id(id);
                    }
                    match verdict {
                        Some(Verdict::Done) => Ran::Succeeded,
                        Some(verdict) => {
                            // An attempt that did not complete is timed on
                            // the coarse clock the figures use (a memory
                            // read): from `job_began`, already taken, so a
                            // job that succeeds reads no clock for it.
                            let ran = (coarse_now_ms() - job_began).max(0) as u64;
                            settle(&shared, &table, job, verdict, Duration::from_millis(ran))
                        }
                        None => Ran::Cancelled(job),
                    }
                }
                None => {
                    let run = tracing::Instrument::instrument(run_one(&shared, &table, job), span);
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
            let job_ended = coarse_now_ms();
            let ran_ms = (job_ended - job_began).max(0) as u64;
            job_began = job_ended;
            match outcome {
                Ran::Succeeded => {
                    report.succeeded += 1;
                    finished += 1;
                    counts.ended(lane, Ended::Processed);
                    tallies.ended(slot, Outcome::Processed, ran_ms);
                    if figures {
                        if done.len() == COMPLETED_KEPT {
                            done.pop_front();
                        }
                        done.push_back((slot, waited, ran_ms, attempt, job_ended));
                    }
                }
                Ran::Retried => {
                    report.retried += 1;
                    counts.ended(lane, Ended::Retried);
                    tallies.ended(slot, Outcome::Retried, ran_ms);
                }
                Ran::Failed => {
                    report.failed += 1;
                    counts.ended(lane, Ended::Failed);
                    tallies.ended(slot, Outcome::Failed, ran_ms);
                }
                Ran::Cancelled(job) => {
                    batch.push_front(job);
                    cancelled = true;
                    break;
                }
            }
            if let Some(max) = shared.limits.max_jobs
                && shared.finished.fetch_add(1, Ordering::AcqRel) + 1 >= max
            {
                tracing::info!(jobs = max, "queue worker reached its max_jobs; stopping");
                stop(&shared);
            }
            if shared.draining.load(Ordering::Acquire) {
                break;
            }
            // Busy computing for a while: let idle runners have the rest.
            if !batch.is_empty() && coarse_now_ms() - began_ms > SLOW_BATCH_MS {
                hand_back(&shared, &mut batch);
            }
        }
        let took = began.elapsed();
        counts.flush(&shared.stats, &shared.names, &batch, took);
        // Figures go to the stats every so often, not per batch: a batch
        // can be a few jobs, and handing over costs allocations.
        if figures && coarse_now_ms() - handed_at >= HAND_OVER_MS {
            handed_at = coarse_now_ms();
            hand_over(&shared, &mut tallies, &mut done);
            unhanded = false;
        } else {
            unhanded = figures;
        }
        let measured_fast = took < FAST_JOB * ran;
        if measured_fast != fast {
            shared.fast.store(measured_fast, Ordering::Relaxed);
        }
        if !batch.is_empty() {
            report.released += batch.len() as u64;
            shared.memory.store.put_back(batch.drain(..), finished);
            finished = 0;
        }
        if cancelled {
            break;
        }
    }
    if figures {
        hand_over(&shared, &mut tallies, &mut done);
    }
    if finished > 0 {
        shared.memory.store.put_back([], finished);
    }
    report
}

/// Stops taking jobs (`stop_when_empty`, `max_jobs`): the worker winds
/// down as on shutdown.
fn stop(shared: &Shared) {
    shared.draining.store(true, Ordering::SeqCst);
    shared.stop.notify_one();
    shared.memory.store.wake_all();
}

/// The general path: jobs rebuilt from JSON, queued events with several
/// listeners, timeouts, jobs out of tries.
async fn run_one(shared: &Shared, table: &[Arc<dyn EventListener>], job: MemJob) -> Ran {
    // A unique job frees its lock when it starts (until processing) or
    // when it is done or failed for good.
    let unique = job
        .settings()
        .and_then(|s| s.unique.clone())
        .map(|lock| (lock, job.stored_id()));
    if let Some((lock, id)) = &unique
        && lock.until_processing
    {
        lock.free(&shared.memory, id).await;
    }
    let ran = run_attempt(shared, table, job).await;
    if let Some((lock, id)) = &unique
        && !lock.until_processing
        && matches!(ran, Ran::Succeeded | Ran::Failed)
    {
        lock.free(&shared.memory, id).await;
    }
    ran
}

async fn run_attempt(shared: &Shared, table: &[Arc<dyn EventListener>], mut job: MemJob) -> Ran {
    let began = Instant::now();
    let verdict = match job.parts(&shared.registry, &shared.keys, table) {
        Err(reason) => {
            current_job::leave();
            Verdict::Fail {
                chain: vec![reason.clone()],
                reason,
                attempts: job.attempts + 1,
            }
        }
        Ok((event, listeners)) => {
            let settings = job.settings();
            // Who holds a `without_overlapping` lock: this attempt.
            let id = match settings {
                Some(s) if !s.middleware.is_empty() => ulid::Ulid::new().to_string(),
                _ => String::new(),
            };
            let mut run = attempt_of(&job, &shared.fallback, &event, &listeners);
            run.fan_out = job.is_event_job(table).then_some(&shared.queue);
            run.wrap = settings
                .filter(|s| !s.middleware.is_empty())
                .map(|settings| Wrap {
                    gate: Gate::new(&shared.memory, &shared.registry),
                    settings,
                    job_id: &id,
                });
            // The event store's correlation scope of the dispatch that queued it.
            let (event_id, correlation_id) = job.scope_ids();
            let run = event_kernel::scope::within_job(event_id, correlation_id, attempt(run));
            let outcome = tokio::select! {
                biased;
                verdict = run => Some(verdict),
                () = shared.cancel.wait() => None,
            };
            let made = current_job::leave().and_then(|r| r.end().0);
            drop(listeners);
            drop(event);
            if let Some(id) = made {
                job.keep_id(id);
            }
            match outcome {
                Some(verdict) => verdict,
                None => return Ran::Cancelled(job),
            }
        }
    };
    if let Some(hops) = &shared.hops {
        let queue = shared.memory.store.lane_name(job.lane as usize);
        super::attempt_hops::report(hops, &queue, table, &job, &verdict, began);
    }
    settle(shared, table, job, verdict, began.elapsed())
}

/// The next attempt at `job`, with its limits.
fn attempt_of<'a>(
    job: &MemJob,
    fallback: &JobSettings,
    event: &'a Arc<dyn Event>,
    listeners: &'a [Arc<dyn EventListener>],
) -> Attempt<'a> {
    let limits = job.limits(fallback);
    Attempt {
        event,
        listeners,
        attempt: job.attempts + 1,
        exceptions: job.exceptions(),
        tries: limits.tries,
        timeout_ms: limits.timeout_ms,
        max_exceptions: job.max_exceptions(),
        deadline_ms: job.retry_deadline(),
        wrap: None,
        fan_out: None,
    }
}

/// Records how an attempt ended: nothing to do on success, the job back in
/// its queue after its backoff, or in the failed store.
fn settle(
    shared: &Shared,
    table: &[Arc<dyn EventListener>],
    mut job: MemJob,
    verdict: Verdict,
    ran: Duration,
) -> Ran {
    let this_attempt = job.attempts + 1;
    // An attempt that did not complete is kept with the job.
    let record = |outcome: &str, error_chain: Vec<String>| AttemptRecord {
        attempt: this_attempt,
        ended_at_ms: crate::job::now_ms(),
        duration_ms: Some(ran.as_millis() as u64),
        worker: shared.worker_id.clone(),
        outcome: outcome.to_string(),
        error_chain,
    };
    match verdict {
        Verdict::Done | Verdict::Deleted => Ran::Succeeded,
        Verdict::Retry { exceptions, error } => {
            let id = job.id();
            tracing::info!(job = %id, attempt = this_attempt, error = %format!("{error:#}"), "job attempt failed; retrying");
            attempt_record::keep(
                &mut job.extra().history,
                record("retried", attempt_record::chain_of(&error)),
            );
            job.attempts = this_attempt;
            job.set_exceptions(exceptions);
            job.available_at = crate::job::now_ms()
                + job
                    .backoff_after(this_attempt, &shared.fallback)
                    .as_millis() as i64;
            shared.memory.store.retry_job(job);
            Ran::Retried
        }
        Verdict::Release { after, .. } => {
            attempt_record::keep(&mut job.extra().history, record("released", Vec::new()));
            job.attempts = this_attempt;
            job.available_at = crate::job::now_ms() + after.as_millis() as i64;
            shared.memory.store.retry_job(job);
            Ran::Retried
        }
        Verdict::Fail {
            reason,
            attempts,
            chain,
        } => {
            attempt_record::keep(&mut job.extra().history, record("failed", chain));
            let id = job.id();
            tracing::warn!(job = %id, %reason, "job failed for good");
            let queue = shared.memory.store.lane_name(job.lane as usize);
            let stored = job.into_job(&queue, table).stored_envelope();
            shared
                .memory
                .store
                .fail_job(FailedJob::new(stored, reason, attempts));
            Ran::Failed
        }
    }
}
