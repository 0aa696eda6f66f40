//! The failed-jobs store: list, retry, forget, purge (`artisan queue:failed`,
//! `queue:retry`, `queue:flush`).

pub(crate) mod fingerprint;
pub(crate) mod query;
#[cfg(test)]
pub(crate) mod scenarios;

use std::sync::Arc;

use super::backend::Backend;
use super::job::{FailedJob, Job};
use super::{Queue, QueueError};
use query::{FailedPage, FailedQuery, FailureGroup};

/// How many failed jobs a bulk retry or forget handles per round.
const BATCH: usize = 500;

/// What a bulk action does to each match.
#[derive(Debug, Clone, Copy)]
enum Bulk {
    Retry,
    Forget,
}

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

    /// One page of the failed jobs `query` matches, newest first.
    pub async fn search(&self, query: &FailedQuery) -> Result<FailedPage, QueueError> {
        self.backend.failed_search(query).await
    }

    /// How many failed jobs `query` matches: what a bulk retry or forget
    /// would touch (shown before it runs).
    pub async fn count(&self, query: &FailedQuery) -> Result<u64, QueueError> {
        self.backend.failed_count(query).await
    }

    /// Failures grouped by fingerprint (name, kind, normalised message),
    /// with counts and first/last seen, most recent first.
    pub async fn groups(&self) -> Result<Vec<FailureGroup>, QueueError> {
        self.backend.failed_groups().await
    }

    /// Queues again every failed job `query` matches, in batches of 500,
    /// with fresh attempts (a manual retry spends none of the job's
    /// `tries`); returns how many.
    pub async fn retry_matching(&self, query: &FailedQuery) -> Result<u64, QueueError> {
        self.each_matching(query, Bulk::Retry).await
    }

    /// Deletes every failed job `query` matches, in batches; returns how many.
    pub async fn forget_matching(&self, query: &FailedQuery) -> Result<u64, QueueError> {
        self.each_matching(query, Bulk::Forget).await
    }

    /// Every match, [`BATCH`] a page by key (the returned future is `Send`,
    /// so a web handler can await it).
    async fn each_matching(&self, query: &FailedQuery, bulk: Bulk) -> Result<u64, QueueError> {
        let mut page_query = FailedQuery {
            limit: BATCH,
            after: None,
            ..query.clone()
        };
        let mut done = 0;
        loop {
            let page = self.backend.failed_search(&page_query).await?;
            for job in &page.jobs {
                let hit = match bulk {
                    Bulk::Retry => self.retry(&job.id).await?,
                    Bulk::Forget => self.forget(&job.id).await?,
                };
                done += u64::from(hit);
            }
            match page.next {
                Some(next) => page_query.after = Some(next),
                None => return Ok(done),
            }
        }
    }

    /// Deletes the failed jobs that failed more than `age` ago (Laravel's
    /// `queue:prune-failed --hours`); returns how many.
    pub async fn prune(&self, age: std::time::Duration) -> Result<u64, QueueError> {
        let cutoff =
            crate::job::now_ms().saturating_sub(i64::try_from(age.as_millis()).unwrap_or(i64::MAX));
        let mut query = FailedQuery {
            limit: BATCH,
            ..FailedQuery::default()
        };
        let mut done = 0;
        loop {
            // Newest first: the old ones are at the end of the pages.
            let page = self.backend.failed_search(&query).await?;
            for job in page.jobs.iter().filter(|j| j.failed_at < cutoff) {
                done += u64::from(self.forget(&job.id).await?);
            }
            match page.next {
                Some(next) => query.after = Some(next),
                None => return Ok(done),
            }
        }
    }

    /// Puts a failed job into the store (one taken out, or one moved from
    /// another connection), indexed like one a worker failed.
    pub async fn restore(&self, failed: FailedJob) -> Result<(), QueueError> {
        self.backend.failed_restore(failed).await
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
