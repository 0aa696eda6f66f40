//! The `redis` connection's log of completed jobs: the sorted set
//! `{p}:completed` (score: when the job finished, member: its JSON),
//! trimmed to the latest [`KEPT`] of the last [`KEPT_FOR`] in the same
//! MULTI as every addition, read newest first by score.

use async_trait::async_trait;

use super::RedisBackend;
use crate::QueueError;
use crate::job::now_ms;
use crate::monitor::{CompletedJob, CompletedLog, KEPT, KEPT_FOR};

#[async_trait]
impl CompletedLog for RedisBackend {
    async fn record_completed(&self, jobs: Vec<CompletedJob>) -> Result<(), QueueError> {
        if jobs.is_empty() {
            return Ok(());
        }
        let key = self.key("completed");
        let mut pipe = redis::pipe();
        pipe.atomic();
        for job in &jobs {
            let json =
                serde_json::to_string(job).map_err(|e| self.json("write a completed job", e))?;
            pipe.zadd(&key, json, job.done_at_ms).ignore();
        }
        let oldest = now_ms() - KEPT_FOR.as_millis() as i64;
        pipe.cmd("ZREMRANGEBYSCORE")
            .arg(&key)
            .arg("-inf")
            .arg(format!("({oldest}"))
            .ignore();
        pipe.cmd("ZREMRANGEBYRANK")
            .arg(&key)
            .arg(0)
            .arg(-(KEPT as i64) - 1)
            .ignore();
        let mut conn = self.conn.clone();
        pipe.query_async::<()>(&mut conn)
            .await
            .map_err(self.redis("record completed jobs"))
    }

    async fn completed(
        &self,
        limit: usize,
        before_ms: Option<i64>,
    ) -> Result<Vec<CompletedJob>, QueueError> {
        let max = before_ms.map_or_else(|| "+inf".to_string(), |b| format!("({b}"));
        let mut conn = self.conn.clone();
        let members: Vec<String> = redis::cmd("ZRANGE")
            .arg(self.key("completed"))
            .arg(max)
            .arg("-inf")
            .arg("BYSCORE")
            .arg("REV")
            .arg("LIMIT")
            .arg(0)
            .arg(limit)
            .query_async(&mut conn)
            .await
            .map_err(self.redis("list completed jobs"))?;
        Ok(members
            .iter()
            .filter_map(|m| serde_json::from_str(m).ok())
            .collect())
    }
}
