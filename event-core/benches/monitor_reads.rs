//! Monitoring reads at scale: each stored connection (sqlite, redis,
//! postgres) is seeded with a backlog of waiting jobs, 10,000 failed jobs
//! and 48 hours of figures, then each read a dashboard or `queue:stats`
//! makes is timed, at a backlog of 10,000 and of 1,000,000 jobs. Flat
//! figures between the two show the reads do not depend on how many jobs
//! there are (every figure is kept as jobs are written).
//!
//! `cargo bench -p event-core --features postgres --bench monitor_reads`
//!
//! `MONITOR_BENCH_BACKLOGS=10000,1000000` (the default) sets the backlogs,
//! `MONITOR_BENCH_ONLY=sqlite|redis|postgres` one connection. Each read is
//! timed 50 times; the table prints p50, p95 and the best, in ms, and the
//! machine's load average.

use std::time::{Duration, Instant};

use event_core::queue::monitor::{Histogram, Resolution, StatsQuery, Tally, WorkerBeat};
use event_core::queue::{FailedJob, FailedQuery, Job, JobEnvelope, JobSettings, Queue};

const FAILED: usize = 10_000;
const SAMPLES: usize = 50;
const NAMES: [&str; 5] = [
    "app::listeners::ChargeCard",
    "app::listeners::SendInvoice",
    "app::listeners::SendWelcome",
    "app::listeners::UpdateStats",
    "app::listeners::NotifySlack",
];

fn envelope(n: usize, now: i64) -> JobEnvelope {
    let settings = JobSettings {
        tags: vec![format!("order:{}", n % 500)],
        ..JobSettings::default()
    };
    JobEnvelope {
        id: ulid::Ulid::new().to_string(),
        event: "OrderPlaced".into(),
        payload: serde_json::json!({ "order": n }),
        listener: Some(NAMES[n % NAMES.len()].to_string()),
        queue: ["default", "emails", "payments"][n % 3].to_string(),
        attempts: 0,
        exceptions: 0,
        settings,
        priority: 0,
        available_at: now - 1_000,
        created_at: now - 1_000,
        event_id: Some(ulid::Ulid::new().to_string()),
        correlation_id: Some(ulid::Ulid::new().to_string()),
        retried_at: None,
        traceparent: None,
        sealed: None,
        history: Vec::new(),
    }
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

/// Grows the backlog to `total` waiting jobs.
async fn seed_backlog(queue: &Queue, from: usize, total: usize) -> anyhow::Result<()> {
    let backend = queue.backend()?;
    let now = now_ms();
    let mut n = from;
    while n < total {
        let batch: Vec<Job> = (n..(n + 5_000).min(total))
            .map(|i| Job::from_envelope(envelope(i, now)))
            .collect();
        n += batch.len();
        backend.push(batch).await?;
    }
    Ok(())
}

/// 10,000 failed jobs, 20 kinds of error; 48 hours of figures for five jobs
/// on three queues (what a million completed jobs leave behind).
async fn seed_history(queue: &Queue) -> anyhow::Result<()> {
    let backend = queue.backend()?;
    let now = now_ms();
    for n in 0..FAILED {
        let envelope = envelope(n, now);
        backend
            .failed_restore(FailedJob {
                id: envelope.id.clone(),
                queue: envelope.queue.clone(),
                reason: format!(
                    "listener failed: card declined for order {n} (code {})",
                    n % 20
                ),
                attempts: 3,
                failed_at: now - (FAILED - n) as i64 * 1_000,
                payload: envelope,
            })
            .await?;
    }
    let start = Resolution::Minute.start_of(now - 48 * 3_600_000);
    let mut tallies = Vec::new();
    for minute in 0..(48 * 60) {
        for (i, name) in NAMES.iter().enumerate() {
            let mut tally = Tally::new(
                ["default", "emails", "payments"][i % 3],
                *name,
                start + minute * 60_000,
            );
            tally.processed = 70;
            tally.failed = 1;
            let mut h = Histogram::default();
            for ms in [3, 8, 20, 45, 120, 300] {
                h.add(ms);
            }
            tally.wait = h;
            tally.run = h;
            tallies.push(tally);
        }
        if tallies.len() >= 500 {
            backend.record(std::mem::take(&mut tallies)).await?;
        }
    }
    backend.record(tallies).await?;
    for w in 0..8 {
        backend
            .beat(&WorkerBeat {
                id: format!("bench-{w}"),
                host: "bench".into(),
                pid: 1000 + w,
                queues: vec!["default".into()],
                concurrency: 8,
                started_at_ms: now,
                last_beat_ms: now,
                interval_ms: 60_000,
                running: 0,
                processed: 0,
                failed: 0,
            })
            .await?;
    }
    Ok(())
}

type Read<'a> = (
    &'static str,
    Box<
        dyn Fn() -> std::pin::Pin<Box<dyn std::future::Future<Output = anyhow::Result<()>> + 'a>>
            + 'a,
    >,
);

