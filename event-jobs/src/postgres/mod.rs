//! The `postgres` connection: jobs in a PostgreSQL table, shared by any
//! number of worker processes on any number of machines.
//!
//! `postgres://user@host:5432/db?schema=myapp` (the schema is created if
//! missing, so several apps share a database; `pool_size=` caps the pool).
//! Two tables, `event_jobs` and `event_failed_jobs`, are created if missing
//! and their columns checked: a wrong shape is an error naming the columns.
//!
//! - Claims are `SELECT ... FOR UPDATE SKIP LOCKED` in batches: workers never
//!   wait on each other's rows. A claim sets a lease (`reserved_until`) and a
//!   token and counts the attempt; a worker that dies leaves the lease to
//!   expire, and the next fetch of any worker claims the row again.
//! - Dispatches that arrive together are written together: one statement,
//!   one transaction and one `NOTIFY` for all of them.
//! - An idle worker LISTENs (one connection per process) and sleeps until a
//!   NOTIFY, the next delayed job or lease expiry it knows of, or a 30 s
//!   fallback poll: it costs no queries per second, and a new job starts
//!   within milliseconds. While the LISTEN connection is down, workers poll
//!   at their `poll_interval`.
//! - [`in_transaction`] writes jobs in the caller's own transaction: they
//!   exist if and only if it commits.

mod alert_ledger;
mod claim;
mod completed_log;
mod failed_search;
#[cfg(test)]
mod failed_search_tests;
mod ledger_sql;
mod monitor_sql;
mod monitoring;
#[cfg(test)]
mod monitoring_tests;
mod options;
mod pool;
mod rows;
mod schema;
mod store;
mod transaction;
mod wake;
mod writer;

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use deadpool_postgres::Pool;

use super::QueueError;
use super::backend::{Backend, FailedStore};
use super::job::{Claimed, FailedJob, Job, JobEnvelope, Receipt, now_ms};

pub use options::PostgresOptions;
/// The driver this connection uses, for [`in_transaction`]'s transactions.
pub use tokio_postgres;
pub use transaction::in_transaction;

use failed_search::Derived;
use pool::{Via, build_pool};
use rows::{failed_from_row, receipt_arrays, rows_of, rows_params};
use schema::Tables;
use wake::Wake;
use writer::{Rows, Writer};

/// How long an idle worker sleeps at most when it knows of no job coming:
/// it bounds how late a lost notification is noticed.
const FALLBACK_POLL: Duration = Duration::from_secs(30);

/// A queue in PostgreSQL.
pub struct PostgresBackend {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for PostgresBackend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PostgresBackend").finish_non_exhaustive()
    }
}

pub(super) struct Inner {
    /// Redacted, for messages.
    url: String,
    config: options::DriverConfig,
    /// Dispatches, the failed store, setup: commits wait for the disk.
    pool: Pool,
    /// A worker's claims, acks, retries and lease extensions, with
    /// `synchronous_commit = off`: a crash of the server may lose the last
    /// of them, which at-least-once delivery already allows for (the job
    /// runs again); jobs themselves are only ever written through `pool`.
    worker_pool: Pool,
    tables: Tables,
    wake: Arc<Wake>,
    writer: Writer,
    /// The queues the latest fetch named: what an idle worker waits for.
    fetched: std::sync::Mutex<Vec<String>>,
    /// When this process last pruned the monitoring figures (ms).
    pruned_at: std::sync::atomic::AtomicI64,
    /// When this process last read that some queue is paused (ms): a
    /// worker whose queues are paused is not woken by the resume (it reads
    /// it a moment later), so idle waits are short around a pause.
    paused_seen_at: std::sync::atomic::AtomicI64,
    /// The signals last read, with the wake's signals generation before
    /// the read and when it was read (ms): what `signals` answers while the
    /// LISTEN connection is up and no change was notified.
    signals_read: std::sync::Mutex<Option<(u64, i64, crate::monitor::Signals)>>,
}

/// How long idle waits stay short after a pause was last seen.
const AROUND_A_PAUSE_MS: i64 = 5_000;

impl Drop for PostgresBackend {
    fn drop(&mut self) {
        self.inner.wake.stop();
    }
}

