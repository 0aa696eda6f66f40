//! The `sqlite` connection's monitoring, kept by the database as jobs are
//! written: triggers on the jobs and failed-jobs tables keep per-queue
//! counters in the same transaction as each write, so no read counts jobs.
//!
//! - `event_queue_state` (a row per queue): `jobs` (rows in the jobs
//!   table), `claimed` (rows a worker holds), `failed` (rows in the failed
//!   store), `paused`.
//! - `event_queue_due` (a row per queue and second): jobs written with an
//!   `available_at` still in the future, by the second they become due.
//!   `delayed` sums the rows after the current second; rows in the past are
//!   pruned.
//! - The partial index `event_jobs_ready (queue, available_at) WHERE token
//!   IS NULL`: its first entry is the oldest unclaimed job (one seek).
//! - `event_queue_tallies`: the workers' tallies per resolution, period,
//!   queue and job, added by upsert. Bounded per queue and job name: 2,880
//!   minute rows (48 h) and 2,160 hour rows (90 days), ~600 bytes each.
//! - `event_queue_workers`, `event_queue_signals`: beats and the restart
//!   request.
//!
//! So: pending = jobs − claimed − delayed; running = claimed (a job whose
//! worker died counts until its lease expires and another claims it).

use std::sync::OnceLock;
use std::sync::atomic::Ordering;

use async_trait::async_trait;
use rusqlite::{Connection, OptionalExtension, TransactionBehavior, params};

use super::SqliteBackend;
use crate::QueueError;
use crate::job::now_ms;
use crate::monitor::{
    BUCKETS, Histogram, Monitoring, QueueGauge, Resolution, Signals, Tally, WorkerBeat,
};

/// Milliseconds since the epoch, in SQL.
const NOW_MS: &str = "CAST((julianday('now') - 2440587.5) * 86400000.0 AS INTEGER)";

