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
//! No record wedges a prefix: the fetch script checks what it reads, and
//! hands back what it cannot use (a delayed member without its
//! `<queue>\n<priority>\n` header, a stream entry without a `job` field);
//! the worker moves each to the failed store with the reason, atomically
//! with its removal, and the jobs around it are claimed as usual. A key of
//! the wrong type is skipped and reported.
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
  local listed = redis.pcall('ZREVRANGE', tag .. ':p:' .. queue, 0, -1)
  local prios = {}
  local has_default = false
  if type(listed) == 'table' and not listed.err then
    for _, p in ipairs(listed) do
      if string.match(p, '^%-?%d+$') then
        prios[#prios + 1] = p
        if p == '0' then has_default = true end
      end
    end
  end
  if not has_default then
    prios[#prios + 1] = '0'
    table.sort(prios, function(a, b) return tonumber(a) > tonumber(b) end)
  end
  return prios
end
"#;

/// Appends a claimed stream entry to the reply: `job` and its JSON, or
/// `nojob` and the names of the fields it has instead.
const ENTRY_LUA: &str = r#"
local function push_entry(out, stream, entry, deliveries)
  local fields = entry[2]
  local job, names = nil, {}
  if type(fields) == 'table' then
    for k = 1, #fields, 2 do
      if fields[k] == 'job' then job = fields[k + 1] end
      names[#names + 1] = fields[k]
    end
  end
  if job then
    out[#out + 1] = 'job'
    out[#out + 1] = stream
    out[#out + 1] = entry[1]
    out[#out + 1] = job
  else
    out[#out + 1] = 'nojob'
    out[#out + 1] = stream
    out[#out + 1] = entry[1]
    out[#out + 1] = table.concat(names, ', ')
  end
  out[#out + 1] = deliveries
end
"#;

/// Moves due delayed jobs into their streams, then claims new entries.
/// Replies with five values per item: kind (`job`, `nojob`, `delayed` for a
/// member it cannot place, `badkey` for a key it cannot read), stream,
/// entry id, data, deliveries.
const FETCH: &str = r#"
local tag, consumer, now, max = ARGV[1], ARGV[2], tonumber(ARGV[3]), tonumber(ARGV[4])
local function stream_of(queue, prio) return tag .. ':s:' .. queue .. ':' .. prio end
local out = {}
local due = redis.call('ZRANGEBYSCORE', tag .. ':delayed', '-inf', now, 'LIMIT', 0, 1000)
for _, member in ipairs(due) do
  local a = string.find(member, '\n', 1, true)
  local b = a and string.find(member, '\n', a + 1, true)
  local prio = b and string.sub(member, a + 1, b - 1)
  if a and a > 1 and prio and string.match(prio, '^%-?%d+$') then
    local queue = string.sub(member, 1, a - 1)
    local added = redis.pcall('XADD', stream_of(queue, prio), '*', 'job', string.sub(member, b + 1))
    if type(added) == 'table' and added.err then
      out[#out + 1] = 'badkey'
      out[#out + 1] = stream_of(queue, prio)
      out[#out + 1] = ''
      out[#out + 1] = added.err
      out[#out + 1] = '0'
    else
      redis.call('ZADD', tag .. ':p:' .. queue, 'NX', prio, prio)
      redis.call('ZREM', tag .. ':delayed', member)
    end
  else
    out[#out + 1] = 'delayed'
    out[#out + 1] = ''
    out[#out + 1] = ''
    out[#out + 1] = member
    out[#out + 1] = '0'
  end
end
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
      res = redis.pcall('XREADGROUP', 'GROUP', 'workers', consumer, 'COUNT', left, 'STREAMS', stream, '>')
    end
    if type(res) == 'table' and res.err then
      out[#out + 1] = 'badkey'
      out[#out + 1] = stream
      out[#out + 1] = ''
      out[#out + 1] = res.err
      out[#out + 1] = '0'
    elseif res then
      for _, entry in ipairs(res[1][2]) do
        push_entry(out, stream, entry, '1')
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
          if type(entry) == 'table' then
            push_entry(out, stream, entry, tostring(counts[entry[1]] + 1))
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

/// Writes a failed record and drops the oldest beyond the cap.
const STORE_FAILED_LUA: &str = r#"
local function store_failed(tag, fid, record, at, cap)
  redis.call('HSET', tag .. ':failed', fid, record)
  redis.call('ZADD', tag .. ':failed:at', at, fid)
  local n = redis.call('ZCARD', tag .. ':failed:at')
  if n > cap then
    local old = redis.call('ZRANGE', tag .. ':failed:at', 0, n - cap - 1)
    for _, o in ipairs(old) do redis.call('HDEL', tag .. ':failed', o) end
    redis.call('ZREMRANGEBYRANK', tag .. ':failed:at', 0, n - cap - 1)
  end
end
"#;

/// Moves a claimed entry to the failed store, only if the claim still holds.
const FAIL: &str = r#"
local tag, stream, id, fid, record, at, cap = ARGV[1], ARGV[2], ARGV[3], ARGV[4], ARGV[5], tonumber(ARGV[6]), tonumber(ARGV[7])
if redis.call('XACK', stream, 'workers', id) == 1 then
  redis.call('XDEL', stream, id)
  store_failed(tag, fid, record, at, cap)
  return 1
end
return 0
"#;

/// Moves a delayed member to the failed store, only if no other worker did.
const FAIL_DELAYED: &str = r#"
local tag, member, fid, record, at, cap = ARGV[1], ARGV[2], ARGV[3], ARGV[4], tonumber(ARGV[5]), tonumber(ARGV[6])
if redis.call('ZREM', tag .. ':delayed', member) == 1 then
  store_failed(tag, fid, record, at, cap)
  return 1
end
return 0
"#;

/// Per stream (KEYS but the last) its entries no worker has claimed (XLEN
/// minus the group's pending count), then `<queue>`, `<count>` pairs for
/// the delayed set (the last KEY), counted by each member's header. A key
/// of the wrong type counts 0.
const SIZES: &str = r#"
local out = {}
for i = 1, #KEYS - 1 do
  local len = redis.pcall('XLEN', KEYS[i])
  local pending = redis.pcall('XPENDING', KEYS[i], 'workers')
  local n = 0
  if type(len) == 'number' then
    n = len
    if type(pending) == 'table' and tonumber(pending[1]) then n = n - tonumber(pending[1]) end
  end
  out[#out + 1] = tostring(n)
end
local delayed = redis.pcall('ZRANGE', KEYS[#KEYS], 0, -1)
if type(delayed) == 'table' and not delayed.err then
  local counts = {}
  for _, member in ipairs(delayed) do
    local queue = string.match(member, '^([^\n]*)\n')
    if queue then counts[queue] = (counts[queue] or 0) + 1 end
  end
  for queue, n in pairs(counts) do
    out[#out + 1] = queue
    out[#out + 1] = tostring(n)
  end
end
return out
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
    fail_delayed_script: Script,
    take_failed_script: Script,
    sizes_script: Script,
}

/// One item of the fetch or reclaim script's reply.
enum Fetched {
    /// A claimed entry and its `job` field (not yet known to be an envelope).
    Entry {
        stream: String,
        id: String,
        job: Vec<u8>,
        deliveries: u32,
    },
    /// A claimed entry without a `job` field, and the fields it has.
    NoJob {
        stream: String,
        id: String,
        fields: String,
    },
    /// A delayed member without a readable `<queue>\n<priority>\n` header.
    Delayed { member: Vec<u8> },
    /// A key of the wrong type, and Redis's complaint.
    BadKey { key: String, error: String },
}

/// What to do with each item of a claim reply.
struct Claims {
    claimed: Vec<Claimed>,
    /// Claimed entries that are not jobs.
    entries: Vec<(Receipt, FailedJob)>,
    /// Delayed members that are not jobs.
    delayed: Vec<(Vec<u8>, FailedJob)>,
    bad_keys: Vec<(String, String)>,
}

/// A record of the failed store; one that is not readable is still listed
/// (so `queue:failed` shows it and `queue:forget` removes it).
fn failed_record(id: String, record: &[u8]) -> FailedJob {
    serde_json::from_slice(record).unwrap_or_else(|e| {
        let raw = String::from_utf8_lossy(record).into_owned();
        FailedJob {
            payload: JobEnvelope::unreadable(id.clone(), String::new(), &raw),
            id,
            queue: String::new(),
            reason: format!("this failed-job record is not readable: {e}"),
            attempts: 0,
            failed_at: 0,
        }
    })
}

/// The text of what Redis holds, shortened for a reason line.
fn shown(bytes: &[u8]) -> String {
    let text = String::from_utf8_lossy(bytes);
    match text.char_indices().nth(80) {
        Some((end, _)) => format!("{:?}...", &text[..end]),
        None => format!("{text:?}"),
    }
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
        let unreachable = |source| QueueError::Redis {
            url: url.to_string(),
            action: "connect",
            source,
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
            fetch_script: Script::new(&format!("{PRIORITIES_LUA}{ENTRY_LUA}{FETCH}")),
            reclaim_script: Script::new(&format!("{PRIORITIES_LUA}{ENTRY_LUA}{RECLAIM}")),
            requeue_script: Script::new(REQUEUE),
            fail_script: Script::new(&format!("{STORE_FAILED_LUA}{FAIL}")),
            fail_delayed_script: Script::new(&format!("{STORE_FAILED_LUA}{FAIL_DELAYED}")),
            take_failed_script: Script::new(TAKE_FAILED),
            sizes_script: Script::new(SIZES),
        })
    }

    /// Maps a Redis error to a [`QueueError::Redis`] saying what was being done.
    fn redis(&self, action: &'static str) -> impl Fn(redis::RedisError) -> QueueError + '_ {
        move |source| QueueError::Redis {
            url: self.url.clone(),
            action,
            source,
        }
    }

    fn json(&self, action: &'static str, source: serde_json::Error) -> QueueError {
        QueueError::Json {
            url: self.url.clone(),
            action,
            source,
        }
    }

    fn key(&self, rest: &str) -> String {
        format!("{}:{rest}", self.tag)
    }

    /// The queue a stream key belongs to (`{p}:s:<queue>:<priority>`).
    fn queue_of(&self, stream: &str) -> String {
        stream
            .strip_prefix(&self.tag)
            .and_then(|rest| rest.strip_prefix(":s:"))
            .and_then(|rest| rest.rsplit_once(':'))
            .map_or_else(|| stream.to_string(), |(queue, _)| queue.to_string())
    }

    /// Reads the script's reply: five values per item.
    fn read_reply(flat: Vec<Vec<u8>>) -> Vec<Fetched> {
        let text = |b: Vec<u8>| String::from_utf8_lossy(&b).into_owned();
        let mut items = Vec::with_capacity(flat.len() / 5);
        let mut it = flat.into_iter();
        while let (Some(kind), Some(stream), Some(id), Some(data), Some(count)) =
            (it.next(), it.next(), it.next(), it.next(), it.next())
        {
            let deliveries = text(count).parse().unwrap_or(1);
            items.push(match kind.as_slice() {
                b"job" => Fetched::Entry {
                    stream: text(stream),
                    id: text(id),
                    job: data,
                    deliveries,
                },
                b"nojob" => Fetched::NoJob {
                    stream: text(stream),
                    id: text(id),
                    fields: text(data),
                },
                b"delayed" => Fetched::Delayed { member: data },
                _ => Fetched::BadKey {
                    key: text(stream),
                    error: text(data),
                },
            });
        }
        items
    }

    /// Sorts a reply into claimed jobs and records for the failed store.
    fn sort_claims(&self, items: Vec<Fetched>) -> Claims {
        let mut claims = Claims {
            claimed: Vec::with_capacity(items.len()),
            entries: Vec::new(),
            delayed: Vec::new(),
            bad_keys: Vec::new(),
        };
        for item in items {
            match item {
                Fetched::Entry {
                    stream,
                    id,
                    job,
                    deliveries,
                } => match serde_json::from_slice::<JobEnvelope>(&job) {
                    Ok(envelope) => claims.claimed.push(Claimed {
                        attempt: envelope.attempts + deliveries,
                        job: Job::from_envelope(envelope),
                        receipt: Receipt {
                            key: stream,
                            token: id,
                        },
                    }),
                    Err(e) => {
                        let queue = self.queue_of(&stream);
                        let reason = format!(
                            "stream entry {id} of queue `{queue}` is not a job envelope: {e}"
                        );
                        let raw = String::from_utf8_lossy(&job).into_owned();
                        let failed = FailedJob::new(
                            JobEnvelope::unreadable(format!("{queue}-{id}"), queue, &raw),
                            reason,
                            deliveries,
                        );
                        claims.entries.push((
                            Receipt {
                                key: stream,
                                token: id,
                            },
                            failed,
                        ));
                    }
                },
                Fetched::NoJob { stream, id, fields } => {
                    let queue = self.queue_of(&stream);
                    let reason = if fields.is_empty() {
                        format!("stream entry {id} of queue `{queue}` has no `job` field")
                    } else {
                        format!(
                            "stream entry {id} of queue `{queue}` has no `job` field (it has: {fields})"
                        )
                    };
                    let failed = FailedJob::new(
                        JobEnvelope::unreadable(format!("{queue}-{id}"), queue, &fields),
                        reason,
                        0,
                    );
                    claims.entries.push((
                        Receipt {
                            key: stream,
                            token: id,
                        },
                        failed,
                    ));
                }
                Fetched::Delayed { member } => {
                    let failed = self.unreadable_delayed(&member);
                    claims.delayed.push((member, failed));
                }
                Fetched::BadKey { key, error } => claims.bad_keys.push((key, error)),
            }
        }
        claims
    }

    /// The failed record of a delayed member the fetch cannot place. A
    /// member that is a bare envelope keeps it (and its queue), so
    /// `queue:retry` runs it.
    fn unreadable_delayed(&self, member: &[u8]) -> FailedJob {
        let reason = match member.iter().position(|&b| b == b'\n') {
            None | Some(0) => format!(
                "a member of the delayed set has no `<queue>\\n<priority>\\n` header: {}",
                shown(member)
            ),
            Some(a) => {
                let rest = &member[a + 1..];
                let priority = rest.split(|&b| b == b'\n').next().unwrap_or_default();
                if rest.contains(&b'\n') {
                    format!(
                        "a member of the delayed set has priority {}, expected an integer: {}",
                        shown(priority),
                        shown(member)
                    )
                } else {
                    format!(
                        "a member of the delayed set has no `<queue>\\n<priority>\\n` header: {}",
                        shown(member)
                    )
                }
            }
        };
        let body = member
            .iter()
            .rposition(|&b| b == b'\n')
            .map_or(member, |i| &member[i + 1..]);
        match serde_json::from_slice::<JobEnvelope>(body) {
            Ok(mut envelope) => {
                envelope.attempts = 0;
                // Its own id: two bad members carrying the same envelope
                // must not replace each other in the failed store.
                let mut failed = FailedJob::new(envelope, reason, 0);
                failed.id = format!("delayed-{}", ulid::Ulid::new());
                failed
            }
            Err(_) => {
                let raw = String::from_utf8_lossy(member).into_owned();
                let queue = raw
                    .split_once('\n')
                    .map(|(q, _)| q.to_string())
                    .unwrap_or_default();
                FailedJob::new(
                    JobEnvelope::unreadable(format!("delayed-{}", ulid::Ulid::new()), queue, &raw),
                    reason,
                    0,
                )
            }
        }
    }

    /// Runs the fetch or reclaim script (`ARGV[3]` is the time now, or the
    /// minimum idle time) and moves what is not a job to the failed store.
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
        let flat: Vec<Vec<u8>> = invocation
            .invoke_async(&mut conn)
            .await
            .map_err(self.redis("claim jobs"))?;
        let claims = self.sort_claims(Self::read_reply(flat));
        for (key, error) in claims.bad_keys {
            tracing::error!(url = %self.url, %key, %error, "a queue key holds something other than a stream; its jobs cannot be read");
        }
        for (receipt, failed) in claims.entries {
            tracing::error!(url = %self.url, job = %failed.id, reason = %failed.reason, "moving an unreadable entry to the failed store");
            self.fail(receipt, failed).await?;
        }
        for (member, failed) in claims.delayed {
            tracing::error!(url = %self.url, job = %failed.id, reason = %failed.reason, "moving an unreadable delayed job to the failed store");
            self.fail_delayed(member, failed).await?;
        }
        Ok(claims.claimed)
    }

    async fn fail_delayed(&self, member: Vec<u8>, failed: FailedJob) -> Result<(), QueueError> {
        let record =
            serde_json::to_string(&failed).map_err(|e| self.json("write a failed job", e))?;
        let mut conn = self.conn.clone();
        let _: i64 = self
            .fail_delayed_script
            .arg(&self.tag)
            .arg(member)
            .arg(&failed.id)
            .arg(record)
            .arg(failed.failed_at)
            .arg(self.failed_cap)
            .invoke_async(&mut conn)
            .await
            .map_err(self.redis("move a job to the failed store"))?;
        Ok(())
    }

    async fn requeue(&self, receipt: &Receipt, envelope: &JobEnvelope) -> Result<(), QueueError> {
        let json = serde_json::to_string(envelope).map_err(|e| self.json("write a job", e))?;
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
            .map_err(self.redis("reschedule a job"))?;
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
        let json = job.to_json().map_err(|e| self.json("write a job", e))?;
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
                .map_err(self.redis("list queue keys"))?;
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
            .map_err(self.redis("push jobs"))
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
            .map_err(self.redis("extend claims"))
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
            .map_err(self.redis("acknowledge jobs"))
    }

    async fn retry(&self, claimed: Claimed, envelope: JobEnvelope) -> Result<(), QueueError> {
        self.requeue(&claimed.receipt, &envelope).await
    }

    async fn fail(&self, receipt: Receipt, failed: FailedJob) -> Result<(), QueueError> {
        let record =
            serde_json::to_string(&failed).map_err(|e| self.json("write a failed job", e))?;
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
            .map_err(self.redis("move a job to the failed store"))?;
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
            .map_err(self.redis("count jobs"))?;
        Ok(counts.iter().sum())
    }

    async fn sizes(&self) -> Result<Vec<(String, usize)>, QueueError> {
        let streams = self.streams().await?;
        let mut invocation = self.sizes_script.prepare_invoke();
        for s in &streams {
            invocation.key(s);
        }
        invocation.key(self.key("delayed"));
        let mut conn = self.conn.clone();
        let reply: Vec<String> = invocation
            .invoke_async(&mut conn)
            .await
            .map_err(self.redis("count jobs per queue"))?;
        let count = |n: &str| n.parse::<usize>().unwrap_or(0);
        let mut sizes: BTreeMap<String, usize> = BTreeMap::new();
        for (stream, n) in streams.iter().zip(&reply) {
            *sizes.entry(self.queue_of(stream)).or_default() += count(n);
        }
        for pair in reply[streams.len().min(reply.len())..].chunks_exact(2) {
            *sizes.entry(pair[0].clone()).or_default() += count(&pair[1]);
        }
        Ok(sizes.into_iter().filter(|(_, n)| *n > 0).collect())
    }

    async fn clear(&self) -> Result<usize, QueueError> {
        let n = self.size().await?;
        let mut keys = self.streams().await?;
        keys.extend(self.scan("p:*").await?);
        keys.push(self.key("delayed"));
        let mut conn = self.conn.clone();
        let _: () = conn
            .del(keys)
            .await
            .map_err(self.redis("clear the queue"))?;
        Ok(n)
    }

    async fn failed_list(&self) -> Result<Vec<FailedJob>, QueueError> {
        let mut conn = self.conn.clone();
        let ids: Vec<String> = conn
            .zrange(self.key("failed:at"), 0, -1)
            .await
            .map_err(self.redis("list failed jobs"))?;
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let records: Vec<Option<Vec<u8>>> = redis::cmd("HMGET")
            .arg(self.key("failed"))
            .arg(&ids)
            .query_async(&mut conn)
            .await
            .map_err(self.redis("list failed jobs"))?;
        Ok(ids
            .into_iter()
            .zip(records)
            .filter_map(|(id, record)| Some(failed_record(id, &record?)))
            .collect())
    }

    async fn failed_take(&self, id: &str) -> Result<Option<FailedJob>, QueueError> {
        let mut conn = self.conn.clone();
        let record: Option<Vec<u8>> = self
            .take_failed_script
            .key(self.key("failed"))
            .key(self.key("failed:at"))
            .arg(id)
            .invoke_async(&mut conn)
            .await
            .map_err(self.redis("take a failed job"))?;
        Ok(record.map(|r| failed_record(id.to_string(), &r)))
    }

    async fn failed_restore(&self, failed: FailedJob) -> Result<(), QueueError> {
        let record =
            serde_json::to_string(&failed).map_err(|e| self.json("write a failed job", e))?;
        let mut pipe = redis::pipe();
        pipe.hset(self.key("failed"), &failed.id, record).ignore();
        pipe.zadd(self.key("failed:at"), &failed.id, failed.failed_at)
            .ignore();
        let mut conn = self.conn.clone();
        pipe.query_async::<()>(&mut conn)
            .await
            .map_err(self.redis("restore a failed job"))
    }

    async fn failed_forget(&self, id: &str) -> Result<bool, QueueError> {
        Ok(self.failed_take(id).await?.is_some())
    }

    async fn failed_purge(&self) -> Result<usize, QueueError> {
        let mut conn = self.conn.clone();
        let n: usize = conn
            .hlen(self.key("failed"))
            .await
            .map_err(self.redis("purge failed jobs"))?;
        let _: () = conn
            .del(&[self.key("failed"), self.key("failed:at")])
            .await
            .map_err(self.redis("purge failed jobs"))?;
        Ok(n)
    }
}
