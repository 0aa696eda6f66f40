//! Queue throughput end to end (dispatch -> worker -> listener done) against
//! a hand-written raw ceiling measured in the same run.
//!
//! `cargo bench -p event-core --bench queue`
//!
//! For each connection, 10,000 small jobs, worker concurrency 1 and 8, the
//! jobs dispatched by 32 tasks at once while the worker runs. Beside each:
//! - memory: tokio mpsc channels (one per consumer) feeding the same listener calls;
//! - sqlite: the same insert, claim and delete done by hand with rusqlite in
//!   one transaction per job, on a file with the same pragmas;
//! - redis: the same XADD / XREADGROUP / XACK+XDEL pipelined by hand, 128 deep;
//! - postgres: the same SQL by hand on one connection, 128 jobs a statement:
//!   insert (`unnest`), claim (`FOR UPDATE SKIP LOCKED`), delete.
//!
//! Redis is measured when `EVENTS_TEST_REDIS_URL` (or redis://127.0.0.1:6379)
//! answers; PostgreSQL with `--features postgres`, at `EVENTS_TEST_POSTGRES_URL`
//! (or postgres://postgres@127.0.0.1:5432/test), each run in a schema of its
//! own, dropped after; for postgres it also measures add-to-start latency on
//! an idle worker (dispatch to the listener starting). `QUEUE_BENCH_JOBS`
//! changes the job count; `QUEUE_BENCH_ONLY=memory` (or `sqlite`, `redis`,
//! `postgres`) measures one connection; `QUEUE_BENCH_CONCURRENCY=8` one
//! concurrency. Each row prints the ratio of the medians of its rounds and,
//! beside it, the ratio of the bests; `QUEUE_BENCH_ROUNDS=1` also prints
//! every round in the order run (thousands of jobs/s), to pool rounds over
//! several runs.
//!
//! `QUEUE_BENCH_PROFILE=memory|raw[:concurrency[:rounds]]` runs only ours on
//! the memory connection (or only the mpsc ceiling) for `rounds` rounds
//! (default 20) and exits, for `valgrind --tool=callgrind` instruction
//! counts, which a busy machine cannot skew.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use event_core::queue::{JobRegistry, Queue, Worker};
use event_core::{Dispatcher, Event, EventListener, ListenerOptions};
use tokio::sync::Notify;

const DISPATCHERS: u64 = 32;
/// Rounds per figure (median and best): the machine is shared, and a busy
/// neighbour slows one run, not the code.
const ROUNDS: usize = 3;
/// A memory run of 10,000 jobs takes a few milliseconds: a scheduler hiccup
/// is a large share of it, so memory gets more rounds (ours and raw alike).
const MEMORY_ROUNDS: usize = 15;

#[derive(Debug, serde::Serialize, serde::Deserialize)]
struct Tick {
    n: u64,
}

impl Event for Tick {
    fn event_name(&self) -> &'static str {
        "Tick"
    }
    fn to_json(&self) -> serde_json::Value {
        serde_json::json!({ "n": self.n })
    }
}

/// Counts handled jobs and wakes the bench at the target.
struct Count {
    done: AtomicU64,
    sum: AtomicU64,
    target: AtomicU64,
    finished: Notify,
}

impl Count {
    fn new() -> Arc<Self> {
        Arc::new(Self {
            done: AtomicU64::new(0),
            sum: AtomicU64::new(0),
            target: AtomicU64::new(u64::MAX),
            finished: Notify::new(),
        })
    }

    fn reset(&self, target: u64) {
        self.done.store(0, Ordering::SeqCst);
        self.target.store(target, Ordering::SeqCst);
    }

    fn hit(&self, n: u64) {
        self.sum.fetch_add(n, Ordering::Relaxed);
        if self.done.fetch_add(1, Ordering::AcqRel) + 1 == self.target.load(Ordering::Acquire) {
            self.finished.notify_one();
        }
    }
}

struct CountListener(Arc<Count>);

