//! The `sqlite` connection: embedded and durable, shared by the processes
//! that open the same file.
//!
//! A claim sets a lease (`reserved_until`) and a token on the row and counts
//! the attempt; a worker that dies leaves the lease to expire, and the next
//! fetch claims the row again. Claims, acks and inserts go in batches, one
//! transaction each.

mod store;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use rusqlite::{Connection, OptionalExtension, TransactionBehavior, params};
use tokio::sync::Notify;

use super::QueueError;
use super::backend::Backend;
use super::job::{Claimed, FailedJob, Job, JobEnvelope, Receipt, now_ms};

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

/// One job row to insert.
type Row = (String, String, i32, i64, u32, String);
type Reply = tokio::sync::oneshot::Sender<Result<(), String>>;

/// A queue in one SQLite file.
pub struct SqliteBackend {
    url: String,
    conn: Arc<Mutex<Connection>>,
    notify: Notify,
    /// Inserts go through one writer thread that commits everything waiting
    /// in one transaction (group commit): concurrent dispatches share a commit.
    writer: std::sync::mpsc::Sender<(Vec<Row>, Reply)>,
}

/// The writer thread: takes every insert request waiting, writes them in one
/// transaction, answers each. Ends when the backend is dropped.
fn write_loop(
    conn: Arc<Mutex<Connection>>,
    requests: std::sync::mpsc::Receiver<(Vec<Row>, Reply)>,
) {
    while let Ok(first) = requests.recv() {
        let mut batch = vec![first];
        let mut rows = batch[0].0.len();
        while rows < 4096 {
            match requests.try_recv() {
                Ok(more) => {
                    rows += more.0.len();
                    batch.push(more);
                }
                Err(_) => break,
            }
        }
        let result = {
            let mut conn = conn.lock().unwrap_or_else(|e| e.into_inner());
            insert_rows(&mut conn, batch.iter().flat_map(|(rows, _)| rows.iter()))
        };
        let result = result.map_err(|e| e.to_string());
        for (_, reply) in batch {
            let _ = reply.send(result.clone());
        }
    }
}

fn insert_rows<'a>(
    conn: &mut Connection,
    rows: impl Iterator<Item = &'a Row>,
) -> rusqlite::Result<()> {
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    {
        let mut insert = tx.prepare_cached(
            "INSERT INTO event_jobs (id, queue, priority, available_at, attempts, payload)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
        )?;
        for row in rows {
            insert.execute(params![row.0, row.1, row.2, row.3, row.4, row.5])?;
        }
    }
    tx.commit()
}

impl SqliteBackend {
    /// Opens (creating if needed) the database at `path`; `url` names it in errors.
    pub fn open(url: &str, path: &str) -> Result<Self, QueueError> {
        let unreachable = |e: rusqlite::Error| QueueError::Unreachable {
            url: url.to_string(),
            reason: e.to_string(),
        };
        let conn = Connection::open(path).map_err(unreachable)?;
        conn.busy_timeout(Duration::from_secs(30))
            .map_err(unreachable)?;
        conn.pragma_update(None, "journal_mode", "WAL")
            .map_err(unreachable)?;
        conn.pragma_update(None, "synchronous", "NORMAL")
            .map_err(unreachable)?;
        conn.execute_batch(SCHEMA).map_err(unreachable)?;
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
        })
    }

    async fn with<T, F>(&self, work: F) -> Result<T, QueueError>
    where
        T: Send + 'static,
        F: FnOnce(&mut Connection) -> rusqlite::Result<T> + Send + 'static,
    {
        let conn = self.conn.clone();
        let result = tokio::task::spawn_blocking(move || {
            let mut conn = conn.lock().unwrap_or_else(|e| e.into_inner());
            work(&mut conn)
        })
        .await
        .map_err(|e| self.error(e.to_string()))?;
        result.map_err(|e| self.error(e.to_string()))
    }

    fn error(&self, reason: String) -> QueueError {
        QueueError::Backend {
            url: self.url.clone(),
            reason,
        }
    }
}

fn parse_row(seq: i64, attempts: u32, payload: &str) -> Result<JobEnvelope, String> {
    serde_json::from_str::<JobEnvelope>(payload)
        .map(|mut envelope| {
            envelope.attempts = attempts.saturating_sub(1);
            envelope
        })
        .map_err(|e| format!("job row {seq} is not a job envelope: {e}"))
}

fn insert_failed(conn: &Connection, failed: &FailedJob) -> rusqlite::Result<()> {
    let payload = serde_json::to_string(&failed.payload).unwrap_or_default();
    conn.prepare_cached(
        "INSERT OR REPLACE INTO event_failed_jobs (id, queue, payload, reason, attempts, failed_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
    )?
    .execute(params![
        failed.id,
        failed.queue,
        payload,
        failed.reason,
        failed.attempts,
        failed.failed_at
    ])?;
    Ok(())
}

fn failed_from_row(row: &rusqlite::Row<'_>) -> rusqlite::Result<FailedJob> {
    let id: String = row.get(0)?;
    let queue: String = row.get(1)?;
    let payload: String = row.get(2)?;
    let envelope = serde_json::from_str(&payload)
        .unwrap_or_else(|_| JobEnvelope::unreadable(id.clone(), queue.clone(), &payload));
    Ok(FailedJob {
        id,
        queue,
        payload: envelope,
        reason: row.get(3)?,
        attempts: row.get(4)?,
        failed_at: row.get(5)?,
    })
}

