//! The `redis` connection: Redis Streams with one consumer group, shared by
//! any number of worker processes on any number of machines.
//!
//! Layout (all keys share the hash tag `{prefix}`, so a cluster keeps them in
//! one slot):
//! - `{p}:s:<queue>:<priority>`: a stream per queue and priority; an entry's
//!   field `job` is the envelope JSON. Workers read with XREADGROUP (group
//!   `workers`, each worker its own consumer name); a claimed entry stays in
//!   the group's pending list until XACK + XDEL remove it.
//! - `{p}:p:<queue>`: the priorities other than 0 in use (sorted set); workers
//!   read them highest first, and priority 0 always (so a priority-0 job is
//!   one XADD).
//! - `{p}:delayed`: jobs not yet due (sorted set by due time, member
//!   `<queue>\n<priority>\n<json>`), moved into their stream by the fetch script.
//! - `{p}:failed` + `{p}:failed:at`: the failed store (capped).
//!
//! Recovery is per job: an entry pending longer than the visibility timeout
//! is claimed by whichever worker asks (XPENDING IDLE + XCLAIM), whatever
//! became of its consumer; its delivery count is the attempt count. Idle
//! consumers with nothing pending are deleted, so names never pile up.

mod store;

use std::collections::BTreeMap;
use std::time::Duration;

use async_trait::async_trait;
use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use redis::{AsyncCommands, Script};

use super::QueueError;
use super::backend::Backend;
use super::job::{Claimed, FailedJob, Job, JobEnvelope, Receipt, now_ms};

const GROUP: &str = "workers";

/// Settings of the redis connection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RedisOptions {
    /// Namespaces every key (`?prefix=` in the URL; default `events`).
    pub prefix: String,
    /// The failed store keeps the newest this many jobs (`?failed_cap=`; default 10,000).
    pub failed_cap: usize,
}

impl Default for RedisOptions {
    fn default() -> Self {
        Self {
            prefix: "events".to_string(),
            failed_cap: 10_000,
        }
    }
}

impl RedisOptions {
    /// Reads `prefix` and `failed_cap` from the URL's query.
    pub fn from_url(url: &str) -> Result<Self, QueueError> {
        let mut options = Self::default();
        let Some((_, query)) = url.split_once('?') else {
            return Ok(options);
        };
        for pair in query.split('&') {
            match pair.split_once('=') {
                Some(("prefix", v)) if !v.is_empty() => options.prefix = v.to_string(),
                Some(("failed_cap", v)) => {
                    options.failed_cap = v.parse().map_err(|_| QueueError::InvalidUrl {
                        url: url.to_string(),
                        reason: format!("failed_cap `{v}` is not a whole number"),
                    })?
                }
                _ => {}
            }
        }
        Ok(options)
    }
}

/// The URL without our own query parameters (what the redis client sees).
fn client_url(url: &str) -> String {
    let Some((base, query)) = url.split_once('?') else {
        return url.to_string();
    };
    let rest: Vec<&str> = query
        .split('&')
        .filter(|p| !p.starts_with("prefix=") && !p.starts_with("failed_cap=") && !p.is_empty())
        .collect();
    if rest.is_empty() {
        base.to_string()
    } else {
        format!("{base}?{}", rest.join("&"))
    }
}

