//! A queued listener's own controls (`CurrentJob`, Laravel's
//! `InteractsWithQueue`) on every connection: attempts and id, release,
//! delete, fail.

use std::path::Path;

use event_core::queue::Queue;

use super::fixtures::{Sink, TestJobEvent, TestListener};
use super::{LIMIT, chrono_ms, eventually, job, lines, ms, setup, spawn_worker, start, worker};

/// Released on its first attempt: back on the queue after the delay, the
/// release counts as an attempt (the listener sees attempt 2 next), the
/// job keeps its id and then succeeds.
pub async fn listener_releases_its_job(queue: Queue) {
    let sink = Sink::memory();
    let listener = TestListener::new("releasing", sink.clone()).with(|o| o.tries = Some(3));
    let (dispatcher, registry) = setup(&queue, listener).await;
    dispatcher
        .dispatch(TestJobEvent {
            release_times: 1,
            release_ms: 300,
            ..job(1)
        })
        .await
        .expect("dispatch");
    let running = start(worker(&queue, registry));
    assert!(eventually(LIMIT, async || sink.of("success").len() == 1).await);
    let report = running.stop().await;
    assert_eq!(sink.of("released"), vec![1]);
    assert_eq!(sink.of("attempt:1"), vec![1]);
    assert_eq!(
        sink.of("attempt:2"),
        vec![1],
        "a release counts as an attempt"
    );
    let starts = sink.times("start");
    assert_eq!(starts.len(), 2);
    assert!(
        starts[1] - starts[0] >= ms(290),
        "released for 300 ms, ran again after {:?}",
        starts[1] - starts[0]
    );
    assert_eq!((report.retried, report.succeeded, report.failed), (1, 1, 0));
    assert!(sink.of("failed_hook").is_empty());
    assert!(
        queue
            .failed()
            .expect("store")
            .list()
            .await
            .expect("list")
            .is_empty()
    );
    assert_eq!(queue.size().await.expect("size"), 0);
}

/// Released on its last try: the job fails for good (its `failed` hook
/// runs) with a reason saying so.
pub async fn release_counts_against_tries(queue: Queue) {
    let sink = Sink::memory();
    let listener = TestListener::new("stubborn", sink.clone()).with(|o| o.tries = Some(2));
    let (dispatcher, registry) = setup(&queue, listener).await;
    dispatcher
        .dispatch(TestJobEvent {
            release_times: 10,
            release_ms: 10,
            ..job(1)
        })
        .await
        .expect("dispatch");
    let store = queue.failed().expect("store");
    let running = start(worker(&queue, registry));
    assert!(super::some_job_failed(&store).await);
    let report = running.stop().await;
    assert_eq!(sink.of("released"), vec![1, 1], "two tries, both released");
    assert_eq!(sink.of("failed_hook"), vec![1]);
    let failed = store.list().await.expect("list");
    assert_eq!(failed.len(), 1);
    assert!(
        failed[0]
            .reason
            .contains("listener `stubborn` released the job with no tries left (2 of 2)"),
        "reason: {}",
        failed[0].reason
    );
    assert_eq!(failed[0].attempts, 2);
    assert_eq!((report.retried, report.failed), (1, 1));
}

/// Deleted: gone quietly, whatever the listener returns after: no retry,
/// no `failed` hook, nothing in the failed store.
pub async fn listener_deletes_its_job(queue: Queue) {
    let sink = Sink::memory();
    let listener = TestListener::new("deleting", sink.clone()).with(|o| o.tries = Some(3));
    let (dispatcher, registry) = setup(&queue, listener).await;
    dispatcher
        .dispatch(TestJobEvent {
            delete: true,
            then_error: true,
            ..job(1)
        })
        .await
        .expect("dispatch");
    let running = start(worker(&queue, registry));
    assert!(eventually(LIMIT, async || sink.of("deleted").len() == 1).await);
    assert!(eventually(LIMIT, async || queue.size().await.unwrap_or(1) == 0).await);
    tokio::time::sleep(ms(300)).await;
    let report = running.stop().await;
    assert_eq!(sink.of("start"), vec![1], "one attempt, not retried");
    assert!(sink.of("failed_hook").is_empty());
    assert!(
        queue
            .failed()
            .expect("store")
            .list()
            .await
            .expect("list")
            .is_empty()
    );
    assert_eq!((report.succeeded, report.retried, report.failed), (1, 0, 0));
}

