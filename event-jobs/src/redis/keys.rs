//! The key layout of the `redis` connection: every key under the hash tag
//! `{prefix}`, the queue a stream key belongs to, and listing the streams
//! (from the queue set; SCAN only once, for a prefix an older version wrote).

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

    /// Every key under the prefix matching `pattern` (SCAN: only to count a
    /// prefix an older version wrote, once).
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

    /// Every queue's streams: its priority-0 stream and one per priority
    /// it has seen, from the queue set and the priority sets the writes
    /// keep (no SCAN).
    pub(super) async fn streams(&self) -> Result<Vec<String>, QueueError> {
        let mut conn = self.conn.clone();
        let queues: Vec<String> = redis::cmd("SMEMBERS")
            .arg(self.key("queues"))
            .query_async(&mut conn)
            .await
            .map_err(self.redis("list the queues"))?;
        if queues.is_empty() {
            return Ok(Vec::new());
        }
        let mut pipe = redis::pipe();
        for queue in &queues {
            pipe.cmd("ZRANGE")
                .arg(self.key(&format!("p:{queue}")))
                .arg(0)
                .arg(-1);
        }
        let priorities: Vec<Vec<String>> = pipe
            .query_async(&mut conn)
            .await
            .map_err(self.redis("list the queues' priorities"))?;
        let mut streams = Vec::new();
        for (queue, priorities) in queues.iter().zip(priorities) {
            streams.push(self.key(&format!("s:{queue}:0")));
            for p in priorities.into_iter().filter(|p| p != "0") {
                streams.push(self.key(&format!("s:{queue}:{p}")));
            }
        }
        Ok(streams)
    }
}
