//! The worker: claims jobs in batches, runs them with their limits, and
//! acknowledges, retries or fails them.

use std::collections::{HashMap, VecDeque};
use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures::FutureExt;
use tokio::sync::{Semaphore, mpsc};
use tokio::task::JoinSet;

use super::backend::Backend;
use super::job::{Claimed, FailedJob, Job, JobEnvelope, now_ms};
use super::registry::JobRegistry;
use super::{Queue, QueueError};
use crate::event::Event;
use crate::listener::EventListener;

/// Runs queued jobs of one connection.
///
/// ```no_run
/// # async fn demo(connection: event_core::queue::Queue, registry: event_core::JobRegistry) -> Result<(), event_core::queue::QueueError> {
/// use event_core::queue::{Worker, shutdown_signal};
/// Worker::new(connection, registry)
///     .queues(["orders", "emails"])
///     .concurrency(8)
///     .run_until(shutdown_signal())
///     .await?;
/// # Ok(()) }
/// ```
pub struct Worker {
    queue: Queue,
    registry: Arc<JobRegistry>,
    queues: Vec<String>,
    concurrency: usize,
    lease: Duration,
    grace: Duration,
    poll: Duration,
    prefetch: Option<usize>,
    consumer: String,
}

/// What a worker did before it stopped.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct WorkerReport {
    /// Jobs whose listeners all succeeded.
    pub succeeded: u64,
    /// Failed attempts put back for another try.
    pub retried: u64,
    /// Jobs moved to the failed-jobs store.
    pub failed: u64,
    /// Claimed jobs handed back at shutdown (not finished within the grace period).
    pub released: u64,
}

#[derive(Default)]
struct Counters {
    succeeded: AtomicU64,
    retried: AtomicU64,
    failed: AtomicU64,
}

struct Ctx {
    backend: Arc<dyn Backend>,
    registry: Arc<JobRegistry>,
    counters: Counters,
    acks: mpsc::UnboundedSender<super::Receipt>,
    /// Claimed and not finished: buffered or running (shared, not copied).
    inflight: Mutex<HashMap<u64, Arc<Claimed>>>,
    /// Average time a job takes (µs, moving average); 0 before the first.
    job_micros: AtomicU64,
}

enum Outcome {
    Done,
    Retry(JobEnvelope),
    Fail(String, u32),
}

impl Worker {
    /// A worker for `connection`, rebuilding jobs with `registry`
    /// (`event_registry::job_registry()`, or one built by hand).
    pub fn new(connection: Queue, registry: impl Into<Arc<JobRegistry>>) -> Self {
        let queues = vec![connection.defaults().queue.clone()];
        Self {
            queue: connection,
            registry: registry.into(),
            queues,
            concurrency: 1,
            lease: Duration::from_secs(90),
            grace: Duration::from_secs(30),
            poll: Duration::from_millis(100),
            prefetch: None,
            consumer: ulid::Ulid::new().to_string(),
        }
    }

    /// The queues to take jobs from, in order of preference (default:
    /// `EVENTS_DEFAULT_QUEUE`).
    pub fn queues<I, S>(mut self, queues: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.queues = queues.into_iter().map(Into::into).collect();
        self
    }

    /// Jobs run at the same time (default 1).
    pub fn concurrency(mut self, jobs: usize) -> Self {
        self.concurrency = jobs.max(1);
        self
    }

    /// How long a claimed job stays invisible to other workers (default 90 s,
    /// Laravel's `retry_after`). A worker that dies mid-job leaves it to be
    /// claimed again after this; keep it above your longest `timeout`.
    pub fn visibility_timeout(mut self, lease: Duration) -> Self {
        self.lease = lease.max(Duration::from_millis(10));
        self
    }

    /// How long running jobs may take to finish after shutdown is asked (default 30 s).
    pub fn grace_period(mut self, grace: Duration) -> Self {
        self.grace = grace;
        self
    }

    /// The longest pause between polls of an empty queue (default 100 ms).
    pub fn poll_interval(mut self, poll: Duration) -> Self {
        self.poll = poll.max(Duration::from_millis(1));
        self
    }

