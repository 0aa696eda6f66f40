//! The counters and locks of job middleware in Redis, so every worker on
//! the prefix shares them.

use std::time::Duration;

use async_trait::async_trait;
use redis::Script;

use super::RedisBackend;
use crate::QueueError;
use crate::middleware::MiddlewareStore;

/// INCR, starting the window on the first hit; returns {hits, ms left}.
const HIT: &str = r"
local n = redis.call('INCR', KEYS[1])
local ttl = redis.call('PTTL', KEYS[1])
if n == 1 or ttl < 0 then
  redis.call('PEXPIRE', KEYS[1], ARGV[1])
  ttl = tonumber(ARGV[1])
end
return {n, ttl}
";

/// Deletes the lock only if `owner` holds it.
const UNLOCK: &str = r"
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
";

fn ms(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX / 2).max(1)
}

impl RedisBackend {
    fn middleware_key(&self, key: &str) -> String {
        self.key(&format!("middleware:{key}"))
    }
}

#[async_trait]
impl MiddlewareStore for RedisBackend {
    async fn hit(&self, key: &str, window: Duration) -> Result<(u64, Duration), QueueError> {
        let mut conn = self.conn.clone();
        let (hits, left): (u64, i64) = Script::new(HIT)
            .key(self.middleware_key(key))
            .arg(ms(window))
            .invoke_async(&mut conn)
            .await
            .map_err(self.redis("update middleware state"))?;
        Ok((hits, Duration::from_millis(left.max(0) as u64)))
    }

    async fn hits(&self, key: &str) -> Result<(u64, Duration), QueueError> {
        let mut conn = self.conn.clone();
        let key = self.middleware_key(key);
        let (hits, left): (Option<u64>, i64) = redis::pipe()
            .get(&key)
            .pttl(&key)
            .query_async(&mut conn)
            .await
            .map_err(self.redis("update middleware state"))?;
        Ok((hits.unwrap_or(0), Duration::from_millis(left.max(0) as u64)))
    }

    async fn clear_hits(&self, key: &str) -> Result<(), QueueError> {
        let mut conn = self.conn.clone();
        let _: i64 = redis::cmd("DEL")
            .arg(self.middleware_key(key))
            .query_async(&mut conn)
            .await
            .map_err(self.redis("update middleware state"))?;
        Ok(())
    }

    async fn try_lock(&self, key: &str, owner: &str, ttl: Duration) -> Result<bool, QueueError> {
        let mut conn = self.conn.clone();
        let set: Option<String> = redis::cmd("SET")
            .arg(self.middleware_key(key))
            .arg(owner)
            .arg("NX")
            .arg("PX")
            .arg(ms(ttl))
            .query_async(&mut conn)
            .await
            .map_err(self.redis("update middleware state"))?;
        Ok(set.is_some())
    }

    async fn unlock(&self, key: &str, owner: &str) -> Result<(), QueueError> {
        let mut conn = self.conn.clone();
        let _: i64 = Script::new(UNLOCK)
            .key(self.middleware_key(key))
            .arg(owner)
            .invoke_async(&mut conn)
            .await
            .map_err(self.redis("update middleware state"))?;
        Ok(())
    }
}
