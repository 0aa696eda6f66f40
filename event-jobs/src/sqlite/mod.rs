//! The `sqlite` connection: embedded and durable, shared by the processes
//! that open the same file.
//!
//! A claim sets a lease (`reserved_until`) and a token on the row and counts
//! the attempt; a worker that dies leaves the lease to expire, and the next
//! fetch claims the row again. Claims, acks and inserts go in batches, one
//! transaction each.
//!
//! No row wedges the queue: a fetch reads every column as whatever SQLite
//! holds (another program, a hand edit or an old build may have written
//! it), and a row it cannot read (a BLOB payload, text in `attempts`, JSON
//! that is not a job envelope) is moved to the failed store, in the same
//! transaction, with the reason; the rows around it are claimed as usual.

mod alert_ledger;
mod claim;
mod columns;
mod completed_log;
mod failed;
mod failed_search;
mod monitoring;
#[cfg(test)]
mod monitoring_tests;
mod store;
mod writer;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use rusqlite::{Connection, OptionalExtension, TransactionBehavior, params};
use tokio::sync::Notify;

use super::QueueError;
use super::backend::{Backend, FailedStore};
use super::job::{Claimed, FailedJob, Job, JobEnvelope, Receipt, now_ms};

use claim::claim;
use failed::{failed_from_row, insert_failed};
use writer::{Reply, Row, write_loop};

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS event_jobs (
    seq            INTEGER PRIMARY KEY AUTOINCREMENT,
    id             TEXT    NOT NULL,
    queue          TEXT    NOT NULL,
    priority       INTEGER NOT NULL,
    available_at   INTEGER NOT NULL,
    reserved_until INTEGER NOT NULL DEFAULT 0,
    token          TEXT,
    attempts       INTEGER NOT NULL DEFAULT 0,
    payload        TEXT    NOT NULL
);
CREATE INDEX IF NOT EXISTS event_jobs_fetch ON event_jobs (queue, priority DESC, seq);
CREATE TABLE IF NOT EXISTS event_failed_jobs (
    id        TEXT    PRIMARY KEY,
    queue     TEXT    NOT NULL,
    payload   TEXT    NOT NULL,
    reason    TEXT    NOT NULL,
    attempts  INTEGER NOT NULL,
    failed_at INTEGER NOT NULL
);
";

/// A queue in one SQLite file.
pub struct SqliteBackend {
    url: String,
    conn: Arc<Mutex<Connection>>,
    notify: Notify,
    /// Inserts go through one writer thread that commits everything waiting
    /// in one transaction (group commit): concurrent dispatches share a commit.
    writer: std::sync::mpsc::Sender<(Vec<Row>, Reply)>,
    /// When this process last dropped figures past their retention (ms).
    pruned_at: std::sync::atomic::AtomicI64,
}

impl std::fmt::Debug for SqliteBackend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SqliteBackend")
            .field("url", &self.url)
            .finish_non_exhaustive()
    }
}

impl SqliteBackend {
    /// Opens (creating if needed) the database at `path`; `url` names it in errors.
    pub fn open(url: &str, path: &str) -> Result<Self, QueueError> {
        let sqlite = |source| QueueError::Sqlite {
            url: url.to_string(),
            action: "open the database",
            source,
        };
        let mut conn = event_sqlite::open(path).map_err(sqlite)?;
        conn.execute_batch(SCHEMA).map_err(sqlite)?;
        failed_search::create(&mut conn).map_err(sqlite)?;
        monitoring::create(&mut conn).map_err(sqlite)?;
        let conn = Arc::new(Mutex::new(conn));
        let (writer, requests) = std::sync::mpsc::channel();
        let for_writer = conn.clone();
        std::thread::Builder::new()
            .name("event-queue-sqlite-writer".to_string())
            .spawn(move || write_loop(for_writer, requests))
            .map_err(|e| QueueError::Unreachable {
                url: url.to_string(),
                reason: format!("cannot start the writer thread: {e}"),
            })?;
        Ok(Self {
            url: url.to_string(),
            conn,
            notify: Notify::new(),
            writer,
            pruned_at: std::sync::atomic::AtomicI64::new(0),
        })
    }

