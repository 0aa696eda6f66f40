//! From "I declared this" to "the worker did it", on memory, sqlite and
//! redis: every setting, declared every way the project offers
//! (`#[listener]`, `#[derive(Event)]`, the seed's hand-written traits, the
//! plain trait methods, the config defaults), reaches the stored job and is
//! applied by the worker; job middleware; stable names; the worker's stop
//! options and stats; a queue shared by two dispatchers.

#[path = "queue_declared/depth.rs"]
mod depth;
mod queue_common;
#[path = "queue_declared/worker_options.rs"]
mod worker_options;

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use depth::*;
use event_core::config::EventsConfig;
use event_core::prelude::*;
use event_core::queue::{
    JobEnvelope, JobInfo, JobMiddleware, JobSettings, Next, Queue, QueueError, RateLimit,
    RegistryError, Worker,
};
use queue_common::fixtures::Sink;
use queue_common::{eventually, ms, start};
use serde::{Deserialize, Serialize};
use worker_options::*;

const LIMIT: Duration = Duration::from_secs(20);

fn secs(s: i64) -> chrono::Duration {
    chrono::Duration::seconds(s)
}

// ----- declarations ---------------------------------------------------------

#[derive(Debug, Clone, Default, Serialize, Deserialize, Event)]
#[event(name = "Declared")]
pub struct DeclaredEvent {
    pub n: u64,
    /// Fail this many attempts (per listener) before succeeding.
    #[serde(default)]
    pub fail: u32,
    #[serde(default)]
    pub sleep_ms: u64,
}

/// The sink and attempt counts the listeners below share, per test.
#[derive(Clone)]
pub struct Probe {
    sink: Sink,
    attempts: Arc<AtomicU32>,
}

impl Probe {
    fn new() -> Self {
        Self {
            sink: Sink::memory(),
            attempts: Arc::default(),
        }
    }

    async fn run(&self, what: &str, event: &DeclaredEvent) -> anyhow::Result<()> {
        let attempt = self.attempts.fetch_add(1, Ordering::SeqCst) + 1;
        self.sink.record(what, event.n);
        if event.sleep_ms > 0 {
            tokio::time::sleep(ms(event.sleep_ms)).await;
        }
        if attempt <= event.fail {
            anyhow::bail!("attempt {attempt} fails on purpose");
        }
        self.sink.record("done", event.n);
        Ok(())
    }
}

/// Every `#[listener]` knob at once.
pub struct Attributed(Probe);

#[listener(
    event = DeclaredEvent,
    queued,
    queue = "declared",
    tries = 4,
    backoff = [1, 2],
    timeout = 30,
    max_exceptions = 3,
    middleware = ["throttle:10,1"],
    name = "attributed-listener"
)]
impl Attributed {
    async fn handle(&self, event: &DeclaredEvent) -> anyhow::Result<()> {
        self.0.run("attributed", event).await
    }
}

/// The seed's hand-written listener: `ShouldQueueListener` without
/// `as_should_queue_listener`.
#[derive(Clone)]
pub struct SeedListener {
    probe: Probe,
    queue: Option<String>,
    delay: Option<chrono::Duration>,
}

#[async_trait]
impl EventListener for SeedListener {
    async fn handle(&self, event: Arc<dyn Event>) -> anyhow::Result<()> {
        match event.downcast_ref::<DeclaredEvent>() {
            Some(e) => self.probe.run("seed", e).await,
            None => Ok(()),
        }
    }
    fn should_queue(&self) -> bool {
        true
    }
    fn queue_name(&self) -> Option<&str> {
        self.queue.as_deref()
    }
    fn max_exceptions(&self) -> Option<u32> {
        Some(3)
    }
    fn backoff(&self) -> Vec<chrono::Duration> {
        vec![chrono::Duration::milliseconds(10)]
    }
}

impl ShouldQueueListener for SeedListener {
    fn queue(&self) -> Option<&str> {
        self.queue.as_deref()
    }
    fn delay(&self) -> Option<chrono::Duration> {
        self.delay
    }
    fn tries(&self) -> Option<u32> {
        Some(3)
    }
    fn timeout(&self) -> Option<chrono::Duration> {
        Some(chrono::Duration::minutes(5))
    }
    fn middleware(&self) -> Vec<String> {
        vec!["throttle:10,1".to_string()]
    }
    fn after_commit(&self) -> bool {
        true
    }
    fn via_connection(self, _connection: &str) -> Self {
        self
    }
    fn via_queue(mut self, queue: &str) -> Self {
        self.queue = Some(queue.to_string());
        self
    }
    fn with_delay(mut self, delay: chrono::Duration) -> Self {
        self.delay = Some(delay);
        self
    }
}

/// Settings through the plain `EventListener` methods only.
pub struct PlainListener(Probe);