    /// How many jobs one fetch claims ahead of running them. By default it
    /// adapts: while jobs finish in under 5 ms on average, `max(4 x
    /// concurrency, 128)` (one round trip for many jobs); for slower jobs,
    /// `concurrency`, so a worker does not sit on jobs other workers could run.
    ///
    /// On the `memory` connection the worker's `concurrency` tasks each take
    /// a fair share of what waits until jobs prove fast (under 100 µs), then
    /// up to 64 at a time (`prefetch` splits its number between them); a
    /// task hands its unstarted jobs back when a job awaits I/O.
    pub fn prefetch(mut self, jobs: usize) -> Self {
        self.prefetch = Some(jobs.max(1));
        self
    }

    fn prefetch_now(&self, ctx: &Ctx) -> usize {
        if let Some(n) = self.prefetch {
            return n;
        }
        match ctx.job_micros.load(Ordering::Relaxed) {
            // Nothing measured yet: take no more than can start at once.
            0 => self.concurrency,
            us if us < 5_000 => (self.concurrency * 4).max(128),
            _ => self.concurrency,
        }
    }

    /// Runs until SIGTERM or ctrl-c.
    pub async fn run(self) -> Result<WorkerReport, QueueError> {
        self.run_until(shutdown_signal()).await
    }

    /// Runs until `shutdown` completes; then takes no new job, lets running
    /// ones finish within the grace period and hands the rest back.
    pub async fn run_until(
        self,
        shutdown: impl Future<Output = ()>,
    ) -> Result<WorkerReport, QueueError> {
        let backend = self.queue.backend()?.clone();
        if let Some(memory) = self.queue.memory_backend() {
            let plan = super::runner::Plan {
                registry: self.registry,
                queues: self.queues,
                concurrency: self.concurrency,
                grace: self.grace,
                poll: self.poll,
                prefetch: self.prefetch,
            };
            return super::runner::run(plan, memory.clone(), shutdown).await;
        }
        let (ack_tx, ack_rx) = mpsc::unbounded_channel();
        let acker = tokio::spawn(ack_loop(backend.clone(), ack_rx));
        let ctx = Arc::new(Ctx {
            backend: backend.clone(),
            registry: self.registry.clone(),
            counters: Counters::default(),
            acks: ack_tx,
            inflight: Mutex::default(),
            job_micros: AtomicU64::new(0),
        });
        let heartbeat = tokio::spawn(heartbeat(ctx.clone(), self.lease, self.consumer.clone()));
        let semaphore = Arc::new(Semaphore::new(self.concurrency));
        let mut tasks = JoinSet::new();
        let mut next_key = 0u64;
        // Claimed, not yet started (their keys in `inflight`).
        let mut buffer: VecDeque<(u64, Arc<Claimed>)> = VecDeque::new();
        let recover_every = (self.lease / 4).max(Duration::from_millis(10));
        let mut last_recover: Option<Instant> = None;
        let mut idle = Duration::from_millis(1);
        let mut error_pause = Duration::from_millis(50);
        tokio::pin!(shutdown);

        loop {
            while tasks.try_join_next().is_some() {}
            if buffer.is_empty() {
                let prefetch = self.prefetch_now(&ctx);
                let mut claimed = Vec::new();
                let mut result = Ok(());
                if last_recover.is_none_or(|t| t.elapsed() >= recover_every) {
                    last_recover = Some(Instant::now());
                    match backend
                        .recover(&self.queues, prefetch, self.lease, &self.consumer)
                        .await
                    {
                        Ok(found) => claimed = found,
                        Err(e) => result = Err(e),
                    }
                }
                if result.is_ok() && claimed.len() < prefetch {
                    match backend
                        .fetch(
                            &self.queues,
                            prefetch - claimed.len(),
                            self.lease,
                            &self.consumer,
                        )
                        .await
                    {
                        Ok(found) => claimed.extend(found),
                        Err(e) => result = Err(e),
                    }
                }
                if !claimed.is_empty() {
                    let mut inflight = ctx.inflight.lock().unwrap_or_else(|e| e.into_inner());
                    for c in claimed {
                        next_key += 1;
                        let c = Arc::new(c);
                        inflight.insert(next_key, c.clone());
                        buffer.push_back((next_key, c));
                    }
                }
                if let Err(e) = result {
                    tracing::warn!(error = %e, pause_ms = error_pause.as_millis() as u64, "queue worker cannot fetch jobs; retrying");
                    if buffer.is_empty() {
                        tokio::select! {
                            biased;
                            _ = &mut shutdown => break,
                            _ = tokio::time::sleep(error_pause) => {}
                        }
                        error_pause = (error_pause * 2).min(Duration::from_secs(2));
                        continue;
                    }
                } else {
                    error_pause = Duration::from_millis(50);
                }
                if buffer.is_empty() {
                    tokio::select! {
                        biased;
                        _ = &mut shutdown => break,
                        _ = backend.wait(idle) => {}
                    }
                    idle = (idle * 2).min(self.poll);
                    continue;
                }
                idle = Duration::from_millis(1);
            }
            let permit = tokio::select! {
                biased;
                _ = &mut shutdown => break,
                permit = semaphore.clone().acquire_owned() => match permit {
                    Ok(permit) => permit,
                    Err(_) => break,
                },
            };
            if let Some((key, claimed)) = buffer.pop_front() {
                let ctx = ctx.clone();
                tasks.spawn(async move {
                    run_job(&ctx, key, claimed).await;
                    drop(permit);
                });
            }
        }

        // Shutdown: finish what runs, within the grace period.
        let finished = tokio::time::timeout(self.grace, async {
            while tasks.join_next().await.is_some() {}
        })
        .await;
        if finished.is_err() {
            tasks.abort_all();
            while tasks.join_next().await.is_some() {}
        }
        heartbeat.abort();
        let _ = heartbeat.await;
        let leftovers: Vec<Claimed> = ctx
            .inflight
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .drain()
            .map(|(_, c)| Arc::unwrap_or_clone(c))
            .collect();
        let released = leftovers.len() as u64;
        if !leftovers.is_empty()
            && let Err(e) = backend.release(leftovers).await
        {
            tracing::warn!(error = %e, "could not hand back unfinished jobs; they run again after the visibility timeout");
        }
        let report = WorkerReport {
            succeeded: ctx.counters.succeeded.load(Ordering::Relaxed),
            retried: ctx.counters.retried.load(Ordering::Relaxed),
            failed: ctx.counters.failed.load(Ordering::Relaxed),
            released,
        };
        drop(ctx);
        let _ = acker.await;
        Ok(report)
    }
}

