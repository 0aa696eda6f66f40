//! The `redis` connection's monitoring: every figure kept as jobs are
//! written, read without listing keys (no `KEYS`, no `SCAN`) and without
//! walking the jobs.
//!
//! Keys (beside the queue's own, all under the hash tag `{p}`):
//! - `{p}:queues`: every queue a job was pushed to (SADD, once per push
//!   batch).
//! - `{p}:delayed:n`: per queue, its members of the delayed set (HINCRBY
//!   where the set is written: push, a retry's backoff, the fetch script
//!   moving due jobs to their stream, a bad member moved to the failed
//!   store, `clear`).
//! - `{p}:failed:n`: per queue, its records in the failed store (kept by
//!   the scripts that write, replace, drop beyond the cap and take them).
//! - `{p}:paused` (set), `{p}:restart` (ms), `{p}:workers` (hash id ->
//!   `WorkerBeat` JSON).
//! - `{p}:t:<m|h>:<period start ms>`: one hash per period and resolution,
//!   field `<queue>\n<job>\n<figure>` (`processed`, `failed`, `retried`,
//!   `w<i>` and `r<i>` for wait and run bucket `i`), only non-zero figures,
//!   added with HINCRBY in one MULTI by every worker; each key expires at
//!   the end of its retention (48 h for minutes, 90 days for hours), so
//!   Redis prunes them itself. Bounded size: per (queue, job), at most
//!   2,880 minute + 2,160 hour periods of at most 71 fields each.
//! - `{p}:counted`: set when the counters were first made; a prefix that
//!   already held jobs is counted then, once (delayed set, failed store,
//!   stream names), never at a read.
//!
//! Gauges, per queue (one script, one round trip):
//! - `pending`: stream entries no worker has claimed (XLEN minus the
//!   group's pending count, each priority's stream), plus the delayed
//!   members already due that no worker has moved to their stream yet (a
//!   worker's every fetch moves them; at most the 1,000 oldest are looked
//!   at, beyond that they still show as delayed).
//! - `delayed`: the queue's members of the delayed set not yet due.
//! - `running`: entries claimed and not yet acknowledged (the group's
//!   pending list), including those of a worker that died, until another
//!   worker reclaims them after the visibility timeout.
//! - `failed`: the queue's records in the failed store.
//! - `oldest_pending_ms`: the age of the oldest of those pending jobs: the
//!   time of the first unclaimed entry (its stream id, by the server's
//!   clock: when it was pushed, retried or moved in from the delayed set),
//!   or the due time of the oldest due delayed member; 0 with none.
//!
//! Queues listed: those in `{p}:queues`, the paused ones, and those with
//! records in the failed store.

use std::collections::{BTreeMap, HashMap};

use async_trait::async_trait;
use redis::{AsyncCommands, Script};

use super::RedisBackend;
use super::monitor_scripts::{CALL_LUA, CLEAR_QUEUE, COUNT_ONCE, GAUGES};
use super::scripts::{FAILED_INDEX_LUA, PRIORITIES_LUA, STORE_FAILED_LUA};
use crate::QueueError;
use crate::job::now_ms;
use crate::monitor::{BUCKETS, Monitoring, QueueGauge, Resolution, Signals, Tally, WorkerBeat};

/// The monitoring scripts, built once per connection.
pub(super) struct Scripts {
    count_once: Script,
    gauges: Script,
    clear_queue: Script,
}

impl Scripts {
    pub(super) fn new() -> Self {
        Self {
            count_once: Script::new(&format!(
                "{CALL_LUA}{FAILED_INDEX_LUA}{STORE_FAILED_LUA}{COUNT_ONCE}"
            )),
            gauges: Script::new(&format!("{CALL_LUA}{PRIORITIES_LUA}{GAUGES}")),
            clear_queue: Script::new(&format!("{CALL_LUA}{PRIORITIES_LUA}{CLEAR_QUEUE}")),
        }
    }
}

/// The figure names of a tally's hash fields, in [`Tally`] order.
fn figures(t: &Tally) -> impl Iterator<Item = (String, u64)> + '_ {
    [
        ("processed".to_string(), t.processed),
        ("failed".to_string(), t.failed),
        ("retried".to_string(), t.retried),
    ]
    .into_iter()
    .chain(
        t.wait
            .counts
            .iter()
            .enumerate()
            .map(|(i, &n)| (format!("w{i}"), n)),
    )
    .chain(
        t.run
            .counts
            .iter()
            .enumerate()
            .map(|(i, &n)| (format!("r{i}"), n)),
    )
    .filter(|(_, n)| *n > 0)
}

/// Adds one stored figure to a tally; false for a name it does not know.
fn add_figure(t: &mut Tally, figure: &str, n: u64) -> bool {
    let bucket = |rest: &str| rest.parse::<usize>().ok().filter(|&i| i < BUCKETS);
    match figure {
        "processed" => t.processed += n,
        "failed" => t.failed += n,
        "retried" => t.retried += n,
        _ => match (figure.split_at(1), figure.len() > 1) {
            (("w", rest), true) if bucket(rest).is_some() => {
                t.wait.counts[bucket(rest).unwrap_or_default()] += n
            }
            (("r", rest), true) if bucket(rest).is_some() => {
                t.run.counts[bucket(rest).unwrap_or_default()] += n
            }
            _ => return false,
        },
    }
    true
}

