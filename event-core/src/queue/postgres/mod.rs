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

mod options;
mod schema;
mod transaction;
mod wake;
mod writer;

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use deadpool_postgres::{Manager, ManagerConfig, Pool, PoolError, RecyclingMethod, Runtime};

use super::QueueError;
use super::backend::Backend;
use super::job::{Claimed, FailedJob, Job, JobEnvelope, Receipt, now_ms};

pub use options::PostgresOptions;
/// The driver this connection uses, for [`in_transaction`]'s transactions.
pub use tokio_postgres;
pub use transaction::in_transaction;

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

pub(super) struct Inner {
    /// Redacted, for messages.
    url: String,
    config: tokio_postgres::Config,
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
}

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
        let session = match worker_config.get_options() {
            Some(given) => format!("{given} -c synchronous_commit=off"),
            None => "-c synchronous_commit=off".to_string(),
        };
        worker_config.options(&session);
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
        };
        inner.prepare_tables().await?;
        Ok(Self {
            inner: Arc::new(inner),
        })
    }

    /// The schema the tables are in.
    pub fn schema(&self) -> &str {
        &self.inner.tables.schema
    }
}

/// A pool of connections opened as they are needed.
fn build_pool(
    config: tokio_postgres::Config,
    options: &PostgresOptions,
    url: &str,
) -> Result<Pool, QueueError> {
    let manager = Manager::from_config(
        config,
        tokio_postgres::NoTls,
        ManagerConfig {
            recycling_method: RecyclingMethod::Fast,
        },
    );
    Pool::builder(manager)
        .max_size(options.pool_size)
        .runtime(Runtime::Tokio1)
        .wait_timeout(Some(Duration::from_secs(30)))
        .build()
        .map_err(|e| QueueError::InvalidUrl {
            url: url.to_string(),
            reason: format!("cannot build the connection pool: {e}"),
        })
}

/// Which pool a statement goes through.
#[derive(Clone, Copy)]
enum Via {
    Dispatch,
    Worker,
}

impl Inner {
    fn pg(&self, doing: &str, source: tokio_postgres::Error) -> QueueError {
        QueueError::Postgres {
            url: self.url.clone(),
            doing: doing.to_string(),
            source,
        }
    }

    fn backend_error(&self, reason: String) -> QueueError {
        QueueError::Backend {
            url: self.url.clone(),
            reason,
        }
    }

    async fn client(&self) -> Result<deadpool_postgres::Object, QueueError> {
        self.client_via(Via::Dispatch).await
    }

    async fn client_via(&self, via: Via) -> Result<deadpool_postgres::Object, QueueError> {
        let pool = match via {
            Via::Dispatch => &self.pool,
            Via::Worker => &self.worker_pool,
        };
        pool.get().await.map_err(|e| match e {
            PoolError::Backend(source) => self.pg("cannot connect", source),
            other => QueueError::Unreachable {
                url: self.url.clone(),
                reason: other.to_string(),
            },
        })
    }

