//! The counters and locks of job middleware in the sqlite file, so every
//! process that opens it shares them.

use std::time::Duration;

use async_trait::async_trait;
use rusqlite::{OptionalExtension, TransactionBehavior, params};

use super::SqliteBackend;
use crate::QueueError;
use crate::job::now_ms;
use crate::middleware::MiddlewareStore;

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS event_job_counters (
    key        TEXT    PRIMARY KEY,
    hits       INTEGER NOT NULL,
    expires_at INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS event_job_locks (
    key        TEXT    PRIMARY KEY,
    owner      TEXT    NOT NULL,
    expires_at INTEGER NOT NULL
);
";

fn ms(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX / 2)
}

fn left(expires_at: i64, now: i64) -> Duration {
    Duration::from_millis((expires_at - now).max(0) as u64)
}

#[async_trait]
impl MiddlewareStore for SqliteBackend {
    async fn hit(&self, key: &str, window: Duration) -> Result<(u64, Duration), QueueError> {
        let key = key.to_string();
        self.with("update middleware state", move |conn| {
            conn.execute_batch(SCHEMA)?;
            let now = now_ms();
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
            tx.execute(
                "DELETE FROM event_job_counters WHERE key = ?1 AND expires_at <= ?2",
                params![key, now],
            )?;
            tx.execute(
                "INSERT INTO event_job_counters (key, hits, expires_at) VALUES (?1, 1, ?2)
                 ON CONFLICT(key) DO UPDATE SET hits = hits + 1",
                params![key, now + ms(window)],
            )?;
            let (hits, expires_at): (i64, i64) = tx.query_row(
                "SELECT hits, expires_at FROM event_job_counters WHERE key = ?1",
                params![key],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )?;
            tx.commit()?;
            Ok((hits.max(0) as u64, left(expires_at, now)))
        })
        .await
    }

    async fn hits(&self, key: &str) -> Result<(u64, Duration), QueueError> {
        let key = key.to_string();
        self.with("update middleware state", move |conn| {
            conn.execute_batch(SCHEMA)?;
            let now = now_ms();
            let row: Option<(i64, i64)> = conn
                .query_row(
                    "SELECT hits, expires_at FROM event_job_counters WHERE key = ?1 AND expires_at > ?2",
                    params![key, now],
                    |r| Ok((r.get(0)?, r.get(1)?)),
                )
                .optional()?;
            Ok(row.map_or((0, Duration::ZERO), |(hits, expires_at)| {
                (hits.max(0) as u64, left(expires_at, now))
            }))
        })
        .await
    }

    async fn clear_hits(&self, key: &str) -> Result<(), QueueError> {
        let key = key.to_string();
        self.with("update middleware state", move |conn| {
            conn.execute_batch(SCHEMA)?;
            conn.execute(
                "DELETE FROM event_job_counters WHERE key = ?1",
                params![key],
            )?;
            Ok(())
        })
        .await
    }

    async fn try_lock(&self, key: &str, owner: &str, ttl: Duration) -> Result<bool, QueueError> {
        let (key, owner) = (key.to_string(), owner.to_string());
        self.with("update middleware state", move |conn| {
            conn.execute_batch(SCHEMA)?;
            let now = now_ms();
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
            tx.execute(
                "DELETE FROM event_job_locks WHERE key = ?1 AND expires_at <= ?2",
                params![key, now],
            )?;
            let taken = tx.execute(
                "INSERT OR IGNORE INTO event_job_locks (key, owner, expires_at) VALUES (?1, ?2, ?3)",
                params![key, owner, now + ms(ttl)],
            )?;
            tx.commit()?;
            Ok(taken == 1)
        })
        .await
    }

    async fn unlock(&self, key: &str, owner: &str) -> Result<(), QueueError> {
        let (key, owner) = (key.to_string(), owner.to_string());
        self.with("update middleware state", move |conn| {
            conn.execute_batch(SCHEMA)?;
            conn.execute(
                "DELETE FROM event_job_locks WHERE key = ?1 AND owner = ?2",
                params![key, owner],
            )?;
            Ok(())
        })
        .await
    }
}
