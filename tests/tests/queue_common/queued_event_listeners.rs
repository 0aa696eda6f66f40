//! The listeners of a queued event keep their own settings on every
//! connection. The event's job carries the event to a worker, which runs
//! its inline listeners and queues each queued listener as a job of its
//! own, as the dispatch would have: its queue, tries, unique lock and seal.
//! What the event's job carries first is sealed when one of its listeners
//! is `encrypted`, and held to the commit when one is `after_commit`.

use std::sync::Arc;

use event_core::queue::{AppKeys, JobRegistry, Queue, Worker};
use event_core::{Dispatcher, Event, EventListener, ListenerOptions, UniqueJob};
use serde::{Deserialize, Serialize};

use super::encrypted_jobs::raw_stored;
use super::fixtures::{QueuedEvent, Sink, TestListener, queued_event_listeners};
use super::{LIMIT, eventually, job, lines, ms, spawn_worker};

const KEY: &str = "ICEiIyQlJicoKSorLC0uLzAxMjM0NTY3ODk6Ozw9Pj8=";

/// Found in the storage only if a payload is stored in plain text.
const SECRET: u64 = 4_222_222_222_222_222;

/// A queued event (`should_queue`) on queue `events`, with no settings of
/// its own that its listeners could borrow.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct OrderShipped {
    pub n: u64,
}

impl Event for OrderShipped {
    fn event_name(&self) -> &'static str {
        "OrderShipped"
    }
    fn to_json(&self) -> serde_json::Value {
        serde_json::to_value(self).unwrap_or_default()
    }
    fn should_queue(&self) -> bool {
        true
    }
    fn queue_name(&self) -> Option<&str> {
        Some("events")
    }
}

/// Records `<name>` with the order number when it runs; fails its first
/// `fail_first` attempts.
struct Recording {
    name: &'static str,
    sink: Sink,
    fail_first: u32,
    options: ListenerOptions,
}

impl Recording {
    fn inline(name: &'static str, sink: &Sink) -> Self {
        Self {
            name,
            sink: sink.clone(),
            fail_first: 0,
            options: ListenerOptions::default(),
        }
    }

    fn queued(name: &'static str, sink: &Sink, change: impl FnOnce(&mut ListenerOptions)) -> Self {
        let mut options = ListenerOptions {
            queued: true,
            ..ListenerOptions::default()
        };
        change(&mut options);
        Self {
            name,
            sink: sink.clone(),
            fail_first: 0,
            options,
        }
    }
}

#[event_core::async_trait]
impl EventListener for Recording {
    async fn handle(&self, event: Arc<dyn Event>) -> anyhow::Result<()> {
        let n = event
            .downcast_ref::<OrderShipped>()
            .ok_or_else(|| anyhow::anyhow!("not an OrderShipped"))?
            .n;
        self.sink.record(&format!("attempt:{}", self.name), n);
        let attempts = self.sink.of(&format!("attempt:{}", self.name)).len() as u32;
        if attempts <= self.fail_first {
            anyhow::bail!("{} fails its attempt {attempts}", self.name);
        }
        self.sink.record(self.name, n);
        Ok(())
    }
    fn should_queue(&self) -> bool {
        self.options.queued
    }
    fn options(&self) -> ListenerOptions {
        self.options.clone()
    }
    fn listener_name(&self) -> &str {
        self.name
    }
}

/// A dispatcher sending to `queue` with `listeners` for `OrderShipped`,
/// and the registry a worker needs for them.
async fn app(queue: &Queue, listeners: Vec<Recording>) -> (Dispatcher, Arc<JobRegistry>) {
    let dispatcher = Dispatcher::new();
    queue.install(&dispatcher).await;
    let mut registry = JobRegistry::new();
    for listener in listeners {
        let listener: Arc<dyn EventListener> = Arc::new(listener);
        dispatcher.listen::<OrderShipped>(listener.clone()).await;
        registry = registry.listener::<OrderShipped>(listener);
    }
    (dispatcher, Arc::new(registry))
}

/// Runs what waits on `queues` until they are empty.
async fn work(queue: &Queue, registry: &Arc<JobRegistry>, queues: &[&str]) {
    Worker::new(queue.clone(), registry.clone())
        .queues(queues.iter().copied())
        .poll_interval(ms(20))
        .backoff(vec![ms(10)])
        .stop_when_empty(true)
        .run()
        .await
        .expect("the worker runs");
}

