//! The `redis` connection's monitoring against a real Redis
//! (`EVENTS_TEST_REDIS_URL`; skipped without it), each test under its own
//! prefix.

use std::time::Duration;

use super::{RedisBackend, RedisOptions};
use crate::backend::{Backend, FailedSearch, FailedStore};
use crate::job::{FailedJob, Job, JobEnvelope, now_ms};
use crate::monitor::{Monitoring, QueueGauge, Resolution, Tally, WorkerBeat};

pub(super) async fn backend() -> Option<(RedisBackend, String)> {
    let url = std::env::var("EVENTS_TEST_REDIS_URL").ok()?;
    let prefix = format!("montest-{}", ulid::Ulid::new());
    let options = RedisOptions {
        prefix: prefix.clone(),
        ..RedisOptions::default()
    };
    Some((
        RedisBackend::connect(&url, options).await.expect("connect"),
        prefix,
    ))
}

pub(super) async fn cleanup(b: &RedisBackend) {
    let keys = b.scan("*").await.expect("scan");
    if !keys.is_empty() {
        let mut conn = b.conn.clone();
        let _: i64 = redis::AsyncCommands::del(&mut conn, keys)
            .await
            .expect("del");
    }
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
    b.push((0..5).map(|_| job("a", 0)).collect()).await.unwrap();
    b.push(vec![job("a", now + 60_000), job("b", now + 60_000)])
        .await
        .unwrap();
    let g = b.gauges().await.unwrap();
    assert_eq!(figures(gauge(&g, "a")), (5, 1, 0, 0, false));
    assert_eq!(figures(gauge(&g, "b")), (0, 1, 0, 0, false));
    tokio::time::sleep(Duration::from_millis(30)).await;
    let g = b.gauges().await.unwrap();
    assert!(gauge(&g, "a").oldest_pending_ms >= 25, "{g:?}");
    assert_eq!(gauge(&g, "b").oldest_pending_ms, 0);

    let queues = vec!["a".to_string()];
    let mut claimed = b
        .fetch(&queues, 3, Duration::from_secs(30), "c1")
        .await
        .unwrap();
    assert_eq!(claimed.len(), 3);
    let g = b.gauges().await.unwrap();
    assert_eq!(figures(gauge(&g, "a")), (2, 1, 3, 0, false));

    // ack one, retry one with a backoff, fail one.
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

    // A retry taken back out of the failed store and put back.
    let taken = b.failed_take(&failed.id).await.unwrap().expect("taken");
    assert_eq!(gauge(&b.gauges().await.unwrap(), "a").failed, 0);
    b.failed_restore(taken.clone()).await.unwrap();
    b.failed_restore(taken).await.unwrap();
    assert_eq!(gauge(&b.gauges().await.unwrap(), "a").failed, 1);

    // A delayed job that came due counts as pending before any worker moves it.
    b.push(vec![job("c", now_ms() + 50)]).await.unwrap();
    tokio::time::sleep(Duration::from_millis(120)).await;
    let g = b.gauges().await.unwrap();
    assert_eq!(figures(gauge(&g, "c")), (1, 0, 0, 0, false));
    assert!(gauge(&g, "c").oldest_pending_ms >= 60, "{g:?}");
    // ... and once a fetch moved it, still (from its stream now).
    b.fetch(&["zzz".to_string()], 1, Duration::from_secs(30), "c2")
        .await
        .unwrap();
    let g = b.gauges().await.unwrap();
    assert_eq!(figures(gauge(&g, "c")), (1, 0, 0, 0, false));

    b.failed_purge().await.unwrap();
    assert_eq!(gauge(&b.gauges().await.unwrap(), "a").failed, 0);
    b.clear().await.unwrap();
    let g = b.gauges().await.unwrap();
    assert_eq!(figures(gauge(&g, "a")), (0, 0, 0, 0, false));
    cleanup(&b).await;
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
    assert_eq!(b.clear_queue("nothing").await.unwrap(), 0);
    cleanup(&b).await;
}

#[tokio::test]
async fn tallies_from_two_writers_add_up_at_both_resolutions() {
    let Some((b, prefix)) = backend().await else {
        return;
    };
    let url = std::env::var("EVENTS_TEST_REDIS_URL").unwrap();
    let other = RedisBackend::connect(
        &url,
        RedisOptions {
            prefix,
            ..RedisOptions::default()
        },
    )
    .await
    .unwrap();
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
    assert_eq!(minutes[0].run.count(), 3);
    assert_eq!(minutes[0].wait.count(), 2);
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
    let mut conn = b.conn.clone();
    let ttl: i64 = redis::cmd("PTTL")
        .arg(b.tally_key(Resolution::Minute, minute))
        .query_async(&mut conn)
        .await
        .unwrap();
    assert!(
        ttl > 47 * 3_600_000 && ttl <= 48 * 3_600_000 + 60_000,
        "{ttl}"
    );
    cleanup(&b).await;
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
    let mut conn = b.conn.clone();
    let left: i64 = redis::AsyncCommands::hlen(&mut conn, b.key("workers"))
        .await
        .unwrap();
    assert_eq!(left, 2, "the gone worker is deleted");
    cleanup(&b).await;
}

