//! The `redis` connection against a real Redis (`EVENTS_TEST_REDIS_URL`),
//! each test under its own key prefix: every scenario the other connections
//! pass, plus crashes, two worker processes, and Redis restarting.

mod queue_common;

use std::time::Duration;

use event_core::queue::Queue;
use queue_common as common;
use queue_common::fixtures::{Sink, TestListener};
use test_support::PrivateRedis;

/// The test Redis URL with a fresh key prefix, or `None` (test skipped).
fn redis_url() -> Option<String> {
    let base = test_support::redis_url()?;
    Some(test_support::with_query(
        &base,
        "prefix",
        &test_support::unique("test"),
    ))
}

/// Deletes everything the test's prefix holds.
async fn clean(url: &str) {
    let queue = Queue::open(url).await.expect("open");
    queue.clear().await.expect("clear");
    queue.failed().expect("store").purge().await.expect("purge");
    assert_eq!(queue.size().await.expect("size"), 0);
}

macro_rules! on_redis {
    ($($scenario:ident),* $(,)?) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $scenario() {
                let Some(url) = redis_url() else { return };
                common::$scenario(Queue::open(&url).await.expect("open redis queue")).await;
                clean(&url).await;
            }
        )*
    };
}

common::every_scenario!(on_redis);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_sigkill_mid_job_loses_nothing() {
    let Some(url) = redis_url() else { return };
    let dir = tempfile::tempdir().expect("temp dir");
    common::sigkill_mid_job(url.clone(), dir.path().join("record.log")).await;
    clean(&url).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_pause_holds_two_worker_processes() {
    let Some(url) = redis_url() else { return };
    let dir = tempfile::tempdir().expect("temp dir");
    common::pause_holds_two_worker_processes(url.clone(), dir.path().join("record.log")).await;
    clean(&url).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_a_killed_worker_is_shown_stalled() {
    let Some(url) = redis_url() else { return };
    let dir = tempfile::tempdir().expect("temp dir");
    common::a_killed_worker_is_shown_stalled(url.clone(), dir.path().join("record.log")).await;
    clean(&url).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_two_worker_processes_alert_once() {
    let Some(url) = redis_url() else { return };
    let dir = tempfile::tempdir().expect("temp dir");
    common::two_worker_processes_alert_once(url.clone(), dir.path().join("record.log")).await;
    clean(&url).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_ten_thousand_jobs_two_processes() {
    let Some(url) = redis_url() else { return };
    let dir = tempfile::tempdir().expect("temp dir");
    common::ten_thousand_two_processes(url.clone(), dir.path().join("record.log")).await;
    clean(&url).await;
}

/// The failed store keeps only the newest `failed_cap` jobs.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_failed_store_is_capped() {
    let Some(url) = redis_url() else { return };
    let capped = format!("{url}&failed_cap=2");
    let queue = Queue::open(&capped).await.expect("open");
    let sink = Sink::memory();
    let listener = TestListener::new("capped", sink.clone()).with(|o| o.tries = Some(1));
    let (dispatcher, registry) = common::setup(&queue, listener).await;
    for n in 1..=3 {
        dispatcher
            .dispatch(queue_common::fixtures::TestJobEvent {
                fail_times: 1,
                sleep_ms: 5,
                ..common::job(n)
            })
            .await
            .expect("dispatch");
    }
    let running = common::start(common::worker(&queue, registry).concurrency(1));
    assert!(
        common::eventually(Duration::from_secs(20), async || sink
            .of("failed_hook")
            .len()
            == 3)
        .await
    );
    running.stop().await;
    let failed = queue.failed().expect("store").list().await.expect("list");
    let mut kept: Vec<u64> = failed
        .iter()
        .filter_map(|f| f.payload.payload["n"].as_u64())
        .collect();
    kept.sort_unstable();
    assert_eq!(kept, vec![2, 3], "the oldest failed job was dropped");
    clean(&capped).await;
}

async fn open_when_up(url: &str) -> Queue {
    for _ in 0..200 {
        if let Ok(queue) = Queue::open(url).await {
            return queue;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    panic!("redis at {url} did not come up");
}

/// Redis goes away and comes back: dispatches report the error, the worker
/// reconnects and resumes, and no accepted job is lost.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_restart_workers_reconnect() {
    if redis_url().is_none() {
        return;
    }
    let port = test_support::spare_port();
    let url = format!("redis://127.0.0.1:{port}?prefix=restart");
    let server = PrivateRedis::start_on(port);
    let queue = open_when_up(&url).await;
    common::restart_loses_nothing(queue, &mut Restartable(server)).await;
}

struct Restartable(PrivateRedis);

impl common::Outage for Restartable {
    async fn down(&mut self) {
        self.0.stop();
    }
    async fn up(&mut self) {
        self.0 = PrivateRedis::start_on(self.0.port);
    }
    fn address(&self) -> String {
        format!("127.0.0.1:{}", self.0.port)
    }
}

/// Nothing grows without bound: finished jobs leave their stream, and the
/// consumers of workers that are gone are deleted once idle.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_streams_and_consumers_do_not_pile_up() {
    let Some(url) = redis_url() else { return };
    let queue = Queue::open(&url).await.expect("open");
    let sink = Sink::memory();
    let (dispatcher, registry) =
        common::setup(&queue, TestListener::new("tidy", sink.clone())).await;
    // Five workers come and go, each handling some jobs under its own name.
    for round in 0..5u64 {
        for n in 0..10 {
            dispatcher
                .dispatch(common::job(round * 100 + n))
                .await
                .expect("dispatch");
        }
        let running = common::start(common::worker(&queue, registry.clone()));
        assert!(
            common::eventually(Duration::from_secs(20), async || {
                sink.of("success").len() as u64 == (round + 1) * 10
            })
            .await
        );
        running.stop().await;
    }
    let prefix = url.split("prefix=").nth(1).expect("prefix");
    let stream = format!("{{{prefix}}}:s:events:0");
    let client = redis::Client::open(url.split('?').next().unwrap_or_default()).expect("client");
    let mut conn = client
        .get_multiplexed_async_connection()
        .await
        .expect("connect");
    let length: usize = redis::cmd("XLEN")
        .arg(&stream)
        .query_async(&mut conn)
        .await
        .expect("XLEN");
    assert_eq!(length, 0, "finished jobs are deleted from the stream");
    let consumers = || async {
        let info: Vec<redis::Value> = redis::cmd("XINFO")
            .arg("CONSUMERS")
            .arg(&stream)
            .arg("workers")
            .query_async(&mut conn.clone())
            .await
            .expect("XINFO");
        info.len()
    };
    assert!(
        consumers().await >= 2,
        "the departed workers' consumers are still there"
    );
    // A new worker's recovery pass forgets consumers idle for over twice
    // the visibility timeout with nothing pending.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let running = common::start(
        common::worker(&queue, registry).visibility_timeout(Duration::from_millis(100)),
    );
    assert!(
        common::eventually(Duration::from_secs(20), async || consumers().await <= 1).await,
        "idle consumers are deleted"
    );
    running.stop().await;
    clean(&url).await;
}

/// Log lines, captured for one test.
#[derive(Clone, Default)]
struct Logs(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);

impl std::io::Write for Logs {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for Logs {
    type Writer = Logs;
    fn make_writer(&'a self) -> Logs {
        self.clone()
    }
}

impl Logs {
    fn count(&self, what: &str) -> usize {
        String::from_utf8_lossy(&self.0.lock().unwrap_or_else(|e| e.into_inner()))
            .matches(what)
            .count()
    }
}

/// A worker says at WARN when it loses its connection and when it gets it
/// back, every time (not once, and not on every failed poll).
#[tokio::test]
async fn worker_warns_each_time_reachability_changes() {
    if redis_url().is_none() {
        return;
    }
    let logs = Logs::default();
    let subscriber = tracing_subscriber::fmt()
        .with_writer(logs.clone())
        .with_max_level(tracing::Level::WARN)
        .with_ansi(false)
        .finish();
    // This test's thread only: the runtime is current-thread.
    let _guard = tracing::subscriber::set_default(subscriber);
    let port = test_support::spare_port();
    let url = format!("redis://127.0.0.1:{port}?prefix=reach");
    let mut server = PrivateRedis::start_on(port);
    let queue = open_when_up(&url).await;
    let (_dispatcher, registry) =
        common::setup(&queue, TestListener::new("reach", Sink::memory())).await;
    let running = common::start(common::worker(&queue, registry));
    let lost = "queue worker cannot reach its connection";
    let back = "queue worker reaches its connection again";
    let limit = Duration::from_secs(20);

    server.stop();
    assert!(
        common::eventually(limit, async || logs.count(lost) == 1).await,
        "first loss"
    );
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(logs.count(lost), 1, "said once while it stays down");
    let mut server = PrivateRedis::start_on(port);
    assert!(
        common::eventually(limit, async || logs.count(back) == 1).await,
        "back"
    );
    server.stop();
    assert!(
        common::eventually(limit, async || logs.count(lost) == 2).await,
        "second loss"
    );
    let _server = PrivateRedis::start_on(port);
    assert!(
        common::eventually(limit, async || logs.count(back) == 2).await,
        "back again"
    );
    running.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_job_controls_in_a_worker_process() {
    let Some(url) = redis_url() else { return };
    let dir = tempfile::tempdir().expect("temp dir");
    common::job_controls_in_a_worker_process(url.clone(), &dir.path().join("record.log")).await;
    clean(&url).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_encrypted_job_across_processes() {
    let Some(url) = redis_url() else { return };
    let dir = tempfile::tempdir().expect("temp dir");
    common::encrypted_job_across_processes(url.clone(), &dir.path().join("record.log")).await;
    clean(&url).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_after_commit_and_a_queued_event_across_processes() {
    let Some(url) = redis_url() else { return };
    let dir = tempfile::tempdir().expect("temp dir");
    common::after_commit_and_a_queued_event_across_processes(
        url.clone(),
        &dir.path().join("record.log"),
    )
    .await;
    clean(&url).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_unique_job_across_processes() {
    let Some(url) = redis_url() else { return };
    let dir = tempfile::tempdir().expect("temp dir");
    common::unique_job_across_processes(url.clone(), &dir.path().join("record.log")).await;
    clean(&url).await;
}
