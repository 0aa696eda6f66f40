//! The `postgres` connection's monitoring against a real PostgreSQL
//! (`EVENTS_TEST_POSTGRES_URL`; skipped without it), each test in its own
//! schema.

use std::time::Duration;

use super::{PostgresBackend, PostgresOptions};
use crate::backend::{Backend, FailedStore};
use crate::job::{FailedJob, now_ms};
use crate::monitor::scenarios::{self, figures, gauge, job};
use crate::monitor::{Monitoring, Resolution, Tally};

fn url() -> Option<String> {
    std::env::var("EVENTS_TEST_POSTGRES_URL").ok()
}

pub(super) async fn open(schema: &str) -> PostgresBackend {
    let options = PostgresOptions {
        schema: schema.to_string(),
        ..PostgresOptions::default()
    };
    PostgresBackend::connect(&url().unwrap(), options)
        .await
        .expect("connect")
}

pub(super) async fn backend() -> Option<(PostgresBackend, String)> {
    url()?;
    let schema = format!("montest_{}", ulid::Ulid::new().to_string().to_lowercase());
    Some((open(&schema).await, schema))
}

pub(super) async fn sql(b: &PostgresBackend, statements: &str) {
    let client = b.inner.client().await.unwrap();
    client.batch_execute(statements).await.expect(statements)
}

async fn count(b: &PostgresBackend, query: &str) -> i64 {
    let client = b.inner.client().await.unwrap();
    client.query_one(query, &[]).await.expect(query).get(0)
}

pub(super) async fn drop_schema(b: &PostgresBackend) {
    let schema = b.schema().to_string();
    sql(b, &format!("DROP SCHEMA \"{schema}\" CASCADE")).await;
}

#[tokio::test]
async fn gauges_follow_every_write() {
    let Some((b, _)) = backend().await else {
        return;
    };
    scenarios::gauges_follow_every_write(&b).await;
    drop_schema(&b).await;
}

#[tokio::test]
async fn clear_queue_removes_waiting_jobs_only() {
    let Some((b, _)) = backend().await else {
        return;
    };
    scenarios::clear_queue_removes_waiting_jobs_only(&b).await;
    drop_schema(&b).await;
}

#[tokio::test]
async fn tallies_from_two_writers_add_up_at_both_resolutions() {
    let Some((b, schema)) = backend().await else {
        return;
    };
    let other = open(&schema).await;
    let minute = scenarios::tallies_from_two_writers_add_up(&b, &other).await;
    // Periods past their retention are pruned.
    let old = Resolution::Minute.start_of(now_ms() - 49 * 3_600_000);
    let mut stale = Tally::new("q", "Job", old);
    stale.processed = 1;
    b.inner
        .pruned_at
        .store(0, std::sync::atomic::Ordering::Relaxed);
    b.record(vec![stale]).await.unwrap();
    b.inner
        .pruned_at
        .store(0, std::sync::atomic::Ordering::Relaxed);
    b.record(Vec::new()).await.unwrap();
    assert!(
        b.tallies(Resolution::Minute, 0)
            .await
            .unwrap()
            .iter()
            .all(|t| t.start_ms == minute)
    );
    drop_schema(&b).await;
}

#[tokio::test]
async fn pause_restart_and_workers_round_trip() {
    let Some((b, _)) = backend().await else {
        return;
    };
    scenarios::pause_restart_and_workers_round_trip(&b).await;
    let left = count(
        &b,
        &format!(
            "SELECT count(*) FROM \"{}\".event_queue_workers",
            b.schema()
        ),
    )
    .await;
    assert_eq!(left, 2, "the gone worker is deleted");
    drop_schema(&b).await;
}

