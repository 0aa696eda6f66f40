//! Events after commit (Laravel's `ShouldDispatchAfterCommit` and
//! `ShouldHandleEventsAfterCommit`) and deferred dispatch (Laravel 12's
//! `Event::defer`), through the public API: a unit of work
//! (`queue::defer`, PostgreSQL's `in_transaction` inside it) that rolls
//! back never reaches a listener, one that commits reaches each once, after
//! the commit; outside a unit, at once.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use event_core::prelude::*;
use event_core::queue::{self, Queue, Worker};
use event_core::{ListenerOptions, defer_events, defer_events_dedup};
use serde::{Deserialize, Serialize};

/// Dispatched only when the surrounding unit of work commits.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Event)]
#[event(after_commit)]
pub struct InvoicePaid {
    pub n: u64,
}

/// A plain event (some of its listeners declare `after_commit`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Event)]
pub struct NoteAdded {
    pub n: u64,
}

type Log = Arc<Mutex<Vec<String>>>;

fn entries(log: &Log) -> Vec<String> {
    log.lock().unwrap().clone()
}

fn push(log: &Log, entry: impl Into<String>) {
    log.lock().unwrap().push(entry.into());
}

/// Writes `<name>:<event name>:<n>` to its log.
struct Record {
    name: &'static str,
    log: Log,
    queued: bool,
    after_commit: bool,
}

impl Record {
    fn new(name: &'static str, log: &Log) -> Self {
        Self {
            name,
            log: log.clone(),
            queued: false,
            after_commit: false,
        }
    }
    fn queued(mut self) -> Self {
        self.queued = true;
        self
    }
    fn after_commit(mut self) -> Self {
        self.after_commit = true;
        self
    }
}

#[async_trait]
impl EventListener for Record {
    async fn handle(&self, event: Arc<dyn Event>) -> anyhow::Result<()> {
        let n = event.to_json()["n"].as_u64().unwrap_or_default();
        push(
            &self.log,
            format!("{}:{}:{n}", self.name, event.event_name()),
        );
        Ok(())
    }
    fn should_queue(&self) -> bool {
        self.queued
    }
    fn listener_name(&self) -> &str {
        self.name
    }
    fn options(&self) -> ListenerOptions {
        ListenerOptions {
            queued: self.queued,
            after_commit: self.after_commit,
            ..ListenerOptions::default()
        }
    }
}

/// Runs the queue's jobs until it is empty.
async fn work(queue: &Queue, registry: queue::JobRegistry) {
    Worker::new(queue.clone(), registry)
        .poll_interval(Duration::from_millis(20))
        .stop_when_empty(true)
        .run()
        .await
        .expect("worker");
}

#[tokio::test]
async fn outside_a_unit_everything_dispatches_at_once() {
    let log = Log::default();
    let events = Dispatcher::new();
    events
        .listen::<InvoicePaid>(Arc::new(Record::new("sync", &log)))
        .await;
    events
        .listen::<NoteAdded>(Arc::new(Record::new("held", &log).after_commit()))
        .await;
    events.dispatch(InvoicePaid { n: 1 }).await.unwrap();
    events.dispatch(NoteAdded { n: 2 }).await.unwrap();
    assert_eq!(
        entries(&log),
        ["sync:InvoicePaid:1", "held:NoteAdded:2"],
        "no unit of work: delivered during dispatch"
    );
}

