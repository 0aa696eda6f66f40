//! Scoped fakes: each assertion passing and failing (with the panic message
//! checked), scopes ending on drop and on panic, partial fakes, queue and
//! broadcast fakes, and `assert_listening`.

use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use anyhow::Result;
use async_trait::async_trait;
use futures::FutureExt;
use serde::{Deserialize, Serialize};

use event_core::broadcasting::Broadcastable;
use event_core::testing::{
    BroadcastFake, EventFake, EventMatcher, QueueFake, assert_listening, fake_except, fake_only,
    fake_scope,
};
use event_core::{Dispatchable, Dispatcher, Event, EventListener, ListenerOptions};

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
struct OrderShippedEvent {
    order_id: String,
}

impl Event for OrderShippedEvent {
    fn event_name(&self) -> &'static str {
        "OrderShipped"
    }
    fn to_json(&self) -> serde_json::Value {
        serde_json::to_value(self).unwrap_or_default()
    }
    fn as_broadcastable(&self) -> Option<&dyn Broadcastable> {
        Some(self)
    }
}

impl Broadcastable for OrderShippedEvent {
    fn broadcast_channel(&self) -> String {
        format!("orders.{}", self.order_id)
    }
    fn broadcast_data(&self) -> serde_json::Value {
        self.to_json()
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct UserRegisteredEvent {
    email: String,
}

impl Event for UserRegisteredEvent {
    fn event_name(&self) -> &'static str {
        "UserRegistered"
    }
    fn to_json(&self) -> serde_json::Value {
        serde_json::to_value(self).unwrap_or_default()
    }
}

fn shipped(id: &str) -> OrderShippedEvent {
    OrderShippedEvent {
        order_id: id.to_string(),
    }
}

fn registered() -> UserRegisteredEvent {
    UserRegisteredEvent {
        email: "ada@example.com".into(),
    }
}

/// Counts the events it handles.
#[derive(Clone, Default)]
struct Counting(Arc<AtomicUsize>);

#[async_trait]
impl EventListener for Counting {
    async fn handle(&self, _event: Arc<dyn Event>) -> Result<()> {
        self.0.fetch_add(1, Ordering::SeqCst);
        Ok(())
    }
}

impl Counting {
    fn count(&self) -> usize {
        self.0.load(Ordering::SeqCst)
    }
}

/// The message of the panic `f` raises.
fn panic_message(f: impl FnOnce()) -> String {
    let payload = std::panic::catch_unwind(AssertUnwindSafe(f)).expect_err("expected a panic");
    if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else if let Some(s) = payload.downcast_ref::<&str>() {
        s.to_string()
    } else {
        String::new()
    }
}

#[tokio::test]
async fn event_fake_records_instead_of_delivering_and_ends_on_drop() -> Result<()> {
    let d = Dispatcher::new();
    let counting = Counting::default();
    d.listen::<OrderShippedEvent>(Arc::new(counting.clone()))
        .await;
    {
        let events = EventFake::new();
        d.dispatch(shipped("1")).await?;
        shipped("2").dispatch().await?; // the global dispatcher is covered too
        assert_eq!(counting.count(), 0);
        events.assert_dispatched_times::<OrderShippedEvent>(2);
        let ids: Vec<String> = events
            .dispatched::<OrderShippedEvent>()
            .iter()
            .map(|e| e.order_id.clone())
            .collect();
        assert_eq!(ids, vec!["1", "2"]);
    }
    d.dispatch(shipped("3")).await?;
    assert_eq!(
        counting.count(),
        1,
        "delivered again once the fake is dropped"
    );
    Ok(())
}

#[tokio::test]
async fn assertions_pass_and_fail_with_messages_listing_what_was_dispatched() -> Result<()> {
    let events = EventFake::new();
    events.assert_nothing_dispatched();
    let d = Dispatcher::new();
    d.dispatch(shipped("7")).await?;
    d.dispatch(shipped("8")).await?;
    d.dispatch(registered()).await?;

    events.assert_dispatched::<OrderShippedEvent>();
    events.assert_dispatched_with::<OrderShippedEvent>(|e| e.order_id == "8");
    events.assert_dispatched_times::<OrderShippedEvent>(2);
    events.assert_dispatched_once::<UserRegisteredEvent>();
    events.assert_dispatched_named("UserRegistered");

    #[derive(Debug)]
    struct NeverEvent;
    impl Event for NeverEvent {
        fn event_name(&self) -> &'static str {
            "Never"
        }
        fn to_json(&self) -> serde_json::Value {
            serde_json::Value::Null
        }
    }
    events.assert_not_dispatched::<NeverEvent>();

