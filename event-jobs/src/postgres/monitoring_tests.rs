//! The `postgres` connection's monitoring against a real PostgreSQL
//! (`EVENTS_TEST_POSTGRES_URL`; skipped without it), each test in its own
//! schema.

use std::time::Duration;

use super::{PostgresBackend, PostgresOptions};
use crate::backend::{Backend, FailedStore};
use crate::job::{FailedJob, Job, JobEnvelope, now_ms};
use crate::monitor::{Monitoring, QueueGauge, Resolution, Tally, WorkerBeat};

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

fn job(queue: &str, available_at: i64) -> Job {
    let mut e = JobEnvelope::unreadable(ulid::Ulid::new().to_string(), queue.to_string(), "{}");
    e.event = "Ping".to_string();
    e.available_at = available_at;
    Job::from_envelope(e)
}

fn gauge<'a>(gauges: &'a [QueueGauge], queue: &str) -> &'a QueueGauge {
    gauges
        .iter()
        .find(|g| g.queue == queue)
        .unwrap_or_else(|| panic!("no gauge for {queue} in {gauges:?}"))
}

fn figures(g: &QueueGauge) -> (u64, u64, u64, u64, bool) {
    (g.pending, g.delayed, g.running, g.failed, g.paused)
}

#[tokio::test]
async fn gauges_follow_pushes_claims_acks_retries_fails_and_delays() {
    let Some((b, _)) = backend().await else {
        return;
    };
    let now = now_ms();
    b.push((0..5).map(|_| job("a", now - 40)).collect())
        .await
        .unwrap();
    b.push(vec![job("a", now + 60_000), job("b", now + 60_000)])
        .await
        .unwrap();
    let g = b.gauges().await.unwrap();
    assert_eq!(figures(gauge(&g, "a")), (5, 1, 0, 0, false));
    assert_eq!(figures(gauge(&g, "b")), (0, 1, 0, 0, false));
    assert!(gauge(&g, "a").oldest_pending_ms >= 40, "{g:?}");
    assert_eq!(gauge(&g, "b").oldest_pending_ms, 0);

    let queues = vec!["a".to_string()];
    let mut claimed = b
        .fetch(&queues, 3, Duration::from_secs(30), "c1")
        .await
        .unwrap();
    assert_eq!(claimed.len(), 3);
    let g = b.gauges().await.unwrap();
    assert_eq!(figures(gauge(&g, "a")), (2, 1, 3, 0, false));

    let first = claimed.remove(0);
    b.ack(vec![first.receipt.clone()]).await.unwrap();
    let second = claimed.remove(0);
    let mut retried = second.job.envelope.clone();
    retried.available_at = now_ms() + 60_000;
    b.retry(second, retried).await.unwrap();
    let third = claimed.remove(0);
    let failed = FailedJob::new(third.job.envelope.clone(), "boom".into(), 1);
    b.fail(third.receipt.clone(), failed.clone()).await.unwrap();
    let g = b.gauges().await.unwrap();
    assert_eq!(figures(gauge(&g, "a")), (2, 2, 0, 1, false));

    let taken = b.failed_take(&failed.id).await.unwrap().expect("taken");
    assert_eq!(gauge(&b.gauges().await.unwrap(), "a").failed, 0);
    b.failed_restore(taken.clone()).await.unwrap();
    b.failed_restore(taken).await.unwrap();
    assert_eq!(gauge(&b.gauges().await.unwrap(), "a").failed, 1);

    // A delayed job that comes due is pending without any write.
    b.push(vec![job("c", now_ms() + 1_000)]).await.unwrap();
    assert_eq!(
        figures(gauge(&b.gauges().await.unwrap(), "c")),
        (0, 1, 0, 0, false)
    );
    tokio::time::sleep(Duration::from_millis(2_100)).await;
    let g = b.gauges().await.unwrap();
    assert_eq!(figures(gauge(&g, "c")), (1, 0, 0, 0, false));
    assert!(gauge(&g, "c").oldest_pending_ms >= 1_000, "{g:?}");

    // Released claims are pending again; purge and clear keep counts right.
    let claimed = b
        .fetch(&queues, 10, Duration::from_secs(30), "c1")
        .await
        .unwrap();
    assert_eq!(claimed.len(), 2);
    b.release(claimed).await.unwrap();
    assert_eq!(
        figures(gauge(&b.gauges().await.unwrap(), "a")),
        (2, 2, 0, 1, false)
    );
    b.failed_purge().await.unwrap();
    b.clear().await.unwrap();
    let g = b.gauges().await.unwrap();
    assert_eq!(figures(gauge(&g, "a")), (0, 0, 0, 0, false));
    assert_eq!(figures(gauge(&g, "c")), (0, 0, 0, 0, false));
    drop_schema(&b).await;
}

#[tokio::test]
async fn clear_queue_removes_waiting_jobs_only() {
    let Some((b, _)) = backend().await else {
        return;
    };
    let now = now_ms();
    b.push((0..4).map(|_| job("a", 0)).collect()).await.unwrap();
    b.push(vec![
        job("a", now + 60_000),
        job("a", now + 60_000),
        job("b", now + 60_000),
        job("b", 0),
    ])
    .await
    .unwrap();
    let claimed = b
        .fetch(&["a".to_string()], 1, Duration::from_secs(30), "c1")
        .await
        .unwrap();
    assert_eq!(claimed.len(), 1);
    assert_eq!(b.clear_queue("a").await.unwrap(), 5);
    let g = b.gauges().await.unwrap();
    assert_eq!(figures(gauge(&g, "a")), (0, 0, 1, 0, false));
    assert_eq!(figures(gauge(&g, "b")), (1, 1, 0, 0, false));
    b.ack(vec![claimed[0].receipt.clone()]).await.unwrap();
    assert_eq!(
        figures(gauge(&b.gauges().await.unwrap(), "a")),
        (0, 0, 0, 0, false)
    );
    drop_schema(&b).await;
}