/// The user's road on sqlite: the queue's `defer` is the unit of work
/// around the app's own transaction.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_unit_of_work_rolls_back_or_commits() {
    let dir = tempfile::tempdir().unwrap();
    let queue = Queue::open(&format!("sqlite://{}/jobs.db", dir.path().display()))
        .await
        .expect("open sqlite queue");
    let log = Log::default();
    let events = Dispatcher::new();
    queue.install(&events).await;
    let queued: Arc<dyn EventListener> = Arc::new(Record::new("queued", &log).queued());
    events
        .listen::<InvoicePaid>(Arc::new(Record::new("sync", &log)))
        .await;
    events.listen::<InvoicePaid>(queued.clone()).await;
    events
        .listen::<NoteAdded>(Arc::new(Record::new("plain", &log)))
        .await;
    events
        .listen::<NoteAdded>(Arc::new(Record::new("held", &log).after_commit()))
        .await;
    let registry = queue::JobRegistry::new().listener::<InvoicePaid>(queued);

    // Rolled back: the after_commit event reached no listener, sync or
    // queued; the after_commit listener was never called.
    let rolled_back: anyhow::Result<()> = queue::defer(async {
        events.dispatch(InvoicePaid { n: 1 }).await?;
        events.dispatch(NoteAdded { n: 1 }).await?;
        anyhow::bail!("the order could not be saved")
    })
    .await;
    assert!(rolled_back.is_err());
    assert_eq!(
        entries(&log),
        ["plain:NoteAdded:1"],
        "only the plain listener of the plain event ran"
    );
    assert_eq!(queue.size().await.unwrap(), 0, "no job was written");
    work(&queue, registry.clone()).await;
    assert_eq!(entries(&log), ["plain:NoteAdded:1"]);
    log.lock().unwrap().clear();

    // Committed: each listener once, after the unit's work.
    let committed: anyhow::Result<u32> = queue::defer(async {
        events.dispatch(InvoicePaid { n: 2 }).await?;
        events.dispatch(NoteAdded { n: 2 }).await?;
        push(&log, "committing");
        Ok(7)
    })
    .await;
    assert_eq!(committed.unwrap(), 7);
    assert_eq!(
        entries(&log),
        [
            "plain:NoteAdded:2",
            "committing",
            "sync:InvoicePaid:2",
            "held:NoteAdded:2"
        ]
    );
    assert_eq!(queue.size().await.unwrap(), 1, "the queued listener's job");
    work(&queue, registry).await;
    let log = entries(&log);
    assert_eq!(
        log.iter().filter(|e| *e == "queued:InvoicePaid:2").count(),
        1,
        "{log:?}"
    );
    assert_eq!(log.len(), 5, "{log:?}");
}

/// Nested units hand their deliveries to the enclosing one: nothing runs
/// until the outermost commits, nothing at all if it rolls back.
#[tokio::test]
async fn a_nested_unit_waits_for_the_outer_one() {
    let log = Log::default();
    let events = Dispatcher::new();
    events
        .listen::<InvoicePaid>(Arc::new(Record::new("sync", &log)))
        .await;
    let outer: anyhow::Result<()> = queue::defer(async {
        queue::defer(async { events.dispatch(InvoicePaid { n: 1 }).await }).await?;
        assert!(entries(&log).is_empty(), "the inner commit is not the end");
        anyhow::bail!("the outer unit rolls back")
    })
    .await;
    assert!(outer.is_err());
    assert!(entries(&log).is_empty());

    queue::defer(async {
        queue::defer(async { events.dispatch(InvoicePaid { n: 2 }).await }).await?;
        assert!(entries(&log).is_empty());
        Ok::<_, anyhow::Error>(())
    })
    .await
    .unwrap();
    assert_eq!(entries(&log), ["sync:InvoicePaid:2"]);
}

/// A listener declaring `after_commit` through `#[listener]`, with no
/// queue: held by the unit like any delivery.
#[tokio::test]
async fn a_macro_listener_declaring_after_commit_is_held() {
    static SEEN: Mutex<Vec<u64>> = Mutex::new(Vec::new());

    #[derive(Debug, Clone, Serialize, Deserialize, Event)]
    struct ReceiptMailed {
        n: u64,
    }

    #[listener(event = ReceiptMailed, after_commit)]
    async fn count_receipt(event: &ReceiptMailed) -> anyhow::Result<()> {
        SEEN.lock().unwrap().push(event.n);
        Ok(())
    }

    let events = Dispatcher::new();
    events
        .listen::<ReceiptMailed>(Arc::new(CountReceiptListener))
        .await;
    let _: anyhow::Result<()> = queue::defer(async {
        events.dispatch(ReceiptMailed { n: 1 }).await?;
        anyhow::bail!("rolled back")
    })
    .await;
    queue::defer(async {
        events.dispatch(ReceiptMailed { n: 2 }).await?;
        assert!(SEEN.lock().unwrap().is_empty(), "held inside the unit");
        Ok::<_, anyhow::Error>(())
    })
    .await
    .unwrap();
    events.dispatch(ReceiptMailed { n: 3 }).await.unwrap();
    assert_eq!(*SEEN.lock().unwrap(), [2, 3]);
}

/// A subscriber's `#[listen(after_commit)]` method: held like a listener;
/// its other methods run at dispatch.
#[tokio::test]
async fn a_subscriber_method_declaring_after_commit_is_held() {
    struct Audit {
        log: Log,
    }

    #[subscriber]
    impl Audit {
        #[listen]
        async fn at_once(&self, event: &NoteAdded) -> anyhow::Result<()> {
            push(&self.log, format!("at once {}", event.n));
            Ok(())
        }
        #[listen(after_commit)]
        async fn after(&self, event: &NoteAdded) -> anyhow::Result<()> {
            push(&self.log, format!("after commit {}", event.n));
            Ok(())
        }
    }

    let log = Log::default();
    let events = Dispatcher::new();
    events.subscribe(Audit { log: log.clone() }).await;
    let _: anyhow::Result<()> = queue::defer(async {
        events.dispatch(NoteAdded { n: 1 }).await?;
        anyhow::bail!("rolled back")
    })
    .await;
    queue::defer(async { events.dispatch(NoteAdded { n: 2 }).await })
        .await
        .unwrap();
    assert_eq!(entries(&log), ["at once 1", "at once 2", "after commit 2"]);
}