async fn run_job(ctx: &Ctx, key: u64, claimed: Arc<Claimed>) {
    let began = Instant::now();
    job_log::running(&claimed.job.envelope);
    let outcome = execute(ctx, &claimed).await;
    let took = (began.elapsed().as_micros() as u64).max(1);
    job_log::finished(&claimed.job.envelope, &outcome, took);
    let average = ctx.job_micros.load(Ordering::Relaxed);
    let average = if average == 0 {
        took
    } else {
        (average * 7 + took) / 8
    };
    ctx.job_micros.store(average.max(1), Ordering::Relaxed);
    ctx.inflight
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .remove(&key);
    // Out of `inflight`, this is the only handle: no copy.
    let claimed = Arc::unwrap_or_clone(claimed);
    let result = match outcome {
        Outcome::Done => {
            ctx.counters.succeeded.fetch_add(1, Ordering::Relaxed);
            if ctx.backend.cheap_ack() {
                // No copy of the id on this hot path; a cheap ack that fails
                // is logged without it.
                ctx.backend
                    .ack(vec![claimed.receipt])
                    .await
                    .map_err(|e| (String::new(), e))
            } else {
                let _ = ctx.acks.send(claimed.receipt);
                Ok(())
            }
        }
        Outcome::Retry(envelope) => {
            ctx.counters.retried.fetch_add(1, Ordering::Relaxed);
            let id = claimed.job.envelope.id.clone();
            ctx.backend
                .retry(claimed, envelope)
                .await
                .map_err(|e| (id, e))
        }
        Outcome::Fail(reason, attempts) => {
            ctx.counters.failed.fetch_add(1, Ordering::Relaxed);
            let id = claimed.job.envelope.id.clone();
            tracing::warn!(job = %id, %reason, "job failed for good");
            let failed = FailedJob::new(claimed.job.stored_envelope(), reason, attempts);
            ctx.backend
                .fail(claimed.receipt, failed)
                .await
                .map_err(|e| (id, e))
        }
    };
    if let Err((id, e)) = result {
        tracing::warn!(job = %id, error = %e, "could not record the job's outcome; it runs again after the visibility timeout");
    }
}

/// One `tracing` event when a job starts and one when it ends, under the
/// target [`JOB_LOG_TARGET`], for a worker's log (`artisan queue:work` prints
/// them the way Laravel does: time, job, RUNNING / DONE / FAIL).
mod job_log {
    use super::{JobEnvelope, Outcome};

    fn what(envelope: &JobEnvelope) -> &str {
        envelope.listener.as_deref().unwrap_or(&envelope.event)
    }

