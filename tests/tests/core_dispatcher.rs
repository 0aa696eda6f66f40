//! The dispatcher's rules, each on its own `Dispatcher::new()` so the tests
//! run in parallel without sharing state.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::{Result, anyhow};
use async_trait::async_trait;
use serde::{Deserialize, Serialize};

use event_core::{Dispatcher, Event, EventListener, QueueableHandler};

/// A hand-written event whose name is given at construction, so one type can
/// stand for `order.created`, `user.created`...
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Named {
    name: &'static str,
    n: u32,
}

impl Event for Named {
    fn event_name(&self) -> &'static str {
        self.name
    }
    fn to_json(&self) -> serde_json::Value {
        serde_json::json!({ "n": self.n })
    }
}

fn named(name: &'static str) -> Named {
    Named { name, n: 0 }
}

/// Appends `label event-name` to a shared log.
#[derive(Clone)]
struct Recording {
    label: &'static str,
    log: Arc<Mutex<Vec<String>>>,
}

#[async_trait]
impl EventListener for Recording {
    async fn handle(&self, event: Arc<dyn Event>) -> Result<()> {
        self.log
            .lock()
            .unwrap()
            .push(format!("{} {}", self.label, event.event_name()));
        Ok(())
    }
}

fn log() -> Arc<Mutex<Vec<String>>> {
    Arc::default()
}

fn recording(label: &'static str, log: &Arc<Mutex<Vec<String>>>) -> Arc<Recording> {
    Arc::new(Recording {
        label,
        log: log.clone(),
    })
}

fn lines(log: &Arc<Mutex<Vec<String>>>) -> Vec<String> {
    log.lock().unwrap().clone()
}

#[tokio::test]
async fn listeners_run_in_registration_order() -> Result<()> {
    let d = Dispatcher::new();
    let log = log();
    for label in ["first", "second", "third"] {
        d.listen_pattern("order.created", recording(label, &log))
            .await;
    }
    d.dispatch(named("order.created")).await?;
    assert_eq!(
        lines(&log),
        vec![
            "first order.created",
            "second order.created",
            "third order.created"
        ]
    );
    Ok(())
}

struct Failing {
    failed_calls: Arc<Mutex<Vec<String>>>,
}

#[async_trait]
impl EventListener for Failing {
    async fn handle(&self, _event: Arc<dyn Event>) -> Result<()> {
        Err(anyhow!("smtp server said no"))
    }
    async fn failed(&self, event: Arc<dyn Event>, exception: &anyhow::Error) -> Result<()> {
        self.failed_calls
            .lock()
            .unwrap()
            .push(format!("{}: {exception}", event.event_name()));
        Ok(())
    }
    fn listener_name(&self) -> &str {
        "SendInvoice"
    }
}

#[tokio::test]
async fn a_listener_error_calls_failed_stops_the_dispatch_and_names_event_and_listener() {
    let d = Dispatcher::new();
    let log = log();
    let failed_calls = Arc::default();
    d.listen_pattern("order.paid", recording("before", &log))
        .await;
    d.listen_pattern(
        "order.paid",
        Arc::new(Failing {
            failed_calls: Arc::clone(&failed_calls),
        }),
    )
    .await;
    d.listen_pattern("order.paid", recording("after", &log))
        .await;

    let error = d.dispatch(named("order.paid")).await.unwrap_err();
    let message = format!("{error:#}");
    assert!(message.contains("SendInvoice"), "{message}");
    assert!(message.contains("order.paid"), "{message}");
    assert!(message.contains("smtp server said no"), "{message}");
    assert_eq!(
        *failed_calls.lock().unwrap(),
        vec!["order.paid: smtp server said no"]
    );
    assert_eq!(
        lines(&log),
        vec!["before order.paid"],
        "later listeners do not run"
    );
}

#[tokio::test]
async fn wildcard_and_patterns_match_event_names() -> Result<()> {
    let d = Dispatcher::new();
    let log = log();
    d.listen_wildcard(recording("all", &log)).await;
    d.listen_pattern("order.*", recording("orders", &log)).await;
    d.listen_pattern("Order*", recording("Orders", &log)).await;

    d.dispatch(named("order.created")).await?;
    d.dispatch(named("order.items.added")).await?;
    d.dispatch(named("OrderShipped")).await?;
    d.dispatch(named("user.created")).await?;
    assert_eq!(
        lines(&log),
        vec![
            "all order.created",
            "orders order.created",
            "all order.items.added",
            "orders order.items.added",
            "all OrderShipped",
            "Orders OrderShipped",
            "all user.created",
        ]
    );
    Ok(())
}