/// The period starts of `resolution` from `since_ms` (the first starting
/// at or after it) to the period after now's (a worker's clock may run a
/// little ahead), never before the retention.
fn period_starts(resolution: Resolution, since_ms: i64, now: i64) -> Vec<i64> {
    let period = resolution.period_ms();
    let oldest = now - resolution.retention().as_millis() as i64;
    let mut start = resolution.start_of(since_ms.max(oldest));
    if start < since_ms {
        start += period;
    }
    let last = resolution.start_of(now) + period;
    (0..)
        .map(|i| start + i * period)
        .take_while(|&s| s <= last)
        .collect()
}

impl RedisBackend {
    pub(super) fn tally_key(&self, resolution: Resolution, start_ms: i64) -> String {
        self.key(&format!("t:{}:{start_ms}", resolution.code()))
    }

    /// Makes the counters of a prefix the first time this version meets it
    /// (counting what it already holds, once).
    pub(super) async fn count_once(&self) -> Result<(), QueueError> {
        let mut conn = self.conn.clone();
        let counted: i64 = self
            .monitor_scripts
            .count_once
            .arg(&self.tag)
            .invoke_async(&mut conn)
            .await
            .map_err(self.redis("count the jobs already queued"))?;
        if counted == 1 {
            // The one SCAN: a prefix an older version wrote has no queue set.
            let queues: Vec<String> = self
                .scan("s:*")
                .await?
                .iter()
                .map(|s| self.queue_of(s))
                .collect();
            if !queues.is_empty() {
                let _: i64 = conn
                    .sadd(self.key("queues"), queues)
                    .await
                    .map_err(self.redis("count the jobs already queued"))?;
            }
        }
        Ok(())
    }
}

#[async_trait]
impl Monitoring for RedisBackend {
    async fn record(&self, tallies: Vec<Tally>) -> Result<(), QueueError> {
        // Same (resolution, period, queue, job) merged: fewer commands.
        let mut merged: BTreeMap<(Resolution, i64, String, String), Tally> = BTreeMap::new();
        for t in &tallies {
            for resolution in Resolution::ALL {
                let start = resolution.start_of(t.start_ms);
                merged
                    .entry((resolution, start, t.queue.clone(), t.job.clone()))
                    .or_insert_with(|| Tally::new(&t.queue, &t.job, start))
                    .merge(t);
            }
        }
        let mut pipe = redis::pipe();
        pipe.atomic();
        let mut expiring: BTreeMap<String, i64> = BTreeMap::new();
        for ((resolution, start, queue, job), t) in &merged {
            let key = self.tally_key(*resolution, *start);
            for (figure, n) in figures(t) {
                let field = format!("{queue}\n{job}\n{figure}");
                pipe.hincr(&key, field, n.min(i64::MAX as u64) as i64)
                    .ignore();
            }
            let end = start + resolution.period_ms() + resolution.retention().as_millis() as i64;
            expiring.insert(key, end);
        }
        for (key, at) in expiring {
            pipe.cmd("PEXPIREAT").arg(key).arg(at).ignore();
        }
        let mut conn = self.conn.clone();
        pipe.query_async::<()>(&mut conn)
            .await
            .map_err(self.redis("record the queue's figures"))
    }

    async fn tallies(
        &self,
        resolution: Resolution,
        since_ms: i64,
    ) -> Result<Vec<Tally>, QueueError> {
        let starts = period_starts(resolution, since_ms, now_ms());
        let mut pipe = redis::pipe();
        for &start in &starts {
            pipe.hgetall(self.tally_key(resolution, start));
        }
        let mut conn = self.conn.clone();
        let periods: Vec<HashMap<String, i64>> = pipe
            .query_async(&mut conn)
            .await
            .map_err(self.redis("read the queue's figures"))?;
        let mut out = Vec::new();
        for (start, fields) in starts.into_iter().zip(periods) {
            let mut by_job: BTreeMap<(String, String), Tally> = BTreeMap::new();
            for (field, n) in fields {
                let Some((queue_job, figure)) = field.rsplit_once('\n') else {
                    continue;
                };
                let Some((queue, job)) = queue_job.split_once('\n') else {
                    continue;
                };
                let tally = by_job
                    .entry((queue.to_string(), job.to_string()))
                    .or_insert_with(|| Tally::new(queue, job, start));
                add_figure(tally, figure, n.max(0) as u64);
            }
            out.extend(by_job.into_values().filter(|t| !t.is_empty()));
        }
        Ok(out)
    }