    pub(super) fn running(envelope: &JobEnvelope) {
        tracing::info!(
            target: super::JOB_LOG_TARGET,
            job = %envelope.id,
            name = what(envelope),
            event = %envelope.event,
            queue = %envelope.queue,
            status = "RUNNING",
        );
    }

    pub(super) fn finished(envelope: &JobEnvelope, outcome: &Outcome, micros: u64) {
        let (status, reason) = match outcome {
            Outcome::Done => ("DONE", ""),
            Outcome::Retry(_) => ("RETRY", ""),
            Outcome::Fail(reason, _) => ("FAIL", reason.as_str()),
        };
        tracing::info!(
            target: super::JOB_LOG_TARGET,
            job = %envelope.id,
            name = what(envelope),
            event = %envelope.event,
            queue = %envelope.queue,
            status,
            micros,
            reason,
        );
    }
}

/// The `tracing` target of the per-job events a worker emits: fields `job`,
/// `name` (the listener, or the event for a queued event), `event`, `queue`,
/// `status` (`RUNNING`, then `DONE`, `RETRY` or `FAIL`), and when it ended
/// `micros` and `reason`.
pub const JOB_LOG_TARGET: &str = "event_core::queue::job";

type Rebuilt = (Arc<dyn Event>, Vec<Arc<dyn EventListener>>);

/// The event and the listeners to run, from the live objects (memory) or
/// through the registry (JSON).
fn rebuild(registry: &JobRegistry, job: &Job) -> Result<Rebuilt, String> {
    let envelope = &job.envelope;
    let event = match &job.live {
        Some(live) => live.event.clone(),
        None => registry
            .decode(&envelope.event, envelope.payload.clone())
            .map_err(|e| e.to_string())?,
    };
    let listeners = match (&job.live, &envelope.listener) {
        (Some(live), _) if live.listener.is_some() => live.listener.iter().cloned().collect(),
        (_, Some(name)) => vec![registry.listener_named(name).map_err(|e| e.to_string())?],
        (_, None) => registry.listeners_of(&envelope.event),
    };
    Ok((event, listeners))
}

/// One attempt at a job, whatever stores it.
pub(super) struct Attempt<'a> {
    pub event: &'a Arc<dyn Event>,
    pub listeners: &'a [Arc<dyn EventListener>],
    /// 1-based.
    pub attempt: u32,
    /// Earlier attempts that ended in an error or a panic.
    pub exceptions: u32,
    pub tries: u32,
    pub timeout_ms: Option<u64>,
    pub max_exceptions: Option<u32>,
}

/// How an attempt ended.
pub(super) enum Verdict {
    Done,
    /// Try again after the backoff; `exceptions` counts this attempt.
    Retry {
        exceptions: u32,
        error: anyhow::Error,
    },
    /// For good, after `attempts` attempts (the `failed` hook has run).
    Fail {
        reason: String,
        attempts: u32,
    },
}

/// Runs the listeners in order with the timeout; decides retry or failure.
pub(super) async fn attempt(run: Attempt<'_>) -> Verdict {
    let Attempt {
        event,
        listeners,
        attempt,
        tries,
        ..
    } = run;
    if attempt > tries {
        let reason = format!(
            "job has been attempted too many times ({} of {tries} tries): its worker stopped mid-job",
            attempt - 1,
        );
        let error = anyhow::anyhow!(reason.clone());
        for listener in listeners {
            call_failed_hook(listener, event, &error).await;
        }
        return Verdict::Fail {
            reason,
            attempts: attempt - 1,
        };
    }
    let mut failure = None;
    for listener in listeners {
        let call = crate::dispatcher::invoke(listener, event);
        let result = match run.timeout_ms {
            Some(ms) => match tokio::time::timeout(Duration::from_millis(ms), call).await {
                Ok(result) => result.map_err(Failure::Error),
                Err(_) => Err(Failure::Timeout(ms)),
            },
            None => call.await.map_err(Failure::Error),
        };
        if let Err(f) = result {
            failure = Some((listener, f));
            break;
        }
    }
    match failure {
        None => Verdict::Done,
        Some((listener, failure)) => failed_attempt(&run, listener, failure).await,
    }
}

/// Why an attempt failed.
pub(super) enum Failure {
    Error(anyhow::Error),
    Timeout(u64),
}