#[tokio::test]
async fn direct_listeners_run_before_wildcard_listeners() -> Result<()> {
    let d = Dispatcher::new();
    let log = log();
    d.listen_wildcard(recording("audit", &log)).await;
    d.listen_pattern("order.created", recording("direct", &log))
        .await;
    d.dispatch(named("order.created")).await?;
    assert_eq!(
        lines(&log),
        vec!["direct order.created", "audit order.created"]
    );
    Ok(())
}

#[tokio::test]
async fn the_wildcard_cache_is_cleared_by_listen_forget_and_flush() -> Result<()> {
    let d = Dispatcher::new();
    let log = log();
    // Resolve (and cache) the name while nothing matches it.
    d.dispatch(named("order.created")).await?;
    d.listen_pattern("order.*", recording("late", &log)).await;
    d.dispatch(named("order.created")).await?;
    assert_eq!(lines(&log), vec!["late order.created"]);

    d.forget("order.*").await;
    d.dispatch(named("order.created")).await?;
    assert_eq!(
        lines(&log).len(),
        1,
        "a forgotten pattern no longer matches"
    );

    d.listen_pattern("order.*", recording("again", &log)).await;
    d.dispatch(named("order.created")).await?;
    d.flush().await;
    d.dispatch(named("order.created")).await?;
    assert_eq!(
        lines(&log),
        vec!["late order.created", "again order.created"]
    );
    Ok(())
}

#[tokio::test]
async fn until_returns_the_first_some() {
    let d = Dispatcher::new();
    let log = log();
    d.listen_pattern(
        "ping",
        Arc::new(Failing {
            failed_calls: Arc::default(),
        }),
    )
    .await;
    d.listen_pattern("ping", recording("second", &log)).await;
    d.listen_pattern("ping", recording("third", &log)).await;

    let mut seen = 0;
    let answer = d
        .until(named("ping"), |result| {
            seen += 1;
            result.as_ref().ok().map(|_| seen)
        })
        .await;
    assert_eq!(answer, Some(2), "the failing first listener gave None");
    assert_eq!(lines(&log), vec!["second ping"], "the third never ran");

    let none: Option<()> = d.until(named("ping"), |_| None).await;
    assert_eq!(none, None);
}

#[tokio::test]
async fn get_listeners_counts_names_and_patterns() {
    let d = Dispatcher::new();
    let log = log();
    d.listen_pattern("a", recording("1", &log)).await;
    d.listen_pattern("a", recording("2", &log)).await;
    d.listen_pattern("b", recording("3", &log)).await;
    d.listen_pattern("order.*", recording("4", &log)).await;
    d.listen_wildcard(recording("5", &log)).await;
    let counts = d.get_listeners().await;
    assert_eq!(counts.len(), 4);
    assert_eq!(counts["a"], 2);
    assert_eq!(counts["b"], 1);
    assert_eq!(counts["order.*"], 1);
    assert_eq!(counts["*"], 1);
}

#[tokio::test]
async fn has_listeners_sees_patterns_forget_and_flush_remove() {
    let d = Dispatcher::new();
    let log = log();
    assert!(!d.has_listeners("order.created").await);
    d.listen_pattern("order.*", recording("p", &log)).await;
    assert!(d.has_listeners("order.created").await);
    assert!(!d.has_listeners("user.created").await);
    d.listen_pattern("user.created", recording("u", &log)).await;
    assert!(d.has_listeners("user.created").await);
    d.forget("user.created").await;
    assert!(!d.has_listeners("user.created").await);
    assert!(d.has_listeners("order.created").await);
    d.flush().await;
    assert!(!d.has_listeners("order.created").await);
}

/// A listener that wants to be queued.
struct QueuedMailer {
    ran: Arc<AtomicUsize>,
}

#[async_trait]
impl EventListener for QueuedMailer {
    async fn handle(&self, _event: Arc<dyn Event>) -> Result<()> {
        self.ran.fetch_add(1, Ordering::SeqCst);
        Ok(())
    }
    fn should_queue(&self) -> bool {
        true
    }
}

