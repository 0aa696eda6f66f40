//! The `postgres` connection when things go wrong: the server restarting
//! mid-run (a private instance the test starts and stops), and a backlog of
//! 100,000 jobs draining without the worker's memory growing with it.

mod postgres_common;
mod queue_common;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use event_core::queue::{Job, JobEnvelope, JobRegistry, Queue};
use event_core::{Event, EventListener, ListenerOptions};
use postgres_common::Schema;
use queue_common as common;
use queue_common::fixtures::TestJobEvent;
use test_support::PrivatePostgres;

/// PostgreSQL goes away and comes back: dispatches report the error, the
/// worker reconnects by itself and resumes, and no accepted job is lost.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_restart_workers_reconnect() {
    if postgres_common::base_url().is_none() {
        return;
    }
    let Some(server) = PrivatePostgres::start() else {
        return;
    };
    server.ready().await;
    let url = format!("{}?schema=restart", server.url());
    let queue = Queue::open(&url).await.expect("open");
    common::restart_loses_nothing(queue, &mut Restartable(server)).await;
}

struct Restartable(PrivatePostgres);

impl common::Outage for Restartable {
    async fn down(&mut self) {
        self.0.down();
    }
    async fn up(&mut self) {
        self.0.up();
        self.0.ready().await;
    }
    fn address(&self) -> String {
        format!("127.0.0.1:{}", self.0.port)
    }
}

/// Counts jobs without keeping anything per job.
struct Counter(Arc<AtomicU64>);

#[async_trait]
impl EventListener for Counter {
    async fn handle(&self, _event: Arc<dyn Event>) -> anyhow::Result<()> {
        self.0.fetch_add(1, Ordering::Relaxed);
        Ok(())
    }
    fn should_queue(&self) -> bool {
        true
    }
    fn listener_name(&self) -> &str {
        "backlog"
    }
    fn options(&self) -> ListenerOptions {
        ListenerOptions {
            queued: true,
            retry: true,
            ..ListenerOptions::default()
        }
    }
}

/// This process's resident memory, in KiB.
fn rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

/// 100,000 waiting jobs of 1 KiB each (100 MiB of payload) drain through one
/// worker whose memory stays flat: it claims a batch at a time.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn backlog_of_100k_drains_in_flat_memory() {
    let Some(schema) = Schema::new() else { return };
    const JOBS: u64 = 100_000;
    let queue = Queue::open(&schema.url).await.expect("open");
    let pad = "x".repeat(1024);
    for start in (0..JOBS).step_by(5_000) {
        let now = chrono::Utc::now().timestamp_millis();
        let jobs: Vec<Job> = (start..start + 5_000)
            .map(|n| {
                Job::from_envelope(JobEnvelope {
                    id: event_core::ulid::Ulid::new().to_string(),
                    event: "TestJob".to_string(),
                    payload: serde_json::json!({ "n": n, "pad": pad }),
                    listener: Some("backlog".to_string()),
                    queue: "events".to_string(),
                    attempts: 0,
                    exceptions: 0,
                    settings: event_core::queue::JobSettings {
                        tries: Some(1),
                        ..Default::default()
                    },
                    priority: 0,
                    available_at: now,
                    created_at: now,
                    event_id: None,
                    correlation_id: None,
                    retried_at: None,
                    traceparent: None,
                    sealed: None,
                    history: Vec::new(),
                })
            })
            .collect();
        queue.push(jobs).await.expect("push");
    }
    assert_eq!(queue.size().await.expect("size"), JOBS as usize);
    let done = Arc::new(AtomicU64::new(0));
    let listener: Arc<dyn EventListener> = Arc::new(Counter(done.clone()));
    let registry = JobRegistry::new().listener::<TestJobEvent>(listener);
    let running = common::start(common::worker(&queue, registry).concurrency(8));
    // Let the worker get going (pool, statements, first batches), then
    // watch its memory while the rest drains.
    assert!(
        common::eventually(Duration::from_secs(60), async || done
            .load(Ordering::Relaxed)
            >= 5_000)
        .await
    );
    let baseline = rss_kib();
    let mut peak = baseline;
    let drained = common::eventually(Duration::from_secs(240), async || {
        peak = peak.max(rss_kib());
        done.load(Ordering::Relaxed) >= JOBS
    })
    .await;
    assert!(
        drained,
        "drained {} of {JOBS}",
        done.load(Ordering::Relaxed)
    );
    running.stop().await;
    let growth_mib = (peak.saturating_sub(baseline)) / 1024;
    println!(
        "RSS {} MiB at 5% drained, peak {} MiB",
        baseline / 1024,
        peak / 1024
    );
    assert!(
        growth_mib < 24,
        "memory grew {growth_mib} MiB while draining 100 MiB of jobs"
    );
    assert_eq!(queue.size().await.expect("size"), 0);
}