    /// Checks the shape of the tables that exist, then creates what is
    /// missing, under a lock so processes starting together do not race.
    async fn prepare_tables(&self) -> Result<(), QueueError> {
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
            .map_err(|e| self.pg("cannot create the tables", e))
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

    /// Runs one statement; returns the rows it changed.
    async fn execute(
        &self,
        via: Via,
        doing: &str,
        sql: &str,
        params: &[&(dyn tokio_postgres::types::ToSql + Sync)],
    ) -> Result<u64, QueueError> {
        let client = self.client_via(via).await?;
        let statement = client
            .prepare_cached(sql)
            .await
            .map_err(|e| self.pg(doing, e))?;
        client
            .execute(&statement, params)
            .await
            .map_err(|e| self.pg(doing, e))
    }

    async fn query(
        &self,
        via: Via,
        doing: &str,
        sql: &str,
        params: &[&(dyn tokio_postgres::types::ToSql + Sync)],
    ) -> Result<Vec<tokio_postgres::Row>, QueueError> {
        let client = self.client_via(via).await?;
        let statement = client
            .prepare_cached(sql)
            .await
            .map_err(|e| self.pg(doing, e))?;
        client
            .query(&statement, params)
            .await
            .map_err(|e| self.pg(doing, e))
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

/// The statement parameters of rows to insert (`insert` and
/// [`in_transaction`] share them).
fn rows_params<'a>(
    rows: &'a Rows,
    channel: &'a String,
) -> [&'a (dyn tokio_postgres::types::ToSql + Sync); 7] {
    [
        &rows.ids,
        &rows.queues,
        &rows.priorities,
        &rows.available_at,
        &rows.attempts,
        &rows.payloads,
        channel,
    ]
}

/// The rows `jobs` become.
fn rows_of(jobs: &[Job]) -> Result<Rows, serde_json::Error> {
    let mut rows = Rows::default();
    for job in jobs {
        let payload = job.to_json()?;
        let e = &job.envelope;
        rows.ids.push(e.id.clone());
        rows.queues.push(e.queue.clone());
        rows.priorities.push(e.priority);
        rows.available_at.push(e.available_at);
        rows.attempts.push(e.attempts.min(i32::MAX as u32) as i32);
        rows.payloads.push(payload);
    }
    Ok(rows)
}

fn parse_row(seq: i64, attempts: u32, payload: &str) -> Result<JobEnvelope, String> {
    serde_json::from_str::<JobEnvelope>(payload)
        .map(|mut envelope| {
            envelope.attempts = attempts.saturating_sub(1);
            envelope
        })
        .map_err(|e| format!("job row {seq} is not a job envelope: {e}"))
}

fn failed_from_row(row: &tokio_postgres::Row) -> FailedJob {
    let id: String = row.get(0);
    let queue: String = row.get(1);
    let payload: String = row.get(2);
    let envelope = serde_json::from_str(&payload)
        .unwrap_or_else(|_| JobEnvelope::unreadable(id.clone(), queue.clone(), &payload));
    FailedJob {
        id,
        queue,
        payload: envelope,
        reason: row.get(3),
        attempts: row.get::<_, i32>(4).max(0) as u32,
        failed_at: row.get(5),
    }
}

fn seq_of(receipt: &Receipt) -> i64 {
    receipt.key.parse().unwrap_or(-1)
}

/// Receipts as the two arrays the batch statements `unnest`.
fn receipt_arrays<'a>(receipts: impl Iterator<Item = &'a Receipt>) -> (Vec<i64>, Vec<String>) {
    receipts.map(|r| (seq_of(r), r.token.clone())).unzip()
}

#[async_trait]
impl Backend for PostgresBackend {
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
        let rows = rows_of(&jobs).map_err(|e| self.inner.backend_error(e.to_string()))?;
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
        let token = ulid::Ulid::new().to_string();
        let now = now_ms();
        let lease_ms = lease.as_millis().min(i64::MAX as u128) as i64;
        let mut claimed = Vec::new();
        let mut broken = Vec::new();
        for queue in queues {
            let want = max.saturating_sub(claimed.len());
            if want == 0 {
                break;
            }
            let mut rows = inner
                .query(
                    Via::Worker,
                    "cannot claim jobs",
                    &inner.tables.claim,
                    &[queue, &now, &(want as i64), &lease_ms, &token],
                )
                .await?;
            // RETURNING keeps no order: the claim's own.
            rows.sort_by_key(|r| (std::cmp::Reverse(r.get::<_, i32>(1)), r.get::<_, i64>(0)));
            for row in rows {
                let seq: i64 = row.get(0);
                let attempt = row.get::<_, i32>(2).max(1) as u32;
                let payload: &str = row.get(3);
                let receipt = Receipt {
                    key: seq.to_string(),
                    token: token.clone(),
                };
                match parse_row(seq, attempt, payload) {
                    Ok(envelope) => claimed.push(Claimed {
                        job: Job::from_envelope(envelope),
                        attempt,
                        receipt,
                    }),
                    Err(reason) => {
                        let envelope =
                            JobEnvelope::unreadable(format!("row-{seq}"), queue.clone(), payload);
                        broken.push((receipt, FailedJob::new(envelope, reason, attempt)));
                    }
                }
            }
        }
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
            .map_err(|e| self.inner.backend_error(e.to_string()))?;
        let receipt = claimed.receipt;
        self.inner
            .execute(
                Via::Worker,
                "cannot put a job back",
                &self.inner.tables.retry,
                &[
                    &envelope.available_at,
                    &payload,
                    &seq_of(&receipt),
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
            .map_err(|e| self.inner.backend_error(e.to_string()))?;
        let attempts = failed.attempts.min(i32::MAX as u32) as i32;
        self.inner
            .execute(
                Via::Worker,
                "cannot move a job to the failed store",
                &self.inner.tables.fail,
                &[
                    &seq_of(&receipt),
                    &receipt.token,
                    &failed.id,
                    &failed.queue,
                    &payload,
                    &failed.reason,
                    &attempts,
                    &failed.failed_at,
                ],
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
            .map_err(|e| self.inner.backend_error(e.to_string()))?;
        let attempts = failed.attempts.min(i32::MAX as u32) as i32;
        self.inner
            .execute(
                Via::Dispatch,
                "cannot store a failed job",
                &self.inner.tables.failed_restore,
                &[
                    &failed.id,
                    &failed.queue,
                    &payload,
                    &failed.reason,
                    &attempts,
                    &failed.failed_at,
                ],
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
