//! `artisan queue:failed / queue:retry / queue:forget / queue:flush --url
//! postgres://...` and `queue:monitor` against the real PostgreSQL
//! (`EVENTS_TEST_POSTGRES_URL`), in a schema of the test's own, dropped
//! after: the scenarios of `queue_cli_common`, the ones sqlite and redis run.

mod common;
mod queue_cli_common;

use event_core::queue::Queue;
use queue_cli_common::{
    artisan, failed_jobs_round_trip, foreign_records_are_shown, monitor_shows_each_queue,
};
use test_support::Schema;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failed_jobs_are_listed_retried_forgotten_and_flushed_on_postgres() {
    let Some(schema) = Schema::tagged("artisan") else {
        return;
    };
    let dir = tempfile::tempdir().expect("temp dir");
    failed_jobs_round_trip(&schema.url, dir.path()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn queue_failed_json_prints_every_attempt_on_postgres() {
    let Some(schema) = Schema::tagged("artisan") else {
        return;
    };
    let dir = tempfile::tempdir().expect("temp dir");
    queue_cli_common::failed_json_prints_every_attempt(&schema.url, dir.path()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn monitor_shows_each_queue_on_postgres() {
    let Some(schema) = Schema::tagged("artisan") else {
        return;
    };
    let dir = tempfile::tempdir().expect("temp dir");
    monitor_shows_each_queue(&schema.url, dir.path()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failed_jobs_are_found_and_handled_in_bulk_on_postgres() {
    let Some(schema) = Schema::tagged("artisan") else {
        return;
    };
    let dir = tempfile::tempdir().expect("temp dir");
    queue_cli_common::failed_jobs_are_found_and_handled_in_bulk(&schema.url, dir.path()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn operate_the_queues_on_postgres() {
    let Some(schema) = Schema::tagged("artisan") else {
        return;
    };
    let dir = tempfile::tempdir().expect("temp dir");
    queue_cli_common::operate_the_queues(&schema.url, dir.path()).await;
}

/// An unreachable server is an error naming it, not a hang.
#[test]
fn an_unreachable_server_is_named() {
    let dir = tempfile::tempdir().expect("temp dir");
    let out = artisan(
        &["queue:failed", "--url", "postgres://app@127.0.0.1:1/db"],
        dir.path(),
    );
    assert_ne!(out.code, 0, "{}", out.all());
    assert!(out.all().contains("127.0.0.1:1"), "{}", out.all());
}

/// Job rows another program wrote: `queue:failed --json` shows their text.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn queue_failed_json_shows_what_a_foreign_postgres_row_held() {
    use event_core::queue::postgres::tokio_postgres;
    let Some(schema) = Schema::tagged("artisan") else {
        return;
    };
    let dir = tempfile::tempdir().expect("temp dir");
    Queue::open(&schema.url).await.expect("create the tables");
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
                     VALUES ($1, 'payments', 0, 0, $2)",
                    schema.table("event_jobs")
                ),
                &[&format!("foreign-{i}"), text],
            )
            .await
            .expect("insert a foreign row");
    }
    foreign_records_are_shown(&schema.url, dir.path(), &texts).await;
}