/// A held delivery that fails is the unit's error, naming the listener;
/// the unit's value is not returned.
#[tokio::test]
async fn a_held_listener_that_fails_is_the_units_error() {
    struct Fails;
    #[async_trait]
    impl EventListener for Fails {
        async fn handle(&self, _event: Arc<dyn Event>) -> anyhow::Result<()> {
            anyhow::bail!("mail server down")
        }
        fn listener_name(&self) -> &str {
            "SendInvoice"
        }
    }
    let events = Dispatcher::new();
    events.listen::<InvoicePaid>(Arc::new(Fails)).await;
    let result: anyhow::Result<()> =
        queue::defer(async { events.dispatch(InvoicePaid { n: 1 }).await }).await;
    let error = format!("{:#}", result.expect_err("the held listener failed"));
    assert!(error.contains("SendInvoice"), "{error}");
    assert!(error.contains("mail server down"), "{error}");
}

#[tokio::test]
async fn defer_events_delivers_in_order_when_the_work_returns() {
    let log = Log::default();
    let events = Dispatcher::new();
    events
        .listen::<NoteAdded>(Arc::new(Record::new("note", &log)))
        .await;
    events
        .listen::<InvoicePaid>(Arc::new(Record::new("invoice", &log)))
        .await;
    let value = defer_events(async {
        events.dispatch(NoteAdded { n: 1 }).await?;
        events.dispatch(InvoicePaid { n: 2 }).await?;
        events.dispatch(NoteAdded { n: 1 }).await?;
        push(&log, "returning");
        Ok::<_, anyhow::Error>("done")
    })
    .await
    .unwrap();
    assert_eq!(value, "done");
    assert_eq!(
        entries(&log),
        [
            "returning",
            "note:NoteAdded:1",
            "invoice:InvoicePaid:2",
            "note:NoteAdded:1"
        ]
    );
    log.lock().unwrap().clear();

    // Deduplicated: the same type with the same payload once.
    defer_events_dedup(async {
        events.dispatch(NoteAdded { n: 1 }).await?;
        events.dispatch(NoteAdded { n: 2 }).await?;
        events.dispatch(NoteAdded { n: 1 }).await?;
        events.dispatch(InvoicePaid { n: 1 }).await?;
        Ok::<_, anyhow::Error>(())
    })
    .await
    .unwrap();
    assert_eq!(
        entries(&log),
        [
            "note:NoteAdded:1",
            "note:NoteAdded:2",
            "invoice:InvoicePaid:1"
        ]
    );
    log.lock().unwrap().clear();

    // The work fails: the held events are dropped, as in Laravel.
    let failed: anyhow::Result<()> = EventFacade::defer(async {
        events.dispatch(NoteAdded { n: 9 }).await?;
        anyhow::bail!("validation failed")
    })
    .await;
    assert!(failed.is_err());
    assert!(entries(&log).is_empty());
}

/// Deferred inside a unit of work: delivered when `defer_events` returns,
/// except the `after_commit` event, which waits for the commit.
#[tokio::test]
async fn defer_events_inside_a_unit_of_work() {
    let log = Log::default();
    let events = Dispatcher::new();
    events
        .listen::<NoteAdded>(Arc::new(Record::new("note", &log)))
        .await;
    events
        .listen::<InvoicePaid>(Arc::new(Record::new("invoice", &log)))
        .await;
    queue::defer(async {
        defer_events(async {
            events.dispatch(InvoicePaid { n: 1 }).await?;
            events.dispatch(NoteAdded { n: 2 }).await
        })
        .await?;
        assert_eq!(entries(&log), ["note:NoteAdded:2"]);
        Ok::<_, anyhow::Error>(())
    })
    .await
    .unwrap();
    assert_eq!(entries(&log), ["note:NoteAdded:2", "invoice:InvoicePaid:1"]);
}

mod postgres {
    use super::*;
    use event_core::queue::postgres::{in_transaction, tokio_postgres};
    use test_support::Schema;

