//! What a worker tells about itself while it runs: counts per queue, jobs
//! in flight, queue depth, and how long jobs waited and ran.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use super::QueueError;
use super::backend::Backend;
use super::job::now_ms;
use super::monitor::{CompletedJob, Outcome, PER_FLUSH, Tallies, Tally};

/// Durations of some jobs: how many, their sum and the longest.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Latency {
    /// Jobs measured.
    pub count: u64,
    /// Their durations added up.
    pub total: Duration,
    /// The longest one.
    pub max: Duration,
}

impl Latency {
    /// `total / count`; zero when no job was measured.
    pub fn mean(&self) -> Duration {
        if self.count == 0 {
            Duration::ZERO
        } else {
            self.total / u32::try_from(self.count).unwrap_or(u32::MAX)
        }
    }

    fn add(&mut self, count: u64, total: Duration, max: Duration) {
        self.count += count;
        self.total += total;
        self.max = self.max.max(max);
    }
}

/// One queue's counts, since the worker started.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct QueueStats {
    /// Jobs whose listeners all succeeded.
    pub processed: u64,
    /// Attempts that failed (or were held back by middleware) and were put back.
    pub retried: u64,
    /// Jobs moved to the failed store.
    pub failed: u64,
    /// Jobs running now.
    pub in_flight: u64,
    /// From being queued (or becoming due) to starting.
    pub wait: Latency,
    /// From starting to finishing (on `memory`, averaged over each batch).
    pub run: Latency,
}

impl QueueStats {
    fn merge(&mut self, other: &QueueStats) {
        self.processed += other.processed;
        self.retried += other.retried;
        self.failed += other.failed;
        self.in_flight += other.in_flight;
        self.wait
            .add(other.wait.count, other.wait.total, other.wait.max);
        self.run
            .add(other.run.count, other.run.total, other.run.max);
    }
}

/// How one job ended, for the counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Ended {
    Processed,
    Retried,
    Failed,
    /// Handed back unstarted or cancelled at shutdown.
    Released,
}

/// A live view of a worker's counts: take it with [`super::Worker::stats`]
/// before running the worker. Cheap to clone.
#[derive(Clone)]
pub struct WorkerStats {
    inner: Arc<Inner>,
}

struct Inner {
    queues: Mutex<BTreeMap<String, QueueStats>>,
    /// Per (queue, job, minute), until the control task flushes them.
    tallies: Mutex<Tallies>,
    /// The latest completions (at most [`PER_FLUSH`]), until the flush.
    completed: Mutex<std::collections::VecDeque<CompletedJob>>,
    /// False: this worker's jobs are left out of the connection's figures.
    figures: std::sync::atomic::AtomicBool,
    backend: Option<Arc<dyn Backend>>,
    queue_names: Vec<String>,
}

impl std::fmt::Debug for WorkerStats {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_map().entries(self.queues()).finish()
    }
}

impl WorkerStats {
    pub(crate) fn new(backend: Option<Arc<dyn Backend>>, queue_names: Vec<String>) -> Self {
        let queues = queue_names
            .iter()
            .map(|q| (q.clone(), QueueStats::default()))
            .collect();
        Self {
            inner: Arc::new(Inner {
                queues: Mutex::new(queues),
                tallies: Mutex::default(),
                completed: Mutex::default(),
                figures: std::sync::atomic::AtomicBool::new(true),
                backend,
                queue_names,
            }),
        }
    }

    fn edit(&self, queue: &str, change: impl FnOnce(&mut QueueStats)) {
        let mut queues = self.inner.queues.lock().unwrap_or_else(|e| e.into_inner());
        match queues.get_mut(queue) {
            Some(stats) => change(stats),
            None => change(queues.entry(queue.to_string()).or_default()),
        }
    }

