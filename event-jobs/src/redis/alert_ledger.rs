//! The `redis` connection's alert ledger: the leases in `{p}:leases`
//! (name -> `<until ms>\n<holder>`, taken or renewed by a script so two
//! processes never both hold one), the raised alerts in the set
//! `{p}:raised`.

use async_trait::async_trait;
use redis::{AsyncCommands, Script};

use super::RedisBackend;
use crate::QueueError;
use crate::monitor::AlertLedger;

/// Takes the lease ARGV[1] for ARGV[2] until ARGV[4] when it is free,
/// expired at ARGV[3], or already the holder's; replies 1 when taken.
pub(super) const LEASE: &str = r"
local v = redis.call('HGET', KEYS[1], ARGV[1])
if v then
  local until_ms, holder = string.match(v, '^(%-?%d+)\n(.*)$')
  if holder and holder ~= ARGV[2] and tonumber(until_ms) > tonumber(ARGV[3]) then return 0 end
end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[4] .. '\n' .. ARGV[2])
return 1
";

#[async_trait]
impl AlertLedger for RedisBackend {
    async fn lease(
        &self,
        name: &str,
        holder: &str,
        now_ms: i64,
        until_ms: i64,
    ) -> Result<bool, QueueError> {
        let mut conn = self.conn.clone();
        let taken: i64 = Script::new(LEASE)
            .key(self.key("leases"))
            .arg(name)
            .arg(holder)
            .arg(now_ms)
            .arg(until_ms)
            .invoke_async(&mut conn)
            .await
            .map_err(self.redis("take the alerts' lease"))?;
        Ok(taken == 1)
    }

    async fn raised(&self) -> Result<Vec<String>, QueueError> {
        let mut conn = self.conn.clone();
        let mut raised: Vec<String> = conn
            .smembers(self.key("raised"))
            .await
            .map_err(self.redis("read the raised alerts"))?;
        raised.sort();
        Ok(raised)
    }

    async fn set_raised(&self, key: &str, raised: bool, _now_ms: i64) -> Result<(), QueueError> {
        let mut conn = self.conn.clone();
        let set = self.key("raised");
        let _: i64 = if raised {
            conn.sadd(set, key).await
        } else {
            conn.srem(set, key).await
        }
        .map_err(self.redis("raise or clear an alert"))?;
        Ok(())
    }
}
