//! The worker: what a user configures (queues, concurrency, tries and
//! timeout for jobs that declare none, when to stop) and the loop it runs:
//! the backend's own for in-process connections, else [`claims`] (claims
//! jobs in batches, runs them with their limits, and acknowledges, retries
//! or fails them).

mod alerts;
mod claims;
pub(crate) mod control;
mod exported;
pub(crate) mod hops;
mod report;

pub(crate) use report::StopWhen;
pub use report::WorkerReport;

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::Notify;

use super::registry::JobRegistry;
use super::settings::JobSettings;
use super::shutdown::shutdown_signal;
use super::stats::WorkerStats;
use super::{Queue, QueueError};
use crate::memory::{MemoryBackend, WorkerPlan};
use control::{Control, Identity};

/// Runs queued jobs of one connection.
///
/// ```no_run
/// # async fn demo(connection: event_jobs::Queue, registry: event_jobs::JobRegistry) -> Result<(), event_jobs::QueueError> {
/// use event_jobs::{Worker, shutdown_signal};
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
    limits: StopWhen,
    tries: Option<u32>,
    timeout: Option<Duration>,
    backoff: Vec<Duration>,
    stats: Option<WorkerStats>,
    log_every: Option<Duration>,
    beat_every: Duration,
    alerts: Option<crate::monitor::AlertRules>,
    alerts_to: Option<event_kernel::Dispatcher>,
    figures: bool,
    hops_to: Option<Arc<dyn event_kernel::scope::Recorder>>,
}

impl std::fmt::Debug for Worker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Worker")
            .field("queues", &self.queues)
            .field("concurrency", &self.concurrency)
            .finish_non_exhaustive()
    }
}

