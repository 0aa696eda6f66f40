//! The `sqlite` connection's log of completed jobs: `event_completed_jobs`
//! (created with the monitoring's tables), trimmed to the latest
//! [`KEPT`] of the last [`KEPT_FOR`] as it is written.

use async_trait::async_trait;
use rusqlite::{TransactionBehavior, params};

use super::SqliteBackend;
use crate::QueueError;
use crate::job::now_ms;
use crate::monitor::{CompletedJob, CompletedLog, KEPT, KEPT_FOR};

#[async_trait]
impl CompletedLog for SqliteBackend {
    async fn record_completed(&self, jobs: Vec<CompletedJob>) -> Result<(), QueueError> {
        if jobs.is_empty() {
            return Ok(());
        }
        let oldest = now_ms() - KEPT_FOR.as_millis() as i64;
        self.with("record completed jobs", move |conn| {
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
            {
                let mut insert = tx.prepare_cached(
                    "INSERT INTO event_completed_jobs (done_at_ms, id, name, queue, wait_ms, run_ms, attempts, worker)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
                )?;
                for j in &jobs {
                    insert.execute(params![
                        j.done_at_ms,
                        j.id,
                        j.name,
                        j.queue,
                        j.wait_ms as i64,
                        j.run_ms as i64,
                        j.attempts,
                        j.worker
                    ])?;
                }
            }
            // Bounded by the primary key's range: no count of the rows.
            tx.execute(
                "DELETE FROM event_completed_jobs
                 WHERE seq <= (SELECT max(seq) FROM event_completed_jobs) - ?1 OR done_at_ms < ?2",
                params![KEPT as i64, oldest],
            )?;
            tx.commit()
        })
        .await
    }

    async fn completed(
        &self,
        limit: usize,
        before_ms: Option<i64>,
    ) -> Result<Vec<CompletedJob>, QueueError> {
        self.with("list completed jobs", move |conn| {
            conn.prepare_cached(
                "SELECT done_at_ms, id, name, queue, wait_ms, run_ms, attempts, worker FROM event_completed_jobs
                 WHERE done_at_ms < ?1 ORDER BY done_at_ms DESC, seq DESC LIMIT ?2",
            )?
            .query_map(params![before_ms.unwrap_or(i64::MAX), limit as i64], |r| {
                Ok(CompletedJob {
                    done_at_ms: r.get(0)?,
                    id: r.get(1)?,
                    name: r.get(2)?,
                    queue: r.get(3)?,
                    wait_ms: r.get::<_, i64>(4)?.max(0) as u64,
                    run_ms: r.get::<_, i64>(5)?.max(0) as u64,
                    attempts: r.get(6)?,
                    worker: r.get(7)?,
                })
            })?
            .collect()
        })
        .await
    }
}