    async fn gauges(&self) -> Result<Vec<QueueGauge>, QueueError> {
        let mut conn = self.conn.clone();
        let flat: Vec<String> = self
            .monitor_scripts
            .gauges
            .arg(&self.tag)
            .arg(now_ms())
            .invoke_async(&mut conn)
            .await
            .map_err(self.redis("read the queues' gauges"))?;
        let n = |s: &str| s.parse::<i64>().unwrap_or(0).max(0) as u64;
        let mut gauges: Vec<QueueGauge> = flat
            .chunks_exact(7)
            .map(|g| QueueGauge {
                queue: g[0].clone(),
                pending: n(&g[1]),
                delayed: n(&g[2]),
                running: n(&g[3]),
                failed: n(&g[4]),
                paused: g[5] == "1",
                oldest_pending_ms: n(&g[6]),
            })
            .collect();
        gauges.sort_by(|a, b| a.queue.cmp(&b.queue));
        Ok(gauges)
    }

    async fn set_paused(&self, queue: &str, paused: bool) -> Result<(), QueueError> {
        let mut conn = self.conn.clone();
        let key = self.key("paused");
        let _: i64 = if paused {
            conn.sadd(key, queue).await
        } else {
            conn.srem(key, queue).await
        }
        .map_err(self.redis("pause or resume a queue"))?;
        Ok(())
    }

    async fn signals(&self) -> Result<Signals, QueueError> {
        let mut conn = self.conn.clone();
        let (mut paused, restart_at_ms): (Vec<String>, Option<i64>) = redis::pipe()
            .smembers(self.key("paused"))
            .get(self.key("restart"))
            .query_async(&mut conn)
            .await
            .map_err(self.redis("read the paused queues"))?;
        paused.sort();
        Ok(Signals {
            paused,
            restart_at_ms,
        })
    }

    async fn request_restart(&self, at_ms: i64) -> Result<(), QueueError> {
        let mut conn = self.conn.clone();
        let _: () = conn
            .set(self.key("restart"), at_ms)
            .await
            .map_err(self.redis("ask the workers to restart"))?;
        Ok(())
    }

    async fn beat(&self, beat: &WorkerBeat) -> Result<(), QueueError> {
        let json =
            serde_json::to_string(beat).map_err(|e| self.json("write a worker's beat", e))?;
        let mut conn = self.conn.clone();
        let _: i64 = conn
            .hset(self.key("workers"), &beat.id, json)
            .await
            .map_err(self.redis("register a worker"))?;
        Ok(())
    }

    async fn unregister(&self, id: &str) -> Result<(), QueueError> {
        let mut conn = self.conn.clone();
        let _: i64 = conn
            .hdel(self.key("workers"), id)
            .await
            .map_err(self.redis("unregister a worker"))?;
        Ok(())
    }

    async fn workers(&self) -> Result<Vec<WorkerBeat>, QueueError> {
        let mut conn = self.conn.clone();
        let all: HashMap<String, String> = conn
            .hgetall(self.key("workers"))
            .await
            .map_err(self.redis("list workers"))?;
        let now = now_ms();
        let mut alive = Vec::with_capacity(all.len());
        let mut gone = Vec::new();
        for (id, json) in all {
            match serde_json::from_str::<WorkerBeat>(&json) {
                Ok(beat) if !beat.is_gone(now) => alive.push(beat),
                Ok(_) => gone.push(id),
                Err(e) => {
                    tracing::warn!(url = %self.url, worker = %id, error = %e, "dropping a worker beat that is not readable");
                    gone.push(id);
                }
            }
        }
        if !gone.is_empty() {
            let _: i64 = conn
                .hdel(self.key("workers"), gone)
                .await
                .map_err(self.redis("drop gone workers"))?;
        }
        Ok(alive)
    }

    async fn clear_queue(&self, queue: &str) -> Result<u64, QueueError> {
        let mut conn = self.conn.clone();
        let removed: i64 = self
            .monitor_scripts
            .clear_queue
            .arg(&self.tag)
            .arg(queue)
            .invoke_async(&mut conn)
            .await
            .map_err(self.redis("clear a queue"))?;
        Ok(removed.max(0) as u64)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_tally_round_trips_through_its_fields() {
        let mut t = Tally::new("q", "job", 60_000);
        t.processed = 3;
        t.retried = 1;
        t.wait.add(5);
        t.run.add(250);
        t.run.add(4_000_000);
        let mut back = Tally::new("q", "job", 60_000);
        for (figure, n) in figures(&t) {
            assert!(add_figure(&mut back, &figure, n), "{figure}");
        }
        assert_eq!(back, t);
        assert!(!add_figure(&mut back, "w99", 1));
        assert!(!add_figure(&mut back, "x", 1));
    }

    #[test]
    fn periods_read_are_bounded_by_the_window_and_the_retention() {
        let now = 1_000 * 3_600_000 + 123;
        let minutes = period_starts(Resolution::Minute, now - 6 * 3_600_000, now);
        assert!(minutes.len() <= 362, "{}", minutes.len());
        assert!(minutes.iter().all(|s| s % 60_000 == 0));
        let hours = period_starts(Resolution::Hour, 0, now);
        assert!(hours.len() <= 90 * 24 + 2, "{}", hours.len());
    }
}