    /// Counts per queue the worker reads.
    pub fn queues(&self) -> BTreeMap<String, QueueStats> {
        self.inner
            .queues
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// The counts of one queue.
    pub fn queue(&self, name: &str) -> QueueStats {
        self.queues().get(name).copied().unwrap_or_default()
    }

    /// The counts of all queues together.
    pub fn total(&self) -> QueueStats {
        let mut total = QueueStats::default();
        for stats in self.queues().values() {
            total.merge(stats);
        }
        total
    }

    /// Jobs waiting or running on the worker's connection (all queues).
    pub async fn depth(&self) -> Result<usize, QueueError> {
        match &self.inner.backend {
            Some(backend) => backend.size().await,
            None => Err(QueueError::Sync),
        }
    }

    /// Jobs waiting (due or delayed, not taken by a worker) per queue of
    /// the worker's connection ([`Backend::sizes`]).
    pub async fn waiting(&self) -> Result<BTreeMap<String, usize>, QueueError> {
        match &self.inner.backend {
            Some(backend) => Ok(backend.sizes().await?.into_iter().collect()),
            None => Err(QueueError::Sync),
        }
    }

    pub(crate) fn started(&self, queue: &str, jobs: u64, waited: Duration, longest: Duration) {
        self.edit(queue, |s| {
            s.in_flight += jobs;
            s.wait.add(jobs, waited, longest);
        });
    }

    pub(crate) fn ended(
        &self,
        queue: &str,
        ended: Ended,
        jobs: u64,
        ran: Duration,
        longest: Duration,
    ) {
        self.edit(queue, |s| {
            s.in_flight = s.in_flight.saturating_sub(jobs);
            match ended {
                Ended::Processed => s.processed += jobs,
                Ended::Retried => s.retried += jobs,
                Ended::Failed => s.failed += jobs,
                Ended::Released => return,
            }
            s.run.add(jobs, ran, longest);
        });
    }

    /// Whether this worker's jobs count in the connection's figures.
    pub(crate) fn set_figures(&self, on: bool) {
        self.inner
            .figures
            .store(on, std::sync::atomic::Ordering::Relaxed);
    }

    /// True when this worker's jobs count in the connection's figures.
    pub(crate) fn figures(&self) -> bool {
        self.inner
            .figures
            .load(std::sync::atomic::Ordering::Relaxed)
    }

    /// One job of `queue` named `job` was claimed after waiting `waited`.
    pub(crate) fn job_started(&self, queue: &str, job: &str, waited: Duration) {
        self.started(queue, 1, waited, waited);
        if !self.figures() {
            return;
        }
        self.tallies()
            .started(queue, job, now_ms(), waited.as_millis() as u64);
    }

    /// One job's attempt ended after running `ran`.
    pub(crate) fn job_ended(&self, queue: &str, job: &str, ended: Ended, ran: Duration) {
        self.ended(queue, ended, 1, ran, ran);
        let outcome = match ended {
            Ended::Processed => Outcome::Processed,
            Ended::Retried => Outcome::Retried,
            Ended::Failed => Outcome::Failed,
            Ended::Released => return,
        };
        if !self.figures() {
            return;
        }
        self.tallies()
            .ended_now(queue, job, now_ms(), outcome, ran.as_millis() as u64);
    }

    fn tallies(&self) -> std::sync::MutexGuard<'_, Tallies> {
        self.inner.tallies.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Keeps a completion for the log (the latest [`PER_FLUSH`] only).
    pub(crate) fn add_completed(&self, jobs: impl IntoIterator<Item = CompletedJob>) {
        if !self.figures() {
            return;
        }
        let mut kept = self
            .inner
            .completed
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        for job in jobs {
            if kept.len() >= PER_FLUSH {
                kept.pop_front();
            }
            kept.push_back(job);
        }
    }

    /// The completions kept since the last call, oldest first.
    pub(crate) fn take_completed(&self) -> Vec<CompletedJob> {
        std::mem::take(
            &mut *self
                .inner
                .completed
                .lock()
                .unwrap_or_else(|e| e.into_inner()),
        )
        .into()
    }

    /// What was counted since the last call, for the backend.
    pub(crate) fn take_tallies(&self) -> Vec<Tally> {
        self.tallies().take()
    }

    /// Adds tallies (a runner's, or a flush that failed) to the next flush.
    pub(crate) fn add_tallies(&self, tallies: Vec<Tally>) {
        if !tallies.is_empty() && self.figures() {
            self.tallies().add(tallies);
        }
    }

    /// Finished jobs of all queues (what `max_jobs` counts).
    pub(crate) fn finished(&self) -> u64 {
        let total = self.total();
        total.processed + total.retried + total.failed
    }

    /// Logs the counts at INFO, one line per queue.
    pub(crate) async fn log(&self) {
        let depth = self.depth().await.ok();
        let waiting = self.waiting().await.ok();
        for (queue, s) in self.queues() {
            if !self.inner.queue_names.contains(&queue) && s == QueueStats::default() {
                continue;
            }
            tracing::info!(
                queue = %queue,
                processed = s.processed,
                retried = s.retried,
                failed = s.failed,
                in_flight = s.in_flight,
                waiting = ?waiting.as_ref().map(|w| w.get(&queue).copied().unwrap_or(0)),
                depth = ?depth,
                wait_mean_ms = s.wait.mean().as_secs_f64() * 1e3,
                run_mean_ms = s.run.mean().as_secs_f64() * 1e3,
                "queue worker stats"
            );
        }
    }
}
