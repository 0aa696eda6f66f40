//! Unique queued listeners (Laravel's `ShouldBeUnique` /
//! `ShouldBeUniqueUntilProcessing`) on every connection: the lock lives in
//! the connection's storage and is freed when the job ends.

use std::path::Path;

use event_core::queue::Queue;
use event_core::{Event, UniqueJob};

use super::fixtures::{Sink, TestJobEvent, TestListener};
use super::{LIMIT, chrono_ms, eventually, job, lines, ms, setup, spawn_worker, start, worker};

/// Jobs are unique per job number.
fn by_number(event: &dyn Event) -> Option<String> {
    event
        .downcast_ref::<TestJobEvent>()
        .map(|e| e.n.to_string())
}

fn unique(lock_for: Option<i64>, until_processing: bool) -> UniqueJob {
    UniqueJob {
        id: by_number,
        lock_for: lock_for.map(chrono_ms),
        until_processing,
    }
}

/// A second job with the same id is not queued while the first waits or
/// runs; another id is; once the first is done, or has failed for good,
/// the id may be queued again.
pub async fn unique_job_is_not_queued_twice(queue: Queue) {
    let sink = Sink::memory();
    let listener = TestListener::new("unique", sink.clone()).with(|o| {
        o.unique = Some(unique(None, false));
        o.tries = Some(1);
    });
    let (dispatcher, registry) = setup(&queue, listener).await;
    let slow = || TestJobEvent {
        sleep_ms: 600,
        ..job(1)
    };
    dispatcher.dispatch(slow()).await.expect("dispatch");
    dispatcher.dispatch(slow()).await.expect("dispatch");
    dispatcher.dispatch(job(2)).await.expect("dispatch");
    assert_eq!(
        queue.size().await.expect("size"),
        2,
        "the second job 1 is not queued"
    );

    let running = start(worker(&queue, registry).concurrency(2));
    assert!(eventually(LIMIT, async || sink.of("start").contains(&1)).await);
    // Running: still not queued.
    dispatcher.dispatch(slow()).await.expect("dispatch");
    assert!(eventually(LIMIT, async || sink.of("success").len() == 2).await);
    tokio::time::sleep(ms(300)).await;
    assert_eq!(sink.of("start").iter().filter(|n| **n == 1).count(), 1);

    // Done: queued again.
    dispatcher.dispatch(job(1)).await.expect("dispatch");
    assert!(
        eventually(LIMIT, async || sink
            .of("success")
            .iter()
            .filter(|n| **n == 1)
            .count()
            == 2)
        .await
    );

    // Failed for good: the lock is freed too.
    dispatcher
        .dispatch(TestJobEvent {
            fail_times: 1,
            ..job(3)
        })
        .await
        .expect("dispatch");
    let store = queue.failed().expect("store");
    assert!(super::some_job_failed(&store).await);
    dispatcher.dispatch(job(3)).await.expect("dispatch");
    assert!(eventually(LIMIT, async || sink.of("success").contains(&3)).await);
    running.stop().await;
}

/// Until processing: the lock is freed when the job starts, so a job with
/// the same id can be queued while the first runs (not while it waits).
pub async fn unique_until_processing_frees_the_id_when_it_starts(queue: Queue) {
    let sink = Sink::memory();
    let listener = TestListener::new("unique-until", sink.clone())
        .with(|o| o.unique = Some(unique(None, true)));
    let (dispatcher, registry) = setup(&queue, listener).await;
    let slow = || TestJobEvent {
        sleep_ms: 500,
        ..job(1)
    };
    dispatcher.dispatch(slow()).await.expect("dispatch");
    dispatcher.dispatch(slow()).await.expect("dispatch");
    assert_eq!(
        queue.size().await.expect("size"),
        1,
        "not queued while waiting"
    );
    let running = start(worker(&queue, registry));
    assert!(eventually(LIMIT, async || sink.of("start").len() == 1).await);
    dispatcher.dispatch(slow()).await.expect("dispatch");
    assert!(
        eventually(LIMIT, async || sink.of("success").len() == 2).await,
        "queued while the first ran, and ran after it"
    );
    running.stop().await;
}

/// A unique `after_commit` job dispatched in a unit of work that rolls
/// back is never written, and its lock is freed with it: the same id is
/// queued by the next dispatch, not refused until `unique_for` runs out.
pub async fn unique_lock_is_freed_when_the_unit_rolls_back(queue: Queue) {
    let sink = Sink::memory();
    let listener = TestListener::new("unique-unit", sink.clone()).with(|o| {
        o.unique = Some(unique(None, false));
        o.after_commit = true;
    });
    let (dispatcher, registry) = setup(&queue, listener).await;
    let rolled_back: anyhow::Result<()> = event_core::queue::defer(async {
        dispatcher.dispatch(job(1)).await?;
        anyhow::bail!("the unit rolls back")
    })
    .await;
    assert!(rolled_back.is_err());
    assert_eq!(queue.size().await.expect("size"), 0, "nothing written");
    dispatcher.dispatch(job(1)).await.expect("dispatch");
    assert_eq!(
        queue.size().await.expect("size"),
        1,
        "the rolled-back job's lock does not hold the id"
    );
    let running = start(worker(&queue, registry));
    assert!(eventually(LIMIT, async || sink.of("success") == [1]).await);
    running.stop().await;
}

/// `unique_for`: the lock frees itself after that long, even with the
/// first job still waiting.
pub async fn unique_for_lets_the_lock_expire(queue: Queue) {
    let sink = Sink::memory();
    let listener = TestListener::new("unique-for", sink.clone())
        .with(|o| o.unique = Some(unique(Some(300), false)));
    let (dispatcher, _) = setup(&queue, listener).await;
    dispatcher.dispatch(job(1)).await.expect("dispatch");
    dispatcher.dispatch(job(1)).await.expect("dispatch");
    assert_eq!(queue.size().await.expect("size"), 1);
    tokio::time::sleep(ms(400)).await;
    dispatcher.dispatch(job(1)).await.expect("dispatch");
    assert_eq!(queue.size().await.expect("size"), 2, "the lock expired");
}

/// The user's road: the lock holds between this process (dispatching) and
/// a separate worker process (running, then freeing it).
pub async fn unique_job_across_processes(url: String, record: &Path) {
    let queue = Queue::open(&url).await.expect("open");
    let dispatcher = event_core::Dispatcher::new();
    queue.install(&dispatcher).await;
    dispatcher
        .listen::<TestJobEvent>(std::sync::Arc::new(
            TestListener::new("record", Sink::memory())
                .with(|o| o.unique = Some(unique(None, false))),
        ))
        .await;
    let slow = || TestJobEvent {
        sleep_ms: 800,
        ..job(1)
    };
    dispatcher.dispatch(slow()).await.expect("dispatch");
    let _worker = spawn_worker(&url, record, 60_000, 2);
    assert!(eventually(LIMIT, async || lines(record, "start") == vec![1]).await);
    // Running in the other process: not queued again.
    dispatcher.dispatch(slow()).await.expect("dispatch");
    assert!(eventually(LIMIT, async || lines(record, "success") == vec![1]).await);
    tokio::time::sleep(ms(500)).await;
    assert_eq!(
        lines(record, "start"),
        vec![1],
        "the second dispatch was not queued"
    );
    // Done there, freed: queued and run again.
    dispatcher.dispatch(job(1)).await.expect("dispatch");
    assert!(eventually(LIMIT, async || lines(record, "success") == vec![1, 1]).await);
}