fn reads(queue: &Queue) -> Vec<Read<'_>> {
    let monitor = queue.monitor().expect("monitor");
    let failed = queue.failed().expect("failed store");
    let (m1, m2, m3, m4) = (monitor.clone(), monitor.clone(), monitor.clone(), monitor);
    let (f1, f2, f3, f4) = (failed.clone(), failed.clone(), failed.clone(), failed);
    vec![
        (
            "stats 5m",
            Box::new(move || {
                let m = m1.clone();
                Box::pin(async move {
                    m.stats(&StatsQuery::default()).await?;
                    Ok(())
                })
            }),
        ),
        (
            "stats 24h by job",
            Box::new(move || {
                let m = m2.clone();
                Box::pin(async move {
                    m.stats(&StatsQuery {
                        window: Duration::from_secs(86_400),
                        by_job: true,
                        queue: None,
                    })
                    .await?;
                    Ok(())
                })
            }),
        ),
        (
            "workers",
            Box::new(move || {
                let m = m3.clone();
                Box::pin(async move {
                    m.workers().await?;
                    Ok(())
                })
            }),
        ),
        (
            "completed page",
            Box::new(move || {
                let m = m4.clone();
                Box::pin(async move {
                    m.completed(50, None).await?;
                    Ok(())
                })
            }),
        ),
        (
            "failed page",
            Box::new(move || {
                let f = f1.clone();
                Box::pin(async move {
                    f.search(&FailedQuery::default()).await?;
                    Ok(())
                })
            }),
        ),
        (
            "failed by name",
            Box::new(move || {
                let f = f2.clone();
                Box::pin(async move {
                    f.search(&FailedQuery {
                        name: Some("SendInvoice".into()),
                        ..FailedQuery::default()
                    })
                    .await?;
                    Ok(())
                })
            }),
        ),
        (
            "failed by text",
            Box::new(move || {
                let f = f3.clone();
                Box::pin(async move {
                    f.search(&FailedQuery {
                        text: Some("code 7".into()),
                        ..FailedQuery::default()
                    })
                    .await?;
                    Ok(())
                })
            }),
        ),
        (
            "failure groups",
            Box::new(move || {
                let f = f4.clone();
                Box::pin(async move {
                    f.groups().await?;
                    Ok(())
                })
            }),
        ),
    ]
}

async fn time(queue: &Queue, backlog: usize, connection: &str) -> anyhow::Result<()> {
    for (name, read) in reads(queue) {
        read().await?; // warm
        let mut took = Vec::with_capacity(SAMPLES);
        for _ in 0..SAMPLES {
            let start = Instant::now();
            read().await?;
            took.push(start.elapsed().as_secs_f64() * 1_000.0);
        }
        took.sort_by(f64::total_cmp);
        println!(
            "{connection:<8} backlog {backlog:>9}  {name:<18} p50 {:>7.2} ms  p95 {:>7.2} ms  best {:>7.2} ms",
            took[SAMPLES / 2],
            took[SAMPLES * 95 / 100],
            took[0]
        );
    }
    Ok(())
}

async fn bench(connection: &str, queue: Queue, backlogs: &[usize]) -> anyhow::Result<()> {
    let started = Instant::now();
    seed_history(&queue).await?;
    let mut have = 0;
    for &backlog in backlogs {
        seed_backlog(&queue, have, backlog).await?;
        have = backlog;
        time(&queue, backlog, connection).await?;
    }
    println!(
        "{connection:<8} seeded and timed in {:.0} s",
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> anyhow::Result<()> {
    let backlogs: Vec<usize> = std::env::var("MONITOR_BENCH_BACKLOGS")
        .unwrap_or_else(|_| "10000,1000000".into())
        .split(',')
        .map(|n| n.trim().parse())
        .collect::<Result<_, _>>()?;
    let only = std::env::var("MONITOR_BENCH_ONLY").unwrap_or_default();
    let wanted = |name: &str| only.is_empty() || only == name;
    let load = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    println!(
        "monitoring reads, {FAILED} failed jobs, 48 h of figures, {SAMPLES} samples each; load average {}",
        load.split_whitespace()
            .take(3)
            .collect::<Vec<_>>()
            .join(" ")
    );
    if wanted("sqlite") {
        let dir = tempfile::tempdir()?;
        let url = format!("sqlite://{}/jobs.db", dir.path().display());
        bench("sqlite", Queue::open(&url).await?, &backlogs).await?;
    }
    if wanted("redis") {
        let url = std::env::var("EVENTS_TEST_REDIS_URL")
            .unwrap_or_else(|_| "redis://127.0.0.1:6379".into());
        let sep = if url.contains('?') { '&' } else { '?' };
        match Queue::open(&format!("{url}{sep}prefix=bench-mon-{}", ulid::Ulid::new())).await {
            Ok(queue) => {
                bench("redis", queue.clone(), &backlogs).await?;
                queue.clear().await?;
                queue.failed()?.purge().await?;
            }
            Err(e) => println!("redis skipped: {e}"),
        }
    }
    #[cfg(feature = "postgres")]
    if wanted("postgres") {
        let base = std::env::var("EVENTS_TEST_POSTGRES_URL")
            .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".into());
        let schema = format!("bench_mon_{}", ulid::Ulid::new().to_string().to_lowercase());
        let sep = if base.contains('?') { '&' } else { '?' };
        match Queue::open(&format!("{base}{sep}schema={schema}")).await {
            Ok(queue) => {
                let result = bench("postgres", queue, &backlogs).await;
                let (client, connection) =
                    tokio_postgres::connect(&base, tokio_postgres::NoTls).await?;
                tokio::spawn(connection);
                client
                    .batch_execute(&format!("DROP SCHEMA \"{schema}\" CASCADE"))
                    .await?;
                result?;
            }
            Err(e) => println!("postgres skipped: {e}"),
        }
    }
    Ok(())
}