#[async_trait]
impl EventListener for PlainListener {
    async fn handle(&self, event: Arc<dyn Event>) -> anyhow::Result<()> {
        match event.downcast_ref::<DeclaredEvent>() {
            Some(e) => self.0.run("plain", e).await,
            None => Ok(()),
        }
    }
    fn should_queue(&self) -> bool {
        true
    }
    fn queue_name(&self) -> Option<&str> {
        Some("plain")
    }
    fn can_retry(&self) -> bool {
        false
    }
    fn max_exceptions(&self) -> Option<u32> {
        Some(7)
    }
    fn backoff(&self) -> Vec<chrono::Duration> {
        vec![secs(9)]
    }
}

/// A queued derived event with its queue, priority and tags.
#[derive(Debug, Clone, Serialize, Deserialize, Event)]
#[event(
    name = "DerivedQueued",
    queued,
    queue = "derived",
    priority = 5,
    tags("shop", "orders")
)]
pub struct DerivedQueuedEvent {
    pub n: u64,
}

/// The seed's hand-written queued event, with the one line that lets
/// every dispatch path see its `ShouldQueue` impl.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SeedQueuedEvent {
    pub n: u64,
}

impl Event for SeedQueuedEvent {
    fn event_name(&self) -> &'static str {
        "SeedQueued"
    }
    fn to_json(&self) -> serde_json::Value {
        serde_json::json!({ "n": self.n })
    }
    fn should_queue(&self) -> bool {
        true
    }
    fn as_should_queue(&self) -> Option<&dyn ShouldQueue> {
        Some(self)
    }
}

impl ShouldQueue for SeedQueuedEvent {
    fn queue(&self) -> Option<&str> {
        Some("seed-events")
    }
    fn tries(&self) -> Option<u32> {
        Some(6)
    }
    fn timeout(&self) -> Option<chrono::Duration> {
        Some(secs(40))
    }
}

