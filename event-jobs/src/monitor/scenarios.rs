//! What every connection's monitoring must do, run by each connection's
//! own tests against its real backend (as `failed/scenarios.rs` is for
//! the failed-job search). What only one backend can show (a key's TTL, a
//! table's plan, a trigger-less table from before) stays in its own tests.

use std::time::Duration;

use crate::backend::Backend;
use crate::job::{FailedJob, Job, JobEnvelope, now_ms};
use crate::monitor::{CompletedJob, QueueGauge, Resolution, Tally, WorkerBeat};

pub(crate) fn job(queue: &str, available_at: i64) -> Job {
    let mut e = JobEnvelope::unreadable(ulid::Ulid::new().to_string(), queue.to_string(), "{}");
    e.event = "Ping".to_string();
    e.available_at = available_at;
    Job::from_envelope(e)
}

pub(crate) fn gauge<'a>(gauges: &'a [QueueGauge], queue: &str) -> &'a QueueGauge {
    gauges
        .iter()
        .find(|g| g.queue == queue)
        .unwrap_or_else(|| panic!("no gauge for {queue} in {gauges:?}"))
}

/// (pending, delayed, running, failed, paused)
pub(crate) fn figures(g: &QueueGauge) -> (u64, u64, u64, u64, bool) {
    (g.pending, g.delayed, g.running, g.failed, g.paused)
}

async fn figures_of(b: &impl Backend, queue: &str) -> (u64, u64, u64, u64, bool) {
    figures(gauge(&b.gauges().await.unwrap(), queue))
}

/// The gauges follow every write: pushes (ready and delayed), claims,
/// acks, retries with a backoff, failures, the failed store's take and
/// restore, a delayed job coming due with no write, released claims, a
/// purge and a clear.
pub(crate) async fn gauges_follow_every_write(b: &impl Backend) {
    let now = now_ms();
    b.push((0..5).map(|_| job("a", 0)).collect()).await.unwrap();
    b.push(vec![job("a", now + 60_000), job("b", now + 60_000)])
        .await
        .unwrap();
    assert_eq!(figures_of(b, "a").await, (5, 1, 0, 0, false));
    assert_eq!(figures_of(b, "b").await, (0, 1, 0, 0, false));
    tokio::time::sleep(Duration::from_millis(30)).await;
    let g = b.gauges().await.unwrap();
    assert!(gauge(&g, "a").oldest_pending_ms >= 25, "{g:?}");
    assert_eq!(gauge(&g, "b").oldest_pending_ms, 0, "nothing ready in b");

    let queues = vec!["a".to_string()];
    let mut claimed = b
        .fetch(&queues, 3, Duration::from_secs(30), "c1")
        .await
        .unwrap();
    assert_eq!(claimed.len(), 3);
    assert_eq!(figures_of(b, "a").await, (2, 1, 3, 0, false));

    // Ack one, retry one with a backoff, fail one.
    let first = claimed.remove(0);
    b.ack(vec![first.receipt.clone()]).await.unwrap();
    let second = claimed.remove(0);
    let mut retried = second.job.envelope.clone();
    retried.available_at = now_ms() + 60_000;
    b.retry(second, retried).await.unwrap();
    let third = claimed.remove(0);
    let failed = FailedJob::new(third.job.envelope.clone(), "boom".into(), 1);
    b.fail(third.receipt.clone(), failed.clone()).await.unwrap();
    assert_eq!(figures_of(b, "a").await, (2, 2, 0, 1, false));

    // Taken out of the failed store (a retry) and put back, twice: once.
    let taken = b.failed_take(&failed.id).await.unwrap().expect("taken");
    assert_eq!(figures_of(b, "a").await.3, 0);
    b.failed_restore(taken.clone()).await.unwrap();
    b.failed_restore(taken).await.unwrap();
    assert_eq!(figures_of(b, "a").await.3, 1);

    // A delayed job that came due counts as pending before any worker
    // moves it, with its age from when it came due.
    b.push(vec![job("c", now_ms() + 50)]).await.unwrap();
    tokio::time::sleep(Duration::from_millis(120)).await;
    let g = b.gauges().await.unwrap();
    assert_eq!(figures(gauge(&g, "c")), (1, 0, 0, 0, false));
    assert!(gauge(&g, "c").oldest_pending_ms >= 60, "{g:?}");
    // ... and still once a fetch from another queue passed by.
    b.fetch(&["zzz".to_string()], 1, Duration::from_secs(30), "c2")
        .await
        .unwrap();
    assert_eq!(figures_of(b, "c").await, (1, 0, 0, 0, false));

    // Released claims are pending again.
    let claimed = b
        .fetch(&queues, 10, Duration::from_secs(30), "c1")
        .await
        .unwrap();
    assert_eq!(claimed.len(), 2);
    assert_eq!(figures_of(b, "a").await, (0, 2, 2, 1, false));
    b.release(claimed).await.unwrap();
    assert_eq!(figures_of(b, "a").await, (2, 2, 0, 1, false));

    b.failed_purge().await.unwrap();
    assert_eq!(figures_of(b, "a").await.3, 0);
    b.clear().await.unwrap();
    assert_eq!(figures_of(b, "a").await, (0, 0, 0, 0, false));
    assert_eq!(figures_of(b, "c").await, (0, 0, 0, 0, false));
}

/// `clear_queue` deletes one queue's waiting jobs (ready and delayed), says
/// how many, and leaves claimed jobs and other queues alone.
pub(crate) async fn clear_queue_removes_waiting_jobs_only(b: &impl Backend) {
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
    assert_eq!(figures_of(b, "a").await, (0, 0, 1, 0, false));
    assert_eq!(figures_of(b, "b").await, (1, 1, 0, 0, false));
    b.ack(vec![claimed[0].receipt.clone()]).await.unwrap();
    assert_eq!(figures_of(b, "a").await, (0, 0, 0, 0, false));
    assert_eq!(b.clear_queue("nothing").await.unwrap(), 0);
}

/// Two writers' tallies for the same minute add up, at the minute and the
/// hour resolution. `other` is a second handle on the same store. Returns
/// the minute written, for the backend's own retention checks.
pub(crate) async fn tallies_from_two_writers_add_up(b: &impl Backend, other: &impl Backend) -> i64 {
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
    minute
}

/// Pause and resume per queue, the restart signal, and the workers list:
/// alive and stalled ones listed, an unregistered one gone, one silent for
/// a minute dropped (each backend checks it is deleted, not only hidden).
pub(crate) async fn pause_restart_and_workers_round_trip(b: &impl Backend) {
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
}

/// One holder per lease (renewed by it, taken by another once expired),
/// the raised alerts, and the completed-jobs log: newest first, paged by
/// time, a day old dropped.
pub(crate) async fn leases_alerts_and_the_completed_log(b: &impl Backend) {
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
}
