//! What a connection keeps for monitoring, beside its jobs: the backend's
//! side of [`Monitor`](super::Monitor).

use async_trait::async_trait;

use super::completed::CompletedJob;
use super::gauge::QueueGauge;
use super::tally::{Resolution, Tally};
use super::workers::WorkerBeat;
use crate::QueueError;

/// What workers read every second to know what to do: the paused queues
/// and the last restart request.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Signals {
    /// Queues no worker claims from.
    pub paused: Vec<String>,
    /// When `queue:restart` last asked every worker to finish and exit
    /// (ms since the epoch); a worker started before it exits.
    pub restart_at_ms: Option<i64>,
}

/// What every connection keeps for monitoring, beside its jobs. Each
/// figure is maintained as jobs are written or workers report, and read
/// without counting jobs.
#[async_trait]
pub trait Monitoring: Send + Sync {
    /// Adds workers' minute tallies to the stored figures, at both
    /// resolutions, and drops periods past their retention.
    async fn record(&self, tallies: Vec<Tally>) -> Result<(), QueueError>;

    /// The stored tallies of `resolution` whose period starts at or after
    /// `since_ms`, one per (queue, job, period).
    async fn tallies(
        &self,
        resolution: Resolution,
        since_ms: i64,
    ) -> Result<Vec<Tally>, QueueError>;

    /// Every queue the connection has seen, its state now, sorted by name.
    async fn gauges(&self) -> Result<Vec<QueueGauge>, QueueError>;

    /// Pauses (`true`) or resumes a queue: stored, so it holds for every
    /// worker on every machine and across restarts.
    async fn set_paused(&self, queue: &str, paused: bool) -> Result<(), QueueError>;

    /// The paused queues and the last restart request.
    async fn signals(&self) -> Result<Signals, QueueError>;

    /// Asks every worker started before now to finish its jobs and exit.
    async fn request_restart(&self, at_ms: i64) -> Result<(), QueueError>;

    /// Registers or refreshes a worker (it beats every `interval_ms`).
    async fn beat(&self, beat: &WorkerBeat) -> Result<(), QueueError>;

    /// Removes a worker that stopped.
    async fn unregister(&self, id: &str) -> Result<(), QueueError>;

    /// Registered workers (gone ones are dropped).
    async fn workers(&self) -> Result<Vec<WorkerBeat>, QueueError>;

    /// Removes the jobs waiting on `queue` (not the running ones, not the
    /// failed ones); returns how many.
    async fn clear_queue(&self, queue: &str) -> Result<u64, QueueError>;
}

/// Where alerts are kept track of, so that one process raises each alert
/// once per crossing: a lease naming the process that evaluates, and the
/// alerts raised and not yet cleared.
#[async_trait]
pub trait AlertLedger: Send + Sync {
    /// Takes (or renews) the lease `name` for `holder` until `until_ms`;
    /// false when another holder has it.
    async fn lease(
        &self,
        name: &str,
        holder: &str,
        now_ms: i64,
        until_ms: i64,
    ) -> Result<bool, QueueError>;

    /// The alerts raised and not cleared, by key.
    async fn raised(&self) -> Result<Vec<String>, QueueError>;

    /// Marks an alert raised (`true`) or cleared.
    async fn set_raised(&self, key: &str, raised: bool, now_ms: i64) -> Result<(), QueueError>;
}

/// Recently completed jobs, kept bounded ([`KEPT`](super::KEPT) at most,
/// none older than [`KEPT_FOR`](super::KEPT_FOR)).
#[async_trait]
pub trait CompletedLog: Send + Sync {
    /// Adds completions (a worker's latest, oldest first) and drops what
    /// falls outside the bounds.
    async fn record_completed(&self, jobs: Vec<CompletedJob>) -> Result<(), QueueError>;

    /// The latest completions, newest first: at most `limit`, finished
    /// before `before_ms` when given (the last one's `done_at_ms`, to page).
    async fn completed(
        &self,
        limit: usize,
        before_ms: Option<i64>,
    ) -> Result<Vec<CompletedJob>, QueueError>;
}
