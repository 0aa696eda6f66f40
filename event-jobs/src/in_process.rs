//! The seam of a backend that lives in this process (the `memory`
//! connection): a dispatch hands it a job without waiting, and it brings
//! its own worker loop. [`Queue`](super::Queue) and
//! [`Worker`](super::Worker) reach it through [`Backend::in_process`]
//! only; neither knows the concrete type.
//!
//! [`Backend::in_process`]: super::Backend::in_process

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use super::QueueError;
use super::registry::JobRegistry;
use super::settings::JobSettings;
use super::stats::WorkerStats;
use super::worker::{StopWhen, WorkerReport};
use event_kernel::Event;
use event_kernel::EventListener;

/// A future a backend's worker loop runs as.
pub(crate) type WorkerRun = Pin<Box<dyn Future<Output = Result<WorkerReport, QueueError>> + Send>>;

/// What a backend in this process offers beyond [`Backend`](super::Backend):
/// its fast paths. Implemented inside this crate (the `memory`
/// connection); other backends leave [`Backend::in_process`] at `None`.
///
/// [`Backend::in_process`]: super::Backend::in_process
pub trait InProcess: Send + Sync {
    /// Queues a job for the live `event` on `queue` with `settings`
    /// (already resolved, `after_commit` false, middleware checked),
    /// without waiting: the dispatcher's fast path. `listener` is `None`
    /// for a queued event (every listener of it runs).
    fn push_live(
        &self,
        event: &Arc<dyn Event>,
        listener: Option<&Arc<dyn EventListener>>,
        settings: &JobSettings,
        queue: &str,
    );

    /// This backend's own worker loop, used by [`Worker`](super::Worker)
    /// instead of the general claim/ack loop. It stops taking jobs when
    /// `shutdown` completes.
    fn run_worker(
        &self,
        plan: WorkerPlan,
        shutdown: Pin<Box<dyn Future<Output = ()> + Send>>,
    ) -> WorkerRun;
}

/// What a backend's own worker loop takes from [`Worker`](super::Worker).
pub struct WorkerPlan {
    pub(super) registry: Arc<JobRegistry>,
    pub(super) queues: Vec<String>,
    pub(super) concurrency: usize,
    pub(super) grace: Duration,
    pub(super) poll: Duration,
    pub(super) prefetch: Option<usize>,
    pub(super) limits: StopWhen,
    /// Tries and timeout for the jobs that declare none.
    pub(super) fallback: JobSettings,
    pub(super) stats: WorkerStats,
    /// Notified when the loop stops by itself (`stop_when_empty`,
    /// `max_jobs`).
    pub(super) stop: Arc<tokio::sync::Notify>,
}
