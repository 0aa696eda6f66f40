//! The worker's own `tries` / `timeout` / `backoff` (`artisan queue:work
//! --tries N --timeout S --backoff 1,5`): they apply to the jobs that
//! declare none; a declared value wins (Laravel's `$job->maxTries() ??
//! $options->maxTries`).

use super::*;

/// Declares `tries = 1` (and nothing else the worker could fill in).
pub struct OneTry(pub Probe);

#[listener(event = DeclaredEvent, queued, tries = 1, name = "one-try")]
impl OneTry {
    async fn handle(&self, event: &DeclaredEvent) -> anyhow::Result<()> {
        self.0.run("one-try", event).await
    }
}

/// Declares `timeout = 30` (seconds) and `tries = 1`.
pub struct LongTimeout(pub Probe);

#[listener(event = DeclaredEvent, queued, tries = 1, timeout = 30, name = "long-timeout")]
impl LongTimeout {
    async fn handle(&self, event: &DeclaredEvent) -> anyhow::Result<()> {
        self.0.run("long-timeout", event).await
    }
}

/// Declares `tries = 2` and `backoff = [0]`: retries at once.
pub struct QuickRetry(pub Probe);

#[listener(event = DeclaredEvent, queued, tries = 2, backoff = [0], name = "quick-retry")]
impl QuickRetry {
    async fn handle(&self, event: &DeclaredEvent) -> anyhow::Result<()> {
        self.0.run("quick-retry", event).await
    }
}

/// Declares `tries = 0` and `timeout = 0`: no limit on either (Laravel's zeros).
pub struct NoLimits(pub Probe);

#[listener(event = DeclaredEvent, queued, tries = 0, timeout = 0, name = "no-limits")]
impl NoLimits {
    async fn handle(&self, event: &DeclaredEvent) -> anyhow::Result<()> {
        self.0.run("no-limits", event).await
    }
}

/// A queue whose defaults give 1 try and retry at once, so the worker's
/// own `tries` is the only thing that can make 3 attempts.
fn one_try_by_default(queue: Queue) -> Queue {
    let config = EventsConfig::from_vars([
        ("EVENTS_RETRY_ATTEMPTS", "1".to_string()),
        ("EVENTS_RETRY_DELAY_SECONDS", "0".to_string()),
    ])
    .expect("config");
    queue.with_defaults(JobSettings::from_config(&config))
}

/// `listeners` on a dispatcher with `queue` installed, `event` dispatched
/// (each listener's job written); the registry a worker rebuilds them with.
async fn queued<const N: usize>(
    queue: &Queue,
    listeners: [Arc<dyn EventListener>; N],
    event: DeclaredEvent,
) -> JobRegistry {
    let dispatcher = installed(queue).await;
    let mut registry = JobRegistry::new();
    for listener in listeners {
        dispatcher.listen::<DeclaredEvent>(listener.clone()).await;
        registry = registry.listener::<DeclaredEvent>(listener);
    }
    dispatcher.dispatch(event).await.expect("dispatch");
    registry
}

/// `Worker::tries(3)`: a listener that declares no tries is attempted 3
/// times (the queue's default is 1); one that declares `tries = 1` once.
pub async fn worker_tries_fill_in_undeclared_tries(queue: Queue) {
    let queue = one_try_by_default(queue);
    let undeclared = Probe::new();
    let declared = Probe::new();
    let registry = queued(
        &queue,
        [
            Arc::new(ScaffoldListener(undeclared.clone())),
            Arc::new(OneTry(declared.clone())),
        ],
        DeclaredEvent {
            n: 1,
            fail: 10,
            ..DeclaredEvent::default()
        },
    )
    .await;
    let worker = start(
        Worker::new(queue.clone(), registry)
            .tries(3)
            .poll_interval(ms(20)),
    );
    let mut failed = failed_jobs(&queue, 2).await;
    worker.stop().await;
    failed.sort_by_key(|f| f.attempts);
    let attempts: Vec<(Option<&str>, u32)> = failed
        .iter()
        .map(|f| (f.payload.listener.as_deref(), f.attempts))
        .collect();
    assert_eq!(attempts[0], (Some("one-try"), 1));
    assert_eq!(attempts[1].1, 3);
    assert_eq!(
        undeclared.attempts.load(Ordering::SeqCst),
        3,
        "the worker's 3"
    );
    assert_eq!(
        declared.attempts.load(Ordering::SeqCst),
        1,
        "declared 1 wins"
    );

    // Without `.tries(..)`, the queue's default (1) applies.
    let probe = Probe::new();
    queue.failed().expect("store").purge().await.expect("purge");
    let registry = queued(
        &queue,
        [Arc::new(ScaffoldListener(probe.clone()))],
        DeclaredEvent {
            n: 2,
            fail: 10,
            ..DeclaredEvent::default()
        },
    )
    .await;
    let worker = start(Worker::new(queue.clone(), registry).poll_interval(ms(20)));
    failed_jobs(&queue, 1).await;
    worker.stop().await;
    assert_eq!(probe.attempts.load(Ordering::SeqCst), 1, "the default");
}

