//! `artisan queue:failed / queue:retry / queue:forget / queue:flush /
//! queue:monitor` (each queue's depth) against a real SQLite queue and a real Redis
//! (`EVENTS_TEST_REDIS_URL`, each test under its own key prefix), whose jobs
//! really failed in a worker.

mod common;

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::Run;
use event_core::queue::JobRegistry;
use event_core::queue::{FailedJobs, Queue, Worker};
use event_core::{Dispatcher, Event, listener};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Serialize, Deserialize, Event)]
#[event(tags("billing", "cards"))]
pub struct PaymentDueEvent {
    pub order: u64,
}

#[listener(event = PaymentDueEvent, queued, queue = "payments", tries = 1)]
async fn charge_card(event: &PaymentDueEvent) -> anyhow::Result<()> {
    anyhow::bail!("card declined for order {}", event.order)
}

/// artisan in `dir`, with no queue URL from the environment.
fn artisan(args: &[&str], dir: &Path) -> Run {
    common::run_in(dir, args, &[("!EVENTS_QUEUE_URL", "")])
}

/// Dispatches `orders` payment events and lets a worker fail each (one try).
async fn fail_jobs(queue: &Queue, orders: &[u64]) {
    let dispatcher = Dispatcher::new();
    queue.install(&dispatcher).await;
    dispatcher
        .listen::<PaymentDueEvent>(Arc::new(ChargeCardListener))
        .await;
    for order in orders {
        dispatcher
            .dispatch(PaymentDueEvent { order: *order })
            .await
            .expect("dispatch writes the job");
    }
    run_worker_until_failed(queue, orders.len()).await;
}