    let listing = "Recorded: OrderShipped (2), UserRegistered (1).";
    let m = panic_message(|| events.assert_dispatched::<NeverEvent>());
    assert_eq!(
        m,
        format!("expected `NeverEvent` to be dispatched, but it was not. {listing}")
    );
    let m =
        panic_message(|| events.assert_dispatched_with::<OrderShippedEvent>(|e| e.order_id == "9"));
    assert!(m.starts_with("expected `OrderShippedEvent` to be dispatched matching the given check; 2 of that type were dispatched, none matched"), "{m}");
    assert!(m.contains("order_id: \"7\"") && m.ends_with(listing), "{m}");
    let m = panic_message(|| events.assert_dispatched_times::<OrderShippedEvent>(3));
    assert_eq!(
        m,
        format!(
            "expected `OrderShippedEvent` to be dispatched 3 time(s), but it was dispatched 2 time(s). {listing}"
        )
    );
    let m = panic_message(|| events.assert_dispatched_once::<OrderShippedEvent>());
    assert!(
        m.contains("dispatched 1 time(s), but it was dispatched 2 time(s)"),
        "{m}"
    );
    let m = panic_message(|| events.assert_not_dispatched::<UserRegisteredEvent>());
    assert_eq!(
        m,
        format!(
            "expected `UserRegisteredEvent` not to be dispatched, but it was dispatched 1 time(s). {listing}"
        )
    );
    let m = panic_message(|| events.assert_nothing_dispatched());
    assert_eq!(m, format!("expected no events to be dispatched. {listing}"));
    let m = panic_message(|| events.assert_dispatched_named("Nope"));
    assert!(m.contains("`Nope`") && m.ends_with(listing), "{m}");
    Ok(())
}

#[tokio::test]
async fn empty_fake_says_nothing_was_recorded() {
    let events = EventFake::new();
    let m = panic_message(|| events.assert_dispatched::<OrderShippedEvent>());
    assert!(m.ends_with("Nothing was recorded."), "{m}");
}

#[tokio::test]
async fn the_fake_ends_when_the_test_panics() -> Result<()> {
    let d = Dispatcher::new();
    let counting = Counting::default();
    d.listen::<OrderShippedEvent>(Arc::new(counting.clone()))
        .await;
    let outcome = AssertUnwindSafe(async {
        let _events = EventFake::new();
        d.dispatch(shipped("1")).await.unwrap();
        panic!("the test failed half-way");
    })
    .catch_unwind()
    .await;
    assert!(outcome.is_err());
    d.dispatch(shipped("2")).await?;
    assert_eq!(counting.count(), 1, "the fake did not outlive the panic");
    Ok(())
}

#[tokio::test]
async fn fake_only_and_fake_except_let_the_rest_through() -> Result<()> {
    let d = Dispatcher::new();
    let shipped_count = Counting::default();
    let registered_count = Counting::default();
    d.listen::<OrderShippedEvent>(Arc::new(shipped_count.clone()))
        .await;
    d.listen::<UserRegisteredEvent>(Arc::new(registered_count.clone()))
        .await;

    {
        let events = fake_only(["OrderShipped"]);
        d.dispatch(shipped("1")).await?;
        d.dispatch(registered()).await?;
        events.assert_dispatched_once::<OrderShippedEvent>();
        events.assert_not_dispatched::<UserRegisteredEvent>();
        assert_eq!((shipped_count.count(), registered_count.count()), (0, 1));
    }
    {
        let events = fake_only([EventMatcher::of::<UserRegisteredEvent>()]);
        d.dispatch(shipped("2")).await?;
        d.dispatch(registered()).await?;
        events.assert_dispatched_once::<UserRegisteredEvent>();
        assert_eq!((shipped_count.count(), registered_count.count()), (1, 1));
    }
    {
        let events = fake_except([EventMatcher::of::<OrderShippedEvent>()]);
        d.dispatch(shipped("3")).await?;
        d.dispatch(registered()).await?;
        events.assert_not_dispatched::<OrderShippedEvent>();
        events.assert_dispatched::<UserRegisteredEvent>();
        assert_eq!((shipped_count.count(), registered_count.count()), (2, 1));
    }
    {
        let _events = fake_except(["UserRegistered".to_string()]);
        d.dispatch(registered()).await?;
        assert_eq!(registered_count.count(), 2);
    }
    Ok(())
}

