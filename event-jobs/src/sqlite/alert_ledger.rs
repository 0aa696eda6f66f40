//! The `sqlite` connection's alert ledger: the alerts lease and the raised
//! alerts, in the tables `event_queue_leases` and `event_queue_alerts`
//! (created with the monitoring's, in `monitoring.rs`).

use async_trait::async_trait;
use rusqlite::params;

use super::SqliteBackend;
use crate::QueueError;
use crate::monitor::AlertLedger;

#[async_trait]
impl AlertLedger for SqliteBackend {
    async fn lease(
        &self,
        name: &str,
        holder: &str,
        now_ms: i64,
        until_ms: i64,
    ) -> Result<bool, QueueError> {
        let (name, holder) = (name.to_string(), holder.to_string());
        self.with("take the alerts' lease", move |conn| {
            // Taken when free, expired, or already ours.
            let changed = conn.execute(
                "INSERT INTO event_queue_leases (name, holder, until_ms) VALUES (?1, ?2, ?3)
                 ON CONFLICT (name) DO UPDATE SET holder = excluded.holder, until_ms = excluded.until_ms
                 WHERE event_queue_leases.holder = excluded.holder OR event_queue_leases.until_ms <= ?4",
                params![name, holder, until_ms, now_ms],
            )?;
            Ok(changed == 1)
        })
        .await
    }

    async fn raised(&self) -> Result<Vec<String>, QueueError> {
        self.with("read the raised alerts", |conn| {
            conn.prepare_cached("SELECT key FROM event_queue_alerts")?
                .query_map([], |r| r.get(0))?
                .collect()
        })
        .await
    }

    async fn set_raised(&self, key: &str, raised: bool, now_ms: i64) -> Result<(), QueueError> {
        let key = key.to_string();
        self.with("raise or clear an alert", move |conn| {
            if raised {
                conn.execute(
                    "INSERT OR IGNORE INTO event_queue_alerts (key, since_ms) VALUES (?1, ?2)",
                    params![key, now_ms],
                )
            } else {
                conn.execute(
                    "DELETE FROM event_queue_alerts WHERE key = ?1",
                    params![key],
                )
            }
        })
        .await
        .map(drop)
    }
}