/// A listener of a queued event (runs in the worker).
pub struct Recorder(Sink, &'static str);

#[async_trait]
impl EventListener for Recorder {
    async fn handle(&self, event: Arc<dyn Event>) -> anyhow::Result<()> {
        let n = event.to_json()["n"].as_u64().unwrap_or(0);
        self.0.record(self.1, n);
        Ok(())
    }
    fn listener_name(&self) -> &str {
        self.1
    }
}

// ----- helpers --------------------------------------------------------------

/// The job waiting on `queue_name`, as stored (it is claimed and handed back).
async fn stored(queue: &Queue, queue_name: &str) -> JobEnvelope {
    let backend = queue.backend().expect("backend");
    let queues = [queue_name.to_string()];
    let deadline = Instant::now() + LIMIT;
    loop {
        let claimed = backend
            .fetch(&queues, 1, ms(60_000), "inspect")
            .await
            .expect("fetch");
        if let Some(claimed) = claimed.into_iter().next() {
            let envelope = claimed.job.envelope.clone();
            backend.release(vec![claimed]).await.expect("release");
            return envelope;
        }
        assert!(Instant::now() < deadline, "no job on `{queue_name}`");
        tokio::time::sleep(ms(20)).await;
    }
}

/// Waits until `count` jobs are in the failed store; returns them.
async fn failed_jobs(queue: &Queue, count: usize) -> Vec<event_core::queue::FailedJob> {
    let failed = queue.failed().expect("store");
    assert!(
        eventually(LIMIT, async || failed.list().await.expect("list").len()
            >= count)
        .await,
        "{count} failed job(s)"
    );
    failed.list().await.expect("list")
}

async fn installed(queue: &Queue) -> Dispatcher {
    let dispatcher = Dispatcher::new();
    queue.install(&dispatcher).await;
    dispatcher
}

fn event(n: u64) -> DeclaredEvent {
    DeclaredEvent {
        n,
        ..DeclaredEvent::default()
    }
}

fn seed_listener(probe: &Probe) -> SeedListener {
    SeedListener {
        probe: probe.clone(),
        queue: None,
        delay: None,
    }
    .via_queue("emails")
}

// ----- scenarios: settings --------------------------------------------------

/// `#[listener(...)]`: every knob is in the stored job and the worker
/// applies tries and backoff; `name` is the stored listener name.
pub async fn attribute_settings_reach_the_job(queue: Queue) {
    let probe = Probe::new();
    let dispatcher = installed(&queue).await;
    let listener: Arc<dyn EventListener> = Arc::new(Attributed(probe.clone()));
    dispatcher.listen::<DeclaredEvent>(listener.clone()).await;
    dispatcher
        .dispatch(DeclaredEvent {
            n: 1,
            fail: 2,
            ..DeclaredEvent::default()
        })
        .await
        .expect("dispatch");
    let job = stored(&queue, "declared").await;
    assert_eq!(job.listener.as_deref(), Some("attributed-listener"));
    let s = &job.settings;
    assert_eq!(s.queue.as_deref(), Some("declared"));
    assert_eq!(s.tries, Some(4));
    assert_eq!(s.backoff, vec![secs(1), secs(2)]);
    assert_eq!(s.timeout, Some(secs(30)));
    assert_eq!(s.max_exceptions, Some(3));
    assert_eq!(s.middleware, vec!["throttle:10,1".to_string()]);

    // Two failures, then success: tries and the 1 s / 2 s backoff applied.
    let registry = JobRegistry::new().listener::<DeclaredEvent>(listener);
    let worker = start(
        Worker::new(queue.clone(), registry)
            .queues(["declared"])
            .poll_interval(ms(20)),
    );
    let began = Instant::now();
    assert!(eventually(LIMIT, async || probe.sink.of("done") == vec![1]).await);
    assert!(
        began.elapsed() >= Duration::from_millis(2_900),
        "backoff 1 s + 2 s"
    );
    assert_eq!(probe.attempts.load(Ordering::SeqCst), 3);
    worker.stop().await;
}

/// The seed's `impl ShouldQueueListener` (tries 3, timeout 5 min,
/// after_commit, delay, via_queue), registered with `register_listener!`,
/// reaches the job without `as_should_queue_listener`; the worker gives it
/// exactly its 3 tries.
pub async fn seed_listener_settings_reach_the_job(queue: Queue) {
    let probe = Probe::new();
    let dispatcher = installed(&queue).await;
    let listener = seed_listener(&probe).with_delay(chrono::Duration::milliseconds(300));
    event_core::register_listener!(on dispatcher, DeclaredEvent, Arc::new(listener.clone()));
    let dispatched = Instant::now();
    // after_commit: held by the unit of work until it succeeds.
    event_core::queue::defer(async {
        dispatcher
            .dispatch(DeclaredEvent {
                n: 2,
                fail: 10,
                ..DeclaredEvent::default()
            })
            .await?;
        assert_eq!(queue.size().await?, 0, "after_commit holds the job");
        anyhow::Ok(())
    })
    .await
    .expect("unit of work");
    let job = stored(&queue, "emails").await;
    assert!(dispatched.elapsed() >= ms(290), "the delay holds the job");
    let s = &job.settings;
    assert_eq!(s.queue.as_deref(), Some("emails"));
    assert_eq!(s.tries, Some(3));
    assert_eq!(s.timeout, Some(chrono::Duration::minutes(5)));
    assert!(s.after_commit);
    assert_eq!(s.delay, Some(chrono::Duration::milliseconds(300)));
    assert_eq!(s.max_exceptions, Some(3));
    assert_eq!(s.middleware, vec!["throttle:10,1".to_string()]);
    assert_eq!(job.available_at - job.created_at, 300);

    let registry =
        JobRegistry::new().listener::<DeclaredEvent>(event_core::as_listener!(Arc::new(listener)));
    let worker = start(
        Worker::new(queue.clone(), registry)
            .queues(["emails"])
            .poll_interval(ms(20)),
    );
    assert_eq!(failed_jobs(&queue, 1).await.len(), 1);
    assert_eq!(probe.attempts.load(Ordering::SeqCst), 3, "tries 3");
    worker.stop().await;
}

/// The plain `EventListener` methods: queue, max_exceptions, backoff and
/// `can_retry() == false` (one attempt).
pub async fn plain_listener_methods_reach_the_job(queue: Queue) {
    let probe = Probe::new();
    let dispatcher = installed(&queue).await;
    let listener: Arc<dyn EventListener> = Arc::new(PlainListener(probe.clone()));
    dispatcher.listen::<DeclaredEvent>(listener.clone()).await;
    dispatcher
        .dispatch(DeclaredEvent {
            n: 3,
            fail: 5,
            ..DeclaredEvent::default()
        })
        .await
        .expect("dispatch");
    let job = stored(&queue, "plain").await;
    assert_eq!(job.settings.max_exceptions, Some(7));
    assert_eq!(job.settings.backoff, vec![secs(9)]);
    assert!(!job.settings.retry);
    assert_eq!(job.settings.declared_tries(), Some(1));
    let registry = JobRegistry::new().listener::<DeclaredEvent>(listener);
    let worker = start(
        Worker::new(queue.clone(), registry)
            .queues(["plain"])
            .poll_interval(ms(20)),
    );
    assert_eq!(failed_jobs(&queue, 1).await.len(), 1);
    assert_eq!(probe.attempts.load(Ordering::SeqCst), 1, "no retry");
    worker.stop().await;
}

/// `#[derive(Event)]` + `#[event(queued, queue, priority, tags)]`: the
/// event job carries them; tags reach the failed store.
pub async fn derived_event_settings_reach_the_job(queue: Queue) {
    // One try, so its failing listener sends it to the failed store at once.
    let queue = queue.clone().with_defaults(JobSettings {
        tries: Some(1),
        ..queue.defaults().clone()
    });
    let dispatcher = installed(&queue).await;
    dispatcher
        .dispatch(DerivedQueuedEvent { n: 4 })
        .await
        .expect("dispatch");
    let job = stored(&queue, "derived").await;
    assert_eq!(job.listener, None);
    assert_eq!(job.priority, 5);
    assert_eq!(job.settings.priority, 5);
    assert_eq!(
        job.settings.tags,
        vec!["shop".to_string(), "orders".to_string()]
    );

    // Its listener fails every try: the failed record keeps the tags.
    struct Failing;
    #[async_trait]
    impl EventListener for Failing {
        async fn handle(&self, _: Arc<dyn Event>) -> anyhow::Result<()> {
            anyhow::bail!("always")
        }
    }
    let registry = JobRegistry::new()
        .listener::<DerivedQueuedEvent>(Arc::new(Failing))
        .event::<DerivedQueuedEvent>();
    let worker = start(
        Worker::new(queue.clone(), registry)
            .queues(["derived"])
            .poll_interval(ms(20)),
    );
    let failed = queue.failed().expect("store");
    assert!(
        eventually(LIMIT, async || !failed
            .list()
            .await
            .expect("list")
            .is_empty())
        .await
    );
    let record = failed.list().await.expect("list").remove(0);
    assert_eq!(
        record.payload.settings.tags,
        vec!["shop".to_string(), "orders".to_string()]
    );
    worker.stop().await;
}

/// The seed's hand-written `impl ShouldQueue`, seen through
/// `as_should_queue` by a plain dispatch (nothing primed it: the fresh
/// process case is `should_queue_fresh.rs`).
pub async fn seed_event_settings_reach_the_job(queue: Queue) {
    let dispatcher = installed(&queue).await;
    dispatcher
        .dispatch(SeedQueuedEvent { n: 5 })
        .await
        .expect("dispatch");
    let job = stored(&queue, "seed-events").await;
    assert_eq!(job.settings.tries, Some(6));
    assert_eq!(job.settings.timeout, Some(secs(40)));
}

/// The config defaults: `EVENTS_DEFAULT_QUEUE`, `EVENTS_RETRY_ATTEMPTS`,
/// `EVENTS_RETRY_DELAY_SECONDS` fill what a listener leaves unsaid, and a
/// worker with no `.queues(..)` reads the default queue.
pub async fn config_defaults_reach_the_job(queue: Queue) {
    let config = EventsConfig::from_vars([
        ("EVENTS_DEFAULT_QUEUE", "jobs".to_string()),
        ("EVENTS_RETRY_ATTEMPTS", "2".to_string()),
        ("EVENTS_RETRY_DELAY_SECONDS", "1".to_string()),
    ])
    .expect("config");
    let queue = queue.with_defaults(JobSettings::from_config(&config));
    let probe = Probe::new();
    let dispatcher = installed(&queue).await;
    let listener: Arc<dyn EventListener> = Arc::new(ScaffoldListener(probe.clone()));
    dispatcher.listen::<DeclaredEvent>(listener.clone()).await;
    dispatcher
        .dispatch(DeclaredEvent {
            n: 6,
            fail: 1,
            ..DeclaredEvent::default()
        })
        .await
        .expect("dispatch");
    let job = stored(&queue, "jobs").await;
    // Undeclared: the worker fills in EVENTS_RETRY_ATTEMPTS (2 here).
    assert_eq!(job.settings.tries, None);
    // Undeclared: the worker fills in EVENTS_RETRY_DELAY_SECONDS (1 here).
    assert_eq!(job.settings.retry_delay, None);
    let worker = start(
        Worker::new(
            queue.clone(),
            JobRegistry::new().listener::<DeclaredEvent>(listener),
        )
        .poll_interval(ms(20)),
    );
    let began = Instant::now();
    assert!(eventually(LIMIT, async || probe.sink.of("done") == vec![6]).await);
    assert!(
        began.elapsed() >= ms(900),
        "the retry waited EVENTS_RETRY_DELAY_SECONDS"
    );
    worker.stop().await;
}

/// What `artisan make:listener --queued` writes: `queue = "default"` (and
/// a listener that names no queue) runs on `Worker::new(queue, registry)`
/// with no `.queues(..)`.
pub struct ScaffoldListener(Probe);

#[listener(event = DeclaredEvent, queued)]
impl ScaffoldListener {
    async fn handle(&self, event: &DeclaredEvent) -> anyhow::Result<()> {
        self.0.run("scaffold", event).await
    }
}

pub struct ScaffoldDefaultListener(Probe);

#[listener(event = DeclaredEvent, queued, queue = "default")]
impl ScaffoldDefaultListener {
    async fn handle(&self, event: &DeclaredEvent) -> anyhow::Result<()> {
        self.0.run("scaffold-default", event).await
    }
}

pub async fn scaffolded_listeners_run_on_the_default_worker(queue: Queue) {
    let probe = Probe::new();
    let dispatcher = installed(&queue).await;
    let a: Arc<dyn EventListener> = Arc::new(ScaffoldListener(probe.clone()));
    let b: Arc<dyn EventListener> = Arc::new(ScaffoldDefaultListener(probe.clone()));
    dispatcher.listen::<DeclaredEvent>(a.clone()).await;
    dispatcher.listen::<DeclaredEvent>(b.clone()).await;
    dispatcher.dispatch(event(7)).await.expect("dispatch");
    let registry = JobRegistry::new()
        .listener::<DeclaredEvent>(a)
        .listener::<DeclaredEvent>(b);
    let worker = start(Worker::new(queue.clone(), registry).poll_interval(ms(20)));
    assert!(eventually(LIMIT, async || probe.sink.of("done").len() == 2).await);
    assert_eq!(probe.sink.of("scaffold"), vec![7]);
    assert_eq!(probe.sink.of("scaffold-default"), vec![7]);
    worker.stop().await;
}

// ----- scenarios: middleware ------------------------------------------------

/// A listener with `middleware` and a probe that fails the first attempts.
pub struct Guarded {
    probe: Probe,
    name: &'static str,
    middleware: Vec<String>,
}

#[async_trait]
impl EventListener for Guarded {
    async fn handle(&self, event: Arc<dyn Event>) -> anyhow::Result<()> {
        match event.downcast_ref::<DeclaredEvent>() {
            Some(e) => self.probe.run(self.name, e).await,
            None => Ok(()),
        }
    }
    fn should_queue(&self) -> bool {
        true
    }
    fn listener_name(&self) -> &str {
        self.name
    }
    fn options(&self) -> event_core::ListenerOptions {
        event_core::ListenerOptions {
            queued: true,
            queue: Some("guarded".into()),
            tries: Some(20),
            backoff: vec![chrono::Duration::milliseconds(10)],
            middleware: self.middleware.clone(),
            ..event_core::ListenerOptions::default()
        }
    }
}

async fn guarded(
    queue: &Queue,
    name: &'static str,
    middleware: &[&str],
) -> (Dispatcher, Arc<dyn EventListener>, Probe) {
    let probe = Probe::new();
    let dispatcher = installed(queue).await;
    let listener: Arc<dyn EventListener> = Arc::new(Guarded {
        probe: probe.clone(),
        name,
        middleware: middleware.iter().map(|m| m.to_string()).collect(),
    });
    dispatcher.listen::<DeclaredEvent>(listener.clone()).await;
    (dispatcher, listener, probe)
}

/// `throttle:2,1`: after 2 failed attempts within a minute, the job is
/// held back (not run) until the minute is over.
pub async fn throttle_holds_back_after_exceptions(queue: Queue) {
    let (dispatcher, listener, probe) = guarded(&queue, "throttled", &["throttle:2,1"]).await;
    dispatcher
        .dispatch(DeclaredEvent {
            n: 8,
            fail: 100,
            ..DeclaredEvent::default()
        })
        .await
        .expect("dispatch");
    let registry = JobRegistry::new().listener::<DeclaredEvent>(listener);
    let worker = start(
        Worker::new(queue.clone(), registry)
            .queues(["guarded"])
            .poll_interval(ms(20)),
    );
    assert!(eventually(LIMIT, async || probe.attempts.load(Ordering::SeqCst) == 2).await);
    // Retries are due every 10 ms, but the throttle holds the job back.
    tokio::time::sleep(ms(500)).await;
    assert_eq!(
        probe.attempts.load(Ordering::SeqCst),
        2,
        "held back after 2 exceptions"
    );
    assert_eq!(queue.size().await.expect("size"), 1, "waiting, not failed");
    assert!(
        queue
            .failed()
            .expect("store")
            .list()
            .await
            .expect("list")
            .is_empty()
    );
    worker.stop().await;
}

/// `rate_limited:NAME`: at most the named limit per period; the rest wait
/// for the next window (counted in the connection's storage).
pub async fn rate_limited_spreads_jobs(queue: Queue) {
    let limiter = format!("limit-{}", event_core::ulid::Ulid::new());
    let spec = format!("rate_limited:{limiter}");
    let (dispatcher, listener, probe) = guarded(&queue, "limited", &[spec.as_str()]).await;
    for n in 0..5 {
        dispatcher.dispatch(event(n)).await.expect("dispatch");
    }
    let registry = JobRegistry::new()
        .listener::<DeclaredEvent>(listener)
        .rate_limit(&limiter, RateLimit::new(2, Duration::from_secs(1)));
    let began = Instant::now();
    let worker = start(
        Worker::new(queue.clone(), registry)
            .queues(["guarded"])
            .poll_interval(ms(20)),
    );
    assert!(eventually(LIMIT, async || probe.sink.of("done").len() == 5).await);
    // 2 in the first second, 2 in the next, 1 in the third.
    assert!(began.elapsed() >= ms(1_900), "took {:?}", began.elapsed());
    worker.stop().await;
}

/// `without_overlapping:KEY`: with 4 runners, jobs of one key still run
/// one at a time.
pub async fn without_overlapping_runs_one_at_a_time(queue: Queue) {
    let key = format!(
        "without_overlapping:order-{}",
        event_core::ulid::Ulid::new()
    );
    let (dispatcher, listener, probe) = guarded(&queue, "exclusive", &[key.as_str()]).await;
    for n in 0..4 {
        dispatcher
            .dispatch(DeclaredEvent {
                n,
                sleep_ms: 150,
                ..DeclaredEvent::default()
            })
            .await
            .expect("dispatch");
    }
    let registry = JobRegistry::new().listener::<DeclaredEvent>(listener);
    let worker = start(
        Worker::new(queue.clone(), registry)
            .queues(["guarded"])
            .concurrency(4)
            .poll_interval(ms(20)),
    );
    assert!(eventually(LIMIT, async || probe.sink.of("done").len() == 4).await);
    let starts = probe.sink.times("exclusive");
    let ends = probe.sink.times("done");
    for (i, start) in starts.iter().enumerate().skip(1) {
        assert!(
            ends[..i].iter().filter(|e| *e <= start).count() >= i,
            "job {i} started before the ones before it ended"
        );
    }
    worker.stop().await;
}

/// Middleware written in Rust: registered by name, wraps the job.
struct Audit(Sink);

#[async_trait]
impl JobMiddleware for Audit {
    async fn handle(&self, job: &JobInfo<'_>, next: Next<'_>) -> anyhow::Result<()> {
        self.0.record("before", u64::from(job.attempt));
        let result = next.await;
        self.0.record("after", u64::from(job.attempt));
        result
    }
}

pub async fn rust_middleware_wraps_the_job(queue: Queue) {
    let (dispatcher, listener, probe) = guarded(&queue, "audited", &["audit"]).await;
    dispatcher.dispatch(event(9)).await.expect("dispatch");
    let audit = Sink::memory();
    let registry = JobRegistry::new()
        .listener::<DeclaredEvent>(listener)
        .middleware("audit", Arc::new(Audit(audit.clone())));
    let worker = start(
        Worker::new(queue.clone(), registry)
            .queues(["guarded"])
            .poll_interval(ms(20)),
    );
    assert!(eventually(LIMIT, async || audit.of("after") == vec![1]).await);
    assert_eq!(audit.of("before"), vec![1]);
    assert_eq!(probe.sink.of("done"), vec![9]);
    worker.stop().await;
}

/// An unknown middleware string is an error naming it: when queueing, and
/// when the worker's registry is checked (before any job runs).
pub async fn unknown_middleware_is_an_error(queue: Queue) {
    let (dispatcher, listener, _) = guarded(&queue, "typo", &["throtle:10,1"]).await;
    let error = dispatcher
        .dispatch(event(10))
        .await
        .expect_err("unknown middleware");
    assert!(format!("{error:#}").contains("`throtle:10,1`"), "{error:#}");
    let registry = JobRegistry::new().listener::<DeclaredEvent>(listener);
    let error = registry.check().expect_err("registry check");
    assert!(error.to_string().contains("typo"), "{error}");
    let run = Worker::new(queue.clone(), registry)
        .run_until(std::future::pending())
        .await;
    match run {
        Err(QueueError::Registry(RegistryError::Middleware { listener, source })) => {
            assert_eq!(listener, "typo");
            assert!(source.to_string().contains("`throtle:10,1`"));
        }
        other => panic!("expected a registry error, got {other:?}"),
    }
}

// ----- scenarios: identity, worker, dispatchers -----------------------------

/// Two listeners under one name are an error when the registry is checked.
pub async fn duplicate_listener_names_are_an_error(queue: Queue) {
    pub struct Other;
    #[listener(event = DeclaredEvent, queued, name = "attributed-listener")]
    impl Other {
        async fn handle(&self, _event: &DeclaredEvent) -> anyhow::Result<()> {
            Ok(())
        }
    }
    let registry = JobRegistry::new()
        .listener::<DeclaredEvent>(Arc::new(Attributed(Probe::new())))
        .listener::<DeclaredEvent>(Arc::new(Other));
    match registry.check() {
        Err(RegistryError::DuplicateName { name, .. }) => assert_eq!(name, "attributed-listener"),
        other => panic!("expected a duplicate name, got {other:?}"),
    }
    let run = Worker::new(queue, registry)
        .run_until(std::future::pending())
        .await;
    assert!(matches!(
        run,
        Err(QueueError::Registry(RegistryError::DuplicateName { .. }))
    ));
}

/// `stop_when_empty`, `max_jobs`, `max_time`, and the stats.
pub async fn worker_stops_by_itself_and_counts(queue: Queue) {
    let probe = Probe::new();
    let dispatcher = installed(&queue).await;
    let listener: Arc<dyn EventListener> = Arc::new(ScaffoldListener(probe.clone()));
    dispatcher.listen::<DeclaredEvent>(listener.clone()).await;
    for n in 0..5 {
        dispatcher.dispatch(event(n)).await.expect("dispatch");
    }
    let registry = || JobRegistry::new().listener::<DeclaredEvent>(listener.clone());

    // max_jobs: 2 of the 5, then it stops by itself.
    let mut worker = Worker::new(queue.clone(), registry())
        .max_jobs(2)
        .poll_interval(ms(20));
    let stats = worker.stats();
    let report = tokio::time::timeout(LIMIT, worker.run_until(std::future::pending()))
        .await
        .expect("max_jobs stops the worker")
        .expect("run");
    assert_eq!(report.succeeded, 2);
    assert_eq!(stats.queue("events").processed, 2);
    assert_eq!(stats.queue("events").in_flight, 0);
    assert_eq!(probe.sink.of("done").len(), 2);
    let waiting = stats.waiting().await.expect("waiting");
    assert_eq!(waiting.get("events"), Some(&3), "{waiting:?}");

    // stop_when_empty: the other 3, then it stops.
    let mut worker = Worker::new(queue.clone(), registry())
        .stop_when_empty(true)
        .poll_interval(ms(20));
    let stats = worker.stats();
    let report = tokio::time::timeout(LIMIT, worker.run_until(std::future::pending()))
        .await
        .expect("stop_when_empty stops the worker")
        .expect("run");
    assert_eq!(report.succeeded, 3);
    assert_eq!(stats.total().processed, 3);
    assert_eq!(stats.depth().await.expect("depth"), 0);

    // max_time: an idle worker stops after it.
    let began = Instant::now();
    tokio::time::timeout(
        LIMIT,
        Worker::new(queue.clone(), registry())
            .max_time(ms(300))
            .run_until(std::future::pending()),
    )
    .await
    .expect("max_time stops the worker")
    .expect("run");
    assert!(began.elapsed() >= ms(300));
}

/// A queued event on the `sync` connection, dispatched on the second of
/// two dispatchers sharing a queue, runs that dispatcher's listeners.
#[derive(Debug, Clone, Serialize, Deserialize, Event)]
#[event(name = "Inline", queued, connection = "sync")]
pub struct InlineEvent {
    pub n: u64,
}

pub async fn two_dispatchers_share_a_queue(queue: Queue) {
    let sink = Sink::memory();
    let first = installed(&queue).await;
    let second = installed(&queue).await;
    first
        .listen::<InlineEvent>(Arc::new(Recorder(sink.clone(), "first")))
        .await;
    second
        .listen::<InlineEvent>(Arc::new(Recorder(sink.clone(), "second")))
        .await;
    second.dispatch(InlineEvent { n: 1 }).await.expect("second");
    first.dispatch(InlineEvent { n: 2 }).await.expect("first");
    assert_eq!(sink.of("second"), vec![1]);
    assert_eq!(sink.of("first"), vec![2]);
}

/// A `ShouldBroadcast` event (`should_queue_broadcast()` true, the seed's
/// default) is broadcast by the worker, not by the dispatch.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ShippedEvent {
    pub n: u64,
}

