//! Scenarios every queue connection must pass; `queue.rs` runs them on
//! memory and sqlite, `queue_redis.rs` on Redis, `queue_postgres.rs` on
//! PostgreSQL, each through [`every_scenario!`] so none can miss one.

#![allow(dead_code)]

mod attempt_history;
mod encrypted_jobs;
#[path = "../../src/bin/queue_worker/fixtures.rs"]
pub mod fixtures;
mod job_controls;
mod monitoring;
mod queued_event_listeners;
mod retry_policy;
mod unique_jobs;
#[allow(unused_imports)]
pub use attempt_history::*;
#[allow(unused_imports)]
pub use encrypted_jobs::*;
#[allow(unused_imports)]
pub use job_controls::*;
#[allow(unused_imports)]
pub use monitoring::*;
#[allow(unused_imports)]
pub use queued_event_listeners::*;
#[allow(unused_imports)]
pub use retry_policy::*;
#[allow(unused_imports)]
pub use unique_jobs::*;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use event_core::queue::{Job, JobEnvelope, JobRegistry, JobSettings, Queue, Worker, WorkerReport};
use event_core::{Dispatcher, EventListener};
use fixtures::{QueuedEvent, QueuedEventListener, Sink, TestJobEvent, TestListener};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

/// Calls `$on!` with the name of every scenario below: the one list each
/// connection's test file runs.
#[allow(unused_macros)]
macro_rules! every_scenario {
    ($on:ident) => {
        $on!(
            dispatch_writes_envelope,
            runs_every_job_once,
            runs_in_dispatch_order,
            concurrency_runs_slow_jobs_side_by_side,
            retries_with_backoff,
            failed_store,
            timeout_cancels,
            timeout_bounds_the_whole_attempt,
            max_exceptions_stops_early,
            no_retry_means_one_attempt,
            delay_holds_job,
            priority_orders_jobs,
            panic_fails_attempt,
            unknown_and_bad_jobs_fail,
            queued_event_runs_in_worker,
            after_commit_waits_for_the_unit,
            shutdown_finishes_or_hands_back,
            stats_follow_the_jobs,
            stats_measure_wait_and_run,
            pause_holds_jobs_until_resumed,
            workers_are_listed_while_they_run,
            clear_empties_one_queue,
            restart_stops_running_workers,
            failed_jobs_are_searched_grouped_and_handled_in_bulk,
            alerts_fire_once_per_crossing,
            ten_thousand_failed_jobs_are_searched_and_retried,
            listener_releases_its_job,
            release_counts_against_tries,
            listener_deletes_its_job,
            listener_fails_its_job,
            retry_until_retries_until_the_deadline,
            exponential_backoff_doubles_up_to_its_max,
            unique_job_is_not_queued_twice,
            unique_until_processing_frees_the_id_when_it_starts,
            unique_for_lets_the_lock_expire,
            unique_lock_is_freed_when_the_unit_rolls_back,
            prune_failed_keeps_the_recent_ones,
            encrypted_job_is_stored_sealed_and_runs_with_the_key,
            a_worker_without_the_key_fails_the_job_and_goes_on,
            rotated_key_opens_jobs_sealed_with_the_previous_one,
            encrypted_job_without_a_key_is_a_dispatch_error,
            failed_job_keeps_every_attempt,
            a_queued_event_s_queued_listener_is_a_job_of_its_own,
            a_queued_event_with_an_encrypted_listener_is_stored_sealed,
            a_queued_event_s_unique_listener_is_queued_once,
            a_queued_event_with_an_after_commit_listener_waits_for_the_commit,
        );
    };
}
#[allow(unused_imports)]
pub(crate) use every_scenario;

pub const WORKER_BIN: &str = env!("CARGO_BIN_EXE_queue_worker");

pub fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

pub fn chrono_ms(n: i64) -> chrono::Duration {
    chrono::Duration::milliseconds(n)
}

/// Waits (up to [`LIMIT`]) until the failed-jobs store holds a job.
pub async fn some_job_failed(store: &event_core::queue::FailedJobs) -> bool {
    eventually(LIMIT, async || {
        !store.list().await.unwrap_or_default().is_empty()
    })
    .await
}

/// Polls `check` until it holds or `limit` passes; returns whether it held.
pub async fn eventually(limit: Duration, mut check: impl AsyncFnMut() -> bool) -> bool {
    let deadline = Instant::now() + limit;
    loop {
        if check().await {
            return true;
        }
        if Instant::now() > deadline {
            return false;
        }
        tokio::time::sleep(ms(10)).await;
    }
}

pub struct Running {
    stop: Option<oneshot::Sender<()>>,
    handle: JoinHandle<Result<WorkerReport, event_core::queue::QueueError>>,
}

