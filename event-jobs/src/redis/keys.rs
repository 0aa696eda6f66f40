//! The key layout of the `redis` connection: every key under the hash tag
//! `{prefix}`, the queue a stream key belongs to, and listing keys (SCAN).

use super::RedisBackend;
use crate::QueueError;

impl RedisBackend {
    pub(super) fn key(&self, rest: &str) -> String {
        format!("{}:{rest}", self.tag)
    }

    /// The queue a stream key belongs to (`{p}:s:<queue>:<priority>`).
    pub(super) fn queue_of(&self, stream: &str) -> String {
        stream
            .strip_prefix(&self.tag)
            .and_then(|rest| rest.strip_prefix(":s:"))
            .and_then(|rest| rest.rsplit_once(':'))
            .map_or_else(|| stream.to_string(), |(queue, _)| queue.to_string())
    }

    /// Every key under the prefix matching `pattern` (SCAN: for admin calls).
    pub(super) async fn scan(&self, pattern: &str) -> Result<Vec<String>, QueueError> {
        let mut conn = self.conn.clone();
        let pattern = self.key(pattern);
        let mut cursor: u64 = 0;
        let mut keys = Vec::new();
        loop {
            let (next, batch): (u64, Vec<String>) = redis::cmd("SCAN")
                .arg(cursor)
                .arg("MATCH")
                .arg(&pattern)
                .arg("COUNT")
                .arg(1000)
                .query_async(&mut conn)
                .await
                .map_err(self.redis("list queue keys"))?;
            keys.extend(batch);
            if next == 0 {
                return Ok(keys);
            }
            cursor = next;
        }
    }

    pub(super) async fn streams(&self) -> Result<Vec<String>, QueueError> {
        self.scan("s:*").await
    }
}
