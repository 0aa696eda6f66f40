//! The `postgres` connection's log of completed jobs
//! (`event_completed_jobs`): the latest [`KEPT`](crate::monitor::KEPT) of
//! the last [`KEPT_FOR`](crate::monitor::KEPT_FOR), pruned as workers add
//! to it, read newest first through the index on `done_at_ms`.

use async_trait::async_trait;

use super::PostgresBackend;
use super::pool::Via;
use crate::QueueError;
use crate::job::now_ms;
use crate::monitor::{CompletedJob, CompletedLog};

fn as_i64(n: u64) -> i64 {
    n.min(i64::MAX as u64) as i64
}

#[async_trait]
impl CompletedLog for PostgresBackend {
    async fn record_completed(&self, jobs: Vec<CompletedJob>) -> Result<(), QueueError> {
        if jobs.is_empty() {
            return Ok(());
        }
        let inner = &self.inner;
        let done: Vec<i64> = jobs.iter().map(|j| j.done_at_ms).collect();
        let ids: Vec<&str> = jobs.iter().map(|j| j.id.as_str()).collect();
        let names: Vec<&str> = jobs.iter().map(|j| j.name.as_str()).collect();
        let queues: Vec<&str> = jobs.iter().map(|j| j.queue.as_str()).collect();
        let waits: Vec<i64> = jobs.iter().map(|j| as_i64(j.wait_ms)).collect();
        let runs: Vec<i64> = jobs.iter().map(|j| as_i64(j.run_ms)).collect();
        let attempts: Vec<i32> = jobs
            .iter()
            .map(|j| j.attempts.min(i32::MAX as u32) as i32)
            .collect();
        let workers: Vec<&str> = jobs.iter().map(|j| j.worker.as_str()).collect();
        let action = "cannot record completed jobs";
        inner
            .execute(
                Via::Worker,
                action,
                &inner.tables.ledger.record_completed,
                &[
                    &done, &ids, &names, &queues, &waits, &runs, &attempts, &workers,
                ],
            )
            .await?;
        inner
            .execute(
                Via::Worker,
                action,
                &inner.tables.ledger.prune_completed,
                &[&now_ms()],
            )
            .await
            .map(drop)
    }

    async fn completed(
        &self,
        limit: usize,
        before_ms: Option<i64>,
    ) -> Result<Vec<CompletedJob>, QueueError> {
        let inner = &self.inner;
        let limit = limit.min(i64::MAX as usize) as i64;
        let rows = inner
            .query(
                Via::Dispatch,
                "cannot list completed jobs",
                &inner.tables.ledger.completed,
                &[&limit, &before_ms],
            )
            .await?;
        Ok(rows
            .iter()
            .map(|r| CompletedJob {
                done_at_ms: r.get(0),
                id: r.get(1),
                name: r.get(2),
                queue: r.get(3),
                wait_ms: r.get::<_, i64>(4).max(0) as u64,
                run_ms: r.get::<_, i64>(5).max(0) as u64,
                attempts: r.get::<_, i32>(6).max(0) as u32,
                worker: r.get(7),
            })
            .collect())
    }
}
