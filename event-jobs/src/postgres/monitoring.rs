//! The `postgres` connection's monitoring: counters kept by triggers in the
//! same transaction as the job writes, read without counting jobs (no
//! `count(*)` over `event_jobs`, no sequential scan of it).
//!
//! Counters ([`super::monitor_sql`] has the SQL):
//! - Statement-level `AFTER` triggers with transition tables on
//!   `event_jobs` and `event_failed_jobs` add one row per statement and
//!   queue to `event_queue_deltas` (append-only: concurrent writers, and a
//!   caller's own long transaction in [`super::in_transaction`], never wait
//!   on each other's counters). Per queue, `due_s = 0` carries the change
//!   in unclaimed rows (`token IS NULL`), claimed rows and failed records;
//!   `due_s = s` the change in unclaimed rows due in second `s`, kept only
//!   for rows due after the second they were written in.
//! - `event_queue_counts` (primary key `(queue, due_s)`) is what the deltas
//!   add up to: `record` and `gauges` fold the deltas into it (one process
//!   at a time, under a try-lock; a read adds the deltas not yet folded).
//!   Due seconds that have passed are never read, and pruned.
//! - When the triggers are first made (on a table that may hold jobs
//!   already), the rows there are counted once, in the same transaction.
//!
//! Gauges, per queue (every queue with counters, or paused):
//! - `delayed`: unclaimed rows due in a later second than now (sum of the
//!   future `due_s` counters: one row per distinct due second ahead).
//! - `pending`: unclaimed rows minus `delayed`: ready now, not claimed (a
//!   row due later within the current second counts as pending).
//! - `running`: claimed rows, including those of a worker that died, until
//!   their lease expires and another worker claims them again.
//! - `failed`: the queue's rows in `event_failed_jobs`.
//! - `oldest_pending_ms`: now minus the smallest `available_at` of the
//!   queue's unclaimed rows (one probe of the partial index
//!   `event_jobs_ready (queue, available_at) WHERE token IS NULL`), 0 when
//!   that row is not due yet or there is none.
//!
//! Tallies: `event_queue_tallies`, primary key `(resolution, start_ms,
//! queue, job)`, three counters and 34 + 34 bucket columns, added with
//! `INSERT ... ON CONFLICT DO UPDATE SET x = t.x + excluded.x` (several
//! workers add to the same row). Periods past their retention (48 h of
//! minutes, 90 days of hours) are deleted at most once a minute per
//! process. Bounded size: per (queue, job), at most 2,880 minute rows and
//! 2,160 hour rows of 75 columns.
//!
//! Pause: `event_queues (queue, paused)`; restart: `event_queue_signals`;
//! workers: `event_queue_workers (id, last_beat_ms, beat JSON)`.

use std::collections::BTreeMap;
use std::sync::atomic::Ordering;

use async_trait::async_trait;
use tokio_postgres::types::ToSql;

use super::PostgresBackend;
use super::pool::Via;
use crate::QueueError;
use crate::job::now_ms;
use crate::monitor::{BUCKETS, Monitoring, QueueGauge, Resolution, Signals, Tally, WorkerBeat};

/// How often one process prunes expired figures, at most.
const PRUNE_EVERY_MS: i64 = 60_000;

/// How long signals read stay good while no change is notified.
const SIGNALS_FRESH_MS: i64 = 30_000;

/// How long the first read of the signals waits for the LISTEN connection.
const LISTEN_FIRST: std::time::Duration = std::time::Duration::from_millis(250);

/// Tallies as the columns of the `record` statement.
#[derive(Default)]
struct Columns {
    resolutions: Vec<String>,
    starts: Vec<i64>,
    queues: Vec<String>,
    jobs: Vec<String>,
    /// processed, failed, retried, w0.., r0..: one vector per column.
    figures: Vec<Vec<i64>>,
}

fn as_i64(n: u64) -> i64 {
    n.min(i64::MAX as u64) as i64
}

impl Columns {
    /// One row per (resolution, period, queue, job), sorted (so concurrent
    /// writers lock rows in the same order, and no row comes twice).
    fn of(tallies: &[Tally]) -> Self {
        let mut merged: BTreeMap<(Resolution, i64, &str, &str), Tally> = BTreeMap::new();
        for t in tallies {
            for resolution in Resolution::ALL {
                let start = resolution.start_of(t.start_ms);
                merged
                    .entry((resolution, start, &t.queue, &t.job))
                    .or_insert_with(|| Tally::new(&t.queue, &t.job, start))
                    .merge(t);
            }
        }
        let mut c = Columns {
            figures: (0..3 + 2 * BUCKETS)
                .map(|_| Vec::with_capacity(merged.len()))
                .collect(),
            ..Columns::default()
        };
        for ((resolution, start, queue, job), t) in merged {
            c.resolutions.push(resolution.code().to_string());
            c.starts.push(start);
            c.queues.push(queue.to_string());
            c.jobs.push(job.to_string());
            let values = [t.processed, t.failed, t.retried]
                .into_iter()
                .chain(t.wait.counts)
                .chain(t.run.counts);
            for (column, n) in c.figures.iter_mut().zip(values) {
                column.push(as_i64(n));
            }
        }
        c
    }
}

