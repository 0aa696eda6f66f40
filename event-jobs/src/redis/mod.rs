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

mod alert_ledger;
mod claims;
mod completed_log;
mod failed_search;
#[cfg(test)]
mod failed_search_tests;
mod keys;
mod monitor_scripts;
mod monitoring;
#[cfg(test)]
mod monitoring_tests;
mod options;
mod poison;
mod push;
mod scripts;
mod store;

use std::collections::BTreeMap;
use std::time::Duration;

use async_trait::async_trait;
use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use redis::{AsyncCommands, Script};

use super::QueueError;
use super::backend::{Backend, FailedStore};
use super::job::{Claimed, FailedJob, Job, JobEnvelope, Receipt, now_ms};

pub use options::RedisOptions;

use options::client_url;
use scripts::{
    ENTRY_LUA, FAIL, FAIL_DELAYED, FAILED_INDEX_LUA, FETCH, PRIORITIES_LUA, RECLAIM, REQUEUE,
    RESTORE_FAILED, SIZES, STORE_FAILED_LUA, TAKE_FAILED,
};

const GROUP: &str = "workers";

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
    restore_failed_script: Script,
    sizes_script: Script,
    monitor_scripts: monitoring::Scripts,
}

impl std::fmt::Debug for RedisBackend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisBackend")
            .field("url", &self.url)
            .finish_non_exhaustive()
    }
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

impl RedisBackend {
    /// Connects to `url` and checks the server answers.
    pub async fn connect(url: &str, options: RedisOptions) -> Result<Self, QueueError> {
        let client_url = client_url(url);
        let url = &super::redact(url);
        event_tls::install_default_provider();
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
        let backend = Self {
            url: url.to_string(),
            tag: format!("{{{}}}", options.prefix),
            failed_cap: options.failed_cap.max(1),
            conn,
            fetch_script: Script::new(&format!("{PRIORITIES_LUA}{ENTRY_LUA}{FETCH}")),
            reclaim_script: Script::new(&format!("{PRIORITIES_LUA}{ENTRY_LUA}{RECLAIM}")),
            requeue_script: Script::new(REQUEUE),
            fail_script: Script::new(&format!("{FAILED_INDEX_LUA}{STORE_FAILED_LUA}{FAIL}")),
            fail_delayed_script: Script::new(&format!(
                "{FAILED_INDEX_LUA}{STORE_FAILED_LUA}{FAIL_DELAYED}"
            )),
            take_failed_script: Script::new(&format!(
                "{FAILED_INDEX_LUA}{STORE_FAILED_LUA}{TAKE_FAILED}"
            )),
            restore_failed_script: Script::new(&format!(
                "{FAILED_INDEX_LUA}{STORE_FAILED_LUA}{RESTORE_FAILED}"
            )),
            sizes_script: Script::new(SIZES),
            monitor_scripts: monitoring::Scripts::new(),
        };
        backend.count_once().await?;
        backend.index_old_failed().await?;
        Ok(backend)
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
        let pipe = self.push_pipe(&jobs, now_ms())?;
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
            .arg(&failed.queue)
            .arg(self.index_args(&failed))
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
        let queues: Vec<String> = self
            .conn
            .clone()
            .smembers(self.key("queues"))
            .await
            .map_err(self.redis("list the queues"))?;
        keys.extend(queues.iter().map(|q| self.key(&format!("p:{q}"))));
        keys.push(self.key("delayed"));
        keys.push(self.key("delayed:n"));
        let mut conn = self.conn.clone();
        let _: () = conn
            .del(keys)
            .await
            .map_err(self.redis("clear the queue"))?;
        Ok(n)
    }
}

#[async_trait]
impl FailedStore for RedisBackend {
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
            .key(self.key("failed:n"))
            .arg(id)
            .arg(&self.tag)
            .invoke_async(&mut conn)
            .await
            .map_err(self.redis("take a failed job"))?;
        Ok(record.map(|r| failed_record(id.to_string(), &r)))
    }

    async fn failed_restore(&self, failed: FailedJob) -> Result<(), QueueError> {
        let record =
            serde_json::to_string(&failed).map_err(|e| self.json("write a failed job", e))?;
        let mut conn = self.conn.clone();
        let _: i64 = self
            .restore_failed_script
            .arg(&self.tag)
            .arg(&failed.id)
            .arg(record)
            .arg(failed.failed_at)
            .arg(&failed.queue)
            .arg(self.index_args(&failed))
            .invoke_async(&mut conn)
            .await
            .map_err(self.redis("restore a failed job"))?;
        Ok(())
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
        self.purge_index().await?;
        let _: () = conn
            .del(&[
                self.key("failed"),
                self.key("failed:at"),
                self.key("failed:n"),
            ])
            .await
            .map_err(self.redis("purge failed jobs"))?;
        Ok(n)
    }
}