impl Running {
    pub async fn stop(mut self) -> WorkerReport {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        match self.handle.await {
            Ok(Ok(report)) => report,
            other => panic!("worker ended badly: {other:?}"),
        }
    }
}

/// Starts a worker task on `queue`.
pub fn start(worker: Worker) -> Running {
    let (tx, rx) = oneshot::channel::<()>();
    let handle = tokio::spawn(worker.run_until(async move {
        let _ = rx.await;
    }));
    Running {
        stop: Some(tx),
        handle,
    }
}

pub fn worker(queue: &Queue, registry: JobRegistry) -> Worker {
    Worker::new(queue.clone(), registry)
        .queues(["events"])
        .poll_interval(ms(20))
        .visibility_timeout(ms(30_000))
}

/// A dispatcher sending to `queue`, with `listener` registered for
/// `TestJobEvent`, and the registry a worker needs for it.
pub async fn setup(queue: &Queue, listener: TestListener) -> (Dispatcher, JobRegistry) {
    let dispatcher = Dispatcher::new();
    queue.install(&dispatcher).await;
    let listener: Arc<dyn EventListener> = Arc::new(listener);
    dispatcher.listen::<TestJobEvent>(listener.clone()).await;
    let registry = JobRegistry::new().listener::<TestJobEvent>(listener);
    (dispatcher, registry)
}

pub fn job(n: u64) -> TestJobEvent {
    TestJobEvent {
        n,
        ..TestJobEvent::default()
    }
}

const LIMIT: Duration = Duration::from_secs(20);

// ----- scenarios ------------------------------------------------------------

/// Dispatch writes a job and returns without running the listener; the
/// envelope carries what the issue lists.
pub async fn dispatch_writes_envelope(queue: Queue) {
    let sink = Sink::memory();
    let listener = TestListener::new("envelope", sink.clone()).with(|o| {
        o.tries = Some(4);
        o.backoff = vec![chrono_ms(1000), chrono_ms(5000)];
        o.timeout = Some(chrono_ms(30_000));
        o.max_exceptions = Some(2);
        o.queue = Some("events".into());
    });
    let (dispatcher, _) = setup(&queue, listener).await;
    dispatcher
        .dispatch(TestJobEvent {
            n: 7,
            sleep_ms: 1,
            ..job(7)
        })
        .await
        .expect("dispatch");
    assert!(
        sink.of("start").is_empty(),
        "dispatch must not run a queued listener"
    );
    assert_eq!(queue.size().await.expect("size"), 1);
    let claimed = queue
        .backend()
        .expect("backend")
        .fetch(&["events".to_string()], 10, ms(60_000), "test")
        .await
        .expect("fetch");
    assert_eq!(claimed.len(), 1);
    let envelope = claimed[0].job.envelope.clone();
    assert_eq!(envelope.event, "TestJob");
    assert_eq!(envelope.listener.as_deref(), Some("envelope"));
    assert_eq!(envelope.queue, "events");
    assert_eq!(envelope.settings.tries, Some(4));
    assert_eq!(
        envelope.settings.backoff,
        vec![chrono_ms(1000), chrono_ms(5000)]
    );
    assert_eq!(
        envelope.settings.timeout,
        Some(chrono::Duration::seconds(30))
    );
    assert_eq!(envelope.settings.max_exceptions, Some(2));
    assert_eq!(envelope.id.len(), 26, "a ULID");
    assert!(envelope.available_at > 0);
    assert_eq!(claimed[0].attempt, 1);
    if queue.connection_name() != "memory" {
        assert_eq!(envelope.payload["n"], 7);
        let json = serde_json::to_value(&envelope).expect("json");
        for field in [
            "id",
            "event",
            "payload",
            "listener",
            "queue",
            "attempts",
            "limits",
            "available_at",
        ] {
            assert!(
                json.get(field).is_some(),
                "envelope JSON lacks `{field}`: {json}"
            );
        }
    }
    queue
        .backend()
        .expect("backend")
        .ack(vec![claimed[0].receipt.clone()])
        .await
        .expect("ack");
    assert_eq!(queue.size().await.expect("size"), 0);
}

/// 50 jobs through a worker with concurrency 4: each succeeds exactly once.
pub async fn runs_every_job_once(queue: Queue) {
    let sink = Sink::memory();
    let (dispatcher, registry) = setup(&queue, TestListener::new("once", sink.clone())).await;
    for n in 0..50 {
        dispatcher.dispatch(job(n)).await.expect("dispatch");
    }
    let running = start(worker(&queue, registry).concurrency(4));
    assert!(eventually(LIMIT, async || sink.of("success").len() >= 50).await);
    let report = running.stop().await;
    let mut done = sink.of("success");
    done.sort();
    assert_eq!(done, (0..50).collect::<Vec<_>>());
    assert_eq!(report.succeeded, 50);
    assert_eq!(
        queue.size().await.expect("size"),
        0,
        "finished jobs are removed"
    );
}