impl PostgresBackend {
    /// Connects to `url`, creates the tables if missing and checks their shape.
    pub async fn connect(url: &str, options: PostgresOptions) -> Result<Self, QueueError> {
        let config = options::driver_config(url)?;
        let url = super::redact(url);
        let pool = build_pool(config.clone(), &options, &url)?;
        let mut worker_config = config.clone();
        let session = match worker_config.settings.get_options() {
            Some(given) => format!("{given} -c synchronous_commit=off"),
            None => "-c synchronous_commit=off".to_string(),
        };
        worker_config.settings.options(&session);
        let worker_pool = build_pool(worker_config, &options, &url)?;
        let inner = Inner {
            url,
            config,
            pool,
            worker_pool,
            tables: Tables::new(&options.schema),
            wake: Arc::new(Wake::new()),
            writer: Writer::default(),
            fetched: std::sync::Mutex::new(Vec::new()),
            pruned_at: std::sync::atomic::AtomicI64::new(0),
            paused_seen_at: std::sync::atomic::AtomicI64::new(i64::MIN / 2),
            signals_read: std::sync::Mutex::new(None),
        };
        let unindexed = inner.prepare_tables().await?;
        let backend = Self {
            inner: Arc::new(inner),
        };
        if unindexed {
            backend.index_old_failed().await?;
        }
        Ok(backend)
    }

    /// The schema the tables are in.
    pub fn schema(&self) -> &str {
        &self.inner.tables.schema
    }
}

impl Inner {
    /// Checks the shape of the tables that exist, then creates what is
    /// missing, under a lock so processes starting together do not race.
    /// True when failed rows of an older build are to be indexed.
    async fn prepare_tables(&self) -> Result<bool, QueueError> {
        let mut client = self.client().await?;
        let tx = client
            .transaction()
            .await
            .map_err(|e| self.pg("cannot begin", e))?;
        let schema = &self.tables.schema;
        tx.execute(
            "SELECT pg_advisory_xact_lock(hashtext('event-core queue ' || $1::text))",
            &[schema],
        )
        .await
        .map_err(|e| self.pg("cannot lock the schema", e))?;
        let found: Vec<(String, String, String)> = tx
            .query(Tables::COLUMNS, &[schema])
            .await
            .map_err(|e| self.pg("cannot read the tables' columns", e))?
            .iter()
            .map(|r| (r.get(0), r.get(1), r.get(2)))
            .collect();
        if let Some(problem) = self.tables.shape_problems(&found) {
            return Err(self.backend_error(problem));
        }
        tx.batch_execute(&self.tables.create)
            .await
            .map_err(|e| self.pg("cannot create the tables", e))?;
        tx.commit()
            .await
            .map_err(|e| self.pg("cannot create the tables", e))?;
        Ok(Tables::failed_unindexed(&found))
    }

    /// Writes rows in one statement that also NOTIFYs the workers once.
    async fn insert(&self, rows: &Rows) -> Result<(), QueueError> {
        let client = self.client().await?;
        let statement = client
            .prepare_cached(&self.tables.insert)
            .await
            .map_err(|e| self.pg("cannot write jobs", e))?;
        client
            .execute(&statement, &rows_params(rows, &self.tables.channel))
            .await
            .map_err(|e| self.pg("cannot write jobs", e))?;
        Ok(())
    }

    /// The earliest time a job of `queues` becomes runnable (a delay, a
    /// backoff, or a lease running out), if any job waits.
    async fn next_due(&self, queues: &[String]) -> Result<Option<i64>, QueueError> {
        let rows = self
            .query(
                Via::Worker,
                "cannot look for due jobs",
                &self.tables.next_due,
                &[&queues],
            )
            .await?;
        Ok(rows.first().and_then(|r| r.get::<_, Option<i64>>(0)))
    }
}

#[async_trait]
impl Backend for PostgresBackend {
    fn middleware_store(&self) -> Option<&dyn crate::MiddlewareStore> {
        Some(self)
    }