#[async_trait]
impl EventListener for CountListener {
    async fn handle(&self, event: Arc<dyn Event>) -> anyhow::Result<()> {
        let n = event.downcast_ref::<Tick>().map_or(0, |t| t.n);
        self.0.hit(n);
        Ok(())
    }
    fn should_queue(&self) -> bool {
        true
    }
    fn listener_name(&self) -> &str {
        "count"
    }
    fn options(&self) -> ListenerOptions {
        ListenerOptions {
            queued: true,
            retry: true,
            ..ListenerOptions::default()
        }
    }
}

fn rate(jobs: u64, took: Duration) -> f64 {
    jobs as f64 / took.as_secs_f64()
}

/// Dispatch `jobs` events through `queue` while a worker runs them.
async fn ours(queue: Queue, jobs: u64, concurrency: usize) -> f64 {
    ours_with(queue, jobs, concurrency, true).await
}

/// [`ours`], with the worker's figures (stats, metrics, completed list) on or off.
async fn ours_with(queue: Queue, jobs: u64, concurrency: usize, figures: bool) -> f64 {
    let count = Count::new();
    let listener: Arc<dyn EventListener> = Arc::new(CountListener(count.clone()));
    let dispatcher = Dispatcher::new();
    queue.install(&dispatcher).await;
    dispatcher.listen::<Tick>(listener.clone()).await;
    let registry = JobRegistry::new().listener::<Tick>(listener);
    count.reset(jobs);
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let worker = Worker::new(queue.clone(), registry)
        .queues(["events"])
        .concurrency(concurrency)
        .figures(figures)
        .poll_interval(Duration::from_millis(5));
    let worker = tokio::spawn(worker.run_until(async move {
        let _ = stopped.await;
    }));
    let finished = count.finished.notified();
    tokio::pin!(finished);
    finished.as_mut().enable();
    let start = Instant::now();
    let mut producers = Vec::new();
    for t in 0..DISPATCHERS {
        let d = dispatcher.clone();
        producers.push(tokio::spawn(async move {
            let mut n = t;
            while n < jobs {
                if let Err(e) = d.dispatch(Tick { n }).await {
                    eprintln!("dispatch failed: {e:#}");
                }
                n += DISPATCHERS;
            }
        }));
    }
    for p in producers {
        let _ = p.await;
    }
    finished.await;
    let took = start.elapsed();
    let _ = stop.send(());
    let _ = worker.await;
    rate(jobs, took)
}

/// The memory ceiling: mpsc channels straight into the listener.
async fn raw_memory(jobs: u64, concurrency: usize) -> f64 {
    let count = Count::new();
    let listener: Arc<dyn EventListener> = Arc::new(CountListener(count.clone()));
    count.reset(jobs);
    let finished = count.finished.notified();
    tokio::pin!(finished);
    finished.as_mut().enable();
    let start = Instant::now();
    let mut senders = Vec::new();
    for _ in 0..concurrency {
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<Arc<dyn Event>>();
        let l = listener.clone();
        tokio::spawn(async move {
            while let Some(e) = rx.recv().await {
                let _ = l.handle(e).await;
            }
        });
        senders.push(tx);
    }
    let senders = Arc::new(senders);
    let mut producers = Vec::new();
    for t in 0..DISPATCHERS {
        let senders = senders.clone();
        producers.push(tokio::spawn(async move {
            let mut n = t;
            while n < jobs {
                let _ = senders[(n as usize) % senders.len()].send(Arc::new(Tick { n }));
                n += DISPATCHERS;
            }
        }));
    }
    for p in producers {
        let _ = p.await;
    }
    finished.await;
    rate(jobs, start.elapsed())
}

