//! The dashboard's JSON endpoints at scale (issue 22, item 9): a sqlite
//! connection is seeded through the normal write path (jobs pushed to the
//! queue, run by a real `Worker` that completes them or fails them for
//! good, which writes the figures, the completed log and the failed store
//! as in production), then each endpoint the page reads is timed through
//! the dashboard's router and its p50 / p95 printed.
//!
//! The event store beside it is seeded too (see `events.rs`: through the
//! store's writer, as an app's dispatches are recorded) and its endpoints
//! timed the same way.
//!
//! `cargo bench -p event-dashboard --bench endpoints`
//!
//! `DASHBOARD_BENCH_COMPLETED` (default 1,000,000),
//! `DASHBOARD_BENCH_FAILED` (default 10,000) and `DASHBOARD_BENCH_EVENTS`
//! (default 1,000,000; 0 leaves the store out) set the sizes, e.g.
//! `DASHBOARD_BENCH_COMPLETED=20000 DASHBOARD_BENCH_FAILED=500
//! DASHBOARD_BENCH_EVENTS=100000` for a quick run; `DASHBOARD_BENCH_SAMPLES`
//! (default 50) the timings per endpoint; `DASHBOARD_BENCH_DB` a sqlite
//! file to keep (and reuse when it already holds the jobs) instead of a
//! temporary one, and `DASHBOARD_BENCH_STORE_DB` the store's (default: the
//! jobs file's name with `.events.db`; reused when it holds the events).

mod events;

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::http::Request;
use event_core::prelude::*;
use event_core::queue::{Job, JobEnvelope, Queue, Worker};
use event_core::store::EventStore;
use event_dashboard::{DashboardState, router};
use tower::ServiceExt;

/// Jobs in all, and how many of them fail: set once before the worker runs.
static TOTAL: AtomicU64 = AtomicU64::new(1);
static FAILING: AtomicU64 = AtomicU64::new(0);

/// An order to charge; the queued listener fails for an evenly spread
/// `FAILING` of the `TOTAL` orders.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize, Event)]
struct OrderPlaced {
    order: u64,
}

fn fails(order: u64) -> bool {
    let (total, failing) = (
        TOTAL.load(Ordering::Relaxed),
        FAILING.load(Ordering::Relaxed),
    );
    order * failing / total != (order + 1) * failing / total
}

#[listener(event = OrderPlaced, queued, queue = "payments", tries = 1)]
async fn charge_order(event: &OrderPlaced) -> anyhow::Result<()> {
    if fails(event.order) {
        anyhow::bail!(
            "card declined for order {} (code {})",
            event.order,
            event.order % 20
        )
    }
    Ok(())
}

fn env_number(name: &str, default: u64) -> u64 {
    match std::env::var(name) {
        Ok(v) => v
            .replace(['_', ','], "")
            .parse()
            .unwrap_or_else(|_| panic!("{name}={v} is not a number")),
        Err(_) => default,
    }
}

/// The 1, 5 and 15 minute load averages (`uptime`'s).
fn load() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .unwrap_or_default()
        .split(' ')
        .take(3)
        .collect::<Vec<_>>()
        .join(" ")
}

fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

/// Pushes `total` jobs in batches, as a dispatch of many events does, then
/// runs a worker until none is left.
async fn seed(
    queue: &Queue,
    registry: Arc<JobRegistry>,
    listener: &Arc<dyn EventListener>,
    total: u64,
) -> anyhow::Result<()> {
    let started = Instant::now();
    let mut order = 0;
    while order < total {
        let now = now_ms();
        let batch: Vec<Job> = (order..(order + 5_000).min(total))
            .map(|n| {
                let event = OrderPlaced { order: n };
                let settings = queue.listener_settings(&**listener, &event);
                Job::from_envelope(JobEnvelope {
                    id: ulid::Ulid::new().to_string(),
                    event: event.event_name().to_string(),
                    payload: event.to_json(),
                    listener: Some(listener.listener_name().to_string()),
                    queue: "payments".into(),
                    attempts: 0,
                    exceptions: 0,
                    settings,
                    priority: 0,
                    available_at: now,
                    created_at: now,
                    event_id: Some(ulid::Ulid::new().to_string()),
                    correlation_id: Some(ulid::Ulid::new().to_string()),
                    retried_at: None,
                    traceparent: None,
                    sealed: None,
                    history: Vec::new(),
                })
            })
            .collect();
        order += batch.len() as u64;
        queue.push(batch).await?;
    }
    println!(
        "pushed {total} jobs in {:.1} s",
        started.elapsed().as_secs_f64()
    );
    let started = Instant::now();
    let report = Worker::new(queue.clone(), registry)
        .queues(["payments"])
        .concurrency(64)
        .poll_interval(Duration::from_millis(10))
        .stop_when_empty(true)
        .run_until(std::future::pending())
        .await?;
    let secs = started.elapsed().as_secs_f64();
    println!(
        "the worker ran them in {secs:.1} s ({:.0} jobs/s): {report:?}",
        total as f64 / secs
    );
    Ok(())
}