    async fn sql(url: &str) -> tokio_postgres::Client {
        let (client, connection) = tokio_postgres::connect(url, tokio_postgres::NoTls)
            .await
            .expect("connect to the test PostgreSQL");
        tokio::spawn(connection);
        client
    }

    /// Counts the committed orders it can see from its own connection.
    struct SeesOrders {
        client: tokio_postgres::Client,
        orders: String,
        log: Log,
    }

    #[async_trait]
    impl EventListener for SeesOrders {
        async fn handle(&self, _event: Arc<dyn Event>) -> anyhow::Result<()> {
            let row = self
                .client
                .query_one(&format!("SELECT count(*) FROM {}", self.orders), &[])
                .await?;
            let count: i64 = row.get(0);
            push(&self.log, format!("orders seen: {count}"));
            Ok(())
        }
    }

    /// `in_transaction` inside `defer`: the after_commit event reaches its
    /// listeners after the caller's commit, and sees the committed row;
    /// rolled back, it reaches none.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn postgres_transaction_commits_or_rolls_back() {
        let Some(schema) = Schema::new() else { return };
        let queue = Queue::open(&schema.url).await.expect("open");
        let mut client = sql(&schema.base).await;
        let orders = schema.table("orders");
        client
            .batch_execute(&format!("CREATE TABLE {orders} (id bigint PRIMARY KEY)"))
            .await
            .expect("orders table");
        let log = Log::default();
        let events = Dispatcher::new();
        queue.install(&events).await;
        events
            .listen::<InvoicePaid>(Arc::new(SeesOrders {
                client: sql(&schema.base).await,
                orders: orders.clone(),
                log: log.clone(),
            }))
            .await;
        let queued: Arc<dyn EventListener> = Arc::new(Record::new("queued", &log).queued());
        events.listen::<InvoicePaid>(queued.clone()).await;
        let registry = queue::JobRegistry::new().listener::<InvoicePaid>(queued);

        // Rolled back.
        let rolled_back: anyhow::Result<()> = queue::defer(async {
            let tx = client.transaction().await?;
            tx.execute(&format!("INSERT INTO {orders} VALUES (1)"), &[])
                .await?;
            in_transaction(&tx, async { events.dispatch(InvoicePaid { n: 1 }).await }).await?;
            tx.rollback().await?;
            anyhow::bail!("payment declined")
        })
        .await;
        assert!(rolled_back.is_err());
        assert!(entries(&log).is_empty(), "{:?}", entries(&log));
        assert_eq!(queue.size().await.unwrap(), 0);

        // Committed: the listener runs after the commit and sees the row.
        queue::defer(async {
            let tx = client.transaction().await?;
            tx.execute(&format!("INSERT INTO {orders} VALUES (2)"), &[])
                .await?;
            in_transaction(&tx, async { events.dispatch(InvoicePaid { n: 2 }).await }).await?;
            tx.commit().await?;
            Ok::<_, anyhow::Error>(())
        })
        .await
        .unwrap();
        assert_eq!(entries(&log), ["orders seen: 1"]);
        assert_eq!(queue.size().await.unwrap(), 1);
        work(&queue, registry).await;
        assert_eq!(entries(&log), ["orders seen: 1", "queued:InvoicePaid:2"]);
    }

    /// Alone, `in_transaction` does not see the commit: an after_commit
    /// event dispatched there is an error naming it, and reaches nobody.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn in_transaction_alone_refuses_after_commit() {
        let Some(schema) = Schema::new() else { return };
        let queue = Queue::open(&schema.url).await.expect("open");
        let mut client = sql(&schema.base).await;
        let log = Log::default();
        let events = Dispatcher::new();
        queue.install(&events).await;
        events
            .listen::<InvoicePaid>(Arc::new(Record::new("sync", &log)))
            .await;
        events
            .listen::<NoteAdded>(Arc::new(Record::new("held", &log).after_commit()))
            .await;
        let tx = client.transaction().await.unwrap();
        let error = in_transaction(&tx, async { events.dispatch(InvoicePaid { n: 1 }).await })
            .await
            .expect_err("after_commit cannot take effect here");
        let message = format!("{error:#}");
        assert!(message.contains("after_commit"), "{message}");
        assert!(message.contains("postgres::in_transaction"), "{message}");
        assert!(message.contains("InvoicePaid"), "{message}");
        let error = in_transaction(&tx, async { events.dispatch(NoteAdded { n: 1 }).await })
            .await
            .expect_err("nor for a listener");
        assert!(format!("{error:#}").contains("`held`"), "{error:#}");
        tx.rollback().await.unwrap();
        assert!(entries(&log).is_empty());
    }
}