impl Event for ShippedEvent {
    fn event_name(&self) -> &'static str {
        "Shipped"
    }
    fn to_json(&self) -> serde_json::Value {
        serde_json::json!({ "n": self.n })
    }
    fn as_should_broadcast(&self) -> Option<&dyn ShouldBroadcast> {
        Some(self)
    }
}

impl ShouldBroadcast for ShippedEvent {
    fn broadcast_on(&self) -> Vec<String> {
        vec![format!("orders.{}", self.n)]
    }
}

pub async fn should_queue_broadcast_sends_it_as_a_job(queue: Queue) {
    use event_core::broadcasting::MemoryBroadcaster;
    let broadcaster = MemoryBroadcaster::new();
    let dispatcher = installed(&queue).await;
    dispatcher
        .set_broadcaster(Arc::new(broadcaster.clone()))
        .await;
    dispatcher
        .dispatch(ShippedEvent { n: 11 })
        .await
        .expect("dispatch");
    assert!(broadcaster.messages().is_empty(), "not broadcast inline");
    assert_eq!(queue.size().await.expect("size"), 1, "queued as a job");
    let registry = JobRegistry::new()
        .event::<ShippedEvent>()
        .broadcaster(Arc::new(broadcaster.clone()));
    let worker = start(Worker::new(queue.clone(), registry).poll_interval(ms(20)));
    assert!(
        eventually(LIMIT, async || broadcaster.on_channel("orders.11").len()
            == 1)
        .await
    );
    worker.stop().await;
}

