//! The worker of connections that store jobs: claims in batches under a
//! lease kept alive by a heartbeat, runs each job with its limits and
//! middleware, and acknowledges, retries or fails it.

use std::collections::{HashMap, VecDeque};
use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::sync::{Notify, Semaphore, mpsc};
use tokio::task::JoinSet;

use super::control::Control;
use super::hops::{AttemptHops, Seen};
use super::{JOB_LOG_TARGET, Worker, WorkerReport};
use crate::attempt::{Attempt, Verdict, Wrap, attempt, rebuild};
use crate::attempt_record::{self, AttemptRecord};
use crate::backend::Backend;
use crate::current_job::{self, Running, RunningId};
use crate::job::{Claimed, FailedJob, JobEnvelope, now_ms};
use crate::middleware::run::Gate;
use crate::registry::JobRegistry;
use crate::settings::JobSettings;
use crate::stats::{Ended, WorkerStats};
use crate::{QueueError, Receipt};

#[derive(Default)]
struct Counters {
    succeeded: AtomicU64,
    retried: AtomicU64,
    failed: AtomicU64,
}

struct Ctx {
    backend: Arc<dyn Backend>,
    /// The worker's queue: a queued event's queued listeners are queued
    /// through it.
    queue: crate::Queue,
    registry: Arc<JobRegistry>,
    /// The queue's app keys: open sealed payloads.
    keys: crate::AppKeys,
    counters: Counters,
    stats: WorkerStats,
    /// `max_jobs` reached: the main loop stops.
    stop: Arc<Notify>,
    max_jobs: Option<u64>,
    acks: mpsc::UnboundedSender<Receipt>,
    /// Claimed and not finished: buffered or running (shared, not copied).
    inflight: Mutex<HashMap<u64, Arc<Claimed>>>,
    /// Average time a job takes (µs, moving average); 0 before the first.
    job_micros: AtomicU64,
    /// Tries and timeout for the jobs that declare none.
    fallback: JobSettings,
    /// This worker's id: what its jobs' attempts name.
    worker_id: String,
    /// Where each attempt is reported under its event (`Worker::hops_to`).
    hops: Option<AttemptHops>,
}

enum Outcome {
    Done,
    /// Its listener deleted it (`CurrentJob::delete`): acknowledged as done.
    Deleted,
    /// The job as it runs next, why (for the `RETRY` log line), and the
    /// error's chain (empty: released, not failed).
    Retry(Box<JobEnvelope>, String, Vec<String>),
    /// Why, the attempts made, the error's chain.
    Fail(String, u32, Vec<String>),
}

impl Worker {
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