fn tally_of(row: &tokio_postgres::Row) -> Tally {
    let mut t = Tally::new(row.get::<_, String>(1), row.get::<_, String>(2), row.get(0));
    let n = |i: usize| row.get::<_, i64>(i).max(0) as u64;
    t.processed = n(3);
    t.failed = n(4);
    t.retried = n(5);
    for b in 0..BUCKETS {
        t.wait.counts[b] = n(6 + b);
        t.run.counts[b] = n(6 + BUCKETS + b);
    }
    t
}

impl PostgresBackend {
    /// This process changed the signals: its next read asks the database
    /// (the notification to itself may not have come back yet).
    fn forget_signals(&self) {
        *self
            .inner
            .signals_read
            .lock()
            .unwrap_or_else(|e| e.into_inner()) = None;
    }

    /// Moves the counters' deltas into their totals (skipped while another
    /// process does it).
    async fn fold(&self) -> Result<(), QueueError> {
        let inner = &self.inner;
        inner
            .execute(
                Via::Worker,
                "cannot fold the queue counters",
                &inner.tables.monitor.fold,
                &[&inner.tables.schema],
            )
            .await
            .map(drop)
    }

    /// Deletes expired periods and passed due seconds, at most once a
    /// minute per process.
    async fn prune(&self, now: i64) -> Result<(), QueueError> {
        let inner = &self.inner;
        let last = inner.pruned_at.load(Ordering::Relaxed);
        if now - last < PRUNE_EVERY_MS
            || inner
                .pruned_at
                .compare_exchange(last, now, Ordering::AcqRel, Ordering::Relaxed)
                .is_err()
        {
            return Ok(());
        }
        let sql = &inner.tables.monitor;
        for resolution in Resolution::ALL {
            let oldest = now - resolution.retention().as_millis() as i64;
            inner
                .execute(
                    Via::Worker,
                    "cannot prune the queue's figures",
                    &sql.prune_tallies,
                    &[&resolution.code(), &oldest],
                )
                .await?;
        }
        inner
            .execute(
                Via::Worker,
                "cannot prune the queue counters",
                &sql.prune_due,
                &[&(now / 1000)],
            )
            .await
            .map(drop)
    }
}

#[async_trait]
impl Monitoring for PostgresBackend {
    async fn record(&self, tallies: Vec<Tally>) -> Result<(), QueueError> {
        let now = now_ms();
        if !tallies.is_empty() {
            let c = Columns::of(&tallies);
            let mut params: Vec<&(dyn ToSql + Sync)> =
                vec![&c.resolutions, &c.starts, &c.queues, &c.jobs];
            params.extend(c.figures.iter().map(|f| f as &(dyn ToSql + Sync)));
            self.inner
                .execute(
                    Via::Worker,
                    "cannot record the queue's figures",
                    &self.inner.tables.monitor.record,
                    &params,
                )
                .await?;
        }
        self.fold().await?;
        self.prune(now).await
    }

    async fn tallies(
        &self,
        resolution: Resolution,
        since_ms: i64,
    ) -> Result<Vec<Tally>, QueueError> {
        let rows = self
            .inner
            .query(
                Via::Dispatch,
                "cannot read the queue's figures",
                &self.inner.tables.monitor.tallies,
                &[&resolution.code(), &since_ms],
            )
            .await?;
        Ok(rows.iter().map(tally_of).collect())
    }

    async fn gauges(&self) -> Result<Vec<QueueGauge>, QueueError> {
        self.fold().await?;
        let now = now_ms();
        let rows = self
            .inner
            .query(
                Via::Dispatch,
                "cannot read the queues' gauges",
                &self.inner.tables.monitor.gauges,
                &[&(now / 1000)],
            )
            .await?;
        Ok(rows
            .iter()
            .map(|r| {
                let n = |i: usize| r.get::<_, i64>(i).max(0) as u64;
                let (unclaimed, delayed) = (n(1), n(2));
                let oldest: Option<i64> = r.get(6);
                QueueGauge {
                    queue: r.get(0),
                    pending: unclaimed.saturating_sub(delayed),
                    delayed: delayed.min(unclaimed),
                    running: n(3),
                    failed: n(4),
                    paused: r.get(5),
                    oldest_pending_ms: oldest
                        .filter(|&at| at <= now)
                        .map_or(0, |at| (now - at) as u64),
                }
            })
            .collect())
    }