async fn run_worker_until_failed(queue: &Queue, failed: usize) {
    let registry = JobRegistry::new().listener::<PaymentDueEvent>(Arc::new(ChargeCardListener));
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let worker = tokio::spawn(
        Worker::new(queue.clone(), registry)
            .queues(["payments"])
            .poll_interval(Duration::from_millis(10))
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
async fn failed_jobs_are_listed_retried_forgotten_and_flushed_on_sqlite() {
    let dir = tempfile::tempdir().expect("temp dir");
    let url = format!("sqlite://{}/jobs.db", dir.path().display());
    failed_jobs_round_trip(&url, dir.path()).await;
}

/// The test Redis URL with a fresh key prefix, or `None` (test skipped).
fn redis_url() -> Option<String> {
    let base = test_support::redis_url()?;
    Some(test_support::with_query(
        &base,
        "prefix",
        &test_support::unique("artisan-cli"),
    ))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failed_jobs_are_listed_retried_forgotten_and_flushed_on_redis() {
    let Some(url) = redis_url() else { return };
    let dir = tempfile::tempdir().expect("temp dir");
    failed_jobs_round_trip(&url, dir.path()).await;
    let queue = Queue::open(&url).await.expect("open");
    queue.clear().await.expect("clear");
    queue.failed().expect("store").purge().await.expect("purge");
}

/// Every failed-jobs command, on the connection at `url`.
async fn failed_jobs_round_trip(url: &str, dir: &Path) {
    let url = url.to_string();
    let queue = Queue::open(&url).await.expect("open the queue");
    fail_jobs(&queue, &[7, 8]).await;
    let store = FailedJobs::open(&url).await.expect("store");
    let ids: Vec<String> = store
        .list()
        .await
        .expect("list")
        .into_iter()
        .map(|j| j.id)
        .collect();
    assert_eq!(ids.len(), 2);

    // queue:failed lists both, with listener, queue and reason.
    let out = artisan(&["queue:failed", "--url", &url], dir);
    let shown = out.all();
    assert_eq!(out.code, 0, "{shown}");
    for id in &ids {
        assert!(shown.contains(id.as_str()), "{shown}");
    }
    assert!(shown.contains("ChargeCardListener (PaymentDue)"), "{shown}");
    assert!(shown.contains("on payments"), "{shown}");
    assert!(shown.contains("card declined for order 7"), "{shown}");
    assert!(shown.contains("INFO  2 failed job(s)."), "{shown}");
    // The event's tags are stored with the job and shown.
    assert!(shown.contains("tags: billing, cards"), "{shown}");

    let out = artisan(&["queue:failed", "--url", &url, "--json"], dir);
    let rows: serde_json::Value = serde_json::from_str(&out.stdout).expect("JSON");
    assert_eq!(rows.as_array().map(Vec::len), Some(2));
    assert_eq!(rows[0]["event"], "PaymentDue");
    assert_eq!(rows[0]["queue"], "payments");
    assert_eq!(rows[0]["attempts"], 1);
    assert_eq!(rows[0]["tags"], serde_json::json!(["billing", "cards"]));
    assert!(
        rows[0]["reason"]
            .as_str()
            .is_some_and(|r| r.contains("card declined"))
    );

    // queue:retry <id> pushes exactly that job back.
    let out = artisan(&["queue:retry", &ids[0], "--url", &url], dir);
    assert_eq!(out.code, 0, "{}", out.all());
    assert!(
        out.all().contains(&format!(
            "The failed job [{}] has been pushed back onto the queue.",
            ids[0]
        )),
        "{}",
        out.all()
    );
    assert_eq!(store.list().await.expect("list").len(), 1);
    assert_eq!(queue.size().await.expect("size"), 1);

    // An unknown ID is refused and changes nothing.
    let out = artisan(&["queue:retry", "no-such-id", "--url", &url], dir);
    assert_eq!(out.code, 2, "{}", out.all());
    assert!(out.all().contains("no failed job with ID no-such-id"));
    assert_eq!(store.list().await.expect("list").len(), 1);

    // The retried job fails again in a worker; `all` brings both back.
    run_worker_until_failed(&queue, 2).await;
    let out = artisan(&["queue:retry", "all", "--url", &url], dir);
    assert!(
        out.all()
            .contains("2 failed job(s) pushed back onto the queue.")
    );
    assert!(store.list().await.expect("list").is_empty());
    assert_eq!(queue.size().await.expect("size"), 2);
    for command in ["queue:monitor", "queue:size"] {
        let out = artisan(&[command, "--url", &url], dir);
        assert_eq!(out.code, 0, "{}", out.all());
        assert!(
            out.all().contains("jobs waiting or running .... 2"),
            "{}",
            out.all()
        );
    }

    // queue:forget deletes one, queue:flush the rest.
    run_worker_until_failed(&queue, 2).await;
    let remaining: Vec<String> = store
        .list()
        .await
        .expect("list")
        .into_iter()
        .map(|j| j.id)
        .collect();
    let out = artisan(&["queue:forget", &remaining[0], "--url", &url], dir);
    assert!(out.all().contains("Failed job deleted successfully."));
    assert_eq!(store.list().await.expect("list").len(), 1);
    let out = artisan(&["queue:flush", "--url", &url], dir);
    assert!(
        out.all()
            .contains("All failed jobs deleted successfully (1).")
    );
    let out = artisan(&["queue:failed", "--url", &url], dir);
    assert!(out.all().contains("No failed jobs found."), "{}", out.all());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_url_comes_from_the_packages_dot_env() {
    let dir = tempfile::tempdir().expect("temp dir");
    let db = dir.path().join("jobs.db");
    let url = format!("sqlite://{}", db.display());
    let queue = Queue::open(&url).await.expect("open");
    fail_jobs(&queue, &[1]).await;
    std::fs::write(
        dir.path().join("Cargo.toml"),
        "[package]\nname = \"shop\"\nversion = \"0.1.0\"\nedition = \"2024\"\n",
    )
    .expect("manifest");
    std::fs::create_dir(dir.path().join("src")).expect("src");
    std::fs::write(dir.path().join("src/main.rs"), "fn main() {}\n").expect("main");
    std::fs::write(dir.path().join(".env"), format!("EVENTS_QUEUE_URL={url}\n")).expect(".env");
    let out = artisan(&["queue:failed"], &dir.path().join("src"));
    assert_eq!(out.code, 0, "{}", out.all());
    assert!(
        out.all().contains("card declined for order 1"),
        "{}",
        out.all()
    );
}

#[test]
fn without_a_url_or_with_a_missing_database_it_refuses_and_creates_nothing() {
    let dir = tempfile::tempdir().expect("temp dir");
    let out = artisan(&["queue:failed"], dir.path());
    assert_eq!(out.code, 2);
    assert!(
        out.all().contains("no queue to look at: pass --url"),
        "{}",
        out.all()
    );

    let missing = dir.path().join("typo.db");
    let url = format!("sqlite://{}", missing.display());
    for args in [
        vec!["queue:failed", "--url", &url],
        vec!["queue:retry", "all", "--url", &url],
        vec!["queue:flush", "--url", &url],
    ] {
        let out = artisan(&args, dir.path());
        assert_eq!(out.code, 2, "{}", out.all());
        assert!(out.all().contains("no queue database at"), "{}", out.all());
    }
    assert!(!missing.exists(), "no empty database left behind");

    let out = artisan(&["queue:failed", "--url", "kafka://x"], dir.path());
    assert_eq!(out.code, 1);
    assert!(out.all().contains("kafka://x"), "{}", out.all());
}

#[derive(Debug, Clone, Serialize, Deserialize, Event)]
pub struct ReminderDueEvent {
    pub order: u64,
}

#[listener(event = ReminderDueEvent, queued, queue = "emails", delay = 60)]
async fn send_reminder(_event: &ReminderDueEvent) -> anyhow::Result<()> {
    Ok(())
}

/// `queue:monitor` shows each queue's waiting jobs (due or delayed), what
/// runs, and the failed ones, as text and JSON.
async fn monitor_shows_each_queue(url: &str, dir: &Path) {
    let queue = Queue::open(url).await.expect("open the queue");
    fail_jobs(&queue, &[1]).await;
    let dispatcher = Dispatcher::new();
    queue.install(&dispatcher).await;
    dispatcher
        .listen::<PaymentDueEvent>(Arc::new(ChargeCardListener))
        .await;
    dispatcher
        .listen::<ReminderDueEvent>(Arc::new(SendReminderListener))
        .await;
    for order in [2, 3, 4] {
        dispatcher
            .dispatch(PaymentDueEvent { order })
            .await
            .expect("dispatch");
    }
    dispatcher
        .dispatch(ReminderDueEvent { order: 2 })
        .await
        .expect("dispatch");
    // A worker has taken one payment: it runs.
    let backend = queue.backend().expect("backend");
    let taken = backend
        .fetch(
            &["payments".to_string()],
            1,
            Duration::from_secs(60),
            "monitor",
        )
        .await
        .expect("fetch");
    assert_eq!(taken.len(), 1);

    let out = artisan(&["queue:monitor", "--url", url], dir);
    let shown = out.all();
    assert_eq!(out.code, 0, "{shown}");
    let lines: Vec<&str> = shown
        .lines()
        .map(str::trim)
        .filter(|l| l.contains(" ..."))
        .collect();
    assert_eq!(
        lines,
        [
            "[emails] waiting ........... 1",
            "[payments] waiting ......... 2",
            "jobs waiting or running .... 4",
            "running .................... 1",
            "failed jobs ................ 1",
        ],
        "{shown}"
    );

    let out = artisan(&["queue:size", "--url", url, "--json"], dir);
    let value: serde_json::Value = serde_json::from_str(&out.stdout).expect("JSON");
    assert_eq!(
        value,
        serde_json::json!({
            "queues": [
                { "queue": "emails", "waiting": 1 },
                { "queue": "payments", "waiting": 2 },
            ],
            "waiting": 3,
            "running": 1,
            "failed": 1,
        })
    );
    backend.release(taken).await.expect("release");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn monitor_shows_each_queue_on_sqlite() {
    let dir = tempfile::tempdir().expect("temp dir");
    let url = format!("sqlite://{}/jobs.db", dir.path().display());
    monitor_shows_each_queue(&url, dir.path()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn monitor_shows_each_queue_on_redis() {
    let Some(url) = redis_url() else { return };
    let dir = tempfile::tempdir().expect("temp dir");
    monitor_shows_each_queue(&url, dir.path()).await;
    let queue = Queue::open(&url).await.expect("open");
    queue.clear().await.expect("clear");
    queue.failed().expect("store").purge().await.expect("purge");
}

/// Lets a worker move the records another program wrote to the failed
/// store, then checks `queue:failed --json` shows each one's `payload`.
async fn foreign_records_are_shown(url: &str, dir: &Path, payloads: &[&str]) {
    let queue = Queue::open(url).await.expect("open the queue");
    run_worker_until_failed(&queue, payloads.len()).await;
    let out = artisan(&["queue:failed", "--url", url, "--json"], dir);
    assert_eq!(out.code, 0, "{}", out.all());
    let rows: serde_json::Value = serde_json::from_str(&out.stdout).expect("JSON");
    let shown: Vec<&serde_json::Value> = rows
        .as_array()
        .expect("an array")
        .iter()
        .map(|row| &row["payload"])
        .collect();
    for payload in payloads {
        assert!(
            shown.iter().any(|p| *p == payload),
            "queue:failed --json does not show {payload}: {}",
            out.stdout
        );
    }
}

/// A job row another program wrote: `queue:failed --json` shows its text.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn queue_failed_json_shows_what_a_foreign_row_held_on_sqlite() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("jobs.db");
    let url = format!("sqlite://{}", path.display());
    Queue::open(&url).await.expect("create the tables");
    let texts = ["SOMETHING", r#"{"uuid":"0b6c","job":"Illuminate"}"#];
    let conn = rusqlite::Connection::open(&path).expect("open sqlite");
    for (i, text) in texts.iter().enumerate() {
        conn.execute(
            "INSERT INTO event_jobs (id, queue, priority, available_at, attempts, payload)
             VALUES (?1, 'payments', 0, 0, 0, ?2)",
            rusqlite::params![format!("foreign-{i}"), text],
        )
        .expect("insert a foreign row");
    }
    foreign_records_are_shown(&url, dir.path(), &texts).await;
}

/// Stream entries another program wrote: `queue:failed --json` shows every
/// field and value (`XADD <stream> * data SOMETHING`), or a lone `job`
/// field's text.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn queue_failed_json_shows_what_a_foreign_stream_entry_held_on_redis() {
    let Some(base) = test_support::redis_url() else {
        return;
    };
    let prefix = test_support::unique("artisan-cli");
    let url = test_support::with_query(&base, "prefix", &prefix);
    let client = redis::Client::open(base.split('?').next().unwrap_or(&base)).expect("client");
    let mut conn = client
        .get_multiplexed_async_connection()
        .await
        .expect("connect");
    let stream = format!("{{{prefix}}}:s:payments:0");
    let entries: [&[&str]; 3] = [
        &["data", "SOMETHING"],
        &["to", "ops@example.com", "subject", "Hi"],
        &["job", "{not json"],
    ];
    for fields in entries {
        let _: String = redis::cmd("XADD")
            .arg(&stream)
            .arg("*")
            .arg(fields)
            .query_async(&mut conn)
            .await
            .expect("XADD");
    }
    foreign_records_are_shown(
        &url,
        tempfile::tempdir().expect("temp dir").path(),
        &[
            r#"[["data","SOMETHING"]]"#,
            r#"[["to","ops@example.com"],["subject","Hi"]]"#,
            "{not json",
        ],
    )
    .await;
    let queue = Queue::open(&url).await.expect("open");
    queue.clear().await.expect("clear");
    queue.failed().expect("store").purge().await.expect("purge");
}