impl Worker {
    /// A worker for `connection`, rebuilding jobs with `registry`
    /// (`event_registry::job_registry()`, or one built by hand).
    pub fn new(connection: Queue, registry: impl Into<Arc<JobRegistry>>) -> Self {
        let queues = vec![connection.default_queue().to_string()];
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
            limits: StopWhen::default(),
            tries: None,
            timeout: None,
            backoff: Vec::new(),
            stats: None,
            log_every: None,
            beat_every: Duration::from_secs(5),
            alerts: None,
            alerts_to: None,
            figures: true,
            hops_to: None,
        }
    }

    /// Reports each attempt at a job queued inside a recorded event's
    /// listeners to `recorder` (the event store's, `EventStore::recorder`),
    /// under that event: which queue, which worker, how long it waited
    /// and ran, which attempt, how it ended; what a chain's timeline shows
    /// of its queued jobs. `queue:work` does it when the app's boot opened
    /// a store.
    pub fn hops_to(mut self, recorder: Arc<dyn event_kernel::scope::Recorder>) -> Self {
        self.hops_to = Some(recorder);
        self
    }

    /// Whether this worker's jobs count in the connection's throughput and
    /// times (`queue:stats`, the `metrics` facade, the completed list);
    /// default true. Off, it still beats, honours pause and restart, and its
    /// jobs still show in pending and running (the connection keeps those).
    /// For a worker whose jobs should not count, and to measure what the
    /// figures cost (the queue bench does).
    pub fn figures(mut self, on: bool) -> Self {
        self.figures = on;
        self
    }

    /// When this worker's connection raises alert events (default: the
    /// connection's, from `EVENTS_QUEUE_*_ALERT*`). One worker of the
    /// connection (the holder of a lease in the backend) checks them at
    /// each heartbeat and dispatches each crossing once.
    pub fn alerts(mut self, rules: crate::monitor::AlertRules) -> Self {
        self.alerts = Some(rules);
        self
    }

    /// Where alert events are dispatched (default: `Dispatcher::global()`,
    /// where the app's listeners and event store are).
    pub fn alerts_to(mut self, dispatcher: event_kernel::Dispatcher) -> Self {
        self.alerts_to = Some(dispatcher);
        self
    }

    /// How often the worker tells the connection it is alive (default 5 s):
    /// `queue:workers` shows it stalled after 3 missed beats, and drops it
    /// after 20.
    pub fn heartbeat_every(mut self, every: Duration) -> Self {
        self.beat_every = every.max(Duration::from_millis(100));
        self
    }

    /// Stops once no job is runnable and none is running (Laravel's
    /// `--stop-when-empty`); delayed jobs not yet due do not keep it.
    pub fn stop_when_empty(mut self, stop: bool) -> Self {
        self.limits.empty = stop;
        self
    }

    /// Stops after this many jobs finished (succeeded, retried or failed;
    /// Laravel's `--max-jobs`). With `concurrency` above 1, jobs already
    /// running when the count is reached finish too.
    pub fn max_jobs(mut self, jobs: u64) -> Self {
        self.limits.max_jobs = Some(jobs.max(1));
        self
    }

    /// Stops after running this long (Laravel's `--max-time`), gracefully:
    /// running jobs get the grace period.
    pub fn max_time(mut self, time: Duration) -> Self {
        self.limits.max_time = Some(time);
        self
    }

    /// Attempts in all for the jobs whose listener or event declares no
    /// `tries` (Laravel's `queue:work --tries`); a declared value wins.
    /// 0 means no limit, as in Laravel. Default: the queue's defaults
    /// (`EVENTS_RETRY_ATTEMPTS`).
    pub fn tries(mut self, tries: u32) -> Self {
        self.tries = Some(tries);
        self
    }

    /// The timeout of an attempt at the jobs whose listener or event
    /// declares no `timeout` (Laravel's `queue:work --timeout`); a declared
    /// value wins. An attempt running longer is cancelled and counts as
    /// failed. `Duration::ZERO` means none, as Laravel's `--timeout=0`
    /// (also over a timeout in the queue's defaults). Default: the queue's
    /// defaults (none).
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = Some(timeout);
        self
    }

    /// The delays before the retries of the jobs whose listener or event
    /// declares no `backoff` (Laravel's `queue:work --backoff=1,5,10`): the
    /// delay before retry n, the last one repeating; a declared list wins.
    /// Default: the queue's `EVENTS_RETRY_DELAY_SECONDS`.
    pub fn backoff(mut self, delays: impl IntoIterator<Item = Duration>) -> Self {
        self.backoff = delays.into_iter().collect();
        self
    }

    /// What this worker gives the jobs that declare no tries, timeout or
    /// backoff: its own, else its queue's defaults.
    fn fallback(&self) -> JobSettings {
        let defaults = self.queue.defaults();
        let chrono = |t: Duration| chrono::Duration::from_std(t).unwrap_or(chrono::Duration::MAX);
        let backoff = match self.backoff.is_empty() {
            true => defaults.backoff.clone(),
            false => self.backoff.iter().copied().map(chrono).collect(),
        };
        JobSettings {
            tries: self.tries.or(defaults.tries),
            timeout: self.timeout.map(chrono).or(defaults.timeout),
            backoff,
            retry_delay: defaults.retry_delay,
            ..JobSettings::default()
        }
    }

    /// Logs the counts per queue at INFO this often while it runs.
    pub fn log_stats_every(mut self, every: Duration) -> Self {
        self.log_every = Some(every.max(Duration::from_millis(10)));
        self
    }

    /// A live view of this worker's counts per queue (processed, retried,
    /// failed, in flight), queue depth and wait/run latency: take it before
    /// `run`, read it while the worker runs and after.
    pub fn stats(&mut self) -> WorkerStats {
        self.stats
            .get_or_insert_with(|| {
                WorkerStats::new(self.queue.backend().ok().cloned(), self.queues.clone())
            })
            .clone()
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

    /// Runs until SIGTERM or ctrl-c.
    pub async fn run(self) -> Result<WorkerReport, QueueError> {
        self.run_until(shutdown_signal()).await
    }

    /// Runs until `shutdown` completes; then takes no new job, lets running
    /// ones finish within the grace period and hands the rest back.
    ///
    /// Fails at once, before taking a job, when the registry is not usable
    /// (two listeners under one name, middleware it does not provide).
    pub async fn run_until(
        mut self,
        shutdown: impl Future<Output = ()>,
    ) -> Result<WorkerReport, QueueError> {
        let backend = self.queue.backend()?.clone();
        self.registry.check().map_err(QueueError::Registry)?;
        let stats = self.stats();
        stats.set_figures(self.figures);
        let logger = self.log_every.map(|every| {
            let stats = stats.clone();
            tokio::spawn(async move {
                loop {
                    tokio::time::sleep(every).await;
                    stats.log().await;
                }
            })
        });
        let stop = Arc::new(Notify::new());
        let control = Control::new();
        // Paused queues are known before the first claim.
        control.read_paused(&*backend).await;
        let control_stop = Arc::new(Notify::new());
        let worker_id = control::worker_id();
        let hops = self.hops_to.clone().map(|recorder| hops::AttemptHops {
            recorder,
            worker: worker_id.clone(),
        });
        let control_task = tokio::spawn(control::run(
            backend.clone(),
            stats.clone(),
            control.clone(),
            Identity {
                id: worker_id.clone(),
                connection: backend.kind(),
                queues: self.queues.clone(),
                concurrency: self.concurrency,
                beat_every: self.beat_every,
                alerts: {
                    let rules = self
                        .alerts
                        .clone()
                        .unwrap_or_else(|| self.queue.alert_rules().clone());
                    rules.is_on().then(|| {
                        let to = self
                            .alerts_to
                            .clone()
                            .unwrap_or_else(|| event_kernel::Dispatcher::global().clone());
                        (rules, to)
                    })
                },
            },
            control_stop.clone(),
        ));
        let max_time = self.limits.max_time;
        let stopped = stop.clone();
        let restart = control.clone();
        let shutdown = async move {
            let timer = async {
                match max_time {
                    Some(time) => tokio::time::sleep(time).await,
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                () = shutdown => {}
                () = timer => tracing::info!("queue worker reached its max_time; stopping"),
                () = stopped.notified() => {}
                () = restart.restarted.notified() => {}
            }
        };
        let memory = MemoryBackend::of(&backend);
        let report = if let Some(in_process) = memory {
            // The backend's own loop (the memory connection's).
            let fallback = self.fallback();
            let plan = WorkerPlan {
                queue: self.queue.clone(),
                keys: self.queue.app_keys().clone(),
                registry: self.registry,
                queues: self.queues,
                concurrency: self.concurrency,
                grace: self.grace,
                poll: self.poll,
                prefetch: self.prefetch,
                limits: self.limits,
                fallback,
                stats,
                stop,
                control,
                worker_id: worker_id.clone(),
                hops: hops.clone(),
            };
            // Told through a channel, so the loop is `Send` and `'static`
            // whatever `shutdown` is.
            let (tell, told) = tokio::sync::oneshot::channel::<()>();
            let mut run = in_process.run_worker(
                plan,
                Box::pin(async move {
                    let _ = told.await;
                }),
            );
            tokio::pin!(shutdown);
            tokio::select! {
                biased;
                report = &mut run => report,
                () = &mut shutdown => {
                    let _ = tell.send(());
                    run.await
                }
            }
        } else {
            self.run_claims(backend, stats, stop, control, worker_id, hops, shutdown)
                .await
        };
        if let Some(logger) = logger {
            logger.abort();
        }
        control_stop.notify_one();
        let _ = control_task.await;
        report
    }
}

/// The `tracing` target of the per-job events a worker emits: fields `job`,
/// `name` (the listener, or the event for a queued event), `event`, `queue`,
/// `status` (`RUNNING`, then `DONE`, `RETRY` or `FAIL`), and when it ended
/// `micros` and `reason`.
pub(crate) const JOB_LOG_TARGET: &str = "event_core::queue::job";

impl Worker {
    /// The `tracing` target of the per-job events a worker emits (see
    /// above): filter on it to print or hide the job log.
    pub const LOG_TARGET: &'static str = JOB_LOG_TARGET;
}