#[tokio::test]
async fn nested_fakes_innermost_wins_and_outer_resumes() -> Result<()> {
    let outer = EventFake::new();
    shipped("a").dispatch().await?;
    {
        let inner = EventFake::new();
        shipped("b").dispatch().await?;
        inner.assert_dispatched_once::<OrderShippedEvent>();
    }
    shipped("c").dispatch().await?;
    outer.assert_dispatched_times::<OrderShippedEvent>(2);
    Ok(())
}

#[tokio::test]
async fn fake_scope_covers_its_task_and_ends_with_it() -> Result<()> {
    let d = Dispatcher::new();
    let counting = Counting::default();
    d.listen::<OrderShippedEvent>(Arc::new(counting.clone()))
        .await;
    let ids = fake_scope(|events| {
        let d = d.clone();
        async move {
            d.dispatch(shipped("1")).await.unwrap();
            events.assert_dispatched_once::<OrderShippedEvent>();
            events.dispatched::<OrderShippedEvent>()[0].order_id.clone()
        }
    })
    .await;
    assert_eq!(ids, "1");
    assert_eq!(counting.count(), 0);

    // A panicking scope ends too.
    let outcome = AssertUnwindSafe(fake_scope(|_events| async {
        panic!("boom");
    }))
    .catch_unwind()
    .await;
    assert!(outcome.is_err());
    d.dispatch(shipped("2")).await?;
    assert_eq!(counting.count(), 1);
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dispatcher_fakes_cover_spawned_tasks_on_other_threads() -> Result<()> {
    let d = Dispatcher::new();
    let counting = Counting::default();
    d.listen::<OrderShippedEvent>(Arc::new(counting.clone()))
        .await;
    let events = EventFake::for_dispatcher(&d);
    let tasks: Vec<_> = (0..4)
        .map(|i| {
            let d = d.clone();
            tokio::spawn(async move { d.dispatch(shipped(&i.to_string())).await })
        })
        .collect();
    for task in tasks {
        task.await??;
    }
    events.assert_dispatched_times::<OrderShippedEvent>(4);
    assert_eq!(counting.count(), 0);
    // Another dispatcher is not affected.
    let other = Dispatcher::new();
    let other_count = Counting::default();
    other
        .listen::<OrderShippedEvent>(Arc::new(other_count.clone()))
        .await;
    tokio::spawn(async move { other.dispatch(shipped("x")).await }).await??;
    assert_eq!(other_count.count(), 1);
    drop(events);
    d.dispatch(shipped("5")).await?;
    assert_eq!(counting.count(), 1);
    Ok(())
}

/// A listener that wants to be queued on `emails`.
#[derive(Default, Clone)]
struct SendShipmentEmail(Counting);

#[async_trait]
impl EventListener for SendShipmentEmail {
    async fn handle(&self, event: Arc<dyn Event>) -> Result<()> {
        self.0.handle(event).await
    }
    fn should_queue(&self) -> bool {
        true
    }
    fn options(&self) -> ListenerOptions {
        ListenerOptions {
            queued: true,
            queue: Some("emails".into()),
            ..ListenerOptions::default()
        }
    }
}

#[derive(Default, Clone)]
struct UpdateStock(Counting);

#[async_trait]
impl EventListener for UpdateStock {
    async fn handle(&self, event: Arc<dyn Event>) -> Result<()> {
        self.0.handle(event).await
    }
}

#[tokio::test]
async fn queue_fake_records_queued_listeners_and_sync_ones_still_run() -> Result<()> {
    let d = Dispatcher::new();
    let email = SendShipmentEmail::default();
    let stock = UpdateStock::default();
    d.listen::<OrderShippedEvent>(Arc::new(email.clone())).await;
    d.listen::<OrderShippedEvent>(Arc::new(stock.clone())).await;

    let queue = QueueFake::new();
    queue.assert_nothing_queued();
    d.dispatch(shipped("42")).await?;

    assert_eq!(email.0.count(), 0, "queued, not run");
    assert_eq!(stock.0.count(), 1, "sync listeners run");
    queue.assert_listener_queued::<SendShipmentEmail>();
    queue.assert_listener_queued_times::<SendShipmentEmail>(1);
    queue.assert_listener_queued_with::<SendShipmentEmail, OrderShippedEvent>(|e, q| {
        e.order_id == "42" && q == Some("emails")
    });
    queue.assert_listener_not_queued::<UpdateStock>();

    let m = panic_message(|| queue.assert_nothing_queued());
    assert!(m.contains("expected nothing to be queued"), "{m}");
    assert!(
        m.contains("SendShipmentEmail for OrderShipped on queue `emails` (1)"),
        "{m}"
    );
    let m = panic_message(|| queue.assert_listener_queued::<UpdateStock>());
    assert!(
        m.contains("expected listener `testing_fakes::UpdateStock` to be queued"),
        "{m}"
    );
    let m = panic_message(|| {
        queue.assert_listener_queued_with::<SendShipmentEmail, OrderShippedEvent>(|_, q| {
            q == Some("sms")
        })
    });
    assert!(m.contains("1 job(s) of that listener, none matched"), "{m}");
    let m = panic_message(|| queue.assert_listener_not_queued::<SendShipmentEmail>());
    assert!(m.contains("queued 1 time(s)"), "{m}");
    Ok(())
}

#[tokio::test]
async fn queue_fake_records_queued_events() -> Result<()> {
    #[derive(Debug)]
    struct ReportRequested;
    impl Event for ReportRequested {
        fn event_name(&self) -> &'static str {
            "ReportRequested"
        }
        fn to_json(&self) -> serde_json::Value {
            serde_json::json!({})
        }
        fn should_queue(&self) -> bool {
            true
        }
    }
    let queue = QueueFake::new();
    Dispatcher::new().dispatch(ReportRequested).await?;
    queue.assert_event_queued::<ReportRequested>();
    let m = panic_message(|| queue.assert_event_queued::<OrderShippedEvent>());
    // An undeclared queue is the one the job would go to.
    let default_queue = event_core::queue::QueueConfig::from_env()?.default_queue;
    assert!(
        m.contains(&format!(
            "event ReportRequested on queue `{default_queue}` (1)"
        )),
        "{m}"
    );
    Ok(())
}