#[derive(Default)]
struct JobsHandler {
    jobs: Mutex<Vec<String>>,
}

#[async_trait]
impl QueueableHandler for JobsHandler {
    async fn queue_event(&self, event: Arc<dyn Event>) -> Result<()> {
        self.jobs
            .lock()
            .unwrap()
            .push(format!("event {}", event.event_name()));
        Ok(())
    }
    async fn queue_listener(
        &self,
        listener: Arc<dyn EventListener>,
        event: Arc<dyn Event>,
    ) -> Result<()> {
        assert!(listener.should_queue());
        self.jobs
            .lock()
            .unwrap()
            .push(format!("listener {}", event.event_name()));
        Ok(())
    }
}

#[derive(Debug, Serialize)]
struct BigReport;

impl Event for BigReport {
    fn event_name(&self) -> &'static str {
        "report.requested"
    }
    fn to_json(&self) -> serde_json::Value {
        serde_json::json!({})
    }
    fn should_queue(&self) -> bool {
        true
    }
}

/// A queued event whose `is_synchronous()` says true: its listeners run at
/// dispatch even with a queue handler (the seed's method takes effect).
#[derive(Debug, Serialize)]
struct UrgentReport;

impl Event for UrgentReport {
    fn event_name(&self) -> &'static str {
        "report.urgent"
    }
    fn to_json(&self) -> serde_json::Value {
        serde_json::json!({})
    }
    fn should_queue(&self) -> bool {
        true
    }
    fn is_synchronous(&self) -> bool {
        true
    }
}

#[tokio::test]
async fn a_synchronous_queued_event_runs_its_listeners_at_dispatch() -> Result<()> {
    let d = Dispatcher::new();
    let log = log();
    let ran = Arc::new(AtomicUsize::new(0));
    d.listen_pattern("report.urgent", recording("urgent", &log))
        .await;
    d.listen_pattern("report.urgent", Arc::new(QueuedMailer { ran: ran.clone() }))
        .await;
    let handler = Arc::new(JobsHandler::default());
    d.set_queueable_handler(handler.clone()).await;
    d.dispatch(UrgentReport).await?;
    assert_eq!(lines(&log), vec!["urgent report.urgent"]);
    // The queued listener among them still goes to the queue.
    assert_eq!(
        *handler.jobs.lock().unwrap(),
        vec!["listener report.urgent".to_string()]
    );
    assert_eq!(ran.load(Ordering::SeqCst), 0);
    Ok(())
}

#[tokio::test]
async fn queued_listeners_and_events_go_to_the_handler_not_inline() -> Result<()> {
    let d = Dispatcher::new();
    let ran = Arc::new(AtomicUsize::new(0));
    let log = log();
    d.listen_pattern("order.created", Arc::new(QueuedMailer { ran: ran.clone() }))
        .await;
    d.listen_pattern("order.created", recording("inline", &log))
        .await;
    d.listen_pattern("report.requested", recording("report", &log))
        .await;

    // No handler: the sync connection, everything inline.
    d.dispatch(named("order.created")).await?;
    d.dispatch(BigReport).await?;
    assert_eq!(ran.load(Ordering::SeqCst), 1);
    assert_eq!(
        lines(&log),
        vec!["inline order.created", "report report.requested"]
    );

    let handler = Arc::new(JobsHandler::default());
    d.set_queueable_handler(handler.clone()).await;
    d.dispatch(named("order.created")).await?;
    d.dispatch(BigReport).await?;
    assert_eq!(
        ran.load(Ordering::SeqCst),
        1,
        "the queued listener did not run inline"
    );
    assert_eq!(
        *handler.jobs.lock().unwrap(),
        vec!["listener order.created", "event report.requested"]
    );
    assert_eq!(
        lines(&log),
        vec![
            "inline order.created",
            "report report.requested",
            "inline order.created"
        ],
        "sync listeners still run; the queued event's listeners wait for the worker"
    );
    Ok(())
}

/// A listener that registers, forgets, flushes and dispatches while it runs.
struct Meddler {
    dispatcher: Dispatcher,
    log: Arc<Mutex<Vec<String>>>,
}