/// One worker at concurrency 1 runs jobs in the order they were dispatched,
/// also when many tasks dispatch at once and the worker takes them as they
/// come.
pub async fn runs_in_dispatch_order(queue: Queue) {
    let sink = Sink::memory();
    let (dispatcher, registry) = setup(&queue, TestListener::new("fifo", sink.clone())).await;
    let running = start(worker(&queue, registry).concurrency(1));
    // Each task dispatches its own numbers in increasing order.
    let tasks: Vec<_> = (0..4u64)
        .map(|t| {
            let dispatcher = dispatcher.clone();
            tokio::spawn(async move {
                for i in 0..250u64 {
                    // Some jobs wait a little: the worker then hands the
                    // rest of its batch back, and must keep their order.
                    let sleep_ms = u64::from(i % 25 == 0);
                    dispatcher
                        .dispatch(TestJobEvent {
                            sleep_ms,
                            ..job(t * 1_000 + i)
                        })
                        .await
                        .expect("dispatch");
                    if i % 50 == 0 {
                        tokio::task::yield_now().await;
                    }
                }
            })
        })
        .collect();
    for task in tasks {
        task.await.expect("dispatching task");
    }
    assert!(eventually(LIMIT, async || sink.of("success").len() >= 1_000).await);
    running.stop().await;
    let done = sink.of("success");
    for t in 0..4u64 {
        let of_task: Vec<u64> = done.iter().copied().filter(|n| n / 1_000 == t).collect();
        let expected: Vec<u64> = (0..250).map(|i| t * 1_000 + i).collect();
        assert_eq!(of_task, expected, "task {t}'s jobs ran out of order");
    }
}

/// Slow jobs run side by side up to the worker's concurrency: no runner
/// sits on jobs another could start.
pub async fn concurrency_runs_slow_jobs_side_by_side(queue: Queue) {
    let sink = Sink::memory();
    let (dispatcher, registry) = setup(&queue, TestListener::new("slow", sink.clone())).await;
    let dispatch_slow = async |from: u64| {
        for n in from..from + 8 {
            dispatcher
                .dispatch(TestJobEvent {
                    sleep_ms: 400,
                    ..job(n)
                })
                .await
                .expect("dispatch");
        }
    };
    dispatch_slow(0).await;
    let running = start(worker(&queue, registry).concurrency(8));
    assert!(eventually(LIMIT, async || sink.of("success").len() == 8).await);
    all_started_together(&sink.times("start"));

    // Also after a run of fast jobs, when the worker takes jobs in batches.
    for n in 100..400 {
        dispatcher.dispatch(job(n)).await.expect("dispatch");
    }
    assert!(eventually(LIMIT, async || sink.of("success").len() == 308).await);
    dispatch_slow(1_000).await;
    assert!(eventually(LIMIT, async || sink.of("success").len() == 316).await);
    running.stop().await;
    let slow: Vec<Instant> = sink
        .of("start")
        .iter()
        .zip(sink.times("start"))
        .filter(|(n, _)| **n >= 1_000)
        .map(|(_, t)| t)
        .collect();
    all_started_together(&slow);
}

fn all_started_together(starts: &[Instant]) {
    let first = *starts.iter().min().expect("starts");
    let last = *starts.iter().max().expect("starts");
    assert!(
        last - first < ms(300),
        "all 8 jobs should start together, before the first 400 ms job ends; \
         the last started {:?} after the first",
        last - first
    );
}

/// Fails twice, then succeeds on the third try, after the listed backoffs.
pub async fn retries_with_backoff(queue: Queue) {
    let sink = Sink::memory();
    let listener = TestListener::new("flaky", sink.clone()).with(|o| {
        o.tries = Some(3);
        o.backoff = vec![chrono_ms(150), chrono_ms(300)];
    });
    let (dispatcher, registry) = setup(&queue, listener).await;
    dispatcher
        .dispatch(TestJobEvent {
            fail_times: 2,
            ..job(1)
        })
        .await
        .expect("dispatch");
    let running = start(worker(&queue, registry));
    assert!(eventually(LIMIT, async || sink.of("success").len() == 1).await);
    let report = running.stop().await;
    let starts = sink.times("start");
    assert_eq!(starts.len(), 3, "three attempts");
    assert!(
        starts[1] - starts[0] >= ms(140),
        "first backoff: {:?}",
        starts[1] - starts[0]
    );
    assert!(
        starts[2] - starts[1] >= ms(290),
        "second backoff: {:?}",
        starts[2] - starts[1]
    );
    assert_eq!(report.retried, 2);
    assert_eq!(report.succeeded, 1);
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
}

