//! The `postgres` connection's alert ledger: the lease naming the one
//! process that evaluates alerts (`event_queue_leases`), and the alerts
//! raised and not cleared (`event_queue_alerts`).

use async_trait::async_trait;

use super::PostgresBackend;
use super::pool::Via;
use crate::QueueError;
use crate::monitor::AlertLedger;

#[async_trait]
impl AlertLedger for PostgresBackend {
    async fn lease(
        &self,
        name: &str,
        holder: &str,
        now_ms: i64,
        until_ms: i64,
    ) -> Result<bool, QueueError> {
        let inner = &self.inner;
        let changed = inner
            .execute(
                Via::Worker,
                "cannot take the alerts' lease",
                &inner.tables.ledger.lease,
                &[&name, &holder, &until_ms, &now_ms],
            )
            .await?;
        Ok(changed == 1)
    }

    async fn raised(&self) -> Result<Vec<String>, QueueError> {
        let inner = &self.inner;
        let rows = inner
            .query(
                Via::Worker,
                "cannot read the raised alerts",
                &inner.tables.ledger.raised,
                &[],
            )
            .await?;
        Ok(rows.iter().map(|r| r.get(0)).collect())
    }

    async fn set_raised(&self, key: &str, raised: bool, now_ms: i64) -> Result<(), QueueError> {
        let inner = &self.inner;
        let ledger = &inner.tables.ledger;
        let action = "cannot raise or clear an alert";
        if raised {
            inner
                .execute(Via::Worker, action, &ledger.raise, &[&key, &now_ms])
                .await
        } else {
            inner
                .execute(Via::Worker, action, &ledger.clear, &[&key])
                .await
        }
        .map(drop)
    }
}
