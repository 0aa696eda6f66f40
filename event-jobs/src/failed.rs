//! The failed-jobs store: list, retry, forget, purge (`artisan queue:failed`,
//! `queue:retry`, `queue:flush`).

use std::sync::Arc;

use super::backend::Backend;
use super::job::{FailedJob, Job};
use super::{Queue, QueueError};

/// The failed jobs of one connection.
#[derive(Clone)]
pub struct FailedJobs {
    backend: Arc<dyn Backend>,
}

impl std::fmt::Debug for FailedJobs {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FailedJobs")
            .field("location", &self.backend.location())
            .finish()
    }
}

impl FailedJobs {
    pub(crate) fn new(backend: Arc<dyn Backend>) -> Self {
        Self { backend }
    }

    /// The store of the connection at `url` (`sqlite://jobs.db`,
    /// `redis://127.0.0.1:6379?prefix=myapp`): what the CLI uses.
    pub async fn open(url: &str) -> Result<Self, QueueError> {
        Queue::open(url).await?.failed()
    }

    /// Oldest first.
    pub async fn list(&self) -> Result<Vec<FailedJob>, QueueError> {
        self.backend.failed_list().await
    }

    /// Queues the failed job `id` again with fresh attempts; false when there
    /// is no such failed job.
    pub async fn retry(&self, id: &str) -> Result<bool, QueueError> {
        let Some(failed) = self.backend.failed_take(id).await? else {
            return Ok(false);
        };
        let job = Job::from_envelope(failed.retry_envelope());
        if let Err(e) = self.backend.push(vec![job]).await {
            // Put it back rather than lose it.
            let _ = self.backend.failed_restore(failed).await;
            return Err(e);
        }
        Ok(true)
    }

    /// Queues every failed job again; returns how many.
    pub async fn retry_all(&self) -> Result<usize, QueueError> {
        let mut n = 0;
        for failed in self.list().await? {
            if self.retry(&failed.id).await? {
                n += 1;
            }
        }
        Ok(n)
    }

    /// Deletes one failed job; false when there is no such failed job.
    pub async fn forget(&self, id: &str) -> Result<bool, QueueError> {
        self.backend.failed_forget(id).await
    }

    /// Deletes every failed job; returns how many.
    pub async fn purge(&self) -> Result<usize, QueueError> {
        self.backend.failed_purge().await
    }
}