fn seq_of(receipt: &Receipt) -> i64 {
    receipt.key.parse().unwrap_or(-1)
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
            let payload = job.to_json().map_err(|e| self.error(e.to_string()))?;
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
            .map_err(|e| self.error(e))?;
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
        let (claimed, broken) = self
            .with(move |conn| {
                let now = now_ms();
                let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
                let mut rows: Vec<(i64, u32, String, String)> = Vec::new();
                {
                    let mut select = tx.prepare_cached(
                        "SELECT seq, attempts, payload FROM event_jobs
                         WHERE queue = ?1 AND available_at <= ?2 AND reserved_until <= ?2
                         ORDER BY priority DESC, seq LIMIT ?3",
                    )?;
                    for queue in &queues {
                        let want = max - rows.len();
                        if want == 0 {
                            break;
                        }
                        let found = select.query_map(params![queue, now, want as i64], |r| {
                            Ok((r.get::<_, i64>(0)?, r.get::<_, u32>(1)?, queue.clone(), r.get::<_, String>(2)?))
                        })?;
                        for row in found {
                            rows.push(row?);
                        }
                    }
                    let mut claim = tx.prepare_cached(
                        "UPDATE event_jobs SET reserved_until = ?1, token = ?2, attempts = attempts + 1
                         WHERE seq = ?3",
                    )?;
                    for row in &rows {
                        claim.execute(params![now + lease_ms, token, row.0])?;
                    }
                }
                let mut claimed = Vec::with_capacity(rows.len());
                let mut broken = Vec::new();
                for (seq, attempts, queue, payload) in rows {
                    let attempt = attempts + 1;
                    match parse_row(seq, attempt, &payload) {
                        Ok(envelope) => claimed.push(Claimed {
                            job: Job::from_envelope(envelope),
                            attempt,
                            receipt: Receipt {
                                key: seq.to_string(),
                                token: token.clone(),
                            },
                        }),
                        Err(reason) => {
                            let failed = FailedJob::new(JobEnvelope::unreadable(format!("row-{seq}"), queue, &payload), reason, attempt);
                            tx.execute("DELETE FROM event_jobs WHERE seq = ?1", params![seq])?;
                            insert_failed(&tx, &failed)?;
                            broken.push(failed.reason);
                        }
                    }
                }
                tx.commit()?;
                Ok((claimed, broken))
            })
            .await?;
        for reason in broken {
            tracing::error!(url = %self.url, %reason, "moved an unreadable job to the failed store");
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
        self.with(move |conn| {
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
            {
                let mut extend = tx.prepare_cached(
                    "UPDATE event_jobs SET reserved_until = ?1 WHERE seq = ?2 AND token = ?3",
                )?;
                let until = now_ms() + lease_ms;
                for r in &running {
                    extend.execute(params![until, seq_of(r), r.token])?;
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
        self.with(move |conn| {
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
            {
                let mut delete =
                    tx.prepare_cached("DELETE FROM event_jobs WHERE seq = ?1 AND token = ?2")?;
                for r in &done {
                    delete.execute(params![seq_of(r), r.token])?;
                }
            }
            tx.commit()
        })
        .await
    }

    async fn retry(&self, claimed: Claimed, envelope: JobEnvelope) -> Result<(), QueueError> {
        let payload = serde_json::to_string(&envelope).map_err(|e| self.error(e.to_string()))?;
        let receipt = claimed.receipt;
        self.with(move |conn| {
            conn.prepare_cached(
                "UPDATE event_jobs SET available_at = ?1, reserved_until = 0, token = NULL, payload = ?2
                 WHERE seq = ?3 AND token = ?4",
            )?
            .execute(params![envelope.available_at, payload, seq_of(&receipt), receipt.token])?;
            Ok(())
        })
        .await?;
        self.notify.notify_waiters();
        Ok(())
    }

    async fn fail(&self, receipt: Receipt, failed: FailedJob) -> Result<(), QueueError> {
        self.with(move |conn| {
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
            let removed = tx
                .prepare_cached("DELETE FROM event_jobs WHERE seq = ?1 AND token = ?2")?
                .execute(params![seq_of(&receipt), receipt.token])?;
            // A claim that expired belongs to another worker now.
            if removed == 1 {
                insert_failed(&tx, &failed)?;
            }
            tx.commit()
        })
        .await
    }

    async fn release(&self, claimed: Vec<Claimed>) -> Result<(), QueueError> {
        self.with(move |conn| {
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
            {
                let mut release = tx.prepare_cached(
                    "UPDATE event_jobs SET reserved_until = 0, token = NULL, attempts = attempts - 1
                     WHERE seq = ?1 AND token = ?2",
                )?;
                for c in &claimed {
                    release.execute(params![seq_of(&c.receipt), c.receipt.token])?;
                }
            }
            tx.commit()
        })
        .await?;
        self.notify.notify_waiters();
        Ok(())
    }

    async fn size(&self) -> Result<usize, QueueError> {
        self.with(|conn| {
            conn.query_row("SELECT COUNT(*) FROM event_jobs", [], |r| {
                r.get::<_, i64>(0)
            })
        })
        .await
        .map(|n| n as usize)
    }

    async fn clear(&self) -> Result<usize, QueueError> {
        self.with(|conn| conn.execute("DELETE FROM event_jobs", []))
            .await
    }

    async fn failed_list(&self) -> Result<Vec<FailedJob>, QueueError> {
        self.with(|conn| {
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
        self.with(move |conn| {
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
        self.with(move |conn| insert_failed(conn, &failed)).await
    }

    async fn failed_forget(&self, id: &str) -> Result<bool, QueueError> {
        let id = id.to_string();
        self.with(move |conn| {
            conn.execute("DELETE FROM event_failed_jobs WHERE id = ?1", params![id])
        })
        .await
        .map(|n| n > 0)
    }

    async fn failed_purge(&self) -> Result<usize, QueueError> {
        self.with(|conn| conn.execute("DELETE FROM event_failed_jobs", []))
            .await
    }
}