/// Out of tries: the failed hook runs once, the job lands in the failed
/// store with its reason; retry one, retry all and purge work.
pub async fn failed_store(queue: Queue) {
    let sink = Sink::memory();
    let listener = TestListener::new("doomed", sink.clone()).with(|o| {
        o.tries = Some(2);
        o.backoff = vec![chrono_ms(10)];
    });
    let (dispatcher, registry) = setup(&queue, listener).await;
    for n in 1..=3 {
        dispatcher
            .dispatch(TestJobEvent {
                fail_times: 2,
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
    let failed = store.list().await.expect("list");
    for f in &failed {
        assert!(
            f.reason.contains("fails attempt 2 on purpose"),
            "reason: {}",
            f.reason
        );
        assert!(
            f.reason.contains("doomed"),
            "names the listener: {}",
            f.reason
        );
        assert_eq!(f.attempts, 2);
        assert_eq!(f.payload.event, "TestJob");
        assert!(f.failed_at().timestamp() > 0);
    }
    let mut hooks = sink.of("failed_hook");
    hooks.sort();
    assert_eq!(hooks, vec![1, 2, 3], "failed hook once per job");

    // Retry one: its third attempt (in this process) succeeds.
    let first = failed[0].clone();
    let first_n = first.payload.payload["n"].as_u64().or(Some(0));
    assert!(store.retry(&first.id).await.expect("retry"));
    assert!(
        !store.retry(&first.id).await.expect("retry twice"),
        "no longer failed"
    );
    assert!(eventually(LIMIT, async || sink.of("success").len() == 1).await);
    assert_eq!(store.list().await.expect("list").len(), 2);
    if queue.connection_name() != "memory" {
        assert_eq!(Some(sink.of("success")[0]), first_n);
    }
    assert_eq!(store.retry_all().await.expect("retry all"), 2);
    assert!(eventually(LIMIT, async || sink.of("success").len() == 3).await);
    running.stop().await;
    assert!(store.list().await.expect("list").is_empty());

    // Purge.
    let (dispatcher, registry) = setup(
        &queue,
        TestListener::new("doomed-again", sink.clone()).with(|o| o.tries = Some(1)),
    )
    .await;
    dispatcher
        .dispatch(TestJobEvent {
            fail_times: 9,
            ..job(9)
        })
        .await
        .expect("dispatch");
    let running = start(worker(&queue, registry));
    assert!(
        eventually(LIMIT, async || store
            .list()
            .await
            .map(|l| l.len())
            .unwrap_or(0)
            == 1)
        .await
    );
    running.stop().await;
    assert!(!store.forget("no-such-id").await.expect("forget"));
    assert_eq!(store.purge().await.expect("purge"), 1);
    assert!(store.list().await.expect("list").is_empty());
}

/// An attempt over its timeout is cancelled and counts as a failed attempt.
pub async fn timeout_cancels(queue: Queue) {
    let sink = Sink::memory();
    let listener = TestListener::new("slow", sink.clone()).with(|o| {
        o.tries = Some(2);
        o.timeout = Some(chrono_ms(100));
        o.backoff = vec![chrono_ms(10)];
    });
    let (dispatcher, registry) = setup(&queue, listener).await;
    dispatcher
        .dispatch(TestJobEvent {
            sleep_ms: 5_000,
            ..job(1)
        })
        .await
        .expect("dispatch");
    let store = queue.failed().expect("store");
    let began = Instant::now();
    let running = start(worker(&queue, registry));
    assert!(some_job_failed(&store).await);
    assert!(
        began.elapsed() < ms(4_000),
        "the sleeping listener was cancelled"
    );
    running.stop().await;
    let failed = store.list().await.expect("list");
    assert!(
        failed[0].reason.contains("timed out after 100 ms"),
        "{}",
        failed[0].reason
    );
    assert_eq!(failed[0].attempts, 2);
    assert_eq!(sink.of("start").len(), 2);
    assert!(sink.of("success").is_empty());
    store.purge().await.expect("purge");
}

/// A listener of a queued event that sleeps, then records the event.
struct Slow {
    name: &'static str,
    sink: Sink,
    sleep_ms: u64,
}

#[async_trait::async_trait]
impl EventListener for Slow {
    async fn handle(&self, event: Arc<dyn event_core::Event>) -> anyhow::Result<()> {
        tokio::time::sleep(ms(self.sleep_ms)).await;
        let n = event.to_json()["n"].as_u64().unwrap_or(0);
        self.sink.record(self.name, n);
        Ok(())
    }
    fn listener_name(&self) -> &str {
        self.name
    }
}

/// A job's timeout bounds the attempt, not each listener: a queued event
/// whose two listeners each take 60% of it times out in the second one.
pub async fn timeout_bounds_the_whole_attempt(queue: Queue) {
    let sink = Sink::memory();
    let dispatcher = Dispatcher::new();
    queue.install(&dispatcher).await;
    let slow = |name| -> Arc<dyn EventListener> {
        Arc::new(Slow {
            name,
            sink: sink.clone(),
            sleep_ms: 300,
        })
    };
    let (a, b) = (slow("first"), slow("second"));
    dispatcher.listen::<QueuedEvent>(a.clone()).await;
    dispatcher.listen::<QueuedEvent>(b.clone()).await;
    dispatcher
        .dispatch(QueuedEvent { n: 7 })
        .await
        .expect("dispatch");
    let registry = JobRegistry::new()
        .listener::<QueuedEvent>(a)
        .listener::<QueuedEvent>(b);
    let store = queue.failed().expect("store");
    let running = start(
        worker(&queue, registry)
            .timeout(ms(500))
            .backoff(vec![ms(10)]),
    );
    assert!(some_job_failed(&store).await);
    running.stop().await;
    let failed = store.list().await.expect("list");
    assert!(
        failed[0]
            .reason
            .contains("listener `second` timed out after 500 ms"),
        "{}",
        failed[0].reason
    );
    // The event's `tries` (2): the first listener finished in each attempt.
    assert_eq!(sink.of("first"), vec![7, 7]);
    assert!(sink.of("second").is_empty());
    store.purge().await.expect("purge");
}

/// `max_exceptions` ends the job before `tries` does.
pub async fn max_exceptions_stops_early(queue: Queue) {
    let sink = Sink::memory();
    let listener = TestListener::new("exceptional", sink.clone()).with(|o| {
        o.tries = Some(10);
        o.max_exceptions = Some(2);
        o.backoff = vec![chrono_ms(5)];
    });
    let (dispatcher, registry) = setup(&queue, listener).await;
    dispatcher
        .dispatch(TestJobEvent {
            fail_times: 100,
            ..job(1)
        })
        .await
        .expect("dispatch");
    let store = queue.failed().expect("store");
    let running = start(worker(&queue, registry));
    assert!(some_job_failed(&store).await);
    running.stop().await;
    assert_eq!(
        sink.of("start").len(),
        2,
        "stopped after 2 exceptions, not 10 tries"
    );
    assert_eq!(sink.of("failed_hook"), vec![1]);
    store.purge().await.expect("purge");
}

/// `can_retry() == false` means one attempt.
pub async fn no_retry_means_one_attempt(queue: Queue) {
    let sink = Sink::memory();
    let listener = TestListener::new("once-only", sink.clone()).with(|o| {
        o.tries = Some(5);
        o.retry = false;
    });
    let (dispatcher, registry) = setup(&queue, listener).await;
    dispatcher
        .dispatch(TestJobEvent {
            fail_times: 1,
            ..job(1)
        })
        .await
        .expect("dispatch");
    let store = queue.failed().expect("store");
    let running = start(worker(&queue, registry));
    assert!(some_job_failed(&store).await);
    running.stop().await;
    assert_eq!(sink.of("start").len(), 1);
    store.purge().await.expect("purge");
}

/// A delayed job does not run before its delay.
pub async fn delay_holds_job(queue: Queue) {
    let sink = Sink::memory();
    let listener =
        TestListener::new("later", sink.clone()).with(|o| o.delay = Some(chrono_ms(400)));
    let (dispatcher, registry) = setup(&queue, listener).await;
    let running = start(worker(&queue, registry));
    let sent = Instant::now();
    dispatcher.dispatch(job(1)).await.expect("dispatch");
    assert!(eventually(LIMIT, async || sink.of("success").len() == 1).await);
    let ran = sink.times("start")[0];
    assert!(ran - sent >= ms(390), "ran after {:?}", ran - sent);
    running.stop().await;
}

/// Higher priority runs first within a queue.
pub async fn priority_orders_jobs(queue: Queue) {
    let sink = Sink::memory();
    let (dispatcher, registry) = setup(&queue, TestListener::new("prio", sink.clone())).await;
    for (n, priority) in [(1, 0), (2, 0), (3, 10), (4, 5), (5, 10)] {
        dispatcher
            .dispatch(TestJobEvent { priority, ..job(n) })
            .await
            .expect("dispatch");
    }
    let running = start(worker(&queue, registry).concurrency(1));
    assert!(eventually(LIMIT, async || sink.of("success").len() == 5).await);
    running.stop().await;
    assert_eq!(sink.of("success"), vec![3, 5, 4, 1, 2]);
}

/// A panicking listener fails its attempt; the worker keeps going.
pub async fn panic_fails_attempt(queue: Queue) {
    let sink = Sink::memory();
    let listener = TestListener::new("panicky", sink.clone()).with(|o| o.tries = Some(1));
    let (dispatcher, registry) = setup(&queue, listener).await;
    dispatcher
        .dispatch(TestJobEvent {
            panic: true,
            ..job(1)
        })
        .await
        .expect("dispatch");
    dispatcher.dispatch(job(2)).await.expect("dispatch");
    let store = queue.failed().expect("store");
    let running = start(worker(&queue, registry).concurrency(1));
    assert!(eventually(LIMIT, async || sink.of("success") == vec![2]).await);
    assert!(
        eventually(LIMIT, async || store.list().await.unwrap_or_default().len()
            == 1)
        .await
    );
    let report = running.stop().await;
    let failed = store.list().await.expect("list");
    assert!(
        failed[0].reason.contains("panicked"),
        "{}",
        failed[0].reason
    );
    assert!(
        failed[0].reason.contains("job 1 panicked on purpose"),
        "{}",
        failed[0].reason
    );
    assert_eq!((report.succeeded, report.failed), (1, 1));
    store.purge().await.expect("purge");
}

fn raw_envelope(event: &str, listener: Option<&str>, payload: serde_json::Value) -> JobEnvelope {
    let now = chrono::Utc::now().timestamp_millis();
    JobEnvelope {
        id: event_core::ulid::Ulid::new().to_string(),
        event: event.to_string(),
        payload,
        listener: listener.map(str::to_string),
        queue: "events".to_string(),
        attempts: 0,
        exceptions: 0,
        settings: JobSettings {
            tries: Some(3),
            backoff: vec![chrono_ms(10)],
            ..JobSettings::default()
        },
        priority: 0,
        available_at: now,
        created_at: now,
        event_id: None,
        correlation_id: None,
        retried_at: None,
        traceparent: None,
        sealed: None,
        history: Vec::new(),
    }
}

/// Jobs from an old deploy (unknown event or listener) or with a payload
/// that does not deserialise go to the failed store; the worker goes on.
pub async fn unknown_and_bad_jobs_fail(queue: Queue) {
    let sink = Sink::memory();
    let (dispatcher, registry) = setup(&queue, TestListener::new("known", sink.clone())).await;
    queue
        .push(vec![
            Job::from_envelope(raw_envelope(
                "RetiredEvent",
                Some("known"),
                serde_json::json!({}),
            )),
            Job::from_envelope(raw_envelope(
                "TestJob",
                Some("RetiredListener"),
                serde_json::json!({"n": 1}),
            )),
            Job::from_envelope(raw_envelope(
                "TestJob",
                Some("known"),
                serde_json::json!({"n": "not a number"}),
            )),
        ])
        .await
        .expect("push");
    dispatcher.dispatch(job(4)).await.expect("dispatch");
    let store = queue.failed().expect("store");
    let running = start(worker(&queue, registry).concurrency(1));
    assert!(
        eventually(LIMIT, async || store.list().await.unwrap_or_default().len()
            == 3)
        .await
    );
    assert!(eventually(LIMIT, async || sink.of("success") == vec![4]).await);
    running.stop().await;
    let reasons: Vec<String> = store
        .list()
        .await
        .expect("list")
        .into_iter()
        .map(|f| f.reason)
        .collect();
    let all = reasons.join("\n");
    assert!(all.contains("unknown event `RetiredEvent`"), "{all}");
    assert!(all.contains("unknown listener `RetiredListener`"), "{all}");
    assert!(all.contains("does not deserialise"), "{all}");
    store.purge().await.expect("purge");
}

/// A queued event becomes one job; its listeners run in the worker.
pub async fn queued_event_runs_in_worker(queue: Queue) {
    let sink = Sink::memory();
    let dispatcher = Dispatcher::new();
    queue.install(&dispatcher).await;
    let a: Arc<dyn EventListener> = Arc::new(QueuedEventListener {
        name: "a".into(),
        sink: sink.clone(),
        queued: false,
    });
    let b: Arc<dyn EventListener> = Arc::new(QueuedEventListener {
        name: "b".into(),
        sink: sink.clone(),
        queued: false,
    });
    dispatcher.listen::<QueuedEvent>(a.clone()).await;
    dispatcher.listen::<QueuedEvent>(b.clone()).await;
    dispatcher
        .dispatch(QueuedEvent { n: 5 })
        .await
        .expect("dispatch");
    assert!(
        sink.of("a").is_empty(),
        "the listeners of a queued event do not run inline"
    );
    assert_eq!(queue.size().await.expect("size"), 1);
    let registry = JobRegistry::new()
        .listener::<QueuedEvent>(a)
        .listener::<QueuedEvent>(b);
    let running = start(worker(&queue, registry));
    assert!(eventually(LIMIT, async || sink.of("b") == vec![5]).await);
    running.stop().await;
    assert_eq!(sink.of("a"), vec![5]);
}

/// `after_commit` jobs dispatched inside `defer` are written only if it
/// succeeds; other jobs are written at once.
pub async fn after_commit_waits_for_the_unit(queue: Queue) {
    let sink = Sink::memory();
    let listener = TestListener::new("after-commit", sink.clone()).with(|o| o.after_commit = true);
    let (dispatcher, _) = setup(&queue, listener).await;
    let plain = Dispatcher::new();
    queue.install(&plain).await;
    plain
        .listen::<TestJobEvent>(Arc::new(TestListener::new("plain", sink.clone())))
        .await;

    let failed: anyhow::Result<()> = event_core::queue::defer(async {
        dispatcher.dispatch(job(1)).await?;
        plain.dispatch(job(2)).await?;
        assert_eq!(
            queue.size().await?,
            1,
            "only the plain job is written inside the unit"
        );
        anyhow::bail!("the transaction rolls back")
    })
    .await;
    assert!(failed.is_err());
    assert_eq!(
        queue.size().await.expect("size"),
        1,
        "the after_commit job was dropped"
    );

    let ok: anyhow::Result<u32> = event_core::queue::defer(async {
        dispatcher.dispatch(job(3)).await?;
        dispatcher.dispatch(job(4)).await?;
        assert_eq!(queue.size().await?, 1, "held until the unit succeeds");
        Ok(42)
    })
    .await;
    assert_eq!(ok.expect("unit"), 42);
    assert_eq!(queue.size().await.expect("size"), 3);

    // Outside a unit, after_commit jobs are written at once.
    dispatcher.dispatch(job(5)).await.expect("dispatch");
    assert_eq!(queue.size().await.expect("size"), 4);
    queue.clear().await.expect("clear");
}

/// Shutdown lets a running job finish; past the grace period the job is
/// handed back for another worker.
pub async fn shutdown_finishes_or_hands_back(queue: Queue) {
    let sink = Sink::memory();
    let (dispatcher, registry) = setup(&queue, TestListener::new("graceful", sink.clone())).await;
    dispatcher
        .dispatch(TestJobEvent {
            sleep_ms: 300,
            ..job(1)
        })
        .await
        .expect("dispatch");
    let running = start(worker(&queue, registry.clone()).grace_period(ms(5_000)));
    assert!(eventually(LIMIT, async || sink.of("start").len() == 1).await);
    let report = running.stop().await;
    assert_eq!(sink.of("success"), vec![1], "the running job finished");
    assert_eq!(report.succeeded, 1);

    dispatcher
        .dispatch(TestJobEvent {
            sleep_ms: 10_000,
            ..job(2)
        })
        .await
        .expect("dispatch");
    let running = start(worker(&queue, registry.clone()).grace_period(ms(100)));
    assert!(eventually(LIMIT, async || sink.of("start").len() == 2).await);
    let report = running.stop().await;
    assert_eq!(report.released, 1);
    assert_eq!(
        queue.size().await.expect("size"),
        1,
        "handed back, not lost"
    );
    // Another worker picks it up right away.
    dispatcher.clear_queueable_handler().await;
    queue.clear().await.expect("clear");
}

// ----- worker processes -----------------------------------------------------

pub struct Proc(pub Child);

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

pub fn spawn_worker(url: &str, record: &Path, lease_ms: u64, concurrency: usize) -> Proc {
    spawn_worker_with(url, record, lease_ms, concurrency, &[])
}

/// [`spawn_worker`] with variables of the app's environment (e.g.
/// `EVENTS_APP_KEY`).
pub fn spawn_worker_with(
    url: &str,
    record: &Path,
    lease_ms: u64,
    concurrency: usize,
    env: &[(&str, &str)],
) -> Proc {
    let child = Command::new(WORKER_BIN)
        .envs(env.iter().copied())
        .args([
            url,
            &record.display().to_string(),
            &lease_ms.to_string(),
            &concurrency.to_string(),
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("start queue_worker");
    Proc(child)
}

pub fn lines(record: &Path, what: &str) -> Vec<u64> {
    Sink::File(record.to_path_buf()).of(what)
}

/// A producer-side dispatcher for the `record` listener the worker binary runs.
pub async fn producer(queue: &Queue) -> Dispatcher {
    let dispatcher = Dispatcher::new();
    queue.install(&dispatcher).await;
    dispatcher
        .listen::<TestJobEvent>(Arc::new(TestListener::new("record", Sink::memory())))
        .await;
    dispatcher
}

/// SIGKILL a worker mid-job: the job completes later on another worker,
/// with exactly one success.
pub async fn sigkill_mid_job(url: String, record: PathBuf) {
    let queue = Queue::open(&url).await.expect("open");
    let dispatcher = producer(&queue).await;
    dispatcher
        .dispatch(TestJobEvent {
            sleep_ms: 1_500,
            ..job(1)
        })
        .await
        .expect("dispatch");
    let mut first = spawn_worker(&url, &record, 1_500, 1);
    assert!(
        eventually(LIMIT, async || lines(&record, "start").len() == 1).await,
        "job started"
    );
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(first.0.id() as i32),
        nix::sys::signal::Signal::SIGKILL,
    )
    .expect("SIGKILL");
    let _ = first.0.wait();
    assert!(lines(&record, "success").is_empty());
    let _second = spawn_worker(&url, &record, 1_500, 1);
    assert!(
        eventually(LIMIT, async || lines(&record, "success").len() == 1).await,
        "job completed after the visibility timeout"
    );
    tokio::time::sleep(ms(1_000)).await;
    assert_eq!(lines(&record, "success"), vec![1], "exactly one success");
    assert_eq!(lines(&record, "start").len(), 2);
    assert!(eventually(LIMIT, async || queue.size().await.unwrap_or(1) == 0).await);
}

/// 10,000 jobs across two worker processes: each handled exactly once.
pub async fn ten_thousand_two_processes(url: String, record: PathBuf) {
    let queue = Queue::open(&url).await.expect("open");
    let dispatcher = producer(&queue).await;
    const N: u64 = 10_000;
    let _a = spawn_worker(&url, &record, 60_000, 8);
    let _b = spawn_worker(&url, &record, 60_000, 8);
    // Dispatch from 16 tasks at once, as a web app's requests would.
    let mut tasks = Vec::new();
    for t in 0..16u64 {
        let d = dispatcher.clone();
        tasks.push(tokio::spawn(async move {
            for n in (t..N).step_by(16) {
                d.dispatch(job(n)).await.expect("dispatch");
            }
        }));
    }
    for t in tasks {
        t.await.expect("dispatch task");
    }
    assert!(
        eventually(
            Duration::from_secs(120),
            async || lines(&record, "success").len() as u64 >= N
        )
        .await,
        "all jobs handled (got {})",
        lines(&record, "success").len()
    );
    assert!(eventually(LIMIT, async || queue.size().await.unwrap_or(1) == 0).await);
    let mut done = lines(&record, "success");
    done.sort_unstable();
    let before = done.len();
    done.dedup();
    assert_eq!(before, done.len(), "no job ran twice");
    assert_eq!(done, (0..N).collect::<Vec<_>>());
}

/// A queue's server that a test stops and starts again by PID.
pub trait Outage {
    /// Stops the server; returns once it is gone.
    async fn down(&mut self);
    /// Starts it again; returns once it takes connections.
    async fn up(&mut self);
    /// `127.0.0.1:<port>`: what an error about it must name.
    fn address(&self) -> String;
}

/// The server goes away and comes back: dispatches report the error naming
/// it, the worker reconnects by itself and resumes, and every accepted job
/// runs once.
pub async fn restart_loses_nothing(queue: Queue, server: &mut impl Outage) {
    let sink = Sink::memory();
    let (dispatcher, registry) = setup(&queue, TestListener::new("restart", sink.clone())).await;
    let running = start(worker(&queue, registry).concurrency(2));
    for n in 0..20 {
        dispatcher.dispatch(job(n)).await.expect("dispatch");
    }
    assert!(eventually(LIMIT, async || sink.of("success").len() == 20).await);

    server.down().await;
    let error = dispatcher
        .dispatch(job(100))
        .await
        .expect_err("the server is down");
    assert!(
        format!("{error:#}").contains(&server.address()),
        "names the URL: {error:#}"
    );
    // The worker meets the outage too (fetch errors, lost subscriptions).
    tokio::time::sleep(ms(500)).await;

    server.up().await;
    let mut accepted = (0..20).collect::<Vec<u64>>();
    let mut n = 1000;
    let ok = eventually(LIMIT, async || {
        n += 1;
        dispatcher.dispatch(job(n)).await.is_ok()
    })
    .await;
    assert!(ok, "dispatch works again once the server is back");
    accepted.push(n);
    for m in 2000..2020 {
        dispatcher
            .dispatch(job(m))
            .await
            .expect("dispatch after restart");
        accepted.push(m);
    }
    assert!(
        eventually(Duration::from_secs(30), async || sink.of("success").len()
            >= accepted.len())
        .await,
        "the worker resumed: {} of {} done",
        sink.of("success").len(),
        accepted.len()
    );
    running.stop().await;
    let mut done = sink.of("success");
    done.sort_unstable();
    accepted.sort_unstable();
    assert_eq!(done, accepted, "every accepted job ran, once");
    assert_eq!(queue.size().await.expect("size"), 0);
}