#[tokio::test]
async fn tallies_from_two_writers_add_up_at_both_resolutions() {
    let Some((b, schema)) = backend().await else {
        return;
    };
    let other = open(&schema).await;
    let minute = Resolution::Minute.start_of(now_ms());
    let mut t = Tally::new("q", "Job", minute);
    t.processed = 2;
    t.wait.add(3);
    t.run.add(40);
    let mut u = Tally::new("q", "Job", minute);
    u.failed = 1;
    u.run.add(40);
    let (x, y) = tokio::join!(
        b.record(vec![t.clone()]),
        other.record(vec![u.clone(), t.clone()])
    );
    x.unwrap();
    y.unwrap();
    let minutes = b.tallies(Resolution::Minute, minute).await.unwrap();
    assert_eq!(minutes.len(), 1, "{minutes:?}");
    assert_eq!((minutes[0].processed, minutes[0].failed), (4, 1));
    assert_eq!((minutes[0].run.count(), minutes[0].wait.count()), (3, 2));
    let hour = Resolution::Hour.start_of(minute);
    let hours = other.tallies(Resolution::Hour, hour).await.unwrap();
    assert_eq!(hours.len(), 1);
    assert_eq!(
        (hours[0].start_ms, hours[0].processed, hours[0].run.count()),
        (hour, 4, 3)
    );
    assert!(
        b.tallies(Resolution::Minute, minute + 60_000)
            .await
            .unwrap()
            .is_empty()
    );
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
    b.set_paused("mail", true).await.unwrap();
    b.set_paused("sms", true).await.unwrap();
    b.set_paused("sms", false).await.unwrap();
    let s = b.signals().await.unwrap();
    assert_eq!(
        (s.paused, s.restart_at_ms),
        (vec!["mail".to_string()], None)
    );
    assert!(gauge(&b.gauges().await.unwrap(), "mail").paused);
    b.request_restart(1234).await.unwrap();
    assert_eq!(b.signals().await.unwrap().restart_at_ms, Some(1234));

    let now = now_ms();
    let beat = |id: &str, last: i64| WorkerBeat {
        id: id.to_string(),
        host: "h".into(),
        pid: 1,
        queues: vec!["default".into()],
        concurrency: 2,
        started_at_ms: now - 100_000,
        last_beat_ms: last,
        interval_ms: 1_000,
        running: 0,
        processed: 3,
        failed: 0,
    };
    b.beat(&beat("alive", now)).await.unwrap();
    b.beat(&beat("stalled", now - 5_000)).await.unwrap();
    b.beat(&beat("gone", now - 60_000)).await.unwrap();
    b.beat(&beat("left", now)).await.unwrap();
    b.unregister("left").await.unwrap();
    let mut ids: Vec<String> = b
        .workers()
        .await
        .unwrap()
        .into_iter()
        .map(|w| w.id)
        .collect();
    ids.sort();
    assert_eq!(ids, ["alive", "stalled"]);
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
async fn one_holder_per_lease_raised_alerts_and_the_completed_log() {
    use crate::monitor::{AlertLedger, CompletedJob, CompletedLog};
    let Some((b, _)) = backend().await else {
        return;
    };
    assert!(b.lease("alerts", "p1", 1_000, 2_000).await.unwrap());
    assert!(!b.lease("alerts", "p2", 1_500, 2_500).await.unwrap());
    assert!(
        b.lease("alerts", "p1", 1_900, 3_000).await.unwrap(),
        "renewed"
    );
    assert!(
        b.lease("alerts", "p2", 3_000, 4_000).await.unwrap(),
        "expired"
    );
    b.set_raised("wait:b", true, 1).await.unwrap();
    b.set_raised("wait:a", true, 1).await.unwrap();
    b.set_raised("wait:a", true, 2).await.unwrap();
    b.set_raised("wait:b", false, 3).await.unwrap();
    assert_eq!(b.raised().await.unwrap(), ["wait:a"]);

    let now = now_ms();
    let done = |n: i64| CompletedJob {
        id: format!("j{n}"),
        name: "Job".into(),
        queue: "q".into(),
        wait_ms: 5,
        run_ms: 7,
        attempts: 1,
        worker: "w".into(),
        done_at_ms: now - 10_000 + n,
    };
    let mut old = done(0);
    old.done_at_ms = now - 25 * 3_600_000;
    b.record_completed(vec![old, done(1), done(2)])
        .await
        .unwrap();
    b.record_completed(vec![done(3)]).await.unwrap();
    let latest = b.completed(2, None).await.unwrap();
    assert_eq!(latest, vec![done(3), done(2)]);
    let next = b.completed(10, Some(latest[1].done_at_ms)).await.unwrap();
    assert_eq!(next, vec![done(1)], "a day old is dropped");
    drop_schema(&b).await;
}
