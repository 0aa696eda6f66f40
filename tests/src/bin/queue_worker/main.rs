//! A queue worker process for the queue tests:
//! `queue_worker <queue-url> <record-file> [lease-ms] [concurrency]`.
//! Records `start n` / `success n` lines in the record file; stops on SIGTERM.

mod fixtures;

use std::path::PathBuf;
use std::time::Duration;

use event_core::queue::{Queue, Worker, shutdown_signal};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    // First: a SIGTERM from here on stops the worker gracefully.
    let shutdown = shutdown_signal();
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (Some(url), Some(record)) = (args.first(), args.get(1)) else {
        anyhow::bail!("usage: queue_worker <queue-url> <record-file> [lease-ms] [concurrency]");
    };
    let lease_ms: u64 = args
        .get(2)
        .map(|s| s.parse())
        .transpose()?
        .unwrap_or(90_000);
    let concurrency: usize = args.get(3).map(|s| s.parse()).transpose()?.unwrap_or(4);
    // The monitoring tests beat fast, to see a killed worker stall soon.
    let beat_ms: u64 = std::env::var("QUEUE_WORKER_HEARTBEAT_MS")
        .ok()
        .map(|s| s.parse())
        .transpose()?
        .unwrap_or(5_000);
    // Alerts as an app configures them (EVENTS_QUEUE_*_ALERT*), each
    // QueueLongWait recorded as `alert <pid>`; the app's keys
    // (EVENTS_APP_KEY, EVENTS_APP_PREVIOUS_KEYS) open encrypted jobs.
    let config = event_core::queue::QueueConfig::from_env()?;
    let queue = Queue::open(url)
        .await?
        .with_alerts(config.alerts)
        .with_app_keys(config.app_keys);
    let sink = fixtures::Sink::File(PathBuf::from(record));
    event_core::Dispatcher::global()
        .listen::<event_core::queue::monitor::QueueLongWait>(std::sync::Arc::new(
            fixtures::AlertListener(sink.clone()),
        ))
        .await;
    let registry = fixtures::worker_registry(sink);
    println!("ready");
    let report = Worker::new(queue, registry)
        .queues(["events"])
        .concurrency(concurrency)
        .visibility_timeout(Duration::from_millis(lease_ms))
        .poll_interval(Duration::from_millis(20))
        .grace_period(Duration::from_secs(5))
        .heartbeat_every(Duration::from_millis(beat_ms))
        .run_until(shutdown)
        .await?;
    println!("{report:?}");
    Ok(())
}