/// The verdict on an attempt that `listener` failed: retry, or (after its
/// `failed` hook) fail for good.
pub(super) async fn failed_attempt(
    run: &Attempt<'_>,
    listener: &Arc<dyn EventListener>,
    failure: Failure,
) -> Verdict {
    let event = run.event;
    let mut exceptions = run.exceptions;
    let error = match failure {
        Failure::Error(e) => {
            exceptions += 1;
            e.context(format!(
                "listener `{}` failed handling event `{}`",
                listener.listener_name(),
                event.event_name()
            ))
        }
        Failure::Timeout(ms) => anyhow::anyhow!(
            "listener `{}` timed out after {ms} ms handling event `{}`",
            listener.listener_name(),
            event.event_name()
        ),
    };
    let too_many_exceptions = run.max_exceptions.is_some_and(|max| exceptions >= max);
    if run.attempt >= run.tries || too_many_exceptions {
        call_failed_hook(listener, event, &error).await;
        return Verdict::Fail {
            reason: format!("{error:#}"),
            attempts: run.attempt,
        };
    }
    Verdict::Retry { exceptions, error }
}

async fn execute(ctx: &Ctx, claimed: &Claimed) -> Outcome {
    let envelope = &claimed.job.envelope;
    let limits = &envelope.limits;
    let (event, listeners) = match rebuild(&ctx.registry, &claimed.job) {
        Ok(rebuilt) => rebuilt,
        Err(reason) => return Outcome::Fail(reason, claimed.attempt),
    };
    let verdict = attempt(Attempt {
        event: &event,
        listeners: &listeners,
        attempt: claimed.attempt,
        exceptions: envelope.exceptions,
        tries: limits.tries,
        timeout_ms: limits.timeout_ms,
        max_exceptions: limits.max_exceptions,
    })
    .await;
    match verdict {
        Verdict::Done => Outcome::Done,
        Verdict::Fail { reason, attempts } => Outcome::Fail(reason, attempts),
        Verdict::Retry { exceptions, error } => {
            tracing::info!(job = %envelope.id, attempt = claimed.attempt, error = %format!("{error:#}"), "job attempt failed; retrying");
            let mut next = envelope.clone();
            next.attempts = claimed.attempt;
            next.exceptions = exceptions;
            next.available_at = now_ms() + limits.backoff_after(claimed.attempt).as_millis() as i64;
            Outcome::Retry(next)
        }
    }
}

async fn call_failed_hook(
    listener: &Arc<dyn EventListener>,
    event: &Arc<dyn Event>,
    error: &anyhow::Error,
) {
    match AssertUnwindSafe(listener.failed(event.clone(), error))
        .catch_unwind()
        .await
    {
        Ok(Ok(())) => {}
        Ok(Err(e)) => {
            tracing::error!(listener = listener.listener_name(), error = %e, "failed hook returned an error")
        }
        Err(_) => tracing::error!(listener = listener.listener_name(), "failed hook panicked"),
    }
}

/// Keeps the claims of running jobs alive (every third of the lease).
async fn heartbeat(ctx: Arc<Ctx>, lease: Duration, consumer: String) {
    loop {
        tokio::time::sleep(lease / 3).await;
        let running: Vec<super::Receipt> = ctx
            .inflight
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .values()
            .map(|c| c.receipt.clone())
            .collect();
        if running.is_empty() {
            continue;
        }
        if let Err(e) = ctx.backend.extend(running, lease, &consumer).await {
            tracing::warn!(error = %e, "cannot extend the claims of running jobs");
        }
    }
}

/// Acknowledges finished jobs in batches: one round trip for many.
async fn ack_loop(backend: Arc<dyn Backend>, mut done: mpsc::UnboundedReceiver<super::Receipt>) {
    let mut batch = Vec::new();
    while done.recv_many(&mut batch, 1024).await > 0 {
        let mut pause = Duration::from_millis(50);
        for _ in 0..12 {
            match backend.ack(batch.clone()).await {
                Ok(()) => break,
                Err(e) => {
                    tracing::warn!(error = %e, jobs = batch.len(), "cannot acknowledge finished jobs; retrying");
                    tokio::time::sleep(pause).await;
                    pause = (pause * 2).min(Duration::from_secs(2));
                }
            }
        }
        batch.clear();
    }
}

/// Completes on ctrl-c or (on Unix) SIGTERM.
pub async fn shutdown_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        if let Ok(mut term) = signal(SignalKind::terminate()) {
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = term.recv() => {}
            }
            return;
        }
    }
    let _ = tokio::signal::ctrl_c().await;
}