#[tokio::test]
async fn broadcast_fake_records_channels() -> Result<()> {
    let broadcasts = BroadcastFake::new();
    broadcasts.assert_nothing_broadcast();
    let d = Dispatcher::new();
    let counting = Counting::default();
    d.listen::<OrderShippedEvent>(Arc::new(counting.clone()))
        .await;
    d.dispatch(shipped("1")).await?;
    assert_eq!(counting.count(), 1, "listeners still run");
    broadcasts.assert_broadcast_on("orders.1");
    broadcasts.assert_broadcast_on_with("orders.1", |m| m.data["order_id"] == "1");
    broadcasts.assert_not_broadcast_on("orders.2");
    let m = panic_message(|| broadcasts.assert_broadcast_on("orders.2"));
    assert_eq!(
        m,
        "expected a broadcast on `orders.2`, but there was none. Recorded: OrderShipped on orders.1 (1)."
    );
    let m = panic_message(|| broadcasts.assert_nothing_broadcast());
    assert!(m.contains("OrderShipped on orders.1"), "{m}");
    let m = panic_message(|| broadcasts.assert_not_broadcast_on("orders.1"));
    assert!(m.contains("there were 1"), "{m}");
    Ok(())
}

#[tokio::test]
async fn an_event_fake_keeps_faked_events_off_the_broadcaster() -> Result<()> {
    let broadcasts = BroadcastFake::new();
    let _events = EventFake::new();
    Dispatcher::new().dispatch(shipped("1")).await?;
    broadcasts.assert_nothing_broadcast();
    Ok(())
}