/// The sqlite ceiling: per job, one transaction doing by hand the insert,
/// the claim and (after the listener call) the delete.
async fn raw_sqlite(path: &std::path::Path, jobs: u64) -> anyhow::Result<f64> {
    use rusqlite::params;
    let count = Count::new();
    let listener: Arc<dyn EventListener> = Arc::new(CountListener(count.clone()));
    let conn = rusqlite::Connection::open(path)?;
    conn.pragma_update(None, "journal_mode", "WAL")?;
    conn.pragma_update(None, "synchronous", "NORMAL")?;
    conn.execute_batch(
        "CREATE TABLE jobs (seq INTEGER PRIMARY KEY AUTOINCREMENT, queue TEXT NOT NULL,
            priority INTEGER NOT NULL, available_at INTEGER NOT NULL,
            reserved_until INTEGER NOT NULL DEFAULT 0, attempts INTEGER NOT NULL DEFAULT 0,
            payload TEXT NOT NULL);
         CREATE INDEX jobs_fetch ON jobs (queue, priority DESC, seq);",
    )?;
    let start = Instant::now();
    for n in 0..jobs {
        let payload = serde_json::json!({ "event": "Tick", "payload": { "n": n } }).to_string();
        let tx = conn.unchecked_transaction()?;
        tx.prepare_cached(
            "INSERT INTO jobs (queue, priority, available_at, payload) VALUES ('events', 0, 0, ?1)",
        )?
        .execute(params![payload])?;
        let (seq, body): (i64, String) = tx
            .prepare_cached(
                "UPDATE jobs SET reserved_until = 1, attempts = attempts + 1 WHERE seq =
                 (SELECT seq FROM jobs WHERE queue = 'events' AND reserved_until <= 0
                  ORDER BY priority DESC, seq LIMIT 1) RETURNING seq, payload",
            )?
            .query_row([], |r| Ok((r.get(0)?, r.get(1)?)))?;
        let value: serde_json::Value = serde_json::from_str(&body)?;
        let n = value["payload"]["n"].as_u64().unwrap_or(0);
        listener.handle(Arc::new(Tick { n })).await?;
        tx.prepare_cached("DELETE FROM jobs WHERE seq = ?1")?
            .execute(params![seq])?;
        tx.commit()?;
    }
    Ok(rate(jobs, start.elapsed()))
}

/// The redis ceiling: XADD, XREADGROUP, XACK + XDEL pipelined 128 deep.
async fn raw_redis(url: &str, jobs: u64) -> anyhow::Result<f64> {
    let count = Count::new();
    let listener: Arc<dyn EventListener> = Arc::new(CountListener(count.clone()));
    let client = redis::Client::open(url)?;
    let mut conn = client.get_multiplexed_async_connection().await?;
    let stream = format!("{{bench-raw-{}}}:s", ulid::Ulid::new());
    let _: () = redis::cmd("XGROUP")
        .arg("CREATE")
        .arg(&stream)
        .arg("g")
        .arg("0")
        .arg("MKSTREAM")
        .query_async(&mut conn)
        .await?;
    const DEPTH: u64 = 128;
    let start = Instant::now();
    let mut sent = 0;
    while sent < jobs {
        let mut pipe = redis::pipe();
        for n in sent..(sent + DEPTH).min(jobs) {
            let body = serde_json::json!({ "event": "Tick", "payload": { "n": n } }).to_string();
            pipe.cmd("XADD")
                .arg(&stream)
                .arg("*")
                .arg("job")
                .arg(body)
                .ignore();
        }
        pipe.query_async::<()>(&mut conn).await?;
        sent += DEPTH;
    }
    let mut handled = 0;
    while handled < jobs {
        let reply: redis::streams::StreamReadReply = redis::cmd("XREADGROUP")
            .arg("GROUP")
            .arg("g")
            .arg("c")
            .arg("COUNT")
            .arg(DEPTH)
            .arg("STREAMS")
            .arg(&stream)
            .arg(">")
            .query_async(&mut conn)
            .await?;
        let mut ids = Vec::new();
        for key in reply.keys {
            for entry in key.ids {
                let body: String = entry.get("job").unwrap_or_default();
                let value: serde_json::Value = serde_json::from_str(&body)?;
                let n = value["payload"]["n"].as_u64().unwrap_or(0);
                listener.handle(Arc::new(Tick { n })).await?;
                ids.push(entry.id);
            }
        }
        handled += ids.len() as u64;
        let mut pipe = redis::pipe();
        pipe.cmd("XACK").arg(&stream).arg("g").arg(&ids).ignore();
        pipe.cmd("XDEL").arg(&stream).arg(&ids).ignore();
        pipe.query_async::<()>(&mut conn).await?;
    }
    let took = start.elapsed();
    let _: () = redis::cmd("DEL")
        .arg(&stream)
        .query_async(&mut conn)
        .await?;
    Ok(rate(jobs, took))
}