    /// The worker of connections that store jobs (claims, leases, acks).
    #[allow(clippy::too_many_arguments)]
    pub(super) async fn run_claims(
        self,
        backend: Arc<dyn Backend>,
        stats: WorkerStats,
        stop: Arc<Notify>,
        control: Arc<Control>,
        worker_id: String,
        hops: Option<AttemptHops>,
        shutdown: impl Future<Output = ()>,
    ) -> Result<WorkerReport, QueueError> {
        let (ack_tx, ack_rx) = mpsc::unbounded_channel();
        let acker = tokio::spawn(ack_loop(backend.clone(), ack_rx));
        let ctx = Arc::new(Ctx {
            backend: backend.clone(),
            queue: self.queue.clone(),
            registry: self.registry.clone(),
            keys: self.queue.app_keys().clone(),
            counters: Counters::default(),
            stats,
            stop,
            max_jobs: self.limits.max_jobs,
            acks: ack_tx,
            inflight: Mutex::default(),
            job_micros: AtomicU64::new(0),
            fallback: self.fallback(),
            worker_id,
            hops,
        });
        let mut reachable = true;
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
                // Paused queues (read every second) are not claimed from.
                let queues = control.runnable(&self.queues);
                let mut claimed = Vec::new();
                let mut result = Ok(());
                if queues.is_empty() {
                    // Every queue is paused.
                } else if last_recover.is_none_or(|t| t.elapsed() >= recover_every) {
                    last_recover = Some(Instant::now());
                    match backend
                        .recover(&queues, prefetch, self.lease, &self.consumer)
                        .await
                    {
                        Ok(found) => claimed = found,
                        Err(e) => result = Err(e),
                    }
                }
                if result.is_ok() && !queues.is_empty() && claimed.len() < prefetch {
                    match backend
                        .fetch(
                            &queues,
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
                    if reachable {
                        reachable = false;
                        tracing::warn!(error = %e, location = %backend.location(), "queue worker cannot reach its connection; retrying");
                    } else {
                        tracing::debug!(error = %e, pause_ms = error_pause.as_millis() as u64, "queue worker still cannot reach its connection");
                    }
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
                    if !reachable {
                        reachable = true;
                        tracing::warn!(location = %backend.location(), "queue worker reaches its connection again");
                    }
                    error_pause = Duration::from_millis(50);
                }
                if buffer.is_empty() && self.limits.empty && tasks.is_empty() {
                    tracing::info!("queue is empty; the worker stops (stop_when_empty)");
                    break;
                }
                if buffer.is_empty() {
                    tokio::select! {
                        biased;
                        _ = &mut shutdown => break,
                        () = control.changed.notified() => {
                            idle = Duration::from_millis(1);
                            continue;
                        }
                        // A job that ends frees a slot, and may leave the
                        // queue empty for `stop_when_empty`: look again now,
                        // not after the backend's wait (up to its fallback
                        // poll when nothing new is written).
                        Some(_) = tasks.join_next(), if !tasks.is_empty() => {
                            idle = Duration::from_millis(1);
                            continue;
                        }
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
    let queue = claimed.job.envelope.queue.as_str();
    let name = job_name(&claimed.job.envelope);
    let waited =
        Duration::from_millis((now_ms() - claimed.job.envelope.available_at).max(0) as u64);
    ctx.stats.job_started(queue, name, waited);
    let began = Instant::now();
    let began_at = chrono::Utc::now();
    job_log::running(&claimed.job.envelope);
    let span = crate::trace::job_span(&claimed.job.envelope, claimed.attempt);
    let mut outcome = tracing::Instrument::instrument(execute(ctx, &claimed), span).await;
    let ran = began.elapsed();
    // An attempt that did not complete is kept in the job's envelope.
    let record = |outcome: &str, error_chain: Vec<String>| AttemptRecord {
        attempt: claimed.attempt,
        ended_at_ms: now_ms(),
        duration_ms: Some(ran.as_millis() as u64),
        worker: ctx.worker_id.clone(),
        outcome: outcome.to_string(),
        error_chain,
    };
    let mut failed_history = None;
    match &mut outcome {
        Outcome::Retry(next, _, chain) => {
            let kind = if chain.is_empty() {
                "released"
            } else {
                "retried"
            };
            attempt_record::keep(&mut next.history, record(kind, std::mem::take(chain)));
        }
        Outcome::Fail(_, _, chain) => {
            let mut history = claimed.job.envelope.history.clone();
            attempt_record::keep(&mut history, record("failed", std::mem::take(chain)));
            failed_history = Some(history);
        }
        Outcome::Done | Outcome::Deleted => {}
    }
    if let Some(hops) = &ctx.hops {
        let (outcome_name, error) = match &outcome {
            Outcome::Done => ("done", None),
            Outcome::Deleted => ("deleted", None),
            Outcome::Retry(next, why, _)
                if next.history.last().is_some_and(|a| a.outcome == "released") =>
            {
                ("released", Some(why.clone()))
            }
            Outcome::Retry(_, why, _) => ("retried", Some(why.clone())),
            Outcome::Fail(reason, ..) => ("failed", Some(reason.clone())),
        };
        hops.report(Seen {
            event_id: claimed.job.envelope.event_id.as_deref(),
            name,
            queue,
            began_at,
            waited,
            ran,
            attempt: claimed.attempt,
            outcome: outcome_name,
            error,
        });
    }
    let ended = match &outcome {
        Outcome::Done | Outcome::Deleted => Ended::Processed,
        Outcome::Retry(..) => Ended::Retried,
        Outcome::Fail(..) => Ended::Failed,
    };
    ctx.stats.job_ended(queue, name, ended, ran);
    if ended == Ended::Processed {
        ctx.stats.add_completed([crate::monitor::CompletedJob {
            id: claimed.job.envelope.id.clone(),
            name: name.to_string(),
            queue: queue.to_string(),
            wait_ms: waited.as_millis() as u64,
            run_ms: ran.as_millis() as u64,
            attempts: claimed.attempt,
            // The control task knows the worker's id.
            worker: String::new(),
            done_at_ms: now_ms(),
        }]);
    }
    if ctx.max_jobs.is_some_and(|max| ctx.stats.finished() >= max) {
        ctx.stop.notify_one();
    }
    let took = (ran.as_micros() as u64).max(1);
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
        Outcome::Done | Outcome::Deleted => {
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
        Outcome::Retry(envelope, ..) => {
            ctx.counters.retried.fetch_add(1, Ordering::Relaxed);
            let id = claimed.job.envelope.id.clone();
            ctx.backend
                .retry(claimed, *envelope)
                .await
                .map_err(|e| (id, e))
        }
        Outcome::Fail(reason, attempts, _) => {
            ctx.counters.failed.fetch_add(1, Ordering::Relaxed);
            let id = claimed.job.envelope.id.clone();
            tracing::warn!(job = %id, %reason, "job failed for good");
            let mut stored = claimed.job.stored_envelope();
            stored.history = failed_history.unwrap_or_default();
            let failed = FailedJob::new(stored, reason, attempts);
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

/// A job's name in the figures: its listener's, or its event's for a
/// queued event.
pub(crate) fn job_name(envelope: &JobEnvelope) -> &str {
    envelope.listener.as_deref().unwrap_or(&envelope.event)
}

/// One `tracing` event when a job starts and one when it ends, under the
/// target [`JOB_LOG_TARGET`], for a worker's log (`artisan queue:work` prints
/// them the way Laravel does: time, job, RUNNING / DONE / FAIL).
mod job_log {
    use super::{JobEnvelope, Outcome};

    use super::job_name as what;

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
            Outcome::Deleted => ("DELETED", "deleted by its listener"),
            Outcome::Retry(_, reason, _) => ("RETRY", reason.as_str()),
            Outcome::Fail(reason, ..) => ("FAIL", reason.as_str()),
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

async fn execute(ctx: &Ctx, claimed: &Claimed) -> Outcome {
    let envelope = &claimed.job.envelope;
    let Some(lock) = &envelope.settings.unique else {
        return attempt_job(ctx, claimed).await;
    };
    // A unique job frees its lock when it starts (until processing) or
    // when it is done or failed for good.
    if lock.until_processing {
        lock.free(&*ctx.backend, &envelope.id).await;
    }
    let outcome = attempt_job(ctx, claimed).await;
    if !lock.until_processing && !matches!(outcome, Outcome::Retry(..)) {
        lock.free(&*ctx.backend, &envelope.id).await;
    }
    outcome
}

async fn attempt_job(ctx: &Ctx, claimed: &Claimed) -> Outcome {
    let envelope = &claimed.job.envelope;
    let settings = &envelope.settings;
    let (event, listeners) = match rebuild(&ctx.registry, &ctx.keys, &claimed.job) {
        Ok(rebuilt) => rebuilt,
        Err(error) => {
            let reason = error.to_string();
            let chain = attempt_record::chain_of(&anyhow::Error::new(error));
            return Outcome::Fail(reason, claimed.attempt, chain);
        }
    };
    let wrap = (!settings.middleware.is_empty()).then(|| Wrap {
        gate: Gate::new(&*ctx.backend, &ctx.registry),
        settings,
        job_id: &envelope.id,
    });
    let limits = settings.limits(&ctx.fallback);
    let run = attempt(Attempt {
        event: &event,
        listeners: &listeners,
        attempt: claimed.attempt,
        exceptions: envelope.exceptions,
        tries: limits.tries,
        timeout_ms: limits.timeout_ms,
        max_exceptions: settings.max_exceptions,
        deadline_ms: envelope.retry_deadline(),
        wrap,
        fan_out: envelope.listener.is_none().then_some(&ctx.queue),
    });
    // The event store's correlation scope of the dispatch that queued it,
    // and the job its listeners see (`CurrentJob`).
    let running = Running::new(claimed.attempt, RunningId::Stored(envelope.id.clone()));
    let verdict = current_job::run_as(
        running,
        event_kernel::scope::within_job(
            envelope.event_id.as_deref(),
            envelope.correlation_id.as_deref(),
            run,
        ),
    )
    .await;
    let again = |after: Duration, exceptions: u32, why: String, chain: Vec<String>| {
        let mut next = envelope.clone();
        next.attempts = claimed.attempt;
        next.exceptions = exceptions;
        next.available_at = now_ms() + after.as_millis() as i64;
        let reason = format!("{why}; next attempt in {:.1?}", after);
        Outcome::Retry(Box::new(next), reason, chain)
    };
    match verdict {
        Verdict::Done => Outcome::Done,
        Verdict::Fail {
            reason,
            attempts,
            chain,
        } => Outcome::Fail(reason, attempts, chain),
        Verdict::Retry { exceptions, error } => {
            tracing::info!(job = %envelope.id, attempt = claimed.attempt, error = %format!("{error:#}"), "job attempt failed; retrying");
            again(
                settings.backoff_after(claimed.attempt, &ctx.fallback),
                exceptions,
                format!("{error:#}"),
                attempt_record::chain_of(&error),
            )
        }
        Verdict::Release { after, by_listener } => {
            let why = if by_listener {
                "released by its listener"
            } else {
                "held back by its middleware"
            };
            tracing::debug!(job = %envelope.id, after_ms = after.as_millis() as u64, "job {why}");
            again(after, envelope.exceptions, why.to_string(), Vec::new())
        }
        Verdict::Deleted => Outcome::Deleted,
    }
}

/// Keeps the claims of running jobs alive (every third of the lease).
async fn heartbeat(ctx: Arc<Ctx>, lease: Duration, consumer: String) {
    loop {
        tokio::time::sleep(lease / 3).await;
        let running: Vec<Receipt> = ctx
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
async fn ack_loop(backend: Arc<dyn Backend>, mut done: mpsc::UnboundedReceiver<Receipt>) {
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
