//! [`Monitor`]: what a user reads and steers on a connection.

use std::sync::Arc;

use super::completed::CompletedJob;
use super::report::{StatsQuery, StatsReport, build};
use super::series::{Series, SeriesQuery};
use super::tally::Resolution;
use super::workers::WorkerStatus;
use super::{QueueGauge, Signals};
use crate::QueueError;
use crate::backend::Backend;
use crate::job::now_ms;

/// A connection's monitoring handle (`queue.monitor()`): stats, workers,
/// pause and resume, clear, restart. Cheap to clone.
///
/// ```no_run
/// # async fn demo(queue: event_jobs::Queue) -> Result<(), event_jobs::QueueError> {
/// use event_jobs::monitor::StatsQuery;
/// let monitor = queue.monitor()?;
/// let stats = monitor.stats(&StatsQuery::default()).await?;
/// for q in &stats.queues {
///     println!("{}: {} pending, oldest {} ms", q.queue, q.pending, q.oldest_pending_ms);
/// }
/// monitor.pause("emails").await?;     // no worker claims from it
/// monitor.resume("emails").await?;
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct Monitor {
    backend: Arc<dyn Backend>,
}

impl std::fmt::Debug for Monitor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Monitor")
            .field("connection", &self.backend.kind())
            .finish()
    }
}

impl Monitor {
    pub(crate) fn new(backend: Arc<dyn Backend>) -> Self {
        Self { backend }
    }

    /// The connection's kind (`memory`, `sqlite`, `redis`, `postgres`).
    pub fn connection(&self) -> &'static str {
        self.backend.kind()
    }

    /// Each queue's state now and its throughput and times over the window.
    pub async fn stats(&self, query: &StatsQuery) -> Result<StatsReport, QueueError> {
        let now = now_ms();
        let resolution = Resolution::for_window(query.window);
        let window_ms = query.window.as_millis() as i64;
        // Whole periods, the current one included: exact to the period.
        let since = resolution.start_of(now - window_ms) + resolution.period_ms();
        let since = since.min(resolution.start_of(now));
        let (gauges, tallies) = tokio::try_join!(
            self.backend.gauges(),
            self.backend.tallies(resolution, since)
        )?;
        Ok(build(self.backend.kind(), query, gauges, &tallies, now))
    }

    /// Throughput over the window as evenly spaced points (processed,
    /// failed, retried, wait and run p95 per step), read from the stored
    /// figures: a chart's data.
    pub async fn series(&self, query: &SeriesQuery) -> Result<Series, QueueError> {
        let now = now_ms();
        let (resolution, since, _) = super::series::plan(query, now);
        let tallies = self.backend.tallies(resolution, since).await?;
        Ok(super::series::build(
            self.backend.kind(),
            query,
            &tallies,
            now,
        ))
    }

    /// Every queue's state now.
    pub async fn gauges(&self) -> Result<Vec<QueueGauge>, QueueError> {
        self.backend.gauges().await
    }

    /// Stops every worker, on every machine, from claiming jobs of
    /// `queue` (within a second); jobs are still accepted.
    pub async fn pause(&self, queue: &str) -> Result<(), QueueError> {
        self.backend.set_paused(queue, true).await
    }

    /// Lets workers claim from `queue` again.
    pub async fn resume(&self, queue: &str) -> Result<(), QueueError> {
        self.backend.set_paused(queue, false).await
    }

    /// The paused queues and the last restart request.
    pub async fn signals(&self) -> Result<Signals, QueueError> {
        self.backend.signals().await
    }

    /// Registered workers with their state (alive or stalled), by host
    /// then start time.
    pub async fn workers(&self) -> Result<Vec<WorkerStatus>, QueueError> {
        let now = now_ms();
        let mut workers: Vec<WorkerStatus> = self
            .backend
            .workers()
            .await?
            .into_iter()
            .filter_map(|beat| {
                let state = beat.state(now)?;
                Some(WorkerStatus {
                    silent_ms: (now - beat.last_beat_ms).max(0),
                    state,
                    beat,
                })
            })
            .collect();
        workers.sort_by(|a, b| {
            (&a.beat.host, a.beat.started_at_ms, &a.beat.id).cmp(&(
                &b.beat.host,
                b.beat.started_at_ms,
                &b.beat.id,
            ))
        });
        Ok(workers)
    }

    /// The latest completed jobs, newest first (at most `limit`; finished
    /// before `before_ms` when given, to page). A connection keeps the
    /// latest [`KEPT`](super::KEPT), none older than a day.
    pub async fn completed(
        &self,
        limit: usize,
        before_ms: Option<i64>,
    ) -> Result<Vec<CompletedJob>, QueueError> {
        self.backend.completed(limit.min(1_000), before_ms).await
    }

    /// Removes the jobs waiting on `queue`; returns how many.
    pub async fn clear(&self, queue: &str) -> Result<u64, QueueError> {
        self.backend.clear_queue(queue).await
    }

    /// Asks every running worker to finish its current jobs and exit (a
    /// process manager then starts it on the new build), as Laravel's
    /// `queue:restart`.
    pub async fn restart(&self) -> Result<(), QueueError> {
        self.backend.request_restart(now_ms()).await
    }
}
