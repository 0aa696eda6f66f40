//! `artisan queue:failed / queue:retry / queue:forget / queue:flush /
//! queue:monitor` (each queue's depth) against a real SQLite queue and a real Redis
//! (`EVENTS_TEST_REDIS_URL`, each test under its own key prefix), whose jobs
//! really failed in a worker.

mod common;
mod queue_cli_common;

use std::sync::Arc;

use event_core::queue::{AppKeys, Queue};
use event_core::{Dispatcher, listener};
use queue_cli_common::{
    PaymentDueEvent, artisan, fail_jobs, failed_jobs_round_trip, foreign_records_are_shown,
    monitor_shows_each_queue, run_worker_until_failed,
};

#[listener(event = PaymentDueEvent, queued, queue = "payments", tries = 1, encrypted)]
async fn charge_sealed_card(_event: &PaymentDueEvent) -> anyhow::Result<()> {
    Ok(())
}

/// An `encrypted` listener's job that failed on a worker without the key:
/// `queue:failed` says it is encrypted and why it failed, and shows no
/// plaintext of its payload.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn encrypted_failed_jobs_are_shown_sealed() {
    let dir = tempfile::tempdir().expect("temp dir");
    let url = format!("sqlite://{}/jobs.db", dir.path().display());
    let key = AppKeys::new("AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=", []).expect("key");
    let queue = Queue::open(&url).await.expect("open").with_app_keys(key);
    let dispatcher = Dispatcher::new();
    queue.install(&dispatcher).await;
    dispatcher
        .listen::<PaymentDueEvent>(Arc::new(ChargeSealedCardListener))
        .await;
    dispatcher
        .dispatch(PaymentDueEvent { order: 987_654_321 })
        .await
        .expect("dispatch");
    run_worker_until_failed(&queue.clone().with_app_keys(AppKeys::none()), 1).await;

    let out = artisan(&["queue:failed", "--url", &url], dir.path());
    let shown = out.all();
    assert_eq!(out.code, 0, "{shown}");
    assert!(shown.contains("(PaymentDue, encrypted)"), "{shown}");
    assert!(shown.contains("EVENTS_APP_KEY"), "{shown}");
    let out = artisan(&["queue:failed", "--url", &url, "--json"], dir.path());
    assert!(!out.stdout.contains("987654321"), "{}", out.stdout);
    let rows: serde_json::Value = serde_json::from_str(&out.stdout).expect("JSON");
    assert_eq!(rows[0]["payload"], serde_json::Value::Null);
    assert_eq!(rows[0]["encrypted"]["cipher"], "xchacha20poly1305");
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
async fn queue_failed_json_prints_every_attempt_on_sqlite() {
    let dir = tempfile::tempdir().expect("temp dir");
    let url = format!("sqlite://{}/jobs.db", dir.path().display());
    queue_cli_common::failed_json_prints_every_attempt(&url, dir.path()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn queue_failed_json_prints_every_attempt_on_redis() {
    let Some(url) = redis_url() else { return };
    let dir = tempfile::tempdir().expect("temp dir");
    queue_cli_common::failed_json_prints_every_attempt(&url, dir.path()).await;
    let queue = Queue::open(&url).await.expect("open");
    queue.clear().await.expect("clear");
    queue.failed().expect("store").purge().await.expect("purge");
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn monitor_shows_each_queue_on_sqlite() {
    let dir = tempfile::tempdir().expect("temp dir");
    let url = format!("sqlite://{}/jobs.db", dir.path().display());
    monitor_shows_each_queue(&url, dir.path()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failed_jobs_are_found_and_handled_in_bulk_on_sqlite() {
    let dir = tempfile::tempdir().expect("temp dir");
    let url = format!("sqlite://{}/jobs.db", dir.path().display());
    queue_cli_common::failed_jobs_are_found_and_handled_in_bulk(&url, dir.path()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failed_jobs_are_found_and_handled_in_bulk_on_redis() {
    let Some(url) = redis_url() else { return };
    let dir = tempfile::tempdir().expect("temp dir");
    queue_cli_common::failed_jobs_are_found_and_handled_in_bulk(&url, dir.path()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn operate_the_queues_on_sqlite() {
    let dir = tempfile::tempdir().expect("temp dir");
    let url = format!("sqlite://{}/jobs.db", dir.path().display());
    queue_cli_common::operate_the_queues(&url, dir.path()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn operate_the_queues_on_redis() {
    let Some(url) = redis_url() else { return };
    let dir = tempfile::tempdir().expect("temp dir");
    queue_cli_common::operate_the_queues(&url, dir.path()).await;
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

/// `queue:prune-failed --hours N` deletes the failed jobs older than N
/// hours and keeps the recent ones.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prune_failed_deletes_only_the_old_failed_jobs() {
    let dir = tempfile::tempdir().expect("temp dir");
    let url = format!("sqlite://{}/jobs.db", dir.path().display());
    let queue = Queue::open(&url).await.expect("open");
    fail_jobs(&queue, &[1, 2]).await;
    let store = queue.failed().expect("store");
    let mut old = store.list().await.expect("list").remove(0);
    assert!(store.forget(&old.id).await.expect("forget"));
    old.failed_at -= 30 * 3600 * 1000;
    store.restore(old.clone()).await.expect("restore");

    let out = artisan(
        &["queue:prune-failed", "--hours", "48", "--url", &url],
        dir.path(),
    );
    assert_eq!(out.code, 0, "{}", out.all());
    assert!(
        out.all()
            .contains("0 failed job(s) older than 48 hour(s) deleted."),
        "{}",
        out.all()
    );
    assert_eq!(store.list().await.expect("list").len(), 2);

    let out = artisan(&["queue:prune-failed", "--url", &url], dir.path());
    assert_eq!(out.code, 0, "{}", out.all());
    assert!(
        out.all()
            .contains("1 failed job(s) older than 24 hour(s) deleted."),
        "{}",
        out.all()
    );
    let left = store.list().await.expect("list");
    assert_eq!(left.len(), 1);
    assert_ne!(left[0].id, old.id, "the old one went");
}
