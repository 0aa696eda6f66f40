//! Event-store scenarios run against every backend (`store_sqlite.rs`,
//! `store_postgres.rs`), each through [`every_scenario!`] so none can miss
//! one: each test gets its own table and drops it.

#![allow(dead_code)]

/// Calls `$on!` with the name of every scenario below: the one list each
/// backend's test file runs.
#[allow(unused_macros)]
macro_rules! every_scenario {
    ($on:ident) => {
        $on!(
            append_and_query_filters,
            correlation_through_sync_listeners,
            correlation_through_queued_listeners,
            correlation_through_memory_queued_listeners,
            expected_version_race,
            resubmitting_an_id_is_a_no_op,
            replay_marks_and_skips_side_effects,
            subscription_resumes_from_its_checkpoint,
            connect_reads_the_config,
            killed_writer_resubmits,
            after_shutdown_nothing_is_silently_dropped,
        );
    };
}
#[allow(unused_imports)]
pub(crate) use every_scenario;

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use event_core::Dispatcher;
use event_core::prelude::*;
use event_core::queue::Queue;
use event_core::queue::Worker;
use event_core::store::{EventStore, ExpectedVersion, NewEvent, StoreError};

#[derive(Debug, Clone, serde::Serialize, serde::Deserialize, Event)]
#[event(tags("order", "shop"))]
pub struct OrderPlacedEvent {
    pub order_id: u32,
}

#[derive(Debug, Clone, serde::Serialize, serde::Deserialize, Event)]
#[event(tags("payment"))]
pub struct PaymentTakenEvent {
    pub order_id: u32,
}

#[derive(Debug, Clone, serde::Serialize, serde::Deserialize, Event)]
pub struct ReceiptMailedEvent {
    pub order_id: u32,
}

/// A fresh table name for one test.
pub fn table() -> String {
    format!(
        "t{}",
        event_core::ulid::Ulid::new().to_string().to_lowercase()
    )
}

/// A store on `url` with its own table, dropped by [`finish`].
pub async fn open(url: &str) -> EventStore {
    EventStore::open(url, &table())
        .await
        .expect("open the store")
}

pub async fn finish(store: EventStore) {
    store.shutdown().await.expect("shutdown");
    store.drop_table().await.expect("drop table");
}

/// Dispatches the next event of a chain on the dispatcher it holds.
struct Then<F> {
    dispatcher: Dispatcher,
    next: F,
    name: &'static str,
}

#[async_trait]
impl<F> EventListener for Then<F>
where
    F: Fn(u32) -> Option<Arc<dyn Event>> + Send + Sync,
{
    async fn handle(&self, event: Arc<dyn Event>) -> anyhow::Result<()> {
        let order_id = event.to_json()["order_id"].as_u64().unwrap_or(0) as u32;
        if let Some(next) = (self.next)(order_id) {
            self.dispatcher.dispatch(next).await?;
        }
        Ok(())
    }
    fn listener_name(&self) -> &str {
        self.name
    }
}

/// OrderPlaced -> PaymentTaken -> ReceiptMailed, each dispatched by a
/// listener of the one before.
async fn wire_chain(dispatcher: &Dispatcher) {
    let d = dispatcher.clone();
    dispatcher
        .listen::<OrderPlacedEvent>(Arc::new(Then {
            dispatcher: d.clone(),
            next: |id| Some(Arc::new(PaymentTakenEvent { order_id: id }) as Arc<dyn Event>),
            name: "TakePayment",
        }))
        .await;
    dispatcher
        .listen::<PaymentTakenEvent>(Arc::new(Then {
            dispatcher: d,
            next: |id| Some(Arc::new(ReceiptMailedEvent { order_id: id }) as Arc<dyn Event>),
            name: "MailReceipt",
        }))
        .await;
}