/// The priorities of a queue, highest first, always including the default 0;
/// shared by the scripts that walk a queue's streams.
const PRIORITIES_LUA: &str = r#"
local function priorities(tag, queue)
  local prios = redis.call('ZREVRANGE', tag .. ':p:' .. queue, 0, -1)
  local has_default = false
  for _, p in ipairs(prios) do if p == '0' then has_default = true end end
  if not has_default then
    prios[#prios + 1] = '0'
    table.sort(prios, function(a, b) return tonumber(a) > tonumber(b) end)
  end
  return prios
end
"#;

const FETCH: &str = r#"
local tag, consumer, now, max = ARGV[1], ARGV[2], tonumber(ARGV[3]), tonumber(ARGV[4])
local function stream_of(queue, prio) return tag .. ':s:' .. queue .. ':' .. prio end
local due = redis.call('ZRANGEBYSCORE', tag .. ':delayed', '-inf', now, 'LIMIT', 0, 1000)
for _, member in ipairs(due) do
  local a = string.find(member, '\n', 1, true)
  local b = string.find(member, '\n', a + 1, true)
  local queue, prio = string.sub(member, 1, a - 1), string.sub(member, a + 1, b - 1)
  redis.call('ZADD', tag .. ':p:' .. queue, 'NX', prio, prio)
  redis.call('XADD', stream_of(queue, prio), '*', 'job', string.sub(member, b + 1))
  redis.call('ZREM', tag .. ':delayed', member)
end
local out = {}
local left = max
for i = 5, #ARGV do
  if left <= 0 then break end
  local prios = priorities(tag, ARGV[i])
  for _, prio in ipairs(prios) do
    if left <= 0 then break end
    local stream = stream_of(ARGV[i], prio)
    local res = redis.pcall('XREADGROUP', 'GROUP', 'workers', consumer, 'COUNT', left, 'STREAMS', stream, '>')
    if type(res) == 'table' and res.err then
      redis.pcall('XGROUP', 'CREATE', stream, 'workers', '0', 'MKSTREAM')
      res = redis.call('XREADGROUP', 'GROUP', 'workers', consumer, 'COUNT', left, 'STREAMS', stream, '>')
    end
    if res then
      for _, entry in ipairs(res[1][2]) do
        out[#out + 1] = stream
        out[#out + 1] = entry[1]
        out[#out + 1] = entry[2][2] or ''
        out[#out + 1] = '1'
        left = left - 1
      end
    end
  end
end
return out
"#;

const RECLAIM: &str = r#"
local tag, consumer, min_idle, max = ARGV[1], ARGV[2], tonumber(ARGV[3]), tonumber(ARGV[4])
local out = {}
local left = max
for i = 5, #ARGV do
  local prios = priorities(tag, ARGV[i])
  for _, prio in ipairs(prios) do
    local stream = tag .. ':s:' .. ARGV[i] .. ':' .. prio
    if left > 0 then
      local pending = redis.pcall('XPENDING', stream, 'workers', 'IDLE', min_idle, '-', '+', left)
      if type(pending) == 'table' and not pending.err and #pending > 0 then
        local ids, counts = {}, {}
        for _, p in ipairs(pending) do
          ids[#ids + 1] = p[1]
          counts[p[1]] = p[4]
        end
        local claimed = redis.call('XCLAIM', stream, 'workers', consumer, min_idle, unpack(ids))
        for _, entry in ipairs(claimed) do
          if type(entry) == 'table' and type(entry[2]) == 'table' then
            out[#out + 1] = stream
            out[#out + 1] = entry[1]
            out[#out + 1] = entry[2][2] or ''
            out[#out + 1] = tostring(counts[entry[1]] + 1)
            left = left - 1
          end
        end
      end
    end
    -- Consumers with nothing pending hold nothing: forget the idle ones.
    local consumers = redis.pcall('XINFO', 'CONSUMERS', stream, 'workers')
    if type(consumers) == 'table' and not consumers.err then
      for _, c in ipairs(consumers) do
        local f = {}
        for k = 1, #c, 2 do f[c[k]] = c[k + 1] end
        if f['pending'] == 0 and f['idle'] > min_idle * 2 and f['name'] ~= consumer then
          redis.call('XGROUP', 'DELCONSUMER', stream, 'workers', f['name'])
        end
      end
    end
  end
end
return out
"#;

/// Puts a claimed job back (retry or release), only if the claim still holds.
const REQUEUE: &str = r#"
local tag, stream, id, queue, prio, at, now, job = ARGV[1], ARGV[2], ARGV[3], ARGV[4], ARGV[5], tonumber(ARGV[6]), tonumber(ARGV[7]), ARGV[8]
if redis.call('XACK', stream, 'workers', id) == 1 then
  redis.call('XDEL', stream, id)
  if at > now then
    redis.call('ZADD', tag .. ':delayed', at, queue .. '\n' .. prio .. '\n' .. job)
  else
    redis.call('XADD', stream, '*', 'job', job)
  end
  return 1
end
return 0
"#;

const FAIL: &str = r#"
local tag, stream, id, fid, record, at, cap = ARGV[1], ARGV[2], ARGV[3], ARGV[4], ARGV[5], tonumber(ARGV[6]), tonumber(ARGV[7])
if redis.call('XACK', stream, 'workers', id) == 1 then
  redis.call('XDEL', stream, id)
  redis.call('HSET', tag .. ':failed', fid, record)
  redis.call('ZADD', tag .. ':failed:at', at, fid)
  local n = redis.call('ZCARD', tag .. ':failed:at')
  if n > cap then
    local old = redis.call('ZRANGE', tag .. ':failed:at', 0, n - cap - 1)
    for _, o in ipairs(old) do redis.call('HDEL', tag .. ':failed', o) end
    redis.call('ZREMRANGEBYRANK', tag .. ':failed:at', 0, n - cap - 1)
  end
  return 1
end
return 0
"#;

const TAKE_FAILED: &str = r#"
local v = redis.call('HGET', KEYS[1], ARGV[1])
if v then
  redis.call('HDEL', KEYS[1], ARGV[1])
  redis.call('ZREM', KEYS[2], ARGV[1])
end
return v
"#;

/// A queue in Redis.
pub struct RedisBackend {
    url: String,
    tag: String,
    failed_cap: usize,
    conn: ConnectionManager,
    fetch_script: Script,
    reclaim_script: Script,
    requeue_script: Script,
    fail_script: Script,
    take_failed_script: Script,
}

impl RedisBackend {
    /// Connects to `url` and checks the server answers.
    pub async fn connect(url: &str, options: RedisOptions) -> Result<Self, QueueError> {
        let client_url = client_url(url);
        let url = &super::redact(url);
        let client = redis::Client::open(client_url).map_err(|e| QueueError::InvalidUrl {
            url: url.to_string(),
            reason: e.to_string(),
        })?;
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(Duration::from_secs(2)))
            .set_response_timeout(Some(Duration::from_secs(10)))
            .set_number_of_retries(2)
            .set_max_delay(Duration::from_millis(500));
        let unreachable = |e: redis::RedisError| QueueError::Unreachable {
            url: url.to_string(),
            reason: e.to_string(),
        };
        let mut conn = ConnectionManager::new_with_config(client, config)
            .await
            .map_err(unreachable)?;
        let _: String = redis::cmd("PING")
            .query_async(&mut conn)
            .await
            .map_err(unreachable)?;
        Ok(Self {
            url: url.to_string(),
            tag: format!("{{{}}}", options.prefix),
            failed_cap: options.failed_cap.max(1),
            conn,
            fetch_script: Script::new(&format!("{PRIORITIES_LUA}{FETCH}")),
            reclaim_script: Script::new(&format!("{PRIORITIES_LUA}{RECLAIM}")),
            requeue_script: Script::new(REQUEUE),
            fail_script: Script::new(FAIL),
            take_failed_script: Script::new(TAKE_FAILED),
        })
    }

    fn error(&self, e: impl std::fmt::Display) -> QueueError {
        QueueError::Backend {
            url: self.url.clone(),
            reason: e.to_string(),
        }
    }

    fn key(&self, rest: &str) -> String {
        format!("{}:{rest}", self.tag)
    }

    /// Claimed jobs, and entries that are not envelopes (to fail).
    fn parse_claims(&self, flat: Vec<String>) -> (Vec<Claimed>, Vec<(Receipt, FailedJob)>) {
        let mut broken = Vec::new();
        let mut claimed = Vec::with_capacity(flat.len() / 4);
        let mut it = flat.into_iter();
        while let (Some(stream), Some(id), Some(json), Some(count)) =
            (it.next(), it.next(), it.next(), it.next())
        {
            let deliveries: u32 = count.parse().unwrap_or(1);
            let envelope = match serde_json::from_str::<JobEnvelope>(&json) {
                Ok(envelope) => envelope,
                Err(e) => {
                    broken.push((
                        Receipt {
                            key: stream.clone(),
                            token: id.clone(),
                        },
                        FailedJob::new(
                            JobEnvelope::unreadable(id, stream, &json),
                            format!("stream entry is not a job envelope: {e}"),
                            deliveries,
                        ),
                    ));
                    continue;
                }
            };
            claimed.push(Claimed {
                attempt: envelope.attempts + deliveries,
                job: Job::from_envelope(envelope),
                receipt: Receipt {
                    key: stream,
                    token: id,
                },
            });
        }
        (claimed, broken)
    }

    /// Runs the fetch or reclaim script (`ARGV[3]` is the time now, or the
    /// minimum idle time) and fails the entries that are not envelopes.
    async fn run_claims(
        &self,
        script: &Script,
        queues: &[String],
        max: usize,
        consumer: &str,
        now_or_idle: i64,
    ) -> Result<Vec<Claimed>, QueueError> {
        let mut invocation = script.key(self.key("delayed"));
        invocation
            .arg(&self.tag)
            .arg(consumer)
            .arg(now_or_idle)
            .arg(max);
        for q in queues {
            invocation.arg(q);
        }
        let mut conn = self.conn.clone();
        let flat: Vec<String> = invocation
            .invoke_async(&mut conn)
            .await
            .map_err(|e| self.error(e))?;
        let (claimed, broken) = self.parse_claims(flat);
        for (receipt, failed) in broken {
            tracing::error!(url = %self.url, stream = %receipt.key, reason = %failed.reason, "moving an unreadable entry to the failed store");
            self.fail(receipt, failed).await?;
        }
        Ok(claimed)
    }

    async fn requeue(&self, receipt: &Receipt, envelope: &JobEnvelope) -> Result<(), QueueError> {
        let json = serde_json::to_string(envelope).map_err(|e| self.error(e))?;
        let mut conn = self.conn.clone();
        let _: i64 = self
            .requeue_script
            .arg(&self.tag)
            .arg(&receipt.key)
            .arg(&receipt.token)
            .arg(&envelope.queue)
            .arg(envelope.priority)
            .arg(envelope.available_at)
            .arg(now_ms())
            .arg(json)
            .invoke_async(&mut conn)
            .await
            .map_err(|e| self.error(e))?;
        Ok(())
    }

    /// A priority-0 job is one XADD: workers always read the priority-0
    /// stream of their queues. Other priorities are recorded (ZADD NX) so
    /// workers find their streams; a delayed job waits in the delayed set.
    fn add_to_pipe(
        &self,
        pipe: &mut redis::Pipeline,
        job: &Job,
        now: i64,
    ) -> Result<(), QueueError> {
        let e = &job.envelope;
        let json = job.to_json().map_err(|e| self.error(e))?;
        if e.available_at > now {
            let member = format!("{}\n{}\n{json}", e.queue, e.priority);
            pipe.zadd(self.key("delayed"), member, e.available_at)
                .ignore();
            return Ok(());
        }
        if e.priority != 0 {
            pipe.cmd("ZADD")
                .arg(self.key(&format!("p:{}", e.queue)))
                .arg("NX")
                .arg(e.priority)
                .arg(e.priority)
                .ignore();
        }
        pipe.cmd("XADD")
            .arg(self.key(&format!("s:{}:{}", e.queue, e.priority)))
            .arg("*")
            .arg("job")
            .arg(json)
            .ignore();
        Ok(())
    }

    /// Every key under the prefix matching `pattern` (SCAN: for admin calls).
    async fn scan(&self, pattern: &str) -> Result<Vec<String>, QueueError> {
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
                .map_err(|e| self.error(e))?;
            keys.extend(batch);
            if next == 0 {
                return Ok(keys);
            }
            cursor = next;
        }
    }

    async fn streams(&self) -> Result<Vec<String>, QueueError> {
        self.scan("s:*").await
    }
}

#[async_trait]
impl Backend for RedisBackend {
    fn middleware_store(&self) -> Option<&dyn super::MiddlewareStore> {
        Some(self)
    }

    fn kind(&self) -> &'static str {
        "redis"
    }

    fn location(&self) -> String {
        self.url.clone()
    }

    async fn push(&self, jobs: Vec<Job>) -> Result<(), QueueError> {
        let now = now_ms();
        let mut pipe = redis::pipe();
        for job in &jobs {
            self.add_to_pipe(&mut pipe, job, now)?;
        }
        let mut conn = self.conn.clone();
        pipe.query_async::<()>(&mut conn)
            .await
            .map_err(|e| self.error(e))
    }

    async fn fetch(
        &self,
        queues: &[String],
        max: usize,
        _lease: Duration,
        consumer: &str,
    ) -> Result<Vec<Claimed>, QueueError> {
        // The lease is the entry's idle time in the pending list; `recover`
        // compares it with the visibility timeout.
        self.run_claims(&self.fetch_script, queues, max, consumer, now_ms())
            .await
    }

    async fn recover(
        &self,
        queues: &[String],
        max: usize,
        lease: Duration,
        consumer: &str,
    ) -> Result<Vec<Claimed>, QueueError> {
        let idle = lease.as_millis() as i64;
        self.run_claims(&self.reclaim_script, queues, max, consumer, idle)
            .await
    }

    async fn extend(
        &self,
        running: Vec<Receipt>,
        _lease: Duration,
        consumer: &str,
    ) -> Result<(), QueueError> {
        // XCLAIM ... JUSTID by the owner resets the entry's idle time
        // without counting a delivery.
        let mut by_stream: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
        for r in &running {
            by_stream.entry(&r.key).or_default().push(&r.token);
        }
        let mut pipe = redis::pipe();
        for (stream, ids) in by_stream {
            pipe.cmd("XCLAIM")
                .arg(stream)
                .arg(GROUP)
                .arg(consumer)
                .arg(0)
                .arg(&ids)
                .arg("JUSTID")
                .ignore();
        }
        let mut conn = self.conn.clone();
        pipe.query_async::<()>(&mut conn)
            .await
            .map_err(|e| self.error(e))
    }

    async fn ack(&self, done: Vec<Receipt>) -> Result<(), QueueError> {
        if done.is_empty() {
            return Ok(());
        }
        let mut by_stream: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
        for r in &done {
            by_stream.entry(&r.key).or_default().push(&r.token);
        }
        let mut pipe = redis::pipe();
        for (stream, ids) in by_stream {
            pipe.xack(stream, GROUP, &ids).ignore();
            pipe.xdel(stream, &ids).ignore();
        }
        let mut conn = self.conn.clone();
        pipe.query_async::<()>(&mut conn)
            .await
            .map_err(|e| self.error(e))
    }

    async fn retry(&self, claimed: Claimed, envelope: JobEnvelope) -> Result<(), QueueError> {
        self.requeue(&claimed.receipt, &envelope).await
    }

    async fn fail(&self, receipt: Receipt, failed: FailedJob) -> Result<(), QueueError> {
        let record = serde_json::to_string(&failed).map_err(|e| self.error(e))?;
        let mut conn = self.conn.clone();
        let _: i64 = self
            .fail_script
            .arg(&self.tag)
            .arg(&receipt.key)
            .arg(&receipt.token)
            .arg(&failed.id)
            .arg(record)
            .arg(failed.failed_at)
            .arg(self.failed_cap)
            .invoke_async(&mut conn)
            .await
            .map_err(|e| self.error(e))?;
        Ok(())
    }

    async fn release(&self, claimed: Vec<Claimed>) -> Result<(), QueueError> {
        for c in claimed {
            let mut envelope = c.job.envelope.clone();
            envelope.available_at = 0;
            // The entry's deliveries are lost with it: count them now.
            envelope.attempts = c.attempt.saturating_sub(1);
            self.requeue(&c.receipt, &envelope).await?;
        }
        Ok(())
    }

    async fn size(&self) -> Result<usize, QueueError> {
        let streams = self.streams().await?;
        let mut pipe = redis::pipe();
        for s in &streams {
            pipe.xlen(s);
        }
        pipe.zcard(self.key("delayed"));
        let mut conn = self.conn.clone();
        let counts: Vec<usize> = pipe
            .query_async(&mut conn)
            .await
            .map_err(|e| self.error(e))?;
        Ok(counts.iter().sum())
    }

    async fn clear(&self) -> Result<usize, QueueError> {
        let n = self.size().await?;
        let mut keys = self.streams().await?;
        keys.extend(self.scan("p:*").await?);
        keys.push(self.key("delayed"));
        let mut conn = self.conn.clone();
        let _: () = conn.del(keys).await.map_err(|e| self.error(e))?;
        Ok(n)
    }

    async fn failed_list(&self) -> Result<Vec<FailedJob>, QueueError> {
        let mut conn = self.conn.clone();
        let ids: Vec<String> = conn
            .zrange(self.key("failed:at"), 0, -1)
            .await
            .map_err(|e| self.error(e))?;
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let records: Vec<Option<String>> = redis::cmd("HMGET")
            .arg(self.key("failed"))
            .arg(&ids)
            .query_async(&mut conn)
            .await
            .map_err(|e| self.error(e))?;
        Ok(records
            .into_iter()
            .flatten()
            .filter_map(|r| serde_json::from_str(&r).ok())
            .collect())
    }

    async fn failed_take(&self, id: &str) -> Result<Option<FailedJob>, QueueError> {
        let mut conn = self.conn.clone();
        let record: Option<String> = self
            .take_failed_script
            .key(self.key("failed"))
            .key(self.key("failed:at"))
            .arg(id)
            .invoke_async(&mut conn)
            .await
            .map_err(|e| self.error(e))?;
        record
            .map(|r| serde_json::from_str::<FailedJob>(&r).map_err(|e| self.error(e)))
            .transpose()
    }

    async fn failed_restore(&self, failed: FailedJob) -> Result<(), QueueError> {
        let record = serde_json::to_string(&failed).map_err(|e| self.error(e))?;
        let mut pipe = redis::pipe();
        pipe.hset(self.key("failed"), &failed.id, record).ignore();
        pipe.zadd(self.key("failed:at"), &failed.id, failed.failed_at)
            .ignore();
        let mut conn = self.conn.clone();
        pipe.query_async::<()>(&mut conn)
            .await
            .map_err(|e| self.error(e))
    }

    async fn failed_forget(&self, id: &str) -> Result<bool, QueueError> {
        Ok(self.failed_take(id).await?.is_some())
    }

    async fn failed_purge(&self) -> Result<usize, QueueError> {
        let mut conn = self.conn.clone();
        let n: usize = conn
            .hlen(self.key("failed"))
            .await
            .map_err(|e| self.error(e))?;
        let _: () = conn
            .del(&[self.key("failed"), self.key("failed:at")])
            .await
            .map_err(|e| self.error(e))?;
        Ok(n)
    }
}