#[async_trait]
impl EventListener for Meddler {
    async fn handle(&self, event: Arc<dyn Event>) -> Result<()> {
        if event.event_name() != "outer" {
            return Ok(());
        }
        let d = &self.dispatcher;
        d.listen_pattern("inner", recording("inner-listener", &self.log))
            .await;
        d.dispatch(named("inner")).await?;
        assert!(d.has_listeners("inner").await);
        d.forget("inner").await;
        d.dispatch(named("inner")).await?;
        d.flush().await;
        tokio::task::yield_now().await;
        Ok(())
    }
}

#[tokio::test]
async fn listeners_may_listen_forget_flush_and_dispatch_without_deadlock() -> Result<()> {
    let d = Dispatcher::new();
    let log = log();
    d.listen_pattern(
        "outer",
        Arc::new(Meddler {
            dispatcher: d.clone(),
            log: log.clone(),
        }),
    )
    .await;
    // A deadlock would hang here; the timeout turns it into a failure.
    tokio::time::timeout(Duration::from_secs(10), d.dispatch(named("outer")))
        .await
        .map_err(|_| anyhow!("dispatch deadlocked"))??;
    assert_eq!(lines(&log), vec!["inner-listener inner"]);
    assert!(d.get_listeners().await.is_empty(), "the listener flushed");
    Ok(())
}

struct Panicking;

#[async_trait]
impl EventListener for Panicking {
    async fn handle(&self, _event: Arc<dyn Event>) -> Result<()> {
        panic!("listener blew up");
    }
}

#[tokio::test]
async fn a_panicking_listener_unwinds_and_leaves_the_dispatcher_usable() -> Result<()> {
    use futures::FutureExt;

    let d = Dispatcher::new();
    let log = log();
    d.listen_pattern("boom", Arc::new(Panicking)).await;
    // Like any Rust panic, it unwinds to the caller (a tokio task, a test)...
    let outcome = std::panic::AssertUnwindSafe(d.dispatch(named("boom")))
        .catch_unwind()
        .await;
    let payload = outcome.expect_err("the panic reaches the caller");
    assert_eq!(payload.downcast_ref::<&str>(), Some(&"listener blew up"));

    // ...and the dispatcher holds no lock that the panic could poison.
    d.listen_pattern("fine", recording("ok", &log)).await;
    d.dispatch(named("fine")).await?;
    d.forget("boom").await;
    d.dispatch(named("boom")).await?;
    assert_eq!(lines(&log), vec!["ok fine"]);
    assert_eq!(d.get_listeners().await.len(), 1);
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_panic_in_a_spawned_dispatch_stays_in_its_task() -> Result<()> {
    let d = Dispatcher::new();
    let log = log();
    d.listen_pattern("boom", Arc::new(Panicking)).await;
    d.listen_pattern("fine", recording("ok", &log)).await;
    let task = tokio::spawn({
        let d = d.clone();
        async move { d.dispatch(named("boom")).await }
    });
    assert!(task.await.unwrap_err().is_panic());
    tokio::spawn({
        let d = d.clone();
        async move { d.dispatch(named("fine")).await }
    })
    .await??;
    assert_eq!(lines(&log), vec!["ok fine"]);
    Ok(())
}

#[tokio::test]
async fn dispatchers_are_independent_of_each_other_and_of_the_global_one() -> Result<()> {
    let a = Dispatcher::new();
    let b = Dispatcher::new();
    let log = log();
    a.listen_pattern("x", recording("a", &log)).await;
    b.dispatch(named("x")).await?;
    event_core::dispatch(named("x")).await?;
    assert!(lines(&log).is_empty());
    a.dispatch(named("x")).await?;
    assert_eq!(lines(&log), vec!["a x"]);
    assert!(!b.has_listeners("x").await);
    assert!(a.clone().same_as(&a) && !a.same_as(&b));
    Ok(())
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct InvoicePaidEvent {
    invoice: u32,
}

impl Event for InvoicePaidEvent {
    fn event_name(&self) -> &'static str {
        "InvoicePaid"
    }
    fn to_json(&self) -> serde_json::Value {
        serde_json::to_value(self).unwrap_or_default()
    }
}

/// A hand-written event whose name does not follow the type-name convention.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct LegacyEvent;

impl Event for LegacyEvent {
    fn event_name(&self) -> &'static str {
        "legacy.happened"
    }
    fn to_json(&self) -> serde_json::Value {
        serde_json::json!(null)
    }
}

struct Typed {
    seen: Arc<Mutex<Vec<u32>>>,
}