#[tokio::test]
async fn assert_listening_checks_the_wiring() {
    let d = Dispatcher::new();
    d.listen::<OrderShippedEvent>(Arc::new(UpdateStock::default()))
        .await;
    assert_listening::<OrderShippedEvent, UpdateStock>(&d);
    let m = panic_message(|| assert_listening::<OrderShippedEvent, SendShipmentEmail>(&d));
    assert_eq!(
        m,
        "expected listener `testing_fakes::SendShipmentEmail` to listen to `OrderShipped`; its listeners are: testing_fakes::UpdateStock"
    );
    let m = panic_message(|| assert_listening::<UserRegisteredEvent, UpdateStock>(&d));
    assert!(m.ends_with("its listeners are: none"), "{m}");
}

/// The seed's global fake and a scoped fake side by side: the scoped one
/// takes its thread's dispatches, the global one records the rest. (No other
/// test in this binary dispatches on the global dispatcher unfaked.)
#[tokio::test]
async fn scoped_fakes_coexist_with_the_seeds_global_api() -> Result<()> {
    event_core::fake().await;
    {
        let events = EventFake::new();
        event_core::dispatch(shipped("scoped")).await?;
        events.assert_dispatched_once::<OrderShippedEvent>();
    }
    assert!(event_core::EventFacade::assert_nothing_dispatched().await);
    event_core::dispatch(shipped("global")).await?;
    assert!(event_core::EventFacade::assert_dispatched_times("OrderShipped", 1).await);
    event_core::restore().await;
    assert!(!event_core::is_faking().await);
    Ok(())
}

// ----- the per-test pattern with the global registry ---------------------------

/// A queued listener that names no queue: it goes to `EVENTS_DEFAULT_QUEUE`.
#[derive(Default, Clone)]
struct ArchiveOrder(Counting);

#[async_trait]
impl EventListener for ArchiveOrder {
    async fn handle(&self, event: Arc<dyn Event>) -> Result<()> {
        self.0.handle(event).await
    }
    fn should_queue(&self) -> bool {
        true
    }
    fn options(&self) -> ListenerOptions {
        ListenerOptions {
            queued: true,
            ..ListenerOptions::default()
        }
    }
}

/// What the generated `event_registry::register_on` does: `listen_once`.
async fn register_on(dispatcher: &Dispatcher) {
    event_core::listen_once::<OrderShippedEvent>(dispatcher, Arc::new(ArchiveOrder::default()))
        .await;
}

/// Two tests register on the global dispatcher (the docs' pattern, in
/// parallel): each sees its listener queued once, on the resolved queue.
async fn registers_globally_and_sees_one_job(order: &str) -> Result<()> {
    let global = event_core::event_dispatcher().await;
    register_on(global).await;
    register_on(global).await;
    let queue = QueueFake::new();
    global.dispatch(shipped(order)).await?;
    queue.assert_listener_queued_times::<ArchiveOrder>(1);
    let default_queue = event_core::queue::QueueConfig::from_env()?.default_queue;
    queue.assert_listener_queued_with::<ArchiveOrder, OrderShippedEvent>(|e, q| {
        e.order_id == order && q == Some(default_queue.as_str())
    });
    let m = panic_message(|| {
        queue
            .assert_listener_queued_with::<ArchiveOrder, OrderShippedEvent>(|_, q| q == Some("sms"))
    });
    assert!(
        m.contains(&format!(
            "none matched: testing_fakes::ArchiveOrder for OrderShipped on queue `{default_queue}`"
        )),
        "{m}"
    );
    Ok(())
}

#[tokio::test]
async fn registering_in_two_tests_does_not_double_listeners_a() -> Result<()> {
    registers_globally_and_sees_one_job("a").await
}

#[tokio::test]
async fn registering_in_two_tests_does_not_double_listeners_b() -> Result<()> {
    registers_globally_and_sees_one_job("b").await
}