    async fn set_paused(&self, queue: &str, paused: bool) -> Result<(), QueueError> {
        let inner = &self.inner;
        inner
            .execute(
                Via::Dispatch,
                "cannot pause or resume a queue",
                &inner.tables.monitor.set_paused,
                &[&queue, &paused, &inner.tables.channel],
            )
            .await?;
        self.forget_signals();
        Ok(())
    }

    async fn signals(&self) -> Result<Signals, QueueError> {
        let inner = &self.inner;
        let now = now_ms();
        // Listening, a change is notified: no query while none comes (an
        // idle worker stays silent), and at least one every 30 s. The first
        // read waits a moment for the LISTEN connection, so what it reads
        // is covered by the notifications that follow.
        if !inner.wake.listening() {
            inner
                .wake
                .ensure_listening(&inner.config, &inner.tables.channel);
            inner.wake.until_listening(LISTEN_FIRST).await;
        }
        let generation = inner.wake.signals_generation();
        if inner.wake.listening() {
            let read = inner.signals_read.lock().unwrap_or_else(|e| e.into_inner());
            if let Some((seen, at, signals)) = read.as_ref()
                && *seen == generation
                && now - at < SIGNALS_FRESH_MS
            {
                if !signals.paused.is_empty() {
                    inner.paused_seen_at.store(now, Ordering::Relaxed);
                }
                return Ok(signals.clone());
            }
        }
        let rows = inner
            .query(
                Via::Worker,
                "cannot read the paused queues",
                &inner.tables.monitor.signals,
                &[],
            )
            .await?;
        let row = rows.first();
        let paused: Vec<String> = row
            .and_then(|r| r.get::<_, Option<Vec<String>>>(0))
            .unwrap_or_default();
        if !paused.is_empty() {
            inner.paused_seen_at.store(now, Ordering::Relaxed);
        }
        let signals = Signals {
            paused,
            restart_at_ms: row.and_then(|r| r.get(1)),
        };
        *inner.signals_read.lock().unwrap_or_else(|e| e.into_inner()) =
            Some((generation, now, signals.clone()));
        Ok(signals)
    }

    async fn request_restart(&self, at_ms: i64) -> Result<(), QueueError> {
        let inner = &self.inner;
        inner
            .execute(
                Via::Dispatch,
                "cannot ask the workers to restart",
                &inner.tables.monitor.restart,
                &[&at_ms, &inner.tables.channel],
            )
            .await?;
        self.forget_signals();
        Ok(())
    }

    async fn beat(&self, beat: &WorkerBeat) -> Result<(), QueueError> {
        let json = serde_json::to_string(beat)
            .map_err(|e| self.inner.json("encode a worker's beat", e))?;
        self.inner
            .execute(
                Via::Worker,
                "cannot register a worker",
                &self.inner.tables.monitor.beat,
                &[&beat.id, &beat.last_beat_ms, &json],
            )
            .await
            .map(drop)
    }

    async fn unregister(&self, id: &str) -> Result<(), QueueError> {
        self.inner
            .execute(
                Via::Worker,
                "cannot unregister a worker",
                &self.inner.tables.monitor.unregister,
                &[&id],
            )
            .await
            .map(drop)
    }

    async fn workers(&self) -> Result<Vec<WorkerBeat>, QueueError> {
        let inner = &self.inner;
        let rows = inner
            .query(
                Via::Dispatch,
                "cannot list workers",
                &inner.tables.monitor.workers,
                &[],
            )
            .await?;
        let now = now_ms();
        let mut alive = Vec::with_capacity(rows.len());
        let mut gone: Vec<String> = Vec::new();
        for row in &rows {
            let id: String = row.get(0);
            match serde_json::from_str::<WorkerBeat>(row.get(1)) {
                Ok(beat) if !beat.is_gone(now) => alive.push(beat),
                Ok(_) => gone.push(id),
                Err(e) => {
                    tracing::warn!(url = %inner.url, worker = %id, error = %e, "dropping a worker beat that is not readable");
                    gone.push(id);
                }
            }
        }
        if !gone.is_empty() {
            inner
                .execute(
                    Via::Dispatch,
                    "cannot drop gone workers",
                    &inner.tables.monitor.drop_workers,
                    &[&gone],
                )
                .await?;
        }
        Ok(alive)
    }

    async fn clear_queue(&self, queue: &str) -> Result<u64, QueueError> {
        self.inner
            .execute(
                Via::Dispatch,
                "cannot clear a queue",
                &self.inner.tables.monitor.clear_queue,
                &[&queue],
            )
            .await
    }
}