/// A fresh schema name for one run.
fn bench_schema(what: &str) -> String {
    format!(
        "bench_{what}_{}",
        ulid::Ulid::new().to_string().to_lowercase()
    )
}

async fn pg_client(url: &str) -> anyhow::Result<tokio_postgres::Client> {
    let (client, connection) = tokio_postgres::connect(url, tokio_postgres::NoTls).await?;
    tokio::spawn(connection);
    Ok(client)
}

/// The postgres ceiling: the same statements as the connection, by hand on
/// one connection, 128 jobs a statement: insert them all, then claim 128
/// with SKIP LOCKED, call the listener, delete them, until done.
async fn raw_postgres(url: &str, jobs: u64) -> anyhow::Result<f64> {
    let count = Count::new();
    let listener: Arc<dyn EventListener> = Arc::new(CountListener(count.clone()));
    let client = pg_client(url).await?;
    let schema = bench_schema("raw");
    let t = format!("\"{schema}\".jobs");
    client
        .batch_execute(&format!(
            "CREATE SCHEMA \"{schema}\";
             CREATE TABLE {t} (seq bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
                 queue text NOT NULL, priority integer NOT NULL, available_at bigint NOT NULL,
                 reserved_until bigint NOT NULL DEFAULT 0, token text,
                 attempts integer NOT NULL DEFAULT 0, payload text NOT NULL);
             CREATE INDEX ON {t} (queue, priority DESC, seq);"
        ))
        .await?;
    let insert = client
        .prepare(&format!(
            "INSERT INTO {t} (queue, priority, available_at, payload)
             SELECT 'events', 0, 0, p FROM unnest($1::text[]) AS p"
        ))
        .await?;
    let claim = client
        .prepare(&format!(
            "WITH picked AS (SELECT seq FROM {t} WHERE queue = 'events' AND available_at <= $1
                 AND reserved_until <= $1 ORDER BY priority DESC, seq LIMIT 128 FOR UPDATE SKIP LOCKED)
             UPDATE {t} AS j SET reserved_until = $1 + 90000, token = 'raw', attempts = j.attempts + 1
             FROM picked WHERE j.seq = picked.seq RETURNING j.seq, j.payload"
        ))
        .await?;
    let delete = client
        .prepare(&format!("DELETE FROM {t} WHERE seq = ANY($1)"))
        .await?;
    const DEPTH: u64 = 128;
    let start = Instant::now();
    let mut sent = 0;
    while sent < jobs {
        let bodies: Vec<String> = (sent..(sent + DEPTH).min(jobs))
            .map(|n| serde_json::json!({ "event": "Tick", "payload": { "n": n } }).to_string())
            .collect();
        client.execute(&insert, &[&bodies]).await?;
        sent += DEPTH;
    }
    let mut handled = 0;
    while handled < jobs {
        let now = chrono::Utc::now().timestamp_millis();
        let rows = client.query(&claim, &[&now]).await?;
        let mut seqs = Vec::with_capacity(rows.len());
        for row in &rows {
            let value: serde_json::Value = serde_json::from_str(row.get(1))?;
            let n = value["payload"]["n"].as_u64().unwrap_or(0);
            listener.handle(Arc::new(Tick { n })).await?;
            seqs.push(row.get::<_, i64>(0));
        }
        handled += seqs.len() as u64;
        client.execute(&delete, &[&seqs]).await?;
    }
    let took = start.elapsed();
    client
        .batch_execute(&format!("DROP SCHEMA \"{schema}\" CASCADE"))
        .await?;
    Ok(rate(jobs, took))
}

/// Records when the listener starts.
#[cfg(feature = "postgres")]
struct StartListener(tokio::sync::mpsc::UnboundedSender<Instant>);

#[cfg(feature = "postgres")]
#[async_trait]
impl EventListener for StartListener {
    async fn handle(&self, _event: Arc<dyn Event>) -> anyhow::Result<()> {
        let _ = self.0.send(Instant::now());
        Ok(())
    }
    fn should_queue(&self) -> bool {
        true
    }
    fn listener_name(&self) -> &str {
        "start"
    }
    fn options(&self) -> ListenerOptions {
        ListenerOptions {
            queued: true,
            retry: true,
            ..ListenerOptions::default()
        }
    }
}