    /// Runs `work` on the connection in a blocking thread; `action` says
    /// what it does, in errors.
    async fn with<T, F>(&self, action: &'static str, work: F) -> Result<T, QueueError>
    where
        T: Send + 'static,
        F: FnOnce(&mut Connection) -> rusqlite::Result<T> + Send + 'static,
    {
        let result = event_sqlite::run(&self.conn, work)
            .await
            .map_err(|lost| self.error(format!("{action}: {lost}")))?;
        result.map_err(|source| self.sqlite(action, source))
    }

    fn error(&self, reason: String) -> QueueError {
        QueueError::Backend {
            url: self.url.clone(),
            reason,
        }
    }

    fn sqlite(&self, action: &'static str, source: rusqlite::Error) -> QueueError {
        QueueError::Sqlite {
            url: self.url.clone(),
            action,
            source,
        }
    }

    fn json(&self, action: &'static str, source: serde_json::Error) -> QueueError {
        QueueError::Json {
            url: self.url.clone(),
            action,
            source,
        }
    }
}

#[async_trait]
impl Backend for SqliteBackend {
    fn middleware_store(&self) -> Option<&dyn super::MiddlewareStore> {
        Some(self)
    }

    fn kind(&self) -> &'static str {
        "sqlite"
    }

    fn location(&self) -> String {
        self.url.clone()
    }

    async fn push(&self, jobs: Vec<Job>) -> Result<(), QueueError> {
        let mut rows = Vec::with_capacity(jobs.len());
        for job in &jobs {
            let payload = job.to_json().map_err(|e| self.json("write a job", e))?;
            let e = &job.envelope;
            rows.push((
                e.id.clone(),
                e.queue.clone(),
                e.priority,
                e.available_at,
                e.attempts,
                payload,
            ));
        }
        let (reply, answer) = tokio::sync::oneshot::channel();
        self.writer
            .send((rows, reply))
            .map_err(|_| self.error("the writer thread stopped".to_string()))?;
        answer
            .await
            .map_err(|_| self.error("the writer thread stopped".to_string()))?
            .map_err(|e| self.sqlite("write jobs", e))?;
        self.notify.notify_waiters();
        Ok(())
    }

    async fn fetch(
        &self,
        queues: &[String],
        max: usize,
        lease: Duration,
        _consumer: &str,
    ) -> Result<Vec<Claimed>, QueueError> {
        let queues = queues.to_vec();
        let lease_ms = lease.as_millis() as i64;
        let token = ulid::Ulid::new().to_string();
        let (claimed, unreadable) = self
            .with("claim jobs", move |conn| {
                claim(conn, &queues, max, now_ms(), lease_ms, &token)
            })
            .await?;
        for failed in unreadable {
            tracing::error!(url = %self.url, job = %failed.id, reason = %failed.reason, "moved an unreadable job to the failed store");
        }
        Ok(claimed)
    }

    async fn wait(&self, idle: Duration) {
        // Woken early by pushes from this process; other processes' jobs
        // are seen at the next poll.
        let _ = tokio::time::timeout(idle, self.notify.notified()).await;
    }

    async fn extend(
        &self,
        running: Vec<Receipt>,
        lease: Duration,
        _consumer: &str,
    ) -> Result<(), QueueError> {
        let lease_ms = lease.as_millis() as i64;
        self.with("extend claims", move |conn| {
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
            {
                let mut extend = tx.prepare_cached(
                    "UPDATE event_jobs SET reserved_until = ?1 WHERE seq = ?2 AND token = ?3",
                )?;
                let until = now_ms() + lease_ms;
                for r in &running {
                    extend.execute(params![until, r.row_seq(), r.token])?;
                }
            }
            tx.commit()
        })
        .await
    }

    async fn ack(&self, done: Vec<Receipt>) -> Result<(), QueueError> {
        if done.is_empty() {
            return Ok(());
        }
        self.with("acknowledge jobs", move |conn| {
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
            {
                let mut delete =
                    tx.prepare_cached("DELETE FROM event_jobs WHERE seq = ?1 AND token = ?2")?;
                for r in &done {
                    delete.execute(params![r.row_seq(), r.token])?;
                }
            }
            tx.commit()
        })
        .await
    }

