//! `artisan queue:failed / queue:retry / queue:forget / queue:flush --url
//! postgres://...` and `queue:monitor` against the real PostgreSQL (`EVENTS_TEST_POSTGRES_URL`),
//! in a schema of the test's own, dropped after.

mod common;

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::Run;
use event_core::queue::JobRegistry;
use event_core::queue::{FailedJobs, Queue, Worker};
use event_core::{Dispatcher, Event, listener};
use serde::{Deserialize, Serialize};
use test_support::Schema;

#[derive(Debug, Clone, Serialize, Deserialize, Event)]
pub struct RefundDueEvent {
    pub order: u64,
}

#[listener(event = RefundDueEvent, queued, queue = "refunds", tries = 1)]
async fn refund(event: &RefundDueEvent) -> anyhow::Result<()> {
    anyhow::bail!("gateway down for order {}", event.order)
}

/// A second listener, delayed a minute, on another queue.
#[listener(event = RefundDueEvent, queued, queue = "notices", delay = 60)]
async fn notify_later(_event: &RefundDueEvent) -> anyhow::Result<()> {
    Ok(())
}

/// artisan in `dir`, with no queue URL from the environment.
fn artisan(args: &[&str], dir: &Path) -> Run {
    common::run_in(dir, args, &[("!EVENTS_QUEUE_URL", "")])
}