pub async fn append_and_query_filters(url: &str) {
    let store = open(url).await;
    let dispatcher = Dispatcher::new();
    store.install(&dispatcher).await;
    let before = chrono::Utc::now() - chrono::Duration::seconds(1);
    for order_id in 1..=3 {
        dispatcher
            .dispatch(OrderPlacedEvent { order_id })
            .await
            .unwrap();
    }
    dispatcher
        .dispatch(PaymentTakenEvent { order_id: 1 })
        .await
        .unwrap();
    let first = store
        .append(
            NewEvent::new("OrderShipped", serde_json::json!({"order_id": 42}))
                .in_stream("order-42"),
            ExpectedVersion::NoStream,
        )
        .await
        .unwrap();
    assert_eq!(first.stream_version, Some(1));
    let second = store
        .append(
            NewEvent::new("OrderDelivered", serde_json::json!({"order_id": 42}))
                .in_stream("order-42"),
            ExpectedVersion::Exact(1),
        )
        .await
        .unwrap();
    assert_eq!(second.stream_version, Some(2));
    assert!(second.position > first.position);
    store.flush().await.unwrap();

    let all = store.query().fetch().await.unwrap();
    assert_eq!(all.len(), 6, "{all:#?}");
    assert!(all.windows(2).all(|w| w[0].position < w[1].position));
    let placed = store.query().name("OrderPlaced").fetch().await.unwrap();
    assert_eq!(placed.len(), 3);
    assert_eq!(placed[0].payload, serde_json::json!({"order_id": 1}));
    assert_eq!(placed[0].tags, vec!["order", "shop"]);
    assert_eq!(store.query().tag("payment").fetch().await.unwrap().len(), 1);
    assert_eq!(store.query().tag("shop").fetch().await.unwrap().len(), 3);
    assert_eq!(store.query().tag("nope").fetch().await.unwrap().len(), 0);
    let stream = store.query().stream("order-42").fetch().await.unwrap();
    let versions: Vec<_> = stream
        .iter()
        .map(|r| (r.name.as_str(), r.stream_version))
        .collect();
    assert_eq!(
        versions,
        vec![("OrderShipped", Some(1)), ("OrderDelivered", Some(2))]
    );
    let chain = store
        .query()
        .correlation(&placed[1].id)
        .fetch()
        .await
        .unwrap();
    assert_eq!(chain.len(), 1);
    assert_eq!(chain[0].id, placed[1].id);
    assert_eq!(store.query().since(before).fetch().await.unwrap().len(), 6);
    let future = chrono::Utc::now() + chrono::Duration::hours(1);
    assert!(
        store
            .query()
            .since(future)
            .fetch()
            .await
            .unwrap()
            .is_empty()
    );
    // Paged by position: 6 rows in pages of 4.
    let page = store.query().limit(4).page().await.unwrap();
    assert_eq!(page.records.len(), 4);
    let next = store
        .query()
        .limit(4)
        .after(page.next.unwrap())
        .page()
        .await
        .unwrap();
    assert_eq!(next.records.len(), 2);
    assert_eq!(next.next, None);
    let mut seen = 0;
    store
        .query()
        .limit(2)
        .for_each_page(|page| {
            assert!(page.len() <= 2);
            seen += page.len();
            Ok(())
        })
        .await
        .unwrap();
    assert_eq!(seen, 6);
    assert_eq!(
        store.get(&placed[2].id).await.unwrap().unwrap().name,
        "OrderPlaced"
    );
    finish(store).await;
}

pub async fn correlation_through_sync_listeners(url: &str) {
    let store = open(url).await;
    let dispatcher = Dispatcher::new();
    store.install(&dispatcher).await;
    wire_chain(&dispatcher).await;
    dispatcher
        .dispatch(OrderPlacedEvent { order_id: 7 })
        .await
        .unwrap();
    dispatcher
        .dispatch(OrderPlacedEvent { order_id: 8 })
        .await
        .unwrap();
    store.flush().await.unwrap();
    let roots = store.query().name("OrderPlaced").fetch().await.unwrap();
    assert_eq!(roots.len(), 2);
    for root in &roots {
        assert_eq!(
            root.correlation_id, root.id,
            "a top-level dispatch starts its own chain"
        );
        assert_eq!(root.causation_id, None);
        let chain = store.query().correlation(&root.id).fetch().await.unwrap();
        let names: Vec<_> = chain.iter().map(|r| r.name.as_str()).collect();
        assert_eq!(names, vec!["OrderPlaced", "PaymentTaken", "ReceiptMailed"]);
        assert_eq!(chain[1].causation_id.as_deref(), Some(root.id.as_str()));
        assert_eq!(chain[2].causation_id.as_deref(), Some(chain[1].id.as_str()));
        assert_eq!(
            chain[2].payload,
            serde_json::json!({"order_id": root.payload["order_id"]})
        );
    }
    finish(store).await;
}