// ----- on every connection --------------------------------------------------

macro_rules! on_every_connection {
    ($($scenario:ident),* $(,)?) => {
        mod memory {
            use super::*;
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $scenario() {
                    super::$scenario(Queue::memory()).await;
                }
            )*
        }
        mod sqlite {
            use super::*;
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $scenario() {
                    let dir = tempfile::tempdir().expect("temp dir");
                    let url = format!("sqlite://{}/jobs.db", dir.path().display());
                    super::$scenario(Queue::open(&url).await.expect("sqlite")).await;
                }
            )*
        }
        mod redis {
            use super::*;
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $scenario() {
                    let Ok(base) = std::env::var("EVENTS_TEST_REDIS_URL") else {
                        println!("skipped: set EVENTS_TEST_REDIS_URL");
                        return;
                    };
                    let sep = if base.contains('?') { '&' } else { '?' };
                    let url = format!("{base}{sep}prefix=test-{}", event_core::ulid::Ulid::new());
                    super::$scenario(Queue::open(&url).await.expect("redis")).await;
                    let queue = Queue::open(&url).await.expect("open");
                    queue.clear().await.expect("clear");
                    queue.failed().expect("store").purge().await.expect("purge");
                }
            )*
        }
    };
}

on_every_connection!(
    attribute_settings_reach_the_job,
    seed_listener_settings_reach_the_job,
    plain_listener_methods_reach_the_job,
    derived_event_settings_reach_the_job,
    seed_event_settings_reach_the_job,
    config_defaults_reach_the_job,
    scaffolded_listeners_run_on_the_default_worker,
    throttle_holds_back_after_exceptions,
    rate_limited_spreads_jobs,
    without_overlapping_runs_one_at_a_time,
    rust_middleware_wraps_the_job,
    unknown_middleware_is_an_error,
    duplicate_listener_names_are_an_error,
    worker_stops_by_itself_and_counts,
    two_dispatchers_share_a_queue,
    should_queue_broadcast_sends_it_as_a_job,
    worker_tries_fill_in_undeclared_tries,
    worker_timeout_fills_in_undeclared_timeouts,
    worker_backoff_fills_in_undeclared_backoff,
    zero_tries_and_timeouts_mean_no_limit,
    sizes_count_each_queue,
);