/// Lets a worker fail every waiting job (one try each) until `failed` are in the store.
async fn fail_all(queue: &Queue, failed: usize) {
    let registry = JobRegistry::new().listener::<RefundDueEvent>(Arc::new(RefundListener));
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let worker = tokio::spawn(
        Worker::new(queue.clone(), registry)
            .queues(["refunds"])
            .run_until(async move {
                let _ = stopped.await;
            }),
    );
    let store = queue.failed().expect("a failed store");
    let deadline = Instant::now() + Duration::from_secs(30);
    while store.list().await.expect("list").len() < failed {
        assert!(Instant::now() < deadline, "the jobs never failed");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let _ = stop.send(());
    worker.await.expect("worker task").expect("worker");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failed_postgres_jobs_are_listed_retried_forgotten_and_flushed() {
    let Some(schema) = Schema::tagged("artisan") else {
        return;
    };
    let url = schema.url.clone();
    let dir = tempfile::tempdir().expect("temp dir");
    let queue = Queue::open(&url).await.expect("open the queue");
    let dispatcher = Dispatcher::new();
    queue.install(&dispatcher).await;
    dispatcher
        .listen::<RefundDueEvent>(Arc::new(RefundListener))
        .await;
    for order in [41, 42] {
        dispatcher
            .dispatch(RefundDueEvent { order })
            .await
            .expect("dispatch");
    }
    fail_all(&queue, 2).await;
    let store = FailedJobs::open(&url).await.expect("store");

    let out = artisan(&["queue:failed", "--url", &url], dir.path());
    let shown = out.all();
    assert_eq!(out.code, 0, "{shown}");
    assert!(shown.contains("RefundListener (RefundDue)"), "{shown}");
    assert!(shown.contains("on refunds"), "{shown}");
    assert!(shown.contains("gateway down for order 41"), "{shown}");
    assert!(shown.contains("INFO  2 failed job(s)."), "{shown}");
    let out = artisan(&["queue:failed", "--url", &url, "--json"], dir.path());
    let rows: serde_json::Value = serde_json::from_str(&out.stdout).expect("JSON");
    assert_eq!(rows.as_array().map(Vec::len), Some(2));
    let first = rows[0]["id"].as_str().expect("an id").to_string();

    let out = artisan(&["queue:retry", &first, "--url", &url], dir.path());
    assert!(
        out.all().contains(&format!(
            "The failed job [{first}] has been pushed back onto the queue."
        )),
        "{}",
        out.all()
    );
    assert_eq!(store.list().await.expect("list").len(), 1);
    assert_eq!(queue.size().await.expect("size"), 1, "back in the queue");

    fail_all(&queue, 2).await;
    let out = artisan(&["queue:retry", "all", "--url", &url], dir.path());
    assert!(
        out.all()
            .contains("2 failed job(s) pushed back onto the queue."),
        "{}",
        out.all()
    );
    assert_eq!(queue.size().await.expect("size"), 2);

    fail_all(&queue, 2).await;
    let out = artisan(&["queue:forget", &first, "--url", &url], dir.path());
    assert!(
        out.all().contains("Failed job deleted successfully."),
        "{}",
        out.all()
    );
    assert_eq!(store.list().await.expect("list").len(), 1);
    let out = artisan(&["queue:flush", "--url", &url], dir.path());
    assert!(
        out.all()
            .contains("All failed jobs deleted successfully (1)."),
        "{}",
        out.all()
    );
    assert!(store.list().await.expect("list").is_empty());

    // queue:monitor: each queue's waiting jobs (due or delayed), what runs.
    dispatcher
        .listen::<RefundDueEvent>(Arc::new(NotifyLaterListener))
        .await;
    for order in [43, 44] {
        dispatcher
            .dispatch(RefundDueEvent { order })
            .await
            .expect("dispatch");
    }
    let backend = queue.backend().expect("backend");
    let taken = backend
        .fetch(
            &["refunds".to_string()],
            1,
            Duration::from_secs(60),
            "monitor",
        )
        .await
        .expect("fetch");
    assert_eq!(taken.len(), 1);
    let out = artisan(&["queue:monitor", "--url", &url], dir.path());
    let shown = out.all();
    assert_eq!(out.code, 0, "{shown}");
    assert!(
        shown.contains("  [notices] waiting .......... 2\n"),
        "{shown}"
    );
    assert!(
        shown.contains("  [refunds] waiting .......... 1\n"),
        "{shown}"
    );
    assert!(
        shown.contains("  running .................... 1\n"),
        "{shown}"
    );
    let out = artisan(&["queue:size", "--url", &url, "--json"], dir.path());
    let value: serde_json::Value = serde_json::from_str(&out.stdout).expect("JSON");
    assert_eq!(
        value["queues"],
        serde_json::json!([
            { "queue": "notices", "waiting": 2 },
            { "queue": "refunds", "waiting": 1 },
        ])
    );
    assert_eq!(value["running"], 1);
    backend.release(taken).await.expect("release");

    // An unreachable server is an error naming it, not a hang.
    let out = artisan(
        &["queue:failed", "--url", "postgres://app@127.0.0.1:1/db"],
        dir.path(),
    );
    assert_ne!(out.code, 0, "{}", out.all());
    assert!(out.all().contains("127.0.0.1:1"), "{}", out.all());
}

/// A job row another program wrote: `queue:failed --json` shows its text.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn queue_failed_json_shows_what_a_foreign_postgres_row_held() {
    use event_core::queue::postgres::tokio_postgres;
    let Some(schema) = Schema::tagged("artisan") else {
        return;
    };
    let dir = tempfile::tempdir().expect("temp dir");
    let queue = Queue::open(&schema.url).await.expect("open the queue");
    let (client, connection) = tokio_postgres::connect(&schema.base, tokio_postgres::NoTls)
        .await
        .expect("connect");
    tokio::spawn(connection);
    let texts = ["SOMETHING", r#"{"uuid":"0b6c","job":"Illuminate"}"#];
    for (i, text) in texts.iter().enumerate() {
        client
            .execute(
                &format!(
                    "INSERT INTO {} (id, queue, priority, available_at, payload)
                     VALUES ($1, 'refunds', 0, 0, $2)",
                    schema.table("event_jobs")
                ),
                &[&format!("foreign-{i}"), text],
            )
            .await
            .expect("insert a foreign row");
    }
    fail_all(&queue, texts.len()).await;
    let out = artisan(
        &["queue:failed", "--url", &schema.url, "--json"],
        dir.path(),
    );
    assert_eq!(out.code, 0, "{}", out.all());
    let rows: serde_json::Value = serde_json::from_str(&out.stdout).expect("JSON");
    for text in texts {
        assert!(
            rows.as_array()
                .expect("an array")
                .iter()
                .any(|row| row["payload"] == text),
            "queue:failed --json does not show {text}: {}",
            out.stdout
        );
    }
}