    fn kind(&self) -> &'static str {
        "postgres"
    }

    fn location(&self) -> String {
        self.inner.url.clone()
    }

    async fn push(&self, jobs: Vec<Job>) -> Result<(), QueueError> {
        if jobs.is_empty() {
            return Ok(());
        }
        let jobs = match transaction::hold(&self.inner, jobs) {
            None => return Ok(()),
            Some(jobs) => jobs,
        };
        let rows = rows_of(&jobs).map_err(|e| self.inner.json("encode jobs", e))?;
        Writer::push(&self.inner, rows).await
    }

    async fn fetch(
        &self,
        queues: &[String],
        max: usize,
        lease: Duration,
        _consumer: &str,
    ) -> Result<Vec<Claimed>, QueueError> {
        let inner = &self.inner;
        inner.wake.fetching();
        {
            let mut fetched = inner.fetched.lock().unwrap_or_else(|e| e.into_inner());
            if *fetched != queues {
                *fetched = queues.to_vec();
            }
        }
        let (claimed, broken) = inner.claim(queues, max, lease).await?;
        for (receipt, failed) in broken {
            tracing::error!(url = %inner.url, reason = %failed.reason, "moved an unreadable job to the failed store");
            self.fail(receipt, failed).await?;
        }
        Ok(claimed)
    }

    async fn wait(&self, idle: Duration) {
        let inner = &self.inner;
        inner
            .wake
            .ensure_listening(&inner.config, &inner.tables.channel);
        if !inner.wake.listening() {
            // No LISTEN connection (yet): poll.
            tokio::time::sleep(idle).await;
            return;
        }
        if inner.wake.bumped() {
            // Taken: a worker that does not fetch next (its queues are
            // paused) waits for the next bump instead of spinning.
            inner.wake.fetching();
            return;
        }
        let queues = inner
            .fetched
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone();
        let limit = match inner.next_due(&queues).await {
            Ok(Some(due)) => {
                let ms = due - now_ms();
                if ms <= 0 {
                    idle
                } else {
                    Duration::from_millis(ms as u64).min(FALLBACK_POLL)
                }
            }
            Ok(None) => FALLBACK_POLL,
            Err(_) => idle,
        };
        let paused_seen_at = inner
            .paused_seen_at
            .load(std::sync::atomic::Ordering::Relaxed);
        let limit = if now_ms() - paused_seen_at < AROUND_A_PAUSE_MS {
            limit.min(Duration::from_secs(1))
        } else {
            limit
        };
        inner.wake.until_bumped(limit).await;
    }

    async fn extend(
        &self,
        running: Vec<Receipt>,
        lease: Duration,
        _consumer: &str,
    ) -> Result<(), QueueError> {
        if running.is_empty() {
            return Ok(());
        }
        let (seqs, tokens) = receipt_arrays(running.iter());
        let until = now_ms() + lease.as_millis().min(i64::MAX as u128 / 2) as i64;
        self.inner
            .execute(
                Via::Worker,
                "cannot extend claims",
                &self.inner.tables.extend,
                &[&seqs, &tokens, &until],
            )
            .await
            .map(drop)
    }

    async fn ack(&self, done: Vec<Receipt>) -> Result<(), QueueError> {
        if done.is_empty() {
            return Ok(());
        }
        let (seqs, tokens) = receipt_arrays(done.iter());
        self.inner
            .execute(
                Via::Worker,
                "cannot remove finished jobs",
                &self.inner.tables.ack,
                &[&seqs, &tokens],
            )
            .await
            .map(drop)
    }

    async fn retry(&self, claimed: Claimed, envelope: JobEnvelope) -> Result<(), QueueError> {
        let payload = serde_json::to_string(&envelope)
            .map_err(|e| self.inner.json("encode a retried job", e))?;
        let receipt = claimed.receipt;
        self.inner
            .execute(
                Via::Worker,
                "cannot put a job back",
                &self.inner.tables.retry,
                &[
                    &envelope.available_at,
                    &payload,
                    &receipt.row_seq(),
                    &receipt.token,
                ],
            )
            .await?;
        // This process's idle workers look for the next due job again.
        self.inner.wake.bump();
        Ok(())
    }

    async fn fail(&self, receipt: Receipt, failed: FailedJob) -> Result<(), QueueError> {
        let payload = serde_json::to_string(&failed.payload)
            .map_err(|e| self.inner.json("encode a failed job", e))?;
        let attempts = failed.attempts.min(i32::MAX as u32) as i32;
        let derived = Derived::of(&failed);
        let seq = receipt.row_seq();
        let mut params: Vec<&(dyn tokio_postgres::types::ToSql + Sync)> = vec![
            &seq,
            &receipt.token,
            &failed.id,
            &failed.queue,
            &payload,
            &failed.reason,
            &attempts,
            &failed.failed_at,
        ];
        params.extend(derived.params());
        self.inner
            .execute(
                Via::Worker,
                "cannot move a job to the failed store",
                &self.inner.tables.fail,
                &params,
            )
            .await
            .map(drop)
    }

    async fn release(&self, claimed: Vec<Claimed>) -> Result<(), QueueError> {
        if claimed.is_empty() {
            return Ok(());
        }
        let (seqs, tokens) = receipt_arrays(claimed.iter().map(|c| &c.receipt));
        self.inner
            .execute(
                Via::Worker,
                "cannot hand jobs back",
                &self.inner.tables.release,
                &[&seqs, &tokens, &self.inner.tables.channel],
            )
            .await?;
        self.inner.wake.bump();
        Ok(())
    }

    async fn size(&self) -> Result<usize, QueueError> {
        let rows = self
            .inner
            .query(
                Via::Dispatch,
                "cannot count jobs",
                &self.inner.tables.size,
                &[],
            )
            .await?;
        Ok(rows.first().map_or(0, |r| r.get::<_, i64>(0)) as usize)
    }

    async fn sizes(&self) -> Result<Vec<(String, usize)>, QueueError> {
        let rows = self
            .inner
            .query(
                Via::Dispatch,
                "cannot count jobs per queue",
                &self.inner.tables.sizes,
                &[&now_ms()],
            )
            .await?;
        Ok(rows
            .iter()
            .map(|r| (r.get::<_, String>(0), r.get::<_, i64>(1) as usize))
            .collect())
    }

    async fn clear(&self) -> Result<usize, QueueError> {
        self.inner
            .execute(
                Via::Dispatch,
                "cannot clear jobs",
                &self.inner.tables.clear,
                &[],
            )
            .await
            .map(|n| n as usize)
    }
}