    async fn retry(&self, claimed: Claimed, envelope: JobEnvelope) -> Result<(), QueueError> {
        let payload = serde_json::to_string(&envelope).map_err(|e| self.json("write a job", e))?;
        let receipt = claimed.receipt;
        self.with("reschedule a job", move |conn| {
            conn.prepare_cached(
                "UPDATE event_jobs SET available_at = ?1, reserved_until = 0, token = NULL, payload = ?2
                 WHERE seq = ?3 AND token = ?4",
            )?
            .execute(params![envelope.available_at, payload, receipt.row_seq(), receipt.token])?;
            Ok(())
        })
        .await?;
        self.notify.notify_waiters();
        Ok(())
    }

    async fn fail(&self, receipt: Receipt, failed: FailedJob) -> Result<(), QueueError> {
        self.with("move a job to the failed store", move |conn| {
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
            let removed = tx
                .prepare_cached("DELETE FROM event_jobs WHERE seq = ?1 AND token = ?2")?
                .execute(params![receipt.row_seq(), receipt.token])?;
            // A claim that expired belongs to another worker now.
            if removed == 1 {
                insert_failed(&tx, &failed)?;
            }
            tx.commit()
        })
        .await
    }

    async fn release(&self, claimed: Vec<Claimed>) -> Result<(), QueueError> {
        self.with("hand back jobs", move |conn| {
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
            {
                let mut release = tx.prepare_cached(
                    "UPDATE event_jobs SET reserved_until = 0, token = NULL, attempts = attempts - 1
                     WHERE seq = ?1 AND token = ?2",
                )?;
                for c in &claimed {
                    release.execute(params![c.receipt.row_seq(), c.receipt.token])?;
                }
            }
            tx.commit()
        })
        .await?;
        self.notify.notify_waiters();
        Ok(())
    }

    async fn size(&self) -> Result<usize, QueueError> {
        self.with("count jobs", |conn| {
            conn.query_row("SELECT COUNT(*) FROM event_jobs", [], |r| {
                r.get::<_, i64>(0)
            })
        })
        .await
        .map(|n| n as usize)
    }

    async fn sizes(&self) -> Result<Vec<(String, usize)>, QueueError> {
        let now = now_ms();
        self.with("count jobs per queue", move |conn| {
            let mut statement = conn.prepare_cached(
                "SELECT queue, COUNT(*) FROM event_jobs WHERE reserved_until <= ?1
                 GROUP BY queue ORDER BY queue",
            )?;
            let rows = statement.query_map(params![now], |r| {
                Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)? as usize))
            })?;
            rows.collect()
        })
        .await
    }

    async fn clear(&self) -> Result<usize, QueueError> {
        self.with("clear the queue", |conn| {
            conn.execute("DELETE FROM event_jobs", [])
        })
        .await
    }
}

#[async_trait]
impl FailedStore for SqliteBackend {
    async fn failed_list(&self) -> Result<Vec<FailedJob>, QueueError> {
        self.with("list failed jobs", |conn| {
            let mut select = conn.prepare_cached(
                "SELECT id, queue, payload, reason, attempts, failed_at FROM event_failed_jobs
                 ORDER BY failed_at, id",
            )?;
            let rows = select.query_map([], failed_from_row)?;
            rows.collect()
        })
        .await
    }

    async fn failed_take(&self, id: &str) -> Result<Option<FailedJob>, QueueError> {
        let id = id.to_string();
        self.with("take a failed job", move |conn| {
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
            let found = tx
                .query_row(
                    "SELECT id, queue, payload, reason, attempts, failed_at FROM event_failed_jobs WHERE id = ?1",
                    params![id],
                    failed_from_row,
                )
                .optional()?;
            if found.is_some() {
                tx.execute("DELETE FROM event_failed_jobs WHERE id = ?1", params![id])?;
            }
            tx.commit()?;
            Ok(found)
        })
        .await
    }

    async fn failed_restore(&self, failed: FailedJob) -> Result<(), QueueError> {
        self.with("restore a failed job", move |conn| {
            insert_failed(conn, &failed)
        })
        .await
    }

    async fn failed_forget(&self, id: &str) -> Result<bool, QueueError> {
        let id = id.to_string();
        self.with("forget a failed job", move |conn| {
            conn.execute("DELETE FROM event_failed_jobs WHERE id = ?1", params![id])
        })
        .await
        .map(|n| n > 0)
    }

    async fn failed_purge(&self) -> Result<usize, QueueError> {
        self.with("purge failed jobs", |conn| {
            conn.execute("DELETE FROM event_failed_jobs", [])
        })
        .await
    }
}