/// `Worker::timeout(100 ms)`: a listener that declares no timeout is
/// cancelled after 100 ms; one that declares `timeout = 30` runs to the end.
pub async fn worker_timeout_fills_in_undeclared_timeouts(queue: Queue) {
    let queue = one_try_by_default(queue);
    let undeclared = Probe::new();
    let declared = Probe::new();
    let registry = queued(
        &queue,
        [
            Arc::new(ScaffoldListener(undeclared.clone())),
            Arc::new(LongTimeout(declared.clone())),
        ],
        DeclaredEvent {
            n: 3,
            sleep_ms: 600,
            ..DeclaredEvent::default()
        },
    )
    .await;
    let worker = start(
        Worker::new(queue.clone(), registry)
            .timeout(ms(100))
            .concurrency(2)
            .poll_interval(ms(20)),
    );
    let failed = failed_jobs(&queue, 1).await;
    assert!(eventually(LIMIT, async || declared.sink.of("done") == vec![3]).await);
    worker.stop().await;
    assert_eq!(failed.len(), 1);
    assert!(
        failed[0].reason.contains("timed out after 100 ms"),
        "{}",
        failed[0].reason
    );
    assert!(undeclared.sink.of("done").is_empty(), "cancelled");
}

/// `Worker::backoff([1.5 s])`: a listener that declares no backoff waits
/// 1.5 s before its retry (the queue's default is to retry at once); one
/// that declares `backoff = [0]` retries at once, so it is done first.
pub async fn worker_backoff_fills_in_undeclared_backoff(queue: Queue) {
    let queue = one_try_by_default(queue);
    let undeclared = Probe::new();
    let declared = Probe::new();
    let registry = queued(
        &queue,
        [
            Arc::new(ScaffoldListener(undeclared.clone())),
            Arc::new(QuickRetry(declared.clone())),
        ],
        DeclaredEvent {
            n: 4,
            fail: 1,
            ..DeclaredEvent::default()
        },
    )
    .await;
    let began = Instant::now();
    let worker = start(
        Worker::new(queue.clone(), registry)
            .tries(2)
            .backoff([ms(1_500)])
            .concurrency(2)
            .poll_interval(ms(20)),
    );
    assert!(eventually(LIMIT, async || declared.sink.of("done") == vec![4]).await);
    assert!(
        undeclared.sink.of("done").is_empty(),
        "the declared backoff (0) wins: done before the worker's 1.5 s passed"
    );
    assert!(eventually(LIMIT, async || undeclared.sink.of("done") == vec![4]).await);
    worker.stop().await;
    assert!(
        began.elapsed() >= ms(1_400),
        "the undeclared retry waited the worker's backoff"
    );
    assert_eq!(undeclared.attempts.load(Ordering::SeqCst), 2);
    assert_eq!(declared.attempts.load(Ordering::SeqCst), 2);
}

/// Laravel's zeros. `Worker::tries(0)` (`queue:work --tries 0`) retries a
/// listener that declares no tries until it succeeds, and
/// `Worker::timeout(ZERO)` (`--timeout 0`) lets its attempts take as long
/// as they take. A listener declaring `tries = 0, timeout = 0` gets the
/// same under a worker whose own are 1 try and 30 ms.
pub async fn zero_tries_and_timeouts_mean_no_limit(queue: Queue) {
    let queue = one_try_by_default(queue);
    let undeclared = Probe::new();
    let registry = queued(
        &queue,
        [Arc::new(ScaffoldListener(undeclared.clone()))],
        DeclaredEvent {
            n: 7,
            fail: 5,
            sleep_ms: 60,
        },
    )
    .await;
    let worker = start(
        Worker::new(queue.clone(), registry)
            .tries(0)
            .timeout(Duration::ZERO)
            .poll_interval(ms(20)),
    );
    assert!(
        eventually(LIMIT, async || undeclared.sink.of("done") == vec![7]).await,
        "done on the sixth attempt"
    );
    worker.stop().await;
    assert_eq!(undeclared.attempts.load(Ordering::SeqCst), 6);

    let declared = Probe::new();
    let registry = queued(
        &queue,
        [Arc::new(NoLimits(declared.clone()))],
        DeclaredEvent {
            n: 8,
            fail: 3,
            sleep_ms: 60,
        },
    )
    .await;
    let worker = start(
        Worker::new(queue.clone(), registry)
            .tries(1)
            .timeout(ms(30))
            .poll_interval(ms(20)),
    );
    assert!(
        eventually(LIMIT, async || declared.sink.of("done") == vec![8]).await,
        "the declared zeros win over the worker's 1 try and 30 ms"
    );
    worker.stop().await;
    assert_eq!(declared.attempts.load(Ordering::SeqCst), 4);
    let failed = queue.failed().expect("store").list().await.expect("list");
    assert!(failed.is_empty(), "{failed:?}");
}
