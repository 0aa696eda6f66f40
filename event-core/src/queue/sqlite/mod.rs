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

mod store;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use rusqlite::types::Value;
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
type Reply = tokio::sync::oneshot::Sender<rusqlite::Result<()>>;

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
        let mut conn = conn.lock().unwrap_or_else(|e| e.into_inner());
        let together = insert_rows(&mut conn, batch.iter().flat_map(|(rows, _)| rows.iter()));
        match together {
            Ok(()) => {
                for (_, reply) in batch {
                    let _ = reply.send(Ok(()));
                }
            }
            // One request's failure must not fail the others sharing its
            // commit: each gets its own transaction and its own answer.
            Err(error) if batch.len() == 1 => {
                if let Some((_, reply)) = batch.pop() {
                    let _ = reply.send(Err(error));
                }
            }
            Err(_) => {
                for (rows, reply) in batch {
                    let _ = reply.send(insert_rows(&mut conn, rows.iter()));
                }
            }
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
        let sqlite = |source| QueueError::Sqlite {
            url: url.to_string(),
            action: "open the database",
            source,
        };
        let conn = Connection::open(path).map_err(sqlite)?;
        conn.busy_timeout(Duration::from_secs(30)).map_err(sqlite)?;
        conn.pragma_update(None, "journal_mode", "WAL")
            .map_err(sqlite)?;
        conn.pragma_update(None, "synchronous", "NORMAL")
            .map_err(sqlite)?;
        conn.execute_batch(SCHEMA).map_err(sqlite)?;
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

    /// Runs `work` on the connection in a blocking thread; `action` says
    /// what it does, in errors.
    async fn with<T, F>(&self, action: &'static str, work: F) -> Result<T, QueueError>
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
        .map_err(|e| self.error(format!("{action}: the database thread failed: {e}")))?;
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

/// One row a fetch selected, each column as SQLite holds it.
struct Selected {
    seq: i64,
    queue: String,
    priority: Value,
    attempts: Value,
    available_at: Value,
    reserved_until: Value,
    payload: Value,
}

/// A row that is not a runnable job, and what the failed store keeps of it.
struct Unreadable {
    failed: Box<FailedJob>,
}

/// What SQLite holds in a column, for a reason a user can read.
fn describe(value: &Value) -> String {
    match value {
        Value::Null => "NULL".to_string(),
        Value::Integer(n) => format!("the integer {n}"),
        Value::Real(x) => format!("the real number {x}"),
        Value::Text(t) => format!("the text {:?}", shorten(t)),
        Value::Blob(b) => format!("a BLOB of {} bytes", b.len()),
    }
}

fn shorten(text: &str) -> String {
    match text.char_indices().nth(80) {
        Some((end, _)) => format!("{}...", &text[..end]),
        None => text.to_string(),
    }
}

fn integer(column: &str, value: &Value) -> Result<i64, String> {
    match value {
        Value::Integer(n) => Ok(*n),
        other => Err(format!(
            "column `{column}` holds {}, expected an integer",
            describe(other)
        )),
    }
}

impl Selected {
    fn from_row(row: &rusqlite::Row<'_>, queue: &str) -> rusqlite::Result<Self> {
        Ok(Self {
            seq: row.get(0)?,
            queue: queue.to_string(),
            priority: row.get(1)?,
            attempts: row.get(2)?,
            available_at: row.get(3)?,
            reserved_until: row.get(4)?,
            payload: row.get(5)?,
        })
    }

    /// The envelope and the attempts made before this claim, or why the
    /// row cannot run.
    fn read(&self) -> Result<(JobEnvelope, u32), Unreadable> {
        let (envelope, payload_problem) = self.envelope();
        let attempts = integer("attempts", &self.attempts).and_then(|n| {
            u32::try_from(n).map_err(|_| format!("column `attempts` holds {n}, expected 0 or more"))
        });
        let problems: Vec<String> = [
            payload_problem,
            attempts.as_ref().err().cloned(),
            integer("priority", &self.priority).err(),
            integer("available_at", &self.available_at).err(),
            integer("reserved_until", &self.reserved_until).err(),
        ]
        .into_iter()
        .flatten()
        .collect();
        if let (Some(mut envelope), Ok(attempts), true) =
            (envelope.clone(), attempts, problems.is_empty())
        {
            envelope.attempts = attempts;
            return Ok((envelope, attempts));
        }
        let reason = format!(
            "job row {} of queue `{}` cannot be read: {}",
            self.seq,
            self.queue,
            problems.join("; ")
        );
        // A readable envelope is kept whole, so `queue:retry` runs it again
        // (written back with sound columns).
        let mut envelope = envelope.unwrap_or_else(|| {
            JobEnvelope::unreadable(
                format!("row-{}", self.seq),
                self.queue.clone(),
                &self.raw_payload(),
            )
        });
        envelope.queue.clone_from(&self.queue);
        envelope.attempts = 0;
        // Named after the row, not the envelope: two bad rows carrying the
        // same envelope must not replace each other in the failed store.
        let mut failed = FailedJob::new(envelope, reason, 0);
        failed.id = format!("row-{}", self.seq);
        Err(Unreadable {
            failed: Box::new(failed),
        })
    }

    /// The envelope, if the payload holds one, and what is wrong with the
    /// payload column, if anything. JSON stored as a BLOB is both: kept as
    /// the envelope, but still failed, since a fetch cannot tell what wrote it.
    fn envelope(&self) -> (Option<JobEnvelope>, Option<String>) {
        let parse = |text: &str| {
            serde_json::from_str::<JobEnvelope>(text)
                .map_err(|e| format!("the payload is not a job envelope: {e}"))
        };
        match &self.payload {
            Value::Text(text) => match parse(text) {
                Ok(envelope) => (Some(envelope), None),
                Err(problem) => (None, Some(problem)),
            },
            Value::Blob(bytes) => {
                let problem = format!(
                    "column `payload` holds a BLOB of {} bytes, expected the job's JSON text",
                    bytes.len()
                );
                let envelope = std::str::from_utf8(bytes).ok().and_then(|t| parse(t).ok());
                (envelope, Some(problem))
            }
            other => (
                None,
                Some(format!(
                    "column `payload` holds {}, expected the job's JSON text",
                    describe(other)
                )),
            ),
        }
    }

    fn raw_payload(&self) -> String {
        match &self.payload {
            Value::Text(text) => text.clone(),
            Value::Blob(bytes) => String::from_utf8_lossy(bytes).into_owned(),
            Value::Integer(n) => n.to_string(),
            Value::Real(x) => x.to_string(),
            Value::Null => String::new(),
        }
    }
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

/// A failed-job row, read whatever its columns hold: `queue:failed` must
/// list every record, including one another program wrote.
fn failed_from_row(row: &rusqlite::Row<'_>) -> rusqlite::Result<FailedJob> {
    let text = |i: usize| -> rusqlite::Result<String> {
        Ok(match row.get::<_, Value>(i)? {
            Value::Text(t) => t,
            Value::Blob(b) => String::from_utf8_lossy(&b).into_owned(),
            Value::Integer(n) => n.to_string(),
            Value::Real(x) => x.to_string(),
            Value::Null => String::new(),
        })
    };
    let number = |i: usize| -> rusqlite::Result<i64> {
        Ok(match row.get::<_, Value>(i)? {
            Value::Integer(n) => n,
            Value::Text(t) => t.trim().parse().unwrap_or(0),
            _ => 0,
        })
    };
    let id = text(0)?;
    let queue = text(1)?;
    let payload = text(2)?;
    let envelope = serde_json::from_str(&payload)
        .unwrap_or_else(|_| JobEnvelope::unreadable(id.clone(), queue.clone(), &payload));
    Ok(FailedJob {
        id,
        queue,
        payload: envelope,
        reason: text(3)?,
        attempts: u32::try_from(number(4)?).unwrap_or(0),
        failed_at: number(5)?,
    })
}

fn seq_of(receipt: &Receipt) -> i64 {
    receipt.key.parse().unwrap_or(-1)
}

/// Claims up to `max` runnable rows of `queues` in one transaction, and
/// moves the rows among them that cannot be read to the failed store.
fn claim(
    conn: &mut Connection,
    queues: &[String],
    max: usize,
    now: i64,
    lease_ms: i64,
    token: &str,
) -> rusqlite::Result<(Vec<Claimed>, Vec<FailedJob>)> {
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    let mut claimed = Vec::new();
    let mut unreadable = Vec::new();
    {
        // Times that are not integers never compare as due: select them too,
        // so they reach the failed store instead of waiting forever.
        let mut select = tx.prepare_cached(
            "SELECT seq, priority, attempts, available_at, reserved_until, payload FROM event_jobs
             WHERE queue = ?1 AND ((available_at <= ?2 AND reserved_until <= ?2)
                OR typeof(available_at) IN ('text', 'blob') OR typeof(reserved_until) IN ('text', 'blob'))
             ORDER BY priority DESC, seq LIMIT ?3",
        )?;
        let mut rows = Vec::new();
        for queue in queues {
            let want = max - rows.len();
            if want == 0 {
                break;
            }
            let found = select.query_map(params![queue, now, want as i64], |r| {
                Selected::from_row(r, queue)
            })?;
            for row in found {
                rows.push(row?);
            }
        }
        let mut take = tx.prepare_cached(
            "UPDATE event_jobs SET reserved_until = ?1, token = ?2, attempts = ?3 WHERE seq = ?4",
        )?;
        let mut remove = tx.prepare_cached("DELETE FROM event_jobs WHERE seq = ?1")?;
        for row in rows {
            match row.read() {
                Ok((envelope, before)) => {
                    let attempt = before.saturating_add(1);
                    take.execute(params![now + lease_ms, token, attempt, row.seq])?;
                    claimed.push(Claimed {
                        job: Job::from_envelope(envelope),
                        attempt,
                        receipt: Receipt {
                            key: row.seq.to_string(),
                            token: token.to_string(),
                        },
                    });
                }
                Err(Unreadable { failed }) => {
                    remove.execute(params![row.seq])?;
                    insert_failed(&tx, &failed)?;
                    unreadable.push(*failed);
                }
            }
        }
    }
    tx.commit()?;
    Ok((claimed, unreadable))
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
        self.with("acknowledge jobs", move |conn| {
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
        let payload = serde_json::to_string(&envelope).map_err(|e| self.json("write a job", e))?;
        let receipt = claimed.receipt;
        self.with("reschedule a job", move |conn| {
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
        self.with("move a job to the failed store", move |conn| {
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
        self.with("hand back jobs", move |conn| {
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