/// The event's job runs the inline listener and queues the queued one on
/// its own queue; that job is retried alone, with its own tries, and the
/// inline listener does not run again.
pub async fn a_queued_event_s_queued_listener_is_a_job_of_its_own(queue: Queue) {
    let sink = Sink::memory();
    let side = Recording {
        fail_first: 1,
        ..Recording::queued("side", &sink, |o| {
            o.queue = Some("side".into());
            o.tries = Some(2);
        })
    };
    let (dispatcher, registry) = app(&queue, vec![Recording::inline("inline", &sink), side]).await;
    dispatcher
        .dispatch(OrderShipped { n: 7 })
        .await
        .expect("dispatch");
    assert_eq!(queue.size().await.expect("size"), 1, "one job: the event's");

    work(&queue, &registry, &["events"]).await;
    assert_eq!(sink.of("inline"), vec![7]);
    assert!(sink.of("attempt:side").is_empty(), "queued, not run");
    let sizes = queue.sizes().await.expect("sizes");
    assert_eq!(sizes, vec![("side".to_string(), 1)], "{sizes:?}");

    // Its retry waits out the backoff: a worker that stays.
    let running = super::start(
        Worker::new(queue.clone(), registry.clone())
            .queues(["side"])
            .poll_interval(ms(20))
            .backoff(vec![ms(10)]),
    );
    assert!(eventually(LIMIT, async || sink.of("side") == vec![7]).await);
    running.stop().await;
    assert_eq!(
        sink.of("attempt:side"),
        vec![7, 7],
        "retried with its tries"
    );
    assert_eq!(sink.of("inline"), vec![7], "the inline listener ran once");
    assert_eq!(queue.size().await.expect("size"), 0);
}

/// An `encrypted` listener's event is never stored in plain text: not in
/// the event's job, not in the listener's; a worker with the key runs it.
pub async fn a_queued_event_with_an_encrypted_listener_is_stored_sealed(queue: Queue) {
    let queue = queue.with_app_keys(AppKeys::new(KEY, std::iter::empty::<&str>()).expect("key"));
    let sink = Sink::memory();
    let secret = Recording::queued("secret", &sink, |o| {
        o.queue = Some("events".into());
        o.encrypted = true;
    });
    let (dispatcher, registry) = app(&queue, vec![secret]).await;
    dispatcher
        .dispatch(OrderShipped { n: SECRET })
        .await
        .expect("dispatch");
    let raw = raw_stored(&queue).await;
    assert!(raw.contains("xchacha20poly1305"), "the event's job: {raw}");
    assert!(
        !raw.contains(&SECRET.to_string()),
        "plaintext stored: {raw}"
    );

    // The event's job runs and queues the listener's, sealed too.
    let event_job = Worker::new(queue.clone(), registry.clone())
        .queues(["events"])
        .poll_interval(ms(20))
        .max_jobs(1)
        .run()
        .await
        .expect("the worker runs");
    assert_eq!(event_job.succeeded, 1, "{event_job:?}");
    assert_eq!(queue.size().await.expect("size"), 1, "the listener's job");
    let raw = raw_stored(&queue).await;
    assert!(
        !raw.contains(&SECRET.to_string()),
        "plaintext stored: {raw}"
    );

    work(&queue, &registry, &["events"]).await;
    assert_eq!(sink.of("secret"), vec![SECRET]);
}

fn by_number(event: &dyn Event) -> Option<String> {
    event
        .downcast_ref::<OrderShipped>()
        .map(|e| e.n.to_string())
}

/// Two dispatches of the same order: both event jobs run, the unique
/// listener's job is queued once while the first waits, and runs once.
pub async fn a_queued_event_s_unique_listener_is_queued_once(queue: Queue) {
    let sink = Sink::memory();
    let unique = Recording::queued("unique", &sink, |o| {
        o.queue = Some("side".into());
        o.unique = Some(UniqueJob {
            id: by_number,
            lock_for: None,
            until_processing: false,
        });
    });
    let (dispatcher, registry) =
        app(&queue, vec![Recording::inline("inline", &sink), unique]).await;
    for _ in 0..2 {
        dispatcher
            .dispatch(OrderShipped { n: 3 })
            .await
            .expect("dispatch");
    }
    work(&queue, &registry, &["events"]).await;
    assert_eq!(sink.of("inline"), vec![3, 3], "both event jobs ran");
    let sizes = queue.sizes().await.expect("sizes");
    assert_eq!(
        sizes,
        vec![("side".to_string(), 1)],
        "queued once: {sizes:?}"
    );

    work(&queue, &registry, &["side"]).await;
    assert_eq!(sink.of("unique"), vec![3]);
    // The lock is freed with the job: the next dispatch queues it again.
    dispatcher
        .dispatch(OrderShipped { n: 3 })
        .await
        .expect("dispatch");
    work(&queue, &registry, &["events"]).await;
    assert!(
        eventually(LIMIT, async || queue.sizes().await.expect("sizes")
            == vec![("side".to_string(), 1)])
        .await
    );
    queue.clear().await.expect("clear");
}

