//! The counters and locks of job middleware, and unique jobs' locks, in
//! the connection's schema (`event_job_counters`, `event_job_locks`), so
//! every process and machine using the queue shares them.

use std::time::Duration;

use async_trait::async_trait;

use super::PostgresBackend;
use super::pool::Via;
use crate::QueueError;
use crate::job::now_ms;
use crate::middleware::MiddlewareStore;

/// The tables and statements for one schema.
#[derive(Debug)]
pub(super) struct StoreSql {
    pub ddl: String,
    hit: String,
    hits: String,
    clear_hits: String,
    try_lock: String,
    unlock: String,
}

impl StoreSql {
    /// `s`: the quoted schema.
    pub(super) fn new(s: &str) -> Self {
        let counters = format!("{s}.event_job_counters");
        let locks = format!("{s}.event_job_locks");
        Self {
            ddl: format!(
                "CREATE TABLE IF NOT EXISTS {counters} (
                     key        text PRIMARY KEY,
                     hits       int8 NOT NULL,
                     expires_at int8 NOT NULL);
                 CREATE TABLE IF NOT EXISTS {locks} (
                     key        text PRIMARY KEY,
                     owner      text NOT NULL,
                     expires_at int8 NOT NULL);"
            ),
            // A window that ran out starts again at this hit. $1 key,
            // $2 now, $3 the window's end if it starts now.
            hit: format!(
                "INSERT INTO {counters} AS c (key, hits, expires_at) VALUES ($1, 1, $3)
                 ON CONFLICT (key) DO UPDATE SET
                     hits = CASE WHEN c.expires_at <= $2 THEN 1 ELSE c.hits + 1 END,
                     expires_at = CASE WHEN c.expires_at <= $2 THEN $3 ELSE c.expires_at END
                 RETURNING hits, expires_at"
            ),
            hits: format!("SELECT hits, expires_at FROM {counters} WHERE key = $1 AND expires_at > $2"),
            clear_hits: format!("DELETE FROM {counters} WHERE key = $1"),
            // Taken when free or expired. $1 key, $2 owner, $3 until, $4 now.
            try_lock: format!(
                "INSERT INTO {locks} AS l (key, owner, expires_at) VALUES ($1, $2, $3)
                 ON CONFLICT (key) DO UPDATE SET owner = excluded.owner, expires_at = excluded.expires_at
                 WHERE l.expires_at <= $4"
            ),
            unlock: format!("DELETE FROM {locks} WHERE key = $1 AND owner = $2"),
        }
    }
}

fn ms(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX / 2)
}

fn left(expires_at: i64, now: i64) -> Duration {
    Duration::from_millis((expires_at - now).max(0) as u64)
}

const ACTION: &str = "cannot update job middleware state";

#[async_trait]
impl MiddlewareStore for PostgresBackend {
    async fn hit(&self, key: &str, window: Duration) -> Result<(u64, Duration), QueueError> {
        let inner = &self.inner;
        let now = now_ms();
        let until = now.saturating_add(ms(window));
        let rows = inner
            .query(
                Via::Worker,
                ACTION,
                &inner.tables.store.hit,
                &[&key, &now, &until],
            )
            .await?;
        let (hits, expires_at): (i64, i64) =
            rows.first().map_or((1, until), |r| (r.get(0), r.get(1)));
        Ok((hits.max(0) as u64, left(expires_at, now)))
    }

    async fn hits(&self, key: &str) -> Result<(u64, Duration), QueueError> {
        let inner = &self.inner;
        let now = now_ms();
        let rows = inner
            .query(Via::Worker, ACTION, &inner.tables.store.hits, &[&key, &now])
            .await?;
        Ok(rows.first().map_or((0, Duration::ZERO), |r| {
            let (hits, expires_at): (i64, i64) = (r.get(0), r.get(1));
            (hits.max(0) as u64, left(expires_at, now))
        }))
    }

    async fn clear_hits(&self, key: &str) -> Result<(), QueueError> {
        let inner = &self.inner;
        inner
            .execute(Via::Worker, ACTION, &inner.tables.store.clear_hits, &[&key])
            .await
            .map(drop)
    }

    async fn try_lock(&self, key: &str, owner: &str, ttl: Duration) -> Result<bool, QueueError> {
        let inner = &self.inner;
        let now = now_ms();
        let until = now.saturating_add(ms(ttl));
        let taken = inner
            .execute(
                Via::Worker,
                ACTION,
                &inner.tables.store.try_lock,
                &[&key, &owner, &until, &now],
            )
            .await?;
        Ok(taken == 1)
    }

    async fn unlock(&self, key: &str, owner: &str) -> Result<(), QueueError> {
        let inner = &self.inner;
        inner
            .execute(
                Via::Worker,
                ACTION,
                &inner.tables.store.unlock,
                &[&key, &owner],
            )
            .await
            .map(drop)
    }
}