/// Failed by the listener with a reason: one attempt although tries
/// remain, the `failed` hook gets the reason, the failed store keeps it
/// under the id the listener saw. With a timeout, so the memory connection
/// runs it on its general path.
pub async fn listener_fails_its_job(queue: Queue) {
    let sink = Sink::memory();
    let listener = TestListener::new("failing", sink.clone()).with(|o| {
        o.tries = Some(5);
        o.timeout = Some(chrono_ms(30_000));
    });
    let (dispatcher, registry) = setup(&queue, listener).await;
    dispatcher
        .dispatch(TestJobEvent {
            fail_with: Some("card_declined".into()),
            then_error: true,
            ..job(1)
        })
        .await
        .expect("dispatch");
    let store = queue.failed().expect("store");
    let running = start(worker(&queue, registry));
    assert!(super::some_job_failed(&store).await);
    let report = running.stop().await;
    assert_eq!(sink.of("start"), vec![1], "no retry after fail()");
    assert_eq!(
        sink.of("hook:card_declined"),
        vec![1],
        "the hook gets the reason"
    );
    let failed = store.list().await.expect("list");
    assert_eq!(failed.len(), 1);
    assert_eq!(failed[0].reason, "card_declined");
    assert_eq!(failed[0].attempts, 1);
    let id = failed[0].id.clone();
    assert_eq!(id.len(), 26);
    assert_eq!(
        sink.of(&format!("id:{id}")),
        vec![1],
        "CurrentJob::id is the job's id"
    );
    assert_eq!((report.retried, report.failed), (0, 1));
}

/// The user's road: a separate worker process runs a job that releases
/// itself once and one that fails itself; the producer sees the failed
/// store hold the second with its reason.
pub async fn job_controls_in_a_worker_process(url: String, record: &Path) {
    let queue = Queue::open(&url).await.expect("open");
    let dispatcher = event_core::Dispatcher::new();
    queue.install(&dispatcher).await;
    dispatcher
        .listen::<TestJobEvent>(std::sync::Arc::new(
            TestListener::new("record", Sink::memory()).with(|o| o.tries = Some(3)),
        ))
        .await;
    dispatcher
        .dispatch(TestJobEvent {
            release_times: 1,
            release_ms: 200,
            ..job(1)
        })
        .await
        .expect("dispatch");
    dispatcher
        .dispatch(TestJobEvent {
            fail_with: Some("out_of_stock".into()),
            ..job(2)
        })
        .await
        .expect("dispatch");
    let _worker = spawn_worker(&url, record, 60_000, 2);
    assert!(
        eventually(LIMIT, async || lines(record, "success") == vec![1]).await,
        "the released job ran again and succeeded"
    );
    assert_eq!(lines(record, "released"), vec![1]);
    assert_eq!(lines(record, "attempt:2"), vec![1]);
    let store = queue.failed().expect("store");
    assert!(super::some_job_failed(&store).await);
    let failed = store.list().await.expect("list");
    assert_eq!(failed.len(), 1);
    assert_eq!(failed[0].reason, "out_of_stock");
    assert_eq!(failed[0].attempts, 1);
    assert_eq!(lines(record, "hook:out_of_stock"), vec![2]);
    assert_eq!(
        lines(record, "start").iter().filter(|n| **n == 2).count(),
        1
    );
    assert!(eventually(LIMIT, async || queue.size().await.unwrap_or(1) == 0).await);
}