/// A queued listener of OrderPlaced that dispatches PaymentTaken.
struct QueuedPayment {
    dispatcher: Dispatcher,
}

#[async_trait]
impl EventListener for QueuedPayment {
    async fn handle(&self, event: Arc<dyn Event>) -> anyhow::Result<()> {
        let placed = event
            .downcast_ref::<OrderPlacedEvent>()
            .expect("an OrderPlaced");
        self.dispatcher
            .dispatch(PaymentTakenEvent {
                order_id: placed.order_id,
            })
            .await
    }
    fn should_queue(&self) -> bool {
        true
    }
    fn listener_name(&self) -> &str {
        "QueuedPayment"
    }
}

pub async fn correlation_through_queued_listeners(url: &str) {
    let dir = tempfile::tempdir().unwrap();
    let queue = Queue::open(&format!("sqlite://{}/jobs.db", dir.path().display()))
        .await
        .unwrap();
    correlation_through_queued_listeners_on(url, queue).await;
}

/// The memory connection: its fast path keeps no ids, so a job queued in a
/// recorded event's listeners takes the general path, and its worker
/// restores the scope as the stored connections' do.
pub async fn correlation_through_memory_queued_listeners(url: &str) {
    correlation_through_queued_listeners_on(url, Queue::memory()).await;
}