#[async_trait]
impl EventListener for Typed {
    async fn handle(&self, event: Arc<dyn Event>) -> Result<()> {
        if let Some(paid) = event.downcast_ref::<InvoicePaidEvent>() {
            self.seen.lock().unwrap().push(paid.invoice);
        } else if event.is::<LegacyEvent>() {
            self.seen.lock().unwrap().push(0);
        }
        Ok(())
    }
}

#[tokio::test]
async fn typed_listen_keys_by_the_events_name_and_hands_over_the_value() -> Result<()> {
    let d = Dispatcher::new();
    let seen = Arc::new(Mutex::new(Vec::new()));
    d.listen::<InvoicePaidEvent>(Arc::new(Typed { seen: seen.clone() }))
        .await;
    assert!(d.has_listeners("InvoicePaid").await);
    d.dispatch(InvoicePaidEvent { invoice: 7 }).await?;
    d.dispatch(Arc::new(InvoicePaidEvent { invoice: 8 }))
        .await?;
    assert_eq!(*seen.lock().unwrap(), vec![7, 8]);
    Ok(())
}

#[tokio::test]
async fn typed_listen_follows_a_name_that_breaks_the_convention() -> Result<()> {
    let d = Dispatcher::new();
    let seen = Arc::new(Mutex::new(Vec::new()));
    d.listen::<LegacyEvent>(Arc::new(Typed { seen: seen.clone() }))
        .await;
    d.dispatch(LegacyEvent).await?;
    d.dispatch(LegacyEvent).await?;
    assert_eq!(*seen.lock().unwrap(), vec![0, 0]);
    assert!(
        d.has_listeners("legacy.happened").await,
        "re-keyed to the real name"
    );
    Ok(())
}

struct Counter(Arc<AtomicUsize>);

#[async_trait]
impl EventListener for Counter {
    async fn handle(&self, _event: Arc<dyn Event>) -> Result<()> {
        self.0.fetch_add(1, Ordering::Relaxed);
        tokio::task::yield_now().await;
        Ok(())
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_dispatch_and_registration_from_many_tasks() -> Result<()> {
    let d = Dispatcher::new();
    let count = Arc::new(AtomicUsize::new(0));
    d.listen_pattern("tick", Arc::new(Counter(count.clone())))
        .await;
    let mut tasks = Vec::new();
    for t in 0..8 {
        let d = d.clone();
        tasks.push(tokio::spawn(async move {
            for i in 0..500 {
                d.dispatch(named("tick")).await?;
                if t == 0 && i % 100 == 0 {
                    // Registration while others dispatch: the new listener
                    // is on another name, so the count stays exact.
                    d.listen_pattern("tock", Arc::new(Counter(Arc::default())))
                        .await;
                }
            }
            anyhow::Ok(())
        }));
    }
    for task in tasks {
        task.await??;
    }
    assert_eq!(count.load(Ordering::Relaxed), 8 * 500);
    assert_eq!(d.get_listeners().await["tock"], 5);
    Ok(())
}

#[tokio::test]
async fn broadcastable_events_reach_the_broadcaster_with_channel_prefixes() -> Result<()> {
    use event_core::broadcasting::{Broadcastable, MemoryBroadcaster};

    #[derive(Debug)]
    struct Secret {
        user: u32,
    }
    impl Event for Secret {
        fn event_name(&self) -> &'static str {
            "SecretChanged"
        }
        fn to_json(&self) -> serde_json::Value {
            serde_json::json!({ "user": self.user })
        }
        fn as_broadcastable(&self) -> Option<&dyn Broadcastable> {
            Some(self)
        }
    }
    impl Broadcastable for Secret {
        fn broadcast_channel(&self) -> String {
            format!("user.{}", self.user)
        }
        fn broadcast_data(&self) -> serde_json::Value {
            self.to_json()
        }
        fn is_private(&self) -> bool {
            true
        }
    }

    let d = Dispatcher::new();
    let broadcasts = MemoryBroadcaster::new();
    d.set_broadcaster(Arc::new(broadcasts.clone())).await;
    d.dispatch(Secret { user: 3 }).await?;
    d.dispatch(named("not.broadcast")).await?;
    let sent = broadcasts.messages();
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].channels, vec!["private-user.3"]);
    assert_eq!(sent[0].event, "SecretChanged");
    assert_eq!(sent[0].data["user"], 3);
    Ok(())
}