#[tokio::test]
async fn a_prefix_with_jobs_from_before_is_counted_once() {
    let Some((b, prefix)) = backend().await else {
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
    // As a prefix written before monitoring: no counters, no queue list.
    let mut conn = b.conn.clone();
    let _: i64 = redis::AsyncCommands::del(
        &mut conn,
        &[b.key("counted"), b.key("delayed:n"), b.key("queues")],
    )
    .await
    .unwrap();
    let url = std::env::var("EVENTS_TEST_REDIS_URL").unwrap();
    let again = RedisBackend::connect(
        &url,
        RedisOptions {
            prefix,
            ..RedisOptions::default()
        },
    )
    .await
    .unwrap();
    assert_eq!(
        figures(gauge(&again.gauges().await.unwrap(), "old")),
        (1, 2, 0, 0, false)
    );
    // A second connect does not count again.
    b.count_once().await.unwrap();
    assert_eq!(gauge(&again.gauges().await.unwrap(), "old").delayed, 2);
    cleanup(&b).await;
}

/// Every read through a Redis user that may not run KEYS or SCAN (nor
/// their hash, set and sorted-set forms): any listing would be refused.
#[tokio::test]
async fn reads_list_no_keys() {
    use crate::failed::query::FailedQuery;
    use crate::monitor::{AlertLedger, CompletedLog};
    let Some((b, prefix)) = backend().await else {
        return;
    };
    b.push(vec![job("a", 0), job("a", now_ms() + 60_000)])
        .await
        .unwrap();
    let failed = FailedJob::new(job("a", 0).envelope, "card declined 4".into(), 1);
    b.failed_restore(failed).await.unwrap();
    let user = format!("noscan-{}", ulid::Ulid::new()).to_lowercase();
    let mut conn = b.conn.clone();
    let _: () = redis::cmd("ACL")
        .arg(&["SETUSER", &user, "on", ">pw", "~*", "&*", "+@all"][..])
        .arg(&["-keys", "-scan", "-hscan", "-sscan", "-zscan"][..])
        .query_async(&mut conn)
        .await
        .unwrap();
    let base = std::env::var("EVENTS_TEST_REDIS_URL").unwrap();
    let url = base.replacen("redis://", &format!("redis://{user}:pw@"), 1);
    let options = RedisOptions {
        prefix,
        ..RedisOptions::default()
    };
    let reader = RedisBackend::connect(&url, options).await.expect("connect");
    assert!(reader.scan("*").await.is_err(), "the user may not SCAN");
    let g = reader.gauges().await.expect("gauges");
    assert_eq!(figures(gauge(&g, "a")), (1, 1, 0, 1, false));
    reader
        .tallies(Resolution::Minute, 0)
        .await
        .expect("tallies");
    reader.tallies(Resolution::Hour, 0).await.expect("tallies");
    reader.signals().await.expect("signals");
    reader.workers().await.expect("workers");
    reader.raised().await.expect("raised");
    reader.completed(10, None).await.expect("completed");
    let words = FailedQuery {
        text: Some("card declined".into()),
        queue: Some("a".into()),
        ..FailedQuery::default()
    };
    assert_eq!(
        reader
            .failed_search(&words)
            .await
            .expect("search")
            .jobs
            .len(),
        1
    );
    assert_eq!(reader.failed_count(&words).await.expect("count"), 1);
    assert_eq!(reader.failed_groups().await.expect("groups").len(), 1);
    let _: () = redis::cmd("ACL")
        .arg(&["DELUSER", &user][..])
        .query_async(&mut conn)
        .await
        .unwrap();
    cleanup(&b).await;
}

#[test]
fn read_scripts_name_their_keys() {
    for script in [
        super::monitor_scripts::GAUGES,
        super::monitor_scripts::CLEAR_QUEUE,
    ] {
        for banned in ["'KEYS'", "'SCAN'", "'ZSCAN'", "'HSCAN'", "'SSCAN'"] {
            assert!(!script.contains(banned), "{banned}");
        }
    }
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
    cleanup(&b).await;
}