fn schema() -> String {
    let buckets: String = (0..BUCKETS)
        .map(|i| format!("w{i} INTEGER NOT NULL DEFAULT 0, r{i} INTEGER NOT NULL DEFAULT 0,"))
        .collect();
    format!(
        "
CREATE TABLE IF NOT EXISTS event_queue_state (
    queue   TEXT    PRIMARY KEY,
    jobs    INTEGER NOT NULL DEFAULT 0,
    claimed INTEGER NOT NULL DEFAULT 0,
    failed  INTEGER NOT NULL DEFAULT 0,
    paused  INTEGER NOT NULL DEFAULT 0
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS event_queue_due (
    queue TEXT    NOT NULL,
    at_s  INTEGER NOT NULL,
    n     INTEGER NOT NULL,
    PRIMARY KEY (queue, at_s)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS event_jobs_ready ON event_jobs (queue, available_at) WHERE token IS NULL;
CREATE TABLE IF NOT EXISTS event_queue_tallies (
    res       TEXT    NOT NULL,
    start_ms  INTEGER NOT NULL,
    queue     TEXT    NOT NULL,
    job       TEXT    NOT NULL,
    processed INTEGER NOT NULL DEFAULT 0,
    failed    INTEGER NOT NULL DEFAULT 0,
    retried   INTEGER NOT NULL DEFAULT 0,
    {buckets}
    PRIMARY KEY (res, start_ms, queue, job)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS event_queue_workers (
    id           TEXT    PRIMARY KEY,
    last_beat_ms INTEGER NOT NULL,
    beat         TEXT    NOT NULL
);
CREATE TABLE IF NOT EXISTS event_queue_leases (
    name     TEXT    PRIMARY KEY,
    holder   TEXT    NOT NULL,
    until_ms INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS event_queue_alerts (
    key      TEXT    PRIMARY KEY,
    since_ms INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS event_completed_jobs (
    seq        INTEGER PRIMARY KEY AUTOINCREMENT,
    done_at_ms INTEGER NOT NULL,
    id         TEXT    NOT NULL,
    name       TEXT    NOT NULL,
    queue      TEXT    NOT NULL,
    wait_ms    INTEGER NOT NULL,
    run_ms     INTEGER NOT NULL,
    attempts   INTEGER NOT NULL,
    worker     TEXT    NOT NULL
);
CREATE INDEX IF NOT EXISTS event_completed_recent ON event_completed_jobs (done_at_ms);
CREATE TABLE IF NOT EXISTS event_queue_signals (
    name  TEXT    PRIMARY KEY,
    value INTEGER NOT NULL
);
CREATE TRIGGER IF NOT EXISTS event_jobs_counted_insert AFTER INSERT ON event_jobs BEGIN
    INSERT INTO event_queue_state (queue, jobs, claimed) VALUES (NEW.queue, 1, NEW.token IS NOT NULL)
        ON CONFLICT (queue) DO UPDATE SET jobs = jobs + 1, claimed = claimed + excluded.claimed;
END;
CREATE TRIGGER IF NOT EXISTS event_jobs_counted_insert_delayed AFTER INSERT ON event_jobs
    WHEN NEW.available_at > {NOW_MS} BEGIN
    INSERT INTO event_queue_due (queue, at_s, n) VALUES (NEW.queue, NEW.available_at / 1000, 1)
        ON CONFLICT (queue, at_s) DO UPDATE SET n = n + 1;
END;
CREATE TRIGGER IF NOT EXISTS event_jobs_counted_delete AFTER DELETE ON event_jobs BEGIN
    UPDATE event_queue_state SET jobs = jobs - 1, claimed = claimed - (OLD.token IS NOT NULL)
        WHERE queue = OLD.queue;
END;
CREATE TRIGGER IF NOT EXISTS event_jobs_counted_delete_delayed AFTER DELETE ON event_jobs
    WHEN OLD.token IS NULL AND OLD.available_at > {NOW_MS} BEGIN
    UPDATE event_queue_due SET n = n - 1
        WHERE queue = OLD.queue AND at_s = OLD.available_at / 1000;
END;
CREATE TRIGGER IF NOT EXISTS event_jobs_counted_claim AFTER UPDATE OF token ON event_jobs
    WHEN (NEW.token IS NULL) != (OLD.token IS NULL) BEGIN
    UPDATE event_queue_state SET claimed = claimed + (NEW.token IS NOT NULL) - (OLD.token IS NOT NULL)
        WHERE queue = NEW.queue;
END;
CREATE TRIGGER IF NOT EXISTS event_jobs_counted_due AFTER UPDATE OF available_at ON event_jobs
    WHEN NEW.available_at != OLD.available_at BEGIN
    UPDATE event_queue_due SET n = n - 1
        WHERE queue = OLD.queue AND at_s = OLD.available_at / 1000 AND OLD.available_at > {NOW_MS};
    INSERT INTO event_queue_due (queue, at_s, n)
        SELECT NEW.queue, NEW.available_at / 1000, 1 WHERE NEW.available_at > {NOW_MS}
        ON CONFLICT (queue, at_s) DO UPDATE SET n = n + 1;
END;
CREATE TRIGGER IF NOT EXISTS event_failed_counted_insert AFTER INSERT ON event_failed_jobs BEGIN
    INSERT INTO event_queue_state (queue, failed) VALUES (NEW.queue, 1)
        ON CONFLICT (queue) DO UPDATE SET failed = failed + 1;
END;
CREATE TRIGGER IF NOT EXISTS event_failed_counted_delete AFTER DELETE ON event_failed_jobs BEGIN
    UPDATE event_queue_state SET failed = failed - 1 WHERE queue = OLD.queue;
END;
CREATE TRIGGER IF NOT EXISTS event_failed_counted_move AFTER UPDATE OF queue ON event_failed_jobs
    WHEN NEW.queue != OLD.queue BEGIN
    UPDATE event_queue_state SET failed = failed - 1 WHERE queue = OLD.queue;
    INSERT INTO event_queue_state (queue, failed) VALUES (NEW.queue, 1)
        ON CONFLICT (queue) DO UPDATE SET failed = failed + 1;
END;
"
    )
}

/// Creates the monitoring tables and triggers; when the counters are new
/// and jobs exist (a database from an older build), counts them once.
pub(super) fn create(conn: &mut Connection) -> rusqlite::Result<()> {
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    let existed: bool = tx.query_row(
        "SELECT EXISTS (SELECT 1 FROM sqlite_master WHERE name = 'event_queue_state')",
        [],
        |r| r.get(0),
    )?;
    tx.execute_batch(&schema())?;
    if !existed {
        tx.execute_batch(&format!(
            "INSERT INTO event_queue_state (queue, jobs, claimed)
                 SELECT queue, count(*), sum(token IS NOT NULL) FROM event_jobs GROUP BY queue;
             INSERT INTO event_queue_state (queue, failed)
                 SELECT queue, count(*) FROM event_failed_jobs GROUP BY queue
                 ON CONFLICT (queue) DO UPDATE SET failed = excluded.failed;
             INSERT INTO event_queue_due (queue, at_s, n)
                 SELECT queue, available_at / 1000, count(*) FROM event_jobs
                 WHERE available_at > {NOW_MS} GROUP BY queue, available_at / 1000;"
        ))?;
    }
    tx.commit()
}

/// The upsert that adds one tally to its period.
fn upsert_sql() -> &'static str {
    static SQL: OnceLock<String> = OnceLock::new();
    SQL.get_or_init(|| {
        let columns: Vec<String> = ["processed", "failed", "retried"]
            .into_iter()
            .map(String::from)
            .chain((0..BUCKETS).map(|i| format!("w{i}")))
            .chain((0..BUCKETS).map(|i| format!("r{i}")))
            .collect();
        let marks: Vec<String> = (5..5 + columns.len()).map(|i| format!("?{i}")).collect();
        let adds: Vec<String> = columns
            .iter()
            .map(|c| format!("{c} = {c} + excluded.{c}"))
            .collect();
        format!(
            "INSERT INTO event_queue_tallies (res, start_ms, queue, job, {}) VALUES (?1, ?2, ?3, ?4, {})
             ON CONFLICT (res, start_ms, queue, job) DO UPDATE SET {}",
            columns.join(", "),
            marks.join(", "),
            adds.join(", ")
        )
    })
}

fn select_tallies_sql() -> &'static str {
    static SQL: OnceLock<String> = OnceLock::new();
    SQL.get_or_init(|| {
        let buckets: Vec<String> = (0..BUCKETS)
            .map(|i| format!("w{i}"))
            .chain((0..BUCKETS).map(|i| format!("r{i}")))
            .collect();
        format!(
            "SELECT start_ms, queue, job, processed, failed, retried, {} FROM event_queue_tallies
             WHERE res = ?1 AND start_ms >= ?2",
            buckets.join(", ")
        )
    })
}

fn tally_from_row(row: &rusqlite::Row<'_>) -> rusqlite::Result<Tally> {
    let mut tally = Tally::new(
        row.get::<_, String>(1)?,
        row.get::<_, String>(2)?,
        row.get(0)?,
    );
    tally.processed = row.get::<_, i64>(3)? as u64;
    tally.failed = row.get::<_, i64>(4)? as u64;
    tally.retried = row.get::<_, i64>(5)? as u64;
    let mut wait = Histogram::default();
    let mut run = Histogram::default();
    for i in 0..BUCKETS {
        wait.counts[i] = row.get::<_, i64>(6 + i)? as u64;
        run.counts[i] = row.get::<_, i64>(6 + BUCKETS + i)? as u64;
    }
    tally.wait = wait;
    tally.run = run;
    Ok(tally)
}

/// Each queue's state: its counters, the delayed jobs of the seconds to
/// come, and one seek of the partial index for the oldest unclaimed job.
pub(super) const GAUGES: &str = "SELECT s.queue, s.jobs, s.claimed, s.failed, s.paused,
    (SELECT coalesce(sum(d.n), 0) FROM event_queue_due d
     WHERE d.queue = s.queue AND d.at_s > ?1),
    (SELECT min(j.available_at) FROM event_jobs j
     WHERE j.queue = s.queue AND j.token IS NULL)
 FROM event_queue_state s ORDER BY s.queue";

/// How often a process prunes periods past retention (ms).
const PRUNE_EVERY_MS: i64 = 60_000;

#[async_trait]
impl Monitoring for SqliteBackend {
    async fn record(&self, tallies: Vec<Tally>) -> Result<(), QueueError> {
        let now = now_ms();
        let prune = now - self.pruned_at.load(Ordering::Relaxed) >= PRUNE_EVERY_MS;
        if prune {
            self.pruned_at.store(now, Ordering::Relaxed);
        }
        self.with("record the queue's figures", move |conn| {
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
            {
                let mut upsert = tx.prepare_cached(upsert_sql())?;
                for tally in &tallies {
                    for resolution in Resolution::ALL {
                        let mut values: Vec<i64> = Vec::with_capacity(3 + 2 * BUCKETS);
                        values.extend(
                            [tally.processed, tally.failed, tally.retried].map(|n| n as i64),
                        );
                        values.extend(tally.wait.counts.iter().map(|&n| n as i64));
                        values.extend(tally.run.counts.iter().map(|&n| n as i64));
                        let mut params: Vec<&dyn rusqlite::ToSql> =
                            Vec::with_capacity(4 + values.len());
                        let code = resolution.code();
                        let start = resolution.start_of(tally.start_ms);
                        params.push(&code);
                        params.push(&start);
                        params.push(&tally.queue);
                        params.push(&tally.job);
                        for v in &values {
                            params.push(v);
                        }
                        upsert.execute(params.as_slice())?;
                    }
                }
            }
            if prune {
                for resolution in Resolution::ALL {
                    let oldest = now - resolution.retention().as_millis() as i64;
                    tx.execute(
                        "DELETE FROM event_queue_tallies WHERE res = ?1 AND start_ms < ?2",
                        params![resolution.code(), oldest],
                    )?;
                }
                tx.execute(
                    "DELETE FROM event_queue_due WHERE at_s < ?1 OR n <= 0",
                    params![now / 1000],
                )?;
            }
            tx.commit()
        })
        .await
    }

    async fn tallies(
        &self,
        resolution: Resolution,
        since_ms: i64,
    ) -> Result<Vec<Tally>, QueueError> {
        self.with("read the queue's figures", move |conn| {
            let mut select = conn.prepare_cached(select_tallies_sql())?;
            let rows = select.query_map(params![resolution.code(), since_ms], tally_from_row)?;
            rows.collect()
        })
        .await
    }

    async fn gauges(&self) -> Result<Vec<QueueGauge>, QueueError> {
        let now = now_ms();
        self.with("read the queues' state", move |conn| {
            let mut select = conn.prepare_cached(GAUGES)?;
            let rows = select.query_map(params![now / 1000], |r| {
                let jobs: i64 = r.get(1)?;
                let claimed: i64 = r.get(2)?;
                let delayed: i64 = r.get(5)?;
                let oldest: Option<i64> =
                    r.get::<_, rusqlite::types::Value>(6).map(|v| match v {
                        rusqlite::types::Value::Integer(n) => Some(n),
                        _ => None,
                    })?;
                let delayed = delayed.clamp(0, (jobs - claimed).max(0));
                Ok(QueueGauge {
                    queue: r.get(0)?,
                    pending: (jobs - claimed - delayed).max(0) as u64,
                    delayed: delayed as u64,
                    running: claimed.max(0) as u64,
                    failed: r.get::<_, i64>(3)?.max(0) as u64,
                    paused: r.get::<_, i64>(4)? != 0,
                    oldest_pending_ms: oldest
                        .filter(|&at| at <= now)
                        .map_or(0, |at| (now - at) as u64),
                })
            })?;
            rows.collect()
        })
        .await
    }

    async fn set_paused(&self, queue: &str, paused: bool) -> Result<(), QueueError> {
        let queue = queue.to_string();
        self.with("pause or resume a queue", move |conn| {
            conn.execute(
                "INSERT INTO event_queue_state (queue, paused) VALUES (?1, ?2)
                 ON CONFLICT (queue) DO UPDATE SET paused = excluded.paused",
                params![queue, paused],
            )
        })
        .await?;
        self.notify.notify_waiters();
        Ok(())
    }

    async fn signals(&self) -> Result<Signals, QueueError> {
        self.with("read the paused queues", |conn| {
            let paused = conn
                .prepare_cached(
                    "SELECT queue FROM event_queue_state WHERE paused != 0 ORDER BY queue",
                )?
                .query_map([], |r| r.get(0))?
                .collect::<rusqlite::Result<Vec<String>>>()?;
            let restart_at_ms = conn
                .prepare_cached("SELECT value FROM event_queue_signals WHERE name = 'restart_at'")?
                .query_row([], |r| r.get(0))
                .optional()?;
            Ok(Signals {
                paused,
                restart_at_ms,
            })
        })
        .await
    }

    async fn request_restart(&self, at_ms: i64) -> Result<(), QueueError> {
        self.with("ask workers to restart", move |conn| {
            conn.execute(
                "INSERT INTO event_queue_signals (name, value) VALUES ('restart_at', ?1)
                 ON CONFLICT (name) DO UPDATE SET value = excluded.value",
                params![at_ms],
            )
        })
        .await
        .map(drop)
    }

    async fn beat(&self, beat: &WorkerBeat) -> Result<(), QueueError> {
        let json =
            serde_json::to_string(beat).map_err(|e| self.json("write a worker's beat", e))?;
        let (id, at) = (beat.id.clone(), beat.last_beat_ms);
        self.with("record a worker's beat", move |conn| {
            conn.execute(
                "INSERT INTO event_queue_workers (id, last_beat_ms, beat) VALUES (?1, ?2, ?3)
                 ON CONFLICT (id) DO UPDATE SET last_beat_ms = excluded.last_beat_ms, beat = excluded.beat",
                params![id, at, json],
            )
        })
        .await
        .map(drop)
    }

    async fn unregister(&self, id: &str) -> Result<(), QueueError> {
        let id = id.to_string();
        self.with("unregister a worker", move |conn| {
            conn.execute("DELETE FROM event_queue_workers WHERE id = ?1", params![id])
        })
        .await
        .map(drop)
    }

    async fn workers(&self) -> Result<Vec<WorkerBeat>, QueueError> {
        let now = now_ms();
        let beats: Vec<String> = self
            .with("list workers", |conn| {
                conn.prepare_cached("SELECT beat FROM event_queue_workers")?
                    .query_map([], |r| r.get(0))?
                    .collect()
            })
            .await?;
        let mut workers = Vec::new();
        let mut gone = Vec::new();
        for json in beats {
            match serde_json::from_str::<WorkerBeat>(&json) {
                Ok(beat) if beat.is_gone(now) => gone.push(beat.id),
                Ok(beat) => workers.push(beat),
                Err(e) => tracing::warn!(error = %e, "skipped a worker row that is not a beat"),
            }
        }
        if !gone.is_empty() {
            self.with("drop gone workers", move |conn| {
                let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
                for id in &gone {
                    tx.execute("DELETE FROM event_queue_workers WHERE id = ?1", params![id])?;
                }
                tx.commit()
            })
            .await?;
        }
        Ok(workers)
    }

    async fn clear_queue(&self, queue: &str) -> Result<u64, QueueError> {
        let queue = queue.to_string();
        self.with("clear a queue", move |conn| {
            conn.execute(
                "DELETE FROM event_jobs WHERE queue = ?1 AND token IS NULL",
                params![queue],
            )
        })
        .await
        .map(|n| n as u64)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What SQLite plans for `sql`, one line per step.
    fn plan(conn: &Connection, sql: &str, params: &[&dyn rusqlite::ToSql]) -> Vec<String> {
        conn.prepare(&format!("EXPLAIN QUERY PLAN {sql}"))
            .unwrap()
            .query_map(params, |r| r.get::<_, String>(3))
            .unwrap()
            .collect::<rusqlite::Result<_>>()
            .unwrap()
    }

    #[test]
    fn the_reads_walk_indexes_never_the_jobs_table() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("jobs.db");
        let backend = SqliteBackend::open("sqlite://jobs.db", path.to_str().unwrap()).unwrap();
        let conn = backend.conn.lock().unwrap();
        let gauges = plan(&conn, GAUGES, &[&0i64]);
        assert!(
            gauges
                .iter()
                .all(|step| !step.starts_with("SCAN j") && !step.contains("SCAN event_jobs")),
            "{gauges:?}"
        );
        assert!(
            gauges.iter().any(|step| step.contains("event_jobs_ready")),
            "{gauges:?}"
        );
        let tallies = plan(&conn, select_tallies_sql(), &[&"m", &0i64]);
        assert!(
            tallies.iter().all(|step| !step.starts_with("SCAN")),
            "{tallies:?}"
        );
    }
}