async fn time(router: &axum::Router, uri: &str, samples: usize) -> (f64, f64, usize) {
    let mut took = Vec::with_capacity(samples);
    let mut bytes = 0;
    for _ in 0..samples {
        let mut request = Request::get(uri)
            .header("sec-fetch-site", "same-origin")
            .body(Body::empty())
            .unwrap();
        let peer: SocketAddr = "127.0.0.1:50000".parse().unwrap();
        request.extensions_mut().insert(ConnectInfo(peer));
        let start = Instant::now();
        let response = router.clone().oneshot(request).await.unwrap();
        let status = response.status();
        let body = axum::body::to_bytes(response.into_body(), 64 << 20)
            .await
            .unwrap();
        took.push(start.elapsed().as_secs_f64() * 1_000.0);
        assert!(
            status.is_success(),
            "{uri}: {status} {}",
            String::from_utf8_lossy(&body)
        );
        bytes = body.len();
    }
    took.sort_by(f64::total_cmp);
    let at = |p: f64| took[((took.len() as f64 * p).ceil() as usize).clamp(1, took.len()) - 1];
    (at(0.50), at(0.95), bytes)
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let completed = env_number("DASHBOARD_BENCH_COMPLETED", 1_000_000);
    let failing = env_number("DASHBOARD_BENCH_FAILED", 10_000);
    let stored = env_number("DASHBOARD_BENCH_EVENTS", 1_000_000);
    let samples = env_number("DASHBOARD_BENCH_SAMPLES", 50).max(1) as usize;
    let total = completed + failing;
    TOTAL.store(total, Ordering::Relaxed);
    FAILING.store(failing, Ordering::Relaxed);

    let dir = tempfile::tempdir()?;
    let file = std::env::var("DASHBOARD_BENCH_DB")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|_| dir.path().join("jobs.db"));
    let queue = Queue::open(&format!("sqlite://{}", file.display())).await?;
    let listener: Arc<dyn EventListener> = Arc::new(ChargeOrderListener);
    let registry = Arc::new(JobRegistry::new().listener::<OrderPlaced>(listener.clone()));
    let failed = queue.failed()?;
    let have = failed.count(&Default::default()).await?;
    if have >= failing && have > 0 {
        println!(
            "{} already holds {have} failed jobs: not seeded again",
            file.display()
        );
    } else {
        println!(
            "seeding {} with {completed} completed and {failing} failed jobs",
            file.display()
        );
        seed(&queue, registry, &listener, total).await?;
    }
    let key = failed
        .search(&Default::default())
        .await?
        .jobs
        .first()
        .map(|j| format!("{}:{}", j.failed_at, j.id))
        .unwrap_or_default();

    let mut state = DashboardState::new(queue.clone())?;
    let mut event_endpoints = Vec::new();
    if stored > 0 {
        let store_file = std::env::var("DASHBOARD_BENCH_STORE_DB")
            .map(std::path::PathBuf::from)
            .unwrap_or_else(|_| file.with_extension("events.db"));
        let store =
            EventStore::open(&format!("sqlite://{}", store_file.display()), "events").await?;
        events::seed(&store, stored).await?;
        event_endpoints = events::endpoints(&events::pick(&store, stored).await?);
        state = state.store(store);
    }
    let dashboard = router(state);
    let endpoints = [
        "/".to_string(),
        "/api/meta".into(),
        "/api/queues?window=5m".into(),
        "/api/queues?window=24h".into(),
        "/api/jobs?window=1h".into(),
        "/api/series?window=1h".into(),
        "/api/series?window=7d".into(),
        "/api/workers".into(),
        "/api/completed?limit=20".into(),
        "/api/failed".into(),
        "/api/failed?search=declined+code".into(),
        "/api/failed?name=ChargeOrderListener&limit=200".into(),
        "/api/failed/count".into(),
        "/api/failed/count?search=code".into(),
        "/api/failed/groups".into(),
        format!("/api/failed/{key}"),
        "/api/broadcasting".into(),
    ]
    .into_iter()
    .chain(event_endpoints);
    println!(
        "\n{completed} completed, {failing} failed jobs and {stored} stored events on sqlite; {samples} requests each; load average {}",
        load()
    );
    println!(
        "{:<64} {:>9} {:>9} {:>9}",
        "endpoint", "p50 ms", "p95 ms", "bytes"
    );
    let mut worst = 0f64;
    for uri in endpoints {
        let (p50, p95, bytes) = time(&dashboard, &uri, samples).await;
        worst = worst.max(p95);
        println!("{uri:<64} {p50:>9.2} {p95:>9.2} {bytes:>9}");
    }
    println!(
        "slowest p95: {worst:.2} ms (the issue asks for under 200 ms); load average {}",
        load()
    );
    Ok(())
}
