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
    let queue = Queue::open(url).await?;
    let registry = fixtures::worker_registry(fixtures::Sink::File(PathBuf::from(record)));
    println!("ready");
    let report = Worker::new(queue, registry)
        .queues(["events"])
        .concurrency(concurrency)
        .visibility_timeout(Duration::from_millis(lease_ms))
        .poll_interval(Duration::from_millis(20))
        .grace_period(Duration::from_secs(5))
        .run_until(shutdown)
        .await?;
    println!("{report:?}");
    Ok(())
}