#[tokio::test]
async fn a_table_with_jobs_from_before_is_counted_once() {
    let Some((b, schema)) = backend().await else {
        return;
    };
    let now = now_ms();
    b.push(vec![
        job("old", 0),
        job("old", now + 60_000),
        job("old", now + 60_000),
    ])
    .await
    .unwrap();
    let failed = FailedJob::new(job("old", 0).envelope, "x".into(), 1);
    b.failed_restore(failed).await.unwrap();
    // As tables written before monitoring: no triggers, no counters.
    sql(
        &b,
        &format!(
            "DROP TRIGGER event_jobs_count_insert ON \"{schema}\".event_jobs;
             DROP TRIGGER event_jobs_count_update ON \"{schema}\".event_jobs;
             DROP TRIGGER event_jobs_count_delete ON \"{schema}\".event_jobs;
             DROP TRIGGER event_failed_count_insert ON \"{schema}\".event_failed_jobs;
             DROP TRIGGER event_failed_count_update ON \"{schema}\".event_failed_jobs;
             DROP TRIGGER event_failed_count_delete ON \"{schema}\".event_failed_jobs;
             DELETE FROM \"{schema}\".event_queue_deltas; DELETE FROM \"{schema}\".event_queue_counts;"
        ),
    )
    .await;
    let again = open(&schema).await;
    assert_eq!(
        figures(gauge(&again.gauges().await.unwrap(), "old")),
        (1, 2, 0, 1, false)
    );
    let third = open(&schema).await;
    assert_eq!(
        figures(gauge(&third.gauges().await.unwrap(), "old")),
        (1, 2, 0, 1, false),
        "counted once"
    );
    drop_schema(&b).await;
}

/// The gauge and tally reads probe indexes: no sequential scan of the jobs
/// table, even when the planner is told to avoid them only if it can.
#[tokio::test]
async fn reads_do_not_scan_the_jobs_table() {
    let Some((b, schema)) = backend().await else {
        return;
    };
    let now = now_ms();
    sql(
        &b,
        &format!(
            "INSERT INTO \"{schema}\".event_jobs (id, queue, priority, available_at, payload)
             SELECT 'j' || i, 'q' || (i % 5), 0, {now} + (i % 3 - 1) * 60000, '{{}}'
             FROM generate_series(1, 20000) AS i;
             ANALYZE \"{schema}\".event_jobs;"
        ),
    )
    .await;
    let g = b.gauges().await.unwrap();
    assert_eq!(g.len(), 5);
    assert_eq!(g.iter().map(|g| g.pending + g.delayed).sum::<u64>(), 20000);
    let monitor = &b.inner.tables.monitor;
    let client = b.inner.client().await.unwrap();
    let explain = |statement: &String, args: String, setting: &'static str| {
        let client = &client;
        let statement = statement.clone();
        async move {
            client
                .batch_execute(&format!("{setting}; PREPARE p AS {statement}"))
                .await
                .unwrap();
            let rows = client
                .query(&format!("EXPLAIN EXECUTE p({args})"), &[])
                .await
                .unwrap();
            client
                .batch_execute("DEALLOCATE p; RESET enable_seqscan")
                .await
                .unwrap();
            rows.iter()
                .map(|r| r.get::<_, String>(0))
                .collect::<Vec<_>>()
                .join("\n")
        }
    };
    // As planned on the table as it is: the oldest ready job is an index probe.
    let plan = explain(
        &monitor.gauges,
        format!("{}", now / 1000),
        "RESET enable_seqscan",
    )
    .await;
    println!("gauges plan:\n{plan}");
    assert!(!plan.contains("Seq Scan on event_jobs"), "gauges:\n{plan}");
    assert!(plan.contains("event_jobs_ready"), "gauges:\n{plan}");
    // The tallies table is empty here (any plan is cheap): show that the
    // read has a primary-key range path.
    let plan = explain(
        &monitor.tallies,
        "'m', 0".to_string(),
        "SET enable_seqscan = off",
    )
    .await;
    assert!(!plan.contains("Seq Scan"), "tallies:\n{plan}");
    drop_schema(&b).await;
}

/// A worker's process answers the signals from what it read while no
/// change is notified; a pause or restart from another process is seen at
/// once.
#[tokio::test]
async fn signals_are_read_again_when_a_change_is_notified() {
    let Some((worker, schema)) = backend().await else {
        return;
    };
    let admin = open(&schema).await;
    assert!(worker.signals().await.unwrap().paused.is_empty());
    assert!(worker.inner.wake.listening(), "the first read listens");
    let generation = worker.inner.wake.signals_generation();
    assert!(worker.signals().await.unwrap().paused.is_empty());
    admin.set_paused("mail", true).await.unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(2);
    while worker.inner.wake.signals_generation() == generation {
        assert!(std::time::Instant::now() < deadline, "no notification");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(worker.signals().await.unwrap().paused, ["mail"]);
    admin.request_restart(42).await.unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(worker.signals().await.unwrap().restart_at_ms, Some(42));
    drop_schema(&admin).await;
}

#[tokio::test]
async fn leases_alerts_and_the_completed_log() {
    let Some((b, _)) = backend().await else {
        return;
    };
    scenarios::leases_alerts_and_the_completed_log(&b).await;
    drop_schema(&b).await;
}