/// A recorded event whose listener is queued on `queue`: the event the
/// listener dispatches on the worker side has it as its cause.
async fn correlation_through_queued_listeners_on(url: &str, queue: Queue) {
    let store = open(url).await;
    // The web side: dispatches, queues the listener.
    let web = Dispatcher::new();
    store.install(&web).await;
    queue.install(&web).await;
    // The worker side: its own dispatcher, also recorded.
    let worker_side = Dispatcher::new();
    store.install(&worker_side).await;
    let listener = Arc::new(QueuedPayment {
        dispatcher: worker_side.clone(),
    });
    web.listen::<OrderPlacedEvent>(listener.clone()).await;
    let registry = JobRegistry::new().listener::<OrderPlacedEvent>(listener);
    web.dispatch(OrderPlacedEvent { order_id: 5 })
        .await
        .unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let worker = tokio::spawn(
        Worker::new(queue, registry)
            .poll_interval(Duration::from_millis(20))
            .run_until(async {
                let _ = stopped.await;
            }),
    );
    let mut payments = Vec::new();
    for _ in 0..200 {
        store.flush().await.unwrap();
        payments = store.query().name("PaymentTaken").fetch().await.unwrap();
        if !payments.is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    let _ = stop.send(());
    worker.await.unwrap().unwrap();
    let placed = store.query().name("OrderPlaced").fetch().await.unwrap();
    assert_eq!(placed.len(), 1);
    assert_eq!(
        payments.len(),
        1,
        "the queued listener's dispatch is recorded"
    );
    assert_eq!(
        payments[0].causation_id.as_deref(),
        Some(placed[0].id.as_str())
    );
    assert_eq!(payments[0].correlation_id, placed[0].id);
    finish(store).await;
}

pub async fn expected_version_race(url: &str) {
    let store = open(url).await;
    let stream = "account-1";
    for round in 0..5i64 {
        let barrier = Arc::new(tokio::sync::Barrier::new(8));
        let mut tasks = Vec::new();
        for task in 0..8 {
            let store = store.clone();
            let barrier = barrier.clone();
            tasks.push(tokio::spawn(async move {
                barrier.wait().await;
                let expected = if round == 0 {
                    ExpectedVersion::NoStream
                } else {
                    ExpectedVersion::Exact(round)
                };
                store
                    .append(
                        NewEvent::new(
                            "Deposited",
                            serde_json::json!({"task": task, "round": round}),
                        )
                        .in_stream(stream),
                        expected,
                    )
                    .await
            }));
        }
        let mut winners = 0;
        let mut losers = 0;
        for task in tasks {
            match task.await.unwrap() {
                Ok(appended) => {
                    winners += 1;
                    assert_eq!(appended.stream_version, Some(round + 1));
                }
                Err(StoreError::VersionConflict {
                    stream: s, actual, ..
                }) => {
                    losers += 1;
                    assert_eq!(s, stream);
                    assert_eq!(actual, Some(round + 1));
                }
                Err(other) => panic!("unexpected error: {other}"),
            }
        }
        assert_eq!((winners, losers), (1, 7), "round {round}");
    }
    let versions: Vec<_> = store
        .query()
        .stream(stream)
        .fetch()
        .await
        .unwrap()
        .iter()
        .map(|r| r.stream_version.unwrap())
        .collect();
    assert_eq!(versions, vec![1, 2, 3, 4, 5]);
    // `Any` takes the next version; a missing stream refuses `Exact`.
    let any = store
        .append(
            NewEvent::new("Deposited", serde_json::json!({})).in_stream(stream),
            ExpectedVersion::Any,
        )
        .await
        .unwrap();
    assert_eq!(any.stream_version, Some(6));
    let err = store
        .append(
            NewEvent::new("X", serde_json::json!({})).in_stream("other"),
            ExpectedVersion::Exact(3),
        )
        .await
        .unwrap_err();
    assert!(
        err.to_string()
            .contains("expected version 3, but the stream is at no events"),
        "{err}"
    );
    finish(store).await;
}

pub async fn resubmitting_an_id_is_a_no_op(url: &str) {
    let store = open(url).await;
    let row = NewEvent::new("Imported", serde_json::json!({"n": 1}))
        .with_id("import-1")
        .in_stream("import");
    let first = store
        .append(row.clone(), ExpectedVersion::NoStream)
        .await
        .unwrap();
    let again = store.append(row, ExpectedVersion::NoStream).await.unwrap();
    assert!(!first.duplicate);
    assert!(again.duplicate);
    assert_eq!(again.position, first.position);
    for _ in 0..3 {
        store
            .record(NewEvent::new("Imported", serde_json::json!({"n": 2})).with_id("import-2"))
            .unwrap();
    }
    store.flush().await.unwrap();
    let rows = store.query().name("Imported").fetch().await.unwrap();
    let ids: Vec<_> = rows.iter().map(|r| r.id.as_str()).collect();
    assert_eq!(ids, vec!["import-1", "import-2"]);
    assert_eq!(rows[1].correlation_id, "import-2");
    let err = store
        .record(NewEvent::new("X", serde_json::json!({})).in_stream("s"))
        .unwrap_err();
    assert!(matches!(err, StoreError::StreamNeedsAppend(_)), "{err}");
    finish(store).await;
}

/// Counts its calls and whether each was a replay.
#[derive(Default)]
pub struct Projector {
    calls: Mutex<Vec<bool>>,
    dispatcher: Mutex<Option<Dispatcher>>,
}

#[async_trait]
impl EventListener for Projector {
    async fn handle(&self, _event: Arc<dyn Event>) -> anyhow::Result<()> {
        self.calls
            .lock()
            .unwrap()
            .push(event_core::store::is_replaying());
        let dispatcher = self.dispatcher.lock().unwrap().clone();
        if let Some(d) = dispatcher {
            d.dispatch(ReceiptMailedEvent { order_id: 0 }).await?;
        }
        Ok(())
    }
    fn listener_name(&self) -> &str {
        "shop::Projector"
    }
}

/// A side effect that must not run again.
#[derive(Default)]
pub struct Mailer {
    calls: AtomicUsize,
}

#[async_trait]
impl EventListener for Mailer {
    async fn handle(&self, _event: Arc<dyn Event>) -> anyhow::Result<()> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        Ok(())
    }
    fn replayable(&self) -> bool {
        false
    }
    fn listener_name(&self) -> &str {
        "shop::Mailer"
    }
}