/// `shutdown_signal()` installs its handlers when called: a SIGTERM that
/// arrives before the future is first polled is not lost (nor fatal).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_before_the_first_poll_is_graceful() {
    let shutdown = event_core::queue::shutdown_signal();
    nix::sys::signal::raise(nix::sys::signal::Signal::SIGTERM).expect("raise SIGTERM");
    tokio::time::timeout(LIMIT, shutdown)
        .await
        .expect("the SIGTERM completes the shutdown future");
}

/// SIGTERM to a worker process mid-job: the job finishes within the grace
/// period and the process exits cleanly.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_mid_job_finishes_the_job_and_exits_cleanly() {
    use queue_common::{fixtures::TestJobEvent, lines, producer, spawn_worker};
    let dir = tempfile::tempdir().expect("temp dir");
    let url = format!("sqlite://{}/jobs.db", dir.path().display());
    let record = dir.path().join("record.log");
    let queue = Queue::open(&url).await.expect("open");
    let dispatcher = producer(&queue).await;
    dispatcher
        .dispatch(TestJobEvent {
            n: 1,
            sleep_ms: 800,
            ..TestJobEvent::default()
        })
        .await
        .expect("dispatch");
    let mut worker = spawn_worker(&url, &record, 30_000, 1);
    assert!(eventually(LIMIT, async || lines(&record, "start") == vec![1]).await);
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(worker.0.id() as i32),
        nix::sys::signal::Signal::SIGTERM,
    )
    .expect("SIGTERM");
    let status = worker.0.wait().expect("wait");
    assert!(status.success(), "exited with {status:?}");
    assert_eq!(
        lines(&record, "success"),
        vec![1],
        "the running job finished"
    );
    assert_eq!(queue.size().await.expect("size"), 0);
}
