//! The `artisan queue:*` scenarios every stored connection runs (sqlite and
//! redis in `queue_cli.rs`, postgres in `queue_cli_postgres.rs`): one list,
//! so the connections' commands cannot drift apart.

#![allow(dead_code)]

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::common::{self, Run};
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
pub fn artisan(args: &[&str], dir: &Path) -> Run {
    common::run_in(dir, args, &[("!EVENTS_QUEUE_URL", "")])
}

/// Dispatches `orders` payment events and lets a worker fail each (one try).
pub async fn fail_jobs(queue: &Queue, orders: &[u64]) {
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

pub async fn run_worker_until_failed(queue: &Queue, failed: usize) {
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

/// `queue:failed`, `queue:retry` (one, all, an unknown id), `queue:monitor`,
/// `queue:forget` and `queue:flush` on jobs that really failed in a worker.
pub async fn failed_jobs_round_trip(url: &str, dir: &Path) {
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
pub async fn monitor_shows_each_queue(url: &str, dir: &Path) {
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

/// Lets a worker move the records another program wrote to the failed
/// store, then checks `queue:failed --json` shows each one's `payload`.
pub async fn foreign_records_are_shown(url: &str, dir: &Path, payloads: &[&str]) {
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

/// `queue:stats`, `queue:pause` / `queue:resume`, `queue:workers`,
/// `queue:clear` and `queue:restart` against jobs a worker really ran.
pub async fn operate_the_queues(url: &str, dir: &Path) {
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
    let stats = |dir: &Path| -> serde_json::Value {
        let out = artisan(&["queue:stats", "--url", url, "--json"], dir);
        assert_eq!(out.code, 0, "{}", out.all());
        serde_json::from_str(&out.stdout).expect("queue:stats --json is JSON")
    };
    let of = |stats: &serde_json::Value, queue: &str| -> serde_json::Value {
        stats["queues"]
            .as_array()
            .and_then(|qs| qs.iter().find(|q| q["queue"] == queue))
            .cloned()
            .unwrap_or_else(|| panic!("no queue {queue} in {stats}"))
    };
    let now = stats(dir);
    assert_eq!(now["window_s"], 300);
    let payments = of(&now, "payments");
    assert_eq!(payments["pending"], 3, "{payments}");
    assert_eq!(payments["failed"], 1, "{payments}");
    assert_eq!(
        payments["failed_per_minute"], 0.2,
        "one failure over 5 minutes: {payments}"
    );
    assert!(
        payments["run_ms"]["p50"].is_u64(),
        "a run was measured: {payments}"
    );
    assert_eq!(payments["paused"], false);
    assert_eq!(of(&now, "emails")["delayed"], 1);

    let out = artisan(
        &[
            "queue:stats",
            "--url",
            url,
            "--queue",
            "payments",
            "--by-job",
        ],
        dir,
    );
    assert_eq!(out.code, 0, "{}", out.all());
    assert!(out.stdout.contains("[payments]"), "{}", out.stdout);
    assert!(out.stdout.contains("pending 3"), "{}", out.stdout);
    assert!(out.stdout.contains("ChargeCardListener"), "{}", out.stdout);
    assert!(!out.stdout.contains("[emails]"), "{}", out.stdout);

    // Paused: a running worker takes nothing from it.
    let out = artisan(&["queue:pause", "payments", "--url", url], dir);
    assert_eq!(out.code, 0, "{}", out.all());
    assert!(out.all().contains("has been paused"), "{}", out.all());
    assert_eq!(of(&stats(dir), "payments")["paused"], true);
    let registry = JobRegistry::new().listener::<PaymentDueEvent>(Arc::new(ChargeCardListener));
    let worker = tokio::spawn(
        Worker::new(queue.clone(), registry)
            .queues(["payments"])
            .poll_interval(Duration::from_millis(10))
            .heartbeat_every(Duration::from_millis(1_000))
            .run_until(std::future::pending()),
    );
    tokio::time::sleep(Duration::from_millis(1_500)).await;
    let held = of(&stats(dir), "payments");
    assert_eq!(
        (held["pending"].clone(), held["failed"].clone()),
        (3.into(), 1.into()),
        "{held}"
    );

    let out = artisan(&["queue:workers", "--url", url, "--json"], dir);
    let workers: serde_json::Value = serde_json::from_str(&out.stdout).expect("JSON");
    assert_eq!(workers.as_array().map(Vec::len), Some(1), "{workers}");
    assert_eq!(workers[0]["queues"], serde_json::json!(["payments"]));
    assert_eq!(workers[0]["state"], "alive");
    let out = artisan(&["queue:workers", "--url", url], dir);
    assert!(out.stdout.contains("ALIVE"), "{}", out.stdout);

    // Resumed: the worker takes them (they fail: one try each).
    let out = artisan(&["queue:resume", "payments", "--url", url], dir);
    assert!(out.all().contains("has been resumed"), "{}", out.all());
    let deadline = Instant::now() + Duration::from_secs(10);
    while of(&stats(dir), "payments")["failed"] != 4 {
        assert!(Instant::now() < deadline, "resumed, the jobs never ran");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    // A connection the URL is not: refused, nothing paused.
    let other = if url.starts_with("redis") {
        "sqlite"
    } else {
        "redis"
    };
    let out = artisan(
        &["queue:pause", &format!("{other}:payments"), "--url", url],
        dir,
    );
    assert_eq!(out.code, 2, "{}", out.all());
    assert!(
        out.all()
            .contains(&format!("names the `{other}` connection")),
        "{}",
        out.all()
    );
    assert_eq!(of(&stats(dir), "payments")["paused"], false);

    // queue:clear asks; without a terminal and without --force it deletes nothing.
    let out = artisan(&["queue:clear", "emails", "--url", url], dir);
    assert_eq!(out.code, 2, "{}", out.all());
    assert!(
        out.all().contains("nothing deleted: 1 job(s)"),
        "{}",
        out.all()
    );
    assert_eq!(of(&stats(dir), "emails")["delayed"], 1);
    let out = artisan(&["queue:clear", "emails", "--url", url, "--force"], dir);
    assert_eq!(out.code, 0, "{}", out.all());
    assert!(out.all().contains("Cleared 1 job(s)"), "{}", out.all());
    assert_eq!(of(&stats(dir), "emails")["delayed"], 0);

    // A bad window is refused by name.
    let out = artisan(&["queue:stats", "--url", url, "--window", "5w"], dir);
    assert_eq!(out.code, 2, "{}", out.all());
    assert!(out.all().contains("`w`"), "{}", out.all());

    // The jobs the worker ran are not completed (they failed): none listed.
    let out = artisan(&["queue:completed", "--url", url], dir);
    assert_eq!(out.code, 0, "{}", out.all());
    assert!(out.all().contains("No job completed"), "{}", out.all());

    // queue:restart: the running worker finishes and exits.
    let out = artisan(&["queue:restart", "--url", url], dir);
    assert_eq!(out.code, 0, "{}", out.all());
    let ended = tokio::time::timeout(Duration::from_secs(5), worker).await;
    assert!(
        matches!(ended, Ok(Ok(Ok(_)))),
        "the worker exits: {ended:?}"
    );
    let out = artisan(&["queue:workers", "--url", url], dir);
    assert!(out.all().contains("No worker is running"), "{}", out.all());
}

/// `queue:failed` with filters, pages and groups; `queue:retry` and
/// `queue:forget` by filter, showing the count first.
pub async fn failed_jobs_are_found_and_handled_in_bulk(url: &str, dir: &Path) {
    let queue = Queue::open(url).await.expect("open the queue");
    fail_jobs(&queue, &[1, 2, 3, 4, 5]).await;

    let out = artisan(&["queue:failed", "--url", url, "--search", "order 3"], dir);
    assert_eq!(out.code, 0, "{}", out.all());
    assert!(
        out.all().contains("card declined for order 3"),
        "{}",
        out.all()
    );
    assert!(!out.all().contains("order 4"), "{}", out.all());
    assert!(
        out.all().contains("INFO  1 failed job(s)."),
        "{}",
        out.all()
    );

    // Pages of two, newest first, by key.
    let out = artisan(&["queue:failed", "--url", url, "--limit", "2"], dir);
    assert!(
        out.all()
            .contains("5 failed job(s) (2 shown, newest first)"),
        "{}",
        out.all()
    );
    let after = out
        .stdout
        .lines()
        .find_map(|l| l.trim().strip_prefix("Next page: --after "))
        .unwrap_or_else(|| panic!("no next page in {}", out.stdout))
        .to_string();
    let page = |out: &crate::common::Run| -> Vec<String> {
        let rows: serde_json::Value = serde_json::from_str(&out.stdout).expect("JSON");
        rows.as_array()
            .expect("rows")
            .iter()
            .map(|r| r["id"].as_str().unwrap_or_default().to_string())
            .collect()
    };
    let first = page(&artisan(
        &["queue:failed", "--url", url, "--limit", "2", "--json"],
        dir,
    ));
    let second = page(&artisan(
        &[
            "queue:failed",
            "--url",
            url,
            "--limit",
            "2",
            "--after",
            &after,
            "--json",
        ],
        dir,
    ));
    assert_eq!((first.len(), second.len()), (2, 2));
    assert!(
        first.iter().all(|id| !second.contains(id)),
        "{first:?} {second:?}"
    );
    let out = artisan(&["queue:failed", "--url", url, "--after", "junk"], dir);
    assert_eq!(out.code, 2, "{}", out.all());
    assert!(out.all().contains("not a page cursor"), "{}", out.all());

    // One group: same listener, same message but the order number.
    let out = artisan(&["queue:failed", "--url", url, "--groups"], dir);
    let group = out
        .stdout
        .lines()
        .find(|l| l.contains("5 x ChargeCardListener"))
        .unwrap_or_else(|| panic!("no group of 5 in {}", out.stdout));
    assert!(
        group.contains("card declined for order # (error)"),
        "{group}"
    );
    let out = artisan(&["queue:failed", "--url", url, "--groups", "--json"], dir);
    let groups: serde_json::Value = serde_json::from_str(&out.stdout).expect("JSON");
    assert_eq!(groups[0]["count"], 5, "{groups}");
    let fingerprint = groups[0]["fingerprint"]
        .as_str()
        .expect("fingerprint")
        .to_string();

    // Bulk retry by filter: the count first.
    let out = artisan(
        &[
            "queue:retry",
            "--url",
            url,
            "--name",
            "ChargeCardListener",
            "--search",
            "order 1",
        ],
        dir,
    );
    assert_eq!(out.code, 0, "{}", out.all());
    assert!(
        out.all().contains("1 failed job(s) match."),
        "{}",
        out.all()
    );
    assert!(
        out.all()
            .contains("1 failed job(s) pushed back onto the queue."),
        "{}",
        out.all()
    );
    let out = artisan(
        &["queue:retry", "some-id", "--url", url, "--name", "X"],
        dir,
    );
    assert_eq!(out.code, 2, "{}", out.all());

    // Bulk forget asks; without a terminal or --force it deletes nothing.
    let out = artisan(
        &["queue:forget", "--url", url, "--group", &fingerprint],
        dir,
    );
    assert_eq!(out.code, 2, "{}", out.all());
    assert!(
        out.all().contains("4 failed job(s) match."),
        "{}",
        out.all()
    );
    assert!(out.all().contains("nothing deleted"), "{}", out.all());
    let out = artisan(
        &[
            "queue:forget",
            "--url",
            url,
            "--group",
            &fingerprint,
            "--force",
        ],
        dir,
    );
    assert!(
        out.all().contains("4 failed job(s) deleted."),
        "{}",
        out.all()
    );
    let out = artisan(&["queue:failed", "--url", url], dir);
    assert!(out.all().contains("No failed jobs found."), "{}", out.all());
}

#[derive(Debug, Clone, Serialize, Deserialize, Event)]
pub struct RefundDueEvent {
    pub order: u64,
}

#[listener(event = RefundDueEvent, queued, queue = "refunds", tries = 3, backoff = [0])]
async fn refund_card(event: &RefundDueEvent) -> anyhow::Result<()> {
    Err(anyhow::anyhow!("the gateway timed out")
        .context(format!("refund of order {} failed", event.order)))
}

/// A job that failed three times: `queue:failed --json` prints each
/// attempt (number, when it ended, worker, how long it ran, outcome, the
/// error's chain), and the plain list says how many were kept and how each
/// ended.
pub async fn failed_json_prints_every_attempt(url: &str, dir: &Path) {
    let queue = Queue::open(url).await.expect("open the queue");
    let dispatcher = Dispatcher::new();
    queue.install(&dispatcher).await;
    dispatcher
        .listen::<RefundDueEvent>(Arc::new(RefundCardListener))
        .await;
    dispatcher
        .dispatch(RefundDueEvent { order: 31 })
        .await
        .expect("dispatch writes the job");
    let registry = JobRegistry::new().listener::<RefundDueEvent>(Arc::new(RefundCardListener));
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let worker = tokio::spawn(
        Worker::new(queue.clone(), registry)
            .queues(["refunds"])
            .poll_interval(Duration::from_millis(10))
            .run_until(async move {
                let _ = stopped.await;
            }),
    );
    let store = queue.failed().expect("a failed store");
    let deadline = Instant::now() + Duration::from_secs(30);
    while store.list().await.expect("list").is_empty() {
        assert!(Instant::now() < deadline, "the job never failed for good");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let _ = stop.send(());
    worker.await.expect("worker task").expect("worker");

    let out = artisan(&["queue:failed", "--url", url, "--json"], dir);
    assert_eq!(out.code, 0, "{}", out.all());
    let rows: serde_json::Value = serde_json::from_str(&out.stdout).expect("JSON");
    assert_eq!(rows[0]["attempts"], 3, "{rows:#}");
    let history = rows[0]["history"].as_array().expect("history");
    let seen: Vec<(u64, &str)> = history
        .iter()
        .map(|a| {
            (
                a["attempt"].as_u64().expect("attempt"),
                a["outcome"].as_str().expect("outcome"),
            )
        })
        .collect();
    assert_eq!(
        seen,
        [(1, "retried"), (2, "retried"), (3, "failed")],
        "{rows:#}"
    );
    let mut last_end = 0;
    for attempt in history {
        let worker = attempt["worker"].as_str().expect("worker");
        assert!(!worker.is_empty(), "{attempt}");
        assert_eq!(
            attempt["worker"], history[0]["worker"],
            "one worker ran them"
        );
        assert!(attempt["duration_ms"].is_u64(), "timed: {attempt}");
        let ended = attempt["ended_at_ms"].as_i64().expect("ended_at_ms");
        assert!(ended >= last_end, "in order: {history:?}");
        last_end = ended;
        assert!(
            attempt["ended_at"].as_str().is_some_and(|t| t.len() == 19),
            "{attempt}"
        );
        let chain: Vec<&str> = attempt["error_chain"]
            .as_array()
            .expect("error_chain")
            .iter()
            .filter_map(|e| e.as_str())
            .collect();
        let refund = chain
            .iter()
            .position(|e| e.contains("refund of order 31 failed"));
        let cause = chain
            .iter()
            .position(|e| e.contains("the gateway timed out"));
        assert!(
            matches!((refund, cause), (Some(r), Some(c)) if r < c),
            "the error, then its cause: {chain:?}"
        );
    }

    let out = artisan(&["queue:failed", "--url", url], dir);
    let shown = out.all();
    assert_eq!(out.code, 0, "{shown}");
    assert!(shown.contains("after 3 attempt(s)"), "{shown}");
    assert!(
        shown.contains("3 attempt(s) kept: 1 retried (")
            && shown.contains(" ms), 2 retried (")
            && shown.contains(" ms), 3 failed ("),
        "{shown}"
    );
}
