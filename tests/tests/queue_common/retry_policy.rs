//! `retry_until` (a deadline instead of a number of tries) and
//! exponential backoff, on every connection.

use event_core::ExponentialBackoff;
use event_core::queue::Queue;

use super::fixtures::{Sink, TestJobEvent, TestListener};
use super::{LIMIT, chrono_ms, eventually, job, ms, setup, start, worker};

/// A job that always fails, with `retry_until` and no `tries`: retried
/// (the worker's one try does not stop it) until the deadline, then failed
/// for good with a reason naming it, its `failed` hook called once.
pub async fn retry_until_retries_until_the_deadline(queue: Queue) {
    let sink = Sink::memory();
    let listener = TestListener::new("deadline", sink.clone()).with(|o| {
        o.retry_until = Some(chrono_ms(700));
        o.backoff = vec![chrono_ms(120)];
    });
    let (dispatcher, registry) = setup(&queue, listener).await;
    let registry_again = registry.clone();
    dispatcher
        .dispatch(TestJobEvent {
            fail_times: 1_000,
            ..job(1)
        })
        .await
        .expect("dispatch");
    let store = queue.failed().expect("store");
    let running = start(worker(&queue, registry));
    assert!(super::some_job_failed(&store).await);
    running.stop().await;
    let starts = sink.times("start");
    assert!(
        starts.len() >= 3,
        "retried past the worker's one try: {} attempts",
        starts.len()
    );
    let last = *starts.last().expect("starts");
    assert!(
        last - starts[0] >= ms(450),
        "retried for most of the 700 ms: {:?}",
        last - starts[0]
    );
    assert_eq!(sink.of("failed_hook"), vec![1]);
    let failed = store.list().await.expect("list");
    assert_eq!(failed.len(), 1);
    assert!(
        failed[0].reason.contains("retry_until deadline"),
        "reason: {}",
        failed[0].reason
    );
    assert!(eventually(LIMIT, async || queue.size().await.unwrap_or(1) == 0).await);

    // Retried by hand (`queue:retry`), the deadline counts from then, as
    // Laravel's `queue:retry` refreshes `retryUntil`: it runs again.
    let before = starts.len();
    assert!(store.retry(&failed[0].id).await.expect("retry"));
    let running = start(worker(&queue, registry_again));
    assert!(
        eventually(LIMIT, async || sink.of("start").len() > before + 1).await,
        "a retried job gets a new deadline and runs"
    );
    running.stop().await;
}

/// `exponential_backoff`: the delays double from the base up to the max.
pub async fn exponential_backoff_doubles_up_to_its_max(queue: Queue) {
    let sink = Sink::memory();
    let listener = TestListener::new("doubling", sink.clone()).with(|o| {
        o.tries = Some(4);
        o.exponential_backoff = Some(ExponentialBackoff {
            base: chrono_ms(100),
            max: chrono_ms(250),
        });
    });
    let (dispatcher, registry) = setup(&queue, listener).await;
    dispatcher
        .dispatch(TestJobEvent {
            fail_times: 3,
            ..job(1)
        })
        .await
        .expect("dispatch");
    let running = start(worker(&queue, registry));
    assert!(eventually(LIMIT, async || sink.of("success").len() == 1).await);
    running.stop().await;
    let starts = sink.times("start");
    assert_eq!(starts.len(), 4);
    let gaps: Vec<_> = starts.windows(2).map(|w| w[1] - w[0]).collect();
    for (gap, least) in gaps.iter().zip([95, 195, 245]) {
        assert!(*gap >= ms(least), "gaps {gaps:?}: 100, 200, then 250 ms");
    }
    assert!(
        gaps[2] < ms(390),
        "the third delay is capped at 250 ms, not 400: {gaps:?}"
    );
}

/// `FailedJobs::prune` (`queue:prune-failed --hours N`) deletes the failed
/// jobs older than the age and keeps the rest.
pub async fn prune_failed_keeps_the_recent_ones(queue: Queue) {
    let sink = Sink::memory();
    let listener = TestListener::new("pruned", sink.clone()).with(|o| o.tries = Some(1));
    let (dispatcher, registry) = setup(&queue, listener).await;
    for n in 1..=3 {
        dispatcher
            .dispatch(TestJobEvent {
                fail_times: 1,
                ..job(n)
            })
            .await
            .expect("dispatch");
    }
    let store = queue.failed().expect("store");
    let running = start(worker(&queue, registry));
    assert!(
        eventually(LIMIT, async || store
            .list()
            .await
            .map(|l| l.len())
            .unwrap_or(0)
            == 3)
        .await
    );
    running.stop().await;
    // Two of them failed two days ago.
    let two_days = 48 * 3600 * 1000;
    for mut old in store.list().await.expect("list").into_iter().take(2) {
        assert!(store.forget(&old.id).await.expect("forget"));
        old.failed_at -= two_days;
        store.restore(old).await.expect("restore");
    }
    let pruned = store
        .prune(std::time::Duration::from_secs(24 * 3600))
        .await
        .expect("prune");
    assert_eq!(pruned, 2);
    let left = store.list().await.expect("list");
    assert_eq!(left.len(), 1, "the recent one is kept");
    assert!(left[0].failed_at > chrono::Utc::now().timestamp_millis() - two_days / 2);
}