/// An `after_commit` listener holds the event's job to the unit's commit:
/// a rolled-back unit writes nothing, a committed one writes it. Without
/// one, the event's job is written at once.
pub async fn a_queued_event_with_an_after_commit_listener_waits_for_the_commit(queue: Queue) {
    let sink = Sink::memory();
    let (held, registry) = app(
        &queue,
        vec![Recording {
            options: ListenerOptions {
                after_commit: true,
                ..ListenerOptions::default()
            },
            ..Recording::inline("after-commit", &sink)
        }],
    )
    .await;
    let (plain, _) = app(&queue, vec![Recording::inline("plain", &sink)]).await;

    let rolled_back: anyhow::Result<()> = event_core::queue::defer(async {
        held.dispatch(OrderShipped { n: 1 }).await?;
        plain.dispatch(OrderShipped { n: 2 }).await?;
        assert_eq!(queue.size().await?, 1, "only the plain event's job");
        anyhow::bail!("the transaction rolls back")
    })
    .await;
    assert!(rolled_back.is_err());
    assert_eq!(
        queue.size().await.expect("size"),
        1,
        "nothing held was written"
    );

    let committed: anyhow::Result<()> = event_core::queue::defer(async {
        held.dispatch(OrderShipped { n: 3 }).await?;
        assert_eq!(queue.size().await?, 1, "held until the commit");
        Ok(())
    })
    .await;
    committed.expect("the unit commits");
    assert_eq!(queue.size().await.expect("size"), 2);
    queue.clear().await.expect("clear");

    held.dispatch(OrderShipped { n: 4 })
        .await
        .expect("dispatch");
    work(&queue, &registry, &["events"]).await;
    assert_eq!(sink.of("after-commit"), vec![4], "outside a unit: at once");
}

/// In a worker process (the `queue_worker` binary): an `after_commit` job
/// dispatched in a unit that rolls back never reaches it, one in a unit
/// that commits does; a queued event's job runs its inline listener there
/// and queues its queued listener, which that process runs too, unless
/// the listener's `queue_if` says no for the event (order 13), asked there.
pub async fn after_commit_and_a_queued_event_across_processes(
    url: String,
    record: &std::path::Path,
) {
    let queue = Queue::open(&url).await.expect("open");
    let dispatcher = Dispatcher::new();
    queue.install(&dispatcher).await;
    let record_listener: Arc<dyn EventListener> =
        Arc::new(TestListener::new("record", Sink::memory()).with(|o| o.after_commit = true));
    dispatcher
        .listen::<super::fixtures::TestJobEvent>(record_listener)
        .await;
    let (inline, queued) = queued_event_listeners(&Sink::memory());
    dispatcher.listen::<QueuedEvent>(inline).await;
    dispatcher.listen::<QueuedEvent>(queued).await;

    let rolled_back: anyhow::Result<()> = event_core::queue::defer(async {
        dispatcher.dispatch(job(1)).await?;
        anyhow::bail!("the transaction rolls back")
    })
    .await;
    assert!(rolled_back.is_err());
    let committed: anyhow::Result<()> = event_core::queue::defer(async {
        dispatcher.dispatch(job(2)).await?;
        dispatcher.dispatch(QueuedEvent { n: 13 }).await?;
        dispatcher.dispatch(QueuedEvent { n: 5 }).await?;
        Ok(())
    })
    .await;
    committed.expect("the unit commits");

    let _worker = spawn_worker(&url, record, 60_000, 1);
    assert!(
        eventually(LIMIT, async || lines(record, "success") == vec![2]
            && lines(record, "on-worker") == vec![13, 5]
            && lines(record, "own-job") == vec![5])
        .await,
        "success {:?}, on-worker {:?}, own-job {:?}",
        lines(record, "success"),
        lines(record, "on-worker"),
        lines(record, "own-job"),
    );
    // One worker takes jobs in order: the rolled-back job 1, had it been
    // written before job 2, would have started first.
    assert_eq!(lines(record, "start"), vec![2], "the rolled-back job ran");
    assert!(
        eventually(LIMIT, async || queue.size().await.expect("size") == 0).await,
        "every job done"
    );
}