/// Dispatch to listener start on an idle worker (it has waited 50 ms since
/// its last job, so it sleeps on LISTEN), `samples` times.
#[cfg(feature = "postgres")]
async fn add_to_start(queue: Queue, samples: usize) -> anyhow::Result<Vec<Duration>> {
    let (started, mut starts) = tokio::sync::mpsc::unbounded_channel();
    let listener: Arc<dyn EventListener> = Arc::new(StartListener(started));
    let dispatcher = Dispatcher::new();
    queue.install(&dispatcher).await;
    dispatcher.listen::<Tick>(listener.clone()).await;
    let registry = JobRegistry::new().listener::<Tick>(listener);
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let worker = tokio::spawn(
        Worker::new(queue.clone(), registry)
            .queues(["events"])
            .run_until(async move {
                let _ = stopped.await;
            }),
    );
    tokio::time::sleep(Duration::from_millis(300)).await;
    let mut latencies = Vec::with_capacity(samples);
    for n in 0..samples as u64 {
        let sent = Instant::now();
        dispatcher.dispatch(Tick { n }).await?;
        let Some(began) = starts.recv().await else {
            anyhow::bail!("the worker stopped");
        };
        latencies.push(began - sent);
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let _ = stop.send(());
    let _ = worker.await;
    latencies.sort();
    Ok(latencies)
}

#[cfg(feature = "postgres")]
async fn bench_postgres(concurrencies: &[usize], jobs: u64) -> anyhow::Result<()> {
    let base = std::env::var("EVENTS_TEST_POSTGRES_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".into());
    let admin = match pg_client(&base).await {
        Ok(client) => client,
        Err(e) => {
            println!("postgres skipped: {e}");
            return Ok(());
        }
    };
    let sep = if base.contains('?') { '&' } else { '?' };
    let open = async |schema: &str| Queue::open(&format!("{base}{sep}schema={schema}")).await;
    for &concurrency in concurrencies {
        let (mut ours_runs, mut raw_runs) = (Vec::new(), Vec::new());
        for _ in 0..ROUNDS {
            raw_runs.push(raw_postgres(&base, jobs).await?);
            let schema = bench_schema("ours");
            let queue = open(&schema).await?;
            ours_runs.push(ours(queue, jobs, concurrency).await);
            admin
                .batch_execute(&format!("DROP SCHEMA \"{schema}\" CASCADE"))
                .await?;
        }
        row("postgres", concurrency, &mut ours_runs, &mut raw_runs);
    }
    let schema = bench_schema("latency");
    let latencies = add_to_start(open(&schema).await?, 40).await?;
    admin
        .batch_execute(&format!("DROP SCHEMA \"{schema}\" CASCADE"))
        .await?;
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    println!(
        "postgres add-to-start on an idle worker ({} samples): median {:.2} ms, best {:.2} ms, p90 {:.2} ms, worst {:.2} ms",
        latencies.len(),
        ms(latencies[latencies.len() / 2]),
        ms(latencies[0]),
        ms(latencies[latencies.len() * 9 / 10]),
        ms(latencies[latencies.len() - 1]),
    );
    Ok(())
}

#[cfg(not(feature = "postgres"))]
async fn bench_postgres(_concurrencies: &[usize], jobs: u64) -> anyhow::Result<()> {
    let _ = (raw_postgres, jobs);
    println!("postgres skipped: run with --features postgres");
    Ok(())
}

/// The median and the best of `runs` (sorted in place).
fn median_best(runs: &mut [f64]) -> (f64, f64) {
    runs.sort_by(f64::total_cmp);
    (runs[runs.len() / 2], runs[runs.len() - 1])
}

fn row(connection: &str, concurrency: usize, ours: &mut [f64], raw: &mut [f64]) {
    if std::env::var_os("QUEUE_BENCH_ROUNDS").is_some() {
        // Each round in the order run, thousands of jobs/s.
        let k = |runs: &[f64]| {
            runs.iter()
                .map(|r| format!("{:.0}", r / 1e3))
                .collect::<Vec<_>>()
        };
        println!("  rounds ours {:?}", k(ours));
        println!("  rounds raw  {:?}", k(raw));
    }
    let (ours_median, ours_best) = median_best(ours);
    let (raw_median, raw_best) = median_best(raw);
    println!(
        "{connection:<7} concurrency {concurrency}: median {ours_median:>10.0} jobs/s vs raw {raw_median:>10.0} ({:>5.1}%)   best {ours_best:>10.0} vs {raw_best:>10.0} ({:>5.1}%)",
        100.0 * ours_median / raw_median,
        100.0 * ours_best / raw_best
    );
}

/// `QUEUE_BENCH_PROFILE`: one side only, for callgrind.
async fn profile(spec: &str, jobs: u64) {
    let mut parts = spec.split(':');
    let side = parts.next().unwrap_or("memory");
    let concurrency = parts.next().and_then(|c| c.parse().ok()).unwrap_or(1);
    let rounds: usize = parts.next().and_then(|r| r.parse().ok()).unwrap_or(20);
    for _ in 0..rounds {
        match side {
            "raw" => raw_memory(jobs, concurrency).await,
            _ => ours(Queue::memory(), jobs, concurrency).await,
        };
    }
    println!("{side} concurrency {concurrency}: {rounds} rounds of {jobs} jobs");
}

async fn redis_queue(url: &str) -> Option<(Queue, String)> {
    let sep = if url.contains('?') { '&' } else { '?' };
    let prefixed = format!("{url}{sep}prefix=bench-{}", ulid::Ulid::new());
    match Queue::open(&prefixed).await {
        Ok(q) => Some((q, prefixed)),
        Err(e) => {
            println!("redis   skipped: {e}");
            None
        }
    }
}

/// `QUEUE_BENCH_FIGURES=1`: what the worker's figures cost. Each
/// connection runs the same workload with the worker's figures on (the
/// default) and off (`Worker::figures(false)`), alternating, and prints the
/// ratio of the medians (and of the bests). The counters a connection keeps
/// as jobs are written (gauges) are on in both: they are part of every write.
async fn figures_overhead(
    concurrencies: &[usize],
    jobs: u64,
    wanted: &dyn Fn(&str) -> bool,
) -> anyhow::Result<()> {
    println!(
        "figures on vs off, {jobs} jobs (median and best of {ROUNDS} rounds, {MEMORY_ROUNDS} for memory, alternating)"
    );
    let print = |name: &str, c: usize, on: &mut Vec<f64>, off: &mut Vec<f64>| {
        let (on_median, on_best) = median_best(on);
        let (off_median, off_best) = median_best(off);
        println!(
            "{name:<8} concurrency {c}: on {on_median:>10.0} jobs/s vs off {off_median:>10.0} ({:>5.1}%)   best {on_best:>10.0} vs {off_best:>10.0} ({:>5.1}%)",
            100.0 * on_median / off_median,
            100.0 * on_best / off_best,
        );
    };
    for &c in concurrencies.iter().filter(|_| wanted("memory")) {
        let (mut on, mut off) = (Vec::new(), Vec::new());
        for _ in 0..MEMORY_ROUNDS {
            off.push(ours_with(Queue::memory(), jobs, c, false).await);
            on.push(ours_with(Queue::memory(), jobs, c, true).await);
        }
        print("memory", c, &mut on, &mut off);
    }
    for &c in concurrencies.iter().filter(|_| wanted("sqlite")) {
        let (mut on, mut off) = (Vec::new(), Vec::new());
        for _ in 0..ROUNDS {
            for figures in [false, true] {
                let dir = tempfile::tempdir()?;
                let url = format!("sqlite://{}/jobs.db", dir.path().display());
                let rate = ours_with(Queue::open(&url).await?, jobs, c, figures).await;
                if figures {
                    on.push(rate)
                } else {
                    off.push(rate)
                }
            }
        }
        print("sqlite", c, &mut on, &mut off);
    }
    let url =
        std::env::var("EVENTS_TEST_REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".into());
    'redis: for &c in concurrencies.iter().filter(|_| wanted("redis")) {
        let (mut on, mut off) = (Vec::new(), Vec::new());
        for _ in 0..ROUNDS {
            for figures in [false, true] {
                let Some((queue, _)) = redis_queue(&url).await else {
                    break 'redis;
                };
                let rate = ours_with(queue.clone(), jobs, c, figures).await;
                queue.clear().await?;
                if figures {
                    on.push(rate)
                } else {
                    off.push(rate)
                }
            }
        }
        print("redis", c, &mut on, &mut off);
    }
    #[cfg(feature = "postgres")]
    if wanted("postgres") {
        let base = std::env::var("EVENTS_TEST_POSTGRES_URL")
            .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".into());
        let admin = pg_client(&base).await?;
        let sep = if base.contains('?') { '&' } else { '?' };
        for &c in concurrencies {
            let (mut on, mut off) = (Vec::new(), Vec::new());
            for _ in 0..ROUNDS {
                for figures in [false, true] {
                    let schema = bench_schema("figures");
                    let queue = Queue::open(&format!("{base}{sep}schema={schema}")).await?;
                    let rate = ours_with(queue, jobs, c, figures).await;
                    admin
                        .batch_execute(&format!("DROP SCHEMA \"{schema}\" CASCADE"))
                        .await?;
                    if figures {
                        on.push(rate)
                    } else {
                        off.push(rate)
                    }
                }
            }
            print("postgres", c, &mut on, &mut off);
        }
    }
    Ok(())
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> anyhow::Result<()> {
    // `cargo bench` passes `--bench`; nothing else to parse.
    let jobs: u64 = std::env::var("QUEUE_BENCH_JOBS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(10_000);
    // `QUEUE_BENCH_ONLY=memory|sqlite|redis|postgres` measures one connection.
    let only = std::env::var("QUEUE_BENCH_ONLY").unwrap_or_default();
    let wanted = |name: &str| only.is_empty() || only == name;
    let concurrencies: Vec<usize> = match std::env::var("QUEUE_BENCH_CONCURRENCY") {
        Ok(c) => vec![c.parse()?],
        Err(_) => vec![1, 8],
    };
    if let Ok(spec) = std::env::var("QUEUE_BENCH_PROFILE") {
        profile(&spec, jobs).await;
        return Ok(());
    }
    if std::env::var("QUEUE_BENCH_FIGURES").is_ok_and(|v| v == "1") {
        return figures_overhead(&concurrencies, jobs, &wanted).await;
    }
    println!(
        "queue throughput, {jobs} jobs, dispatched by {DISPATCHERS} tasks while the worker runs \
         (median and best of {ROUNDS} rounds each, {MEMORY_ROUNDS} for memory, alternating ours and raw)"
    );
    for concurrency in concurrencies.iter().copied().filter(|_| wanted("memory")) {
        let (mut got, mut raw) = (Vec::new(), Vec::new());
        for _ in 0..MEMORY_ROUNDS {
            raw.push(raw_memory(jobs, concurrency).await);
            got.push(ours(Queue::memory(), jobs, concurrency).await);
        }
        row("memory", concurrency, &mut got, &mut raw);
    }
    for concurrency in concurrencies.iter().copied().filter(|_| wanted("sqlite")) {
        let (mut got, mut raw) = (Vec::new(), Vec::new());
        for _ in 0..ROUNDS {
            let dir = tempfile::tempdir()?;
            raw.push(raw_sqlite(&dir.path().join("raw.db"), jobs).await?);
            let url = format!("sqlite://{}/jobs.db", dir.path().display());
            got.push(ours(Queue::open(&url).await?, jobs, concurrency).await);
        }
        row("sqlite", concurrency, &mut got, &mut raw);
    }
    let url =
        std::env::var("EVENTS_TEST_REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".into());
    'redis: for concurrency in concurrencies.iter().copied().filter(|_| wanted("redis")) {
        let (mut got, mut raw) = (Vec::new(), Vec::new());
        for _ in 0..ROUNDS {
            let Some((queue, _)) = redis_queue(&url).await else {
                break 'redis;
            };
            raw.push(raw_redis(&url, jobs).await?);
            got.push(ours(queue.clone(), jobs, concurrency).await);
            queue.clear().await?;
        }
        row("redis", concurrency, &mut got, &mut raw);
    }
    if wanted("postgres") {
        bench_postgres(&concurrencies, jobs).await?;
    }
    Ok(())
}