pub async fn replay_marks_and_skips_side_effects(url: &str) {
    let store = open(url).await;
    let dispatcher = Dispatcher::new();
    store.install(&dispatcher).await;
    let projector = Arc::new(Projector::default());
    *projector.dispatcher.lock().unwrap() = Some(dispatcher.clone());
    let mailer = Arc::new(Mailer::default());
    let registry = JobRegistry::new()
        .listener::<OrderPlacedEvent>(projector.clone())
        .listener::<OrderPlacedEvent>(mailer.clone());
    registry.register_on(&dispatcher).await;
    for order_id in 1..=5 {
        dispatcher
            .dispatch(OrderPlacedEvent { order_id })
            .await
            .unwrap();
    }
    store.flush().await.unwrap();
    assert_eq!(*projector.calls.lock().unwrap(), vec![false; 5]);
    assert_eq!(mailer.calls.load(Ordering::SeqCst), 5);
    let stored = store.query().fetch().await.unwrap();
    assert_eq!(
        stored.len(),
        10,
        "5 OrderPlaced + the 5 ReceiptMailed they dispatched"
    );
    let placed = store.query().name("OrderPlaced").fetch().await.unwrap();

    let report = store.replay(&placed[0].id, &registry).await.unwrap();
    assert_eq!(
        (
            report.events,
            report.listeners_run,
            report.listeners_skipped
        ),
        (1, 1, 1)
    );
    assert!(report.failures.is_empty(), "{:?}", report.failures);
    assert_eq!(projector.calls.lock().unwrap()[5..], [true]);
    assert_eq!(
        mailer.calls.load(Ordering::SeqCst),
        5,
        "the mailer opted out of replays"
    );
    store.flush().await.unwrap();
    assert_eq!(
        store.query().fetch().await.unwrap().len(),
        10,
        "a replay is not a new event"
    );
    let with_replays = store.query().include_replays().fetch().await.unwrap();
    assert_eq!(with_replays.len(), 11);
    let mark = with_replays.last().unwrap();
    assert_eq!(mark.replay_of.as_deref(), Some(placed[0].id.as_str()));
    assert_eq!(
        mark.metadata["replayed_listeners"],
        serde_json::json!(["shop::Projector"])
    );

    // From a position, by name, in pages of 2, one listener.
    let report = store
        .replay_from(placed[1].position - 1)
        .name("OrderPlaced")
        .listener("Projector")
        .page_size(2)
        .run(&registry)
        .await
        .unwrap();
    assert_eq!(report.events, 4);
    assert_eq!(report.listeners_run, 4);
    assert_eq!(projector.calls.lock().unwrap().len(), 10);
    assert_eq!(
        store.query().include_replays().fetch().await.unwrap().len(),
        15
    );
    assert!(matches!(
        store.replay("no-such-id", &registry).await,
        Err(StoreError::NotFound(_))
    ));
    finish(store).await;
}

