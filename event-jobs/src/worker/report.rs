//! When a worker stops by itself, and what it did before it stopped.

use std::time::Duration;

/// When a worker stops by itself (Laravel's `queue:work` options).
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct StopWhen {
    pub empty: bool,
    pub max_jobs: Option<u64>,
    pub max_time: Option<Duration>,
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
