//! What a queue connection does; one implementation per storage.

use std::time::Duration;

use async_trait::async_trait;

use super::QueueError;
use super::failed::query::{FailedPage, FailedQuery, FailureGroup};
use super::job::{Claimed, FailedJob, Job, JobEnvelope, Receipt};
use super::middleware::MiddlewareStore;
use super::monitor::{AlertLedger, CompletedLog, Monitoring};

/// A queue connection's storage: pushing, claiming, acknowledging. Every
/// method works on batches where the storage allows it, so a worker pays
/// one round trip for many jobs. Every connection also keeps the jobs that
/// failed for good ([`FailedStore`]); what only some can do is a
/// capability asked for by a method returning `Option` ([`Backend::middleware_store`]).
/// Every connection keeps the figures and signals of [`Monitoring`] too.
#[async_trait]
pub trait Backend:
    FailedStore
    + FailedSearch
    + Monitoring
    + AlertLedger
    + CompletedLog
    + std::any::Any
    + Send
    + Sync
    + 'static
{
    /// `memory`, `sqlite` or `redis`.
    fn kind(&self) -> &'static str;

    /// Where it lives, for messages (the URL, or `memory`).
    fn location(&self) -> String;

    /// True when acknowledging one job costs no round trip (the worker then
    /// acknowledges each job as it finishes instead of in batches).
    fn cheap_ack(&self) -> bool {
        false
    }

    /// Stores jobs; each becomes runnable at its `available_at`.
    async fn push(&self, jobs: Vec<Job>) -> Result<(), QueueError>;

    /// Claims up to `max` runnable jobs, from `queues` in order, highest
    /// priority first within a queue. A claim not acknowledged within `lease`
    /// is given to another worker.
    async fn fetch(
        &self,
        queues: &[String],
        max: usize,
        lease: Duration,
        consumer: &str,
    ) -> Result<Vec<Claimed>, QueueError>;

    /// Claims jobs whose claim outlived `lease` (their worker died). Backends
    /// whose `fetch` already does this return nothing.
    async fn recover(
        &self,
        _queues: &[String],
        _max: usize,
        _lease: Duration,
        _consumer: &str,
    ) -> Result<Vec<Claimed>, QueueError> {
        Ok(Vec::new())
    }

    /// Waits up to `idle` for new jobs (or just sleeps, for storage other
    /// processes write to).
    async fn wait(&self, idle: Duration) {
        tokio::time::sleep(idle).await;
    }

    /// Extends the claims of jobs still running by `lease` from now, so a
    /// long job is not given to another worker while its own is alive.
    async fn extend(
        &self,
        _running: Vec<Receipt>,
        _lease: Duration,
        _consumer: &str,
    ) -> Result<(), QueueError> {
        Ok(())
    }

    /// Removes finished jobs.
    async fn ack(&self, done: Vec<Receipt>) -> Result<(), QueueError>;

    /// Puts a claimed job back to run again at `envelope.available_at`, with
    /// its updated counters.
    async fn retry(&self, claimed: Claimed, envelope: JobEnvelope) -> Result<(), QueueError>;

    /// Moves a claimed job to the failed-jobs store.
    async fn fail(&self, receipt: Receipt, failed: FailedJob) -> Result<(), QueueError>;

    /// Returns claimed jobs that never started (a worker shutting down).
    async fn release(&self, claimed: Vec<Claimed>) -> Result<(), QueueError>;

    /// Jobs waiting or running, in all queues (for tests and monitoring).
    async fn size(&self) -> Result<usize, QueueError>;

    /// Jobs waiting per queue, due or delayed (not the ones a worker has
    /// taken: [`Backend::size`] minus their sum is what runs), sorted by
    /// queue name; a queue with none waiting is left out.
    async fn sizes(&self) -> Result<Vec<(String, usize)>, QueueError>;

    /// Removes every waiting job (not the failed ones).
    async fn clear(&self) -> Result<usize, QueueError>;

    /// Where job middleware keep their counters and locks (rate limits,
    /// throttles, `without_overlapping`): storage every worker of the
    /// connection shares. `None` (the default, right for `memory`) keeps
    /// them in this process.
    fn middleware_store(&self) -> Option<&dyn MiddlewareStore> {
        None
    }
}

/// Where jobs that failed for good are kept, to list, retry and forget
/// (Laravel's `failed_jobs` table). Every connection has one.
#[async_trait]
pub trait FailedStore: Send + Sync {
    /// Every failed job, oldest first.
    async fn failed_list(&self) -> Result<Vec<FailedJob>, QueueError>;
    /// Removes a failed job and returns it.
    async fn failed_take(&self, id: &str) -> Result<Option<FailedJob>, QueueError>;
    /// Puts a failed job (back) into the store.
    async fn failed_restore(&self, failed: FailedJob) -> Result<(), QueueError>;
    /// Deletes a failed job; false when there was none with that id.
    async fn failed_forget(&self, id: &str) -> Result<bool, QueueError>;
    /// Deletes every failed job; returns how many there were.
    async fn failed_purge(&self) -> Result<usize, QueueError>;
}

/// Finding failed jobs without reading them all: every connection keeps an
/// index of its failed store as jobs fail (by time, queue, name, tag,
/// event, correlation, fingerprint and the words of the error) and answers
/// from it.
#[async_trait]
pub trait FailedSearch: Send + Sync {
    /// The failed jobs `query` matches, newest first, one page.
    async fn failed_search(&self, query: &FailedQuery) -> Result<FailedPage, QueueError>;
    /// How many failed jobs `query` matches (its cursor and limit aside).
    async fn failed_count(&self, query: &FailedQuery) -> Result<u64, QueueError>;
    /// The failure groups, most recent first.
    async fn failed_groups(&self) -> Result<Vec<FailureGroup>, QueueError>;
}