pub async fn subscription_resumes_from_its_checkpoint(url: &str) {
    let store = open(url).await;
    let dispatcher = Dispatcher::new();
    store.install(&dispatcher).await;
    for order_id in 0..10 {
        dispatcher
            .dispatch(OrderPlacedEvent { order_id })
            .await
            .unwrap();
    }
    store.flush().await.unwrap();
    let mut sub = store.subscription("projector").await.unwrap().batch_size(4);
    let mut seen = Vec::new();
    while seen.len() < 10 {
        let batch = tokio::time::timeout(Duration::from_secs(10), sub.next_batch())
            .await
            .expect("events arrive")
            .unwrap();
        assert!(batch.len() <= 4);
        seen.extend(
            batch
                .into_iter()
                .map(|r| r.payload["order_id"].as_u64().unwrap()),
        );
    }
    assert_eq!(seen, (0..10).collect::<Vec<_>>());
    sub.commit().await.unwrap();
    drop(sub);
    // "Crash", more events, resume: only the new ones.
    for order_id in 10..15 {
        dispatcher
            .dispatch(OrderPlacedEvent { order_id })
            .await
            .unwrap();
    }
    let mut resumed = store.subscription("projector").await.unwrap();
    let mut more = Vec::new();
    while more.len() < 5 {
        let batch = tokio::time::timeout(Duration::from_secs(10), resumed.next_batch())
            .await
            .expect("the new events arrive")
            .unwrap();
        more.extend(
            batch
                .into_iter()
                .map(|r| r.payload["order_id"].as_u64().unwrap()),
        );
    }
    assert_eq!(more, (10..15).collect::<Vec<_>>());
    assert!(resumed.try_next_batch().await.unwrap().is_empty());
    // An unnamed subscription from a position.
    let mut from = store.subscribe(seen.len() as i64).unwrap();
    let _ = from.try_next_batch().await.unwrap();
    assert!(matches!(
        from.commit().await,
        Err(StoreError::UnnamedSubscription)
    ));
    finish(store).await;
}

pub async fn connect_reads_the_config(url: &str) {
    let table = table();
    let config = event_core::config::EventsConfig::from_vars([
        ("EVENTS_STORE_ENABLED", "true"),
        ("EVENTS_STORE_URL", url),
        ("EVENTS_STORE_TABLE", table.as_str()),
    ])
    .unwrap();
    let store = event_core::store::connect(&config).await.unwrap();
    assert_eq!(store.table(), table);
    let dispatcher = Dispatcher::new();
    store.install(&dispatcher).await;
    dispatcher
        .dispatch(OrderPlacedEvent { order_id: 1 })
        .await
        .unwrap();
    store.flush().await.unwrap();
    assert_eq!(store.query().fetch().await.unwrap().len(), 1);
    assert_eq!(store.stats().written, 1);
    finish(store).await;
}

/// After `shutdown`, a dispatch is counted as dropped (the dispatch itself
/// goes on), `record` is refused with `Closed` instead of saying Ok and
/// writing nothing, and `flush` returns at once instead of waiting for a
/// writer that is gone; what was recorded before is all there.
pub async fn after_shutdown_nothing_is_silently_dropped(url: &str) {
    let store = open(url).await;
    let dispatcher = Dispatcher::new();
    store.install(&dispatcher).await;
    dispatcher
        .dispatch(OrderPlacedEvent { order_id: 1 })
        .await
        .unwrap();
    store.shutdown().await.unwrap();
    assert_eq!(store.stats().written, 1);

    dispatcher
        .dispatch(OrderPlacedEvent { order_id: 2 })
        .await
        .expect("a dispatch does not fail because the store is shut down");
    let refused = store
        .record(NewEvent::new("Late", serde_json::json!({})))
        .expect_err("record after shutdown");
    assert!(matches!(refused, StoreError::Closed), "{refused:?}");
    assert!(refused.to_string().contains("not recorded"), "{refused}");
    assert_eq!(store.stats().dropped, 2, "both counted");
    tokio::time::timeout(Duration::from_secs(5), store.flush())
        .await
        .expect("flush after shutdown returns")
        .unwrap();
    let names: Vec<String> = store
        .query()
        .fetch()
        .await
        .unwrap()
        .into_iter()
        .map(|r| r.name)
        .collect();
    assert_eq!(names, ["OrderPlaced"]);
    store.drop_table().await.expect("drop table");
}