#[async_trait]
impl FailedStore for PostgresBackend {
    async fn failed_list(&self) -> Result<Vec<FailedJob>, QueueError> {
        let rows = self
            .inner
            .query(
                Via::Dispatch,
                "cannot list failed jobs",
                &self.inner.tables.failed_list,
                &[],
            )
            .await?;
        Ok(rows.iter().map(failed_from_row).collect())
    }

    async fn failed_take(&self, id: &str) -> Result<Option<FailedJob>, QueueError> {
        let rows = self
            .inner
            .query(
                Via::Dispatch,
                "cannot take a failed job",
                &self.inner.tables.failed_take,
                &[&id],
            )
            .await?;
        Ok(rows.first().map(failed_from_row))
    }

    async fn failed_restore(&self, failed: FailedJob) -> Result<(), QueueError> {
        let payload = serde_json::to_string(&failed.payload)
            .map_err(|e| self.inner.json("encode a failed job", e))?;
        let attempts = failed.attempts.min(i32::MAX as u32) as i32;
        let derived = Derived::of(&failed);
        let mut params: Vec<&(dyn tokio_postgres::types::ToSql + Sync)> = vec![
            &failed.id,
            &failed.queue,
            &payload,
            &failed.reason,
            &attempts,
            &failed.failed_at,
        ];
        params.extend(derived.params());
        self.inner
            .execute(
                Via::Dispatch,
                "cannot store a failed job",
                &self.inner.tables.failed_restore,
                &params,
            )
            .await
            .map(drop)
    }

    async fn failed_forget(&self, id: &str) -> Result<bool, QueueError> {
        self.inner
            .execute(
                Via::Dispatch,
                "cannot forget a failed job",
                &self.inner.tables.failed_forget,
                &[&id],
            )
            .await
            .map(|n| n > 0)
    }

    async fn failed_purge(&self) -> Result<usize, QueueError> {
        self.inner
            .execute(
                Via::Dispatch,
                "cannot purge failed jobs",
                &self.inner.tables.failed_purge,
                &[],
            )
            .await
            .map(|n| n as usize)
    }
}