/// Runs `store_writer` processes and a subscription at once, with one
/// transaction `late` committing after rows with higher positions: every
/// id is seen exactly once. `late` begins a transaction holding one row and
/// returns a handle that commits it.
pub async fn two_writers_and_a_subscriber<L, C>(url: &str, per_writer: u32, late: L)
where
    L: FnOnce(String) -> C,
    C: std::future::Future<Output = ()>,
{
    let store = open(url).await;
    let table = store.table().to_string();
    let mut sub = store.subscribe(0).unwrap().batch_size(1000);
    let expected = 2 * per_writer as usize + 1;
    let follower = tokio::spawn(async move {
        let mut seen: HashMap<String, u32> = HashMap::new();
        let mut last_new = std::time::Instant::now();
        while seen.len() < expected || last_new.elapsed() < Duration::from_millis(1500) {
            if last_new.elapsed() > Duration::from_secs(120) {
                break;
            }
            // next_batch is cancel-safe: the cursor moves only with a result.
            if let Ok(batch) =
                tokio::time::timeout(Duration::from_millis(300), sub.next_batch()).await
            {
                for record in batch.unwrap() {
                    *seen.entry(record.id).or_default() += 1;
                }
                last_new = std::time::Instant::now();
            }
        }
        seen
    });
    let spawn = |prefix: &str, mode: &str| {
        std::process::Command::new(env!("CARGO_BIN_EXE_store_writer"))
            .args([url, &table, prefix, &per_writer.to_string(), mode])
            .stdout(std::process::Stdio::piped())
            .spawn()
            .expect("start store_writer")
    };
    let a = spawn("a", "record");
    let b = spawn("b", "record");
    late(table.clone()).await;
    for child in [a, b] {
        let out = child.wait_with_output().unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stdout)
        );
        assert!(String::from_utf8_lossy(&out.stdout).contains("done"));
    }
    let seen = follower.await.unwrap();
    let twice: Vec<_> = seen.iter().filter(|(_, n)| **n > 1).collect();
    assert!(
        twice.is_empty(),
        "delivered more than once: {:?}",
        &twice[..twice.len().min(5)]
    );
    assert!(
        seen.contains_key("late-1"),
        "the late transaction's row was skipped"
    );
    for prefix in ["a", "b"] {
        for n in 0..per_writer {
            let id = format!("{prefix}-{n:06}");
            assert!(seen.contains_key(&id), "{id} was skipped");
        }
    }
    assert_eq!(seen.len(), expected);
    finish(store).await;
}

/// kill -9 of a writer mid-batch, then the same ids again: every id once,
/// and everything acknowledged by a flush is there.
pub async fn killed_writer_resubmits(url: &str) {
    use std::io::BufRead;
    let store = open(url).await;
    let table = store.table().to_string();
    let total = 20_000u32;
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_store_writer"))
        .args([url, &table, "k", &total.to_string(), "record"])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let acknowledged = tokio::task::spawn_blocking(move || {
        let mut acknowledged = 0u32;
        for line in std::io::BufReader::new(stdout).lines() {
            let line = line.unwrap();
            if let Some(n) = line.strip_prefix("flushed ") {
                acknowledged = n.parse().unwrap();
                if acknowledged >= 5_000 {
                    break;
                }
            }
        }
        acknowledged
    })
    .await
    .unwrap();
    // Mid-stream: the writer is committing its next batches right now.
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(child.id() as i32),
        nix::sys::signal::Signal::SIGKILL,
    )
    .unwrap();
    let _ = child.wait();
    assert!(acknowledged >= 5_000);
    let mut ids = Vec::new();
    store
        .query()
        .limit(5_000)
        .for_each_page(|page| {
            ids.extend(page.into_iter().map(|r| r.id));
            Ok(())
        })
        .await
        .unwrap();
    for n in 0..acknowledged {
        assert_eq!(
            ids.get(n as usize),
            Some(&format!("k-{n:06}")),
            "acknowledged event {n} missing"
        );
    }
    assert!(ids.len() < total as usize, "killed before the end");
    // Re-submit everything.
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_store_writer"))
        .args([url, &table, "k", &total.to_string(), "record"])
        .output()
        .unwrap();
    assert!(out.status.success());
    let mut counts: HashMap<String, u32> = HashMap::new();
    store
        .query()
        .limit(5_000)
        .for_each_page(|page| {
            for r in page {
                *counts.entry(r.id).or_default() += 1;
            }
            Ok(())
        })
        .await
        .unwrap();
    assert_eq!(counts.len(), total as usize);
    assert!(counts.values().all(|n| *n == 1), "a duplicate row");
    finish(store).await;
}
