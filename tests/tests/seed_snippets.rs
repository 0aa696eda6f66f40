//! Every snippet of the seed document (`shared/seed/event-system.md`), with
//! only the path changes of DESIGN.md, compiled and run against event-core.
//!
//! The seed's API is global (one dispatcher, one fake flag), so these tests
//! take a lock and start from a flushed dispatcher: they are the one place in
//! the suite that uses the global state on purpose.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use anyhow::Result;
use async_trait::async_trait;
use chrono::Duration;
use serde::{Deserialize, Serialize};

use event_core::broadcasting::Broadcastable;
use event_core::config::EventsConfig;
use event_core::{
    Dispatchable, Event, EventFacade, EventListener, QueueableHandler, ShouldBroadcast,
    ShouldQueue, ShouldQueueListener, dispatch, dispatch_event, event, event_dispatcher, fake,
    fire_event, is_faking, listen, listen_wildcard, register_listener, restore,
};

static GLOBAL: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// Serialises the tests of this file and hands each a clean global dispatcher.
async fn global_state() -> tokio::sync::MutexGuard<'static, ()> {
    let guard = GLOBAL.lock().await;
    restore().await;
    event_dispatcher().await.flush().await;
    event_dispatcher().await.clear_queueable_handler().await;
    guard
}

/// What the listeners of this file did, in order.
static LOG: Mutex<Vec<String>> = Mutex::new(Vec::new());

fn log(line: impl Into<String>) {
    LOG.lock().unwrap().push(line.into());
}

fn take_log() -> Vec<String> {
    std::mem::take(&mut *LOG.lock().unwrap())
}

// ----- "Manual Event Creation" ----------------------------------------------------

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct OrderProcessedEvent {
    pub id: String,
    pub timestamp: chrono::DateTime<chrono::Utc>,
    pub order_id: String,
    pub user_id: String,
    pub amount: f64,
    pub metadata: HashMap<String, String>,
}

impl OrderProcessedEvent {
    pub fn new(order_id: String, user_id: String, amount: f64) -> Self {
        Self {
            id: ulid::Ulid::new().to_string(),
            timestamp: chrono::Utc::now(),
            order_id,
            user_id,
            amount,
            metadata: HashMap::new(),
        }
    }

    pub fn with_metadata(mut self, key: String, value: String) -> Self {
        self.metadata.insert(key, value);
        self
    }
}

impl Event for OrderProcessedEvent {
    fn event_name(&self) -> &'static str {
        "OrderProcessed"
    }

    fn to_json(&self) -> serde_json::Value {
        serde_json::to_value(self).unwrap_or_default()
    }

    fn should_queue(&self) -> bool {
        true // Process this event asynchronously
    }

    fn queue_name(&self) -> Option<&str> {
        Some("orders")
    }

    fn tags(&self) -> Vec<String> {
        vec!["order".to_string(), "commerce".to_string()]
    }

    fn priority(&self) -> i32 {
        5 // Higher priority than default
    }
}

// ----- "Broadcasting Events" (first snippet) -------------------------------------------

impl Broadcastable for OrderProcessedEvent {
    fn broadcast_channel(&self) -> String {
        format!("user.{}", self.user_id)
    }

    fn broadcast_data(&self) -> serde_json::Value {
        serde_json::json!({
            "event": "OrderProcessed",
            "order_id": self.order_id,
            "amount": self.amount,
            "timestamp": self.timestamp
        })
    }

    fn is_private(&self) -> bool {
        true // Only the specific user should receive this
    }
}

// ----- "Queue Integration" -----------------------------------------------------------

impl ShouldQueue for OrderProcessedEvent {
    fn queue_connection(&self) -> Option<&str> {
        Some("redis") // Use Redis queue
    }

    fn queue(&self) -> Option<&str> {
        Some("orders") // Use orders queue
    }

    fn delay(&self) -> Option<chrono::Duration> {
        Some(chrono::Duration::seconds(30)) // Delay 30 seconds
    }

    fn tries(&self) -> Option<u32> {
        Some(5) // Retry up to 5 times
    }

    fn after_commit(&self) -> bool {
        true // Wait for DB transactions to commit
    }
}

// ----- "Manual Listener Creation" ---------------------------------------------------

#[derive(Debug, Clone)]
pub struct SendOrderConfirmationListener {
    pub id: String,
    pub queue: Option<String>,
    pub delay: Option<Duration>,
}

impl Default for SendOrderConfirmationListener {
    fn default() -> Self {
        Self::new()
    }
}

impl SendOrderConfirmationListener {
    pub fn new() -> Self {
        Self {
            id: ulid::Ulid::new().to_string(),
            queue: Some("emails".to_string()),
            delay: None,
        }
    }
}

#[async_trait]
impl EventListener for SendOrderConfirmationListener {
    async fn handle(&self, event: Arc<dyn Event>) -> Result<()> {
        if event.event_name() == "OrderProcessed" {
            let event_data = event.to_json();
            let order_id = event_data
                .get("order_id")
                .and_then(|v| v.as_str())
                .unwrap_or("unknown");
            let user_id = event_data
                .get("user_id")
                .and_then(|v| v.as_str())
                .unwrap_or("unknown");

            tracing::info!(
                "Sending order confirmation for order {} to user {}",
                order_id,
                user_id
            );
            log(format!("confirmation {order_id} {user_id}"));

            tracing::info!("Order confirmation sent successfully");
        }

        Ok(())
    }

    async fn failed(&self, event: Arc<dyn Event>, exception: &anyhow::Error) -> Result<()> {
        tracing::error!(
            "Failed to send order confirmation for event {}: {}",
            event.event_name(),
            exception
        );
        Ok(())
    }

    fn should_queue(&self) -> bool {
        true
    }

    fn queue_name(&self) -> Option<&str> {
        self.queue.as_deref()
    }

    fn can_retry(&self) -> bool {
        true
    }

    fn max_exceptions(&self) -> Option<u32> {
        Some(3)
    }

    fn backoff(&self) -> Vec<chrono::Duration> {
        vec![
            Duration::seconds(5),
            Duration::seconds(15),
            Duration::seconds(30),
        ]
    }
}

// ----- "Queued Listeners" --------------------------------------------------------------
// Verbatim, so it keeps the seed's unused `connection` and `mut`.

#[async_trait]
#[allow(unused_mut, unused_variables)]
impl ShouldQueueListener for SendOrderConfirmationListener {
    fn queue_connection(&self) -> Option<&str> {
        None // Use default connection
    }

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
        Some(Duration::minutes(5))
    }

    fn middleware(&self) -> Vec<String> {
        vec!["throttle:10,1".to_string()]
    }

    fn after_commit(&self) -> bool {
        true // Wait for database transactions to commit
    }

    fn via_connection(mut self, connection: &str) -> Self {
        // Implementation for setting connection
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

// ----- "Wildcard Listeners" -------------------------------------------------------------

#[derive(Debug)]
struct AuditListener;

#[async_trait]
impl EventListener for AuditListener {
    async fn handle(&self, event: Arc<dyn Event>) -> Result<()> {
        tracing::info!("Audit: Event {} was fired", event.event_name());
        log(format!("audit {}", event.event_name()));
        Ok(())
    }
}

// ----- "Queue Handler" -------------------------------------------------------------
// The seed's RedisQueueHandler keeps its jobs in memory here: the seam is
// what this test is about; the real connections are tested in queue*.rs.

#[derive(Default)]
pub struct RedisQueueHandler {
    jobs: Mutex<Vec<String>>,
}

impl RedisQueueHandler {
    pub fn new() -> Self {
        Self::default()
    }
}

#[async_trait]
impl QueueableHandler for RedisQueueHandler {
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
        let _ = listener;
        self.jobs
            .lock()
            .unwrap()
            .push(format!("listener for {}", event.event_name()));
        Ok(())
    }
}

// ----- the tests ---------------------------------------------------------------------------

#[tokio::test]
async fn manual_event_implements_the_seed_trait_with_its_defaults() {
    let event = OrderProcessedEvent::new("order_123".into(), "user_456".into(), 99.99)
        .with_metadata("source".into(), "web".into());
    assert_eq!(event.event_name(), "OrderProcessed");
    assert_eq!(event.to_json()["order_id"], "order_123");
    assert_eq!(event.to_json()["metadata"]["source"], "web");
    assert!(event.should_queue());
    assert!(!event.is_synchronous());
    assert_eq!(Event::queue_name(&event), Some("orders"));
    assert_eq!(event.priority(), 5);
    assert!(event.can_unqueue());
    assert_eq!(event.tags(), vec!["order", "commerce"]);
    assert_eq!(ShouldQueue::tries(&event), Some(5));
    assert_eq!(ShouldQueue::delay(&event), Some(Duration::seconds(30)));
    assert_eq!(event.queue_connection(), Some("redis"));
    assert_eq!(event.broadcast_channel(), "user.user_456");
    assert!(event.is_private());
}

#[tokio::test]
async fn basic_usage_listen_then_dispatch_reaches_the_typed_listener() -> Result<()> {
    let _global = global_state().await;
    take_log();

    // Register a listener
    let listener = Arc::new(SendOrderConfirmationListener::new());
    listen::<OrderProcessedEvent>(listener).await;
    assert!(
        event_dispatcher()
            .await
            .has_listeners("OrderProcessed")
            .await
    );

    // Dispatch an event
    let event = OrderProcessedEvent::new("order_123".to_string(), "user_456".to_string(), 99.99);
    dispatch(Arc::new(event)).await?;

    assert_eq!(take_log(), vec!["confirmation order_123 user_456"]);
    Ok(())
}

#[tokio::test]
async fn wildcard_audit_listener_sees_every_event() -> Result<()> {
    let _global = global_state().await;
    take_log();

    listen_wildcard(Arc::new(AuditListener)).await;
    dispatch(Arc::new(OrderProcessedEvent::new(
        "1".into(),
        "2".into(),
        1.0,
    )))
    .await?;
    event(Arc::new(OrderCreatedEvent::sample())).await?;

    assert_eq!(
        take_log(),
        vec!["audit OrderProcessed", "audit OrderCreated"]
    );
    Ok(())
}

#[tokio::test]
async fn dispatcher_methods_until_has_get_forget_flush() {
    let _global = global_state().await;
    take_log();
    listen::<OrderProcessedEvent>(Arc::new(SendOrderConfirmationListener::new())).await;
    listen_wildcard(Arc::new(AuditListener)).await;
    let event = Arc::new(OrderProcessedEvent::new("o".into(), "u".into(), 1.0));

    let dispatcher = event_dispatcher().await;

    // Fire event until one listener returns a result
    let result = dispatcher
        .until(event.clone(), |result| {
            result.as_ref().ok().map(|_| "success")
        })
        .await;
    assert_eq!(result, Some("success"));
    // The first listener answered, so the audit listener did not run.
    assert_eq!(take_log(), vec!["confirmation o u"]);

    // Check if there are listeners for an event
    let has_listeners = dispatcher.has_listeners("OrderProcessed").await;
    assert!(has_listeners);

    // Get all registered listeners (for debugging)
    let listeners = dispatcher.get_listeners().await;
    assert_eq!(listeners.get("OrderProcessed"), Some(&1));
    assert_eq!(listeners.get("*"), Some(&1));

    // Remove listeners
    dispatcher.forget("OrderProcessed").await;
    assert_eq!(dispatcher.get_listeners().await.get("OrderProcessed"), None);
    dispatcher.flush().await; // Remove all listeners
    assert!(dispatcher.get_listeners().await.is_empty());
    assert!(!dispatcher.has_listeners("OrderProcessed").await);
}

#[tokio::test]
async fn queue_handler_receives_queued_events_and_listeners() -> Result<()> {
    let _global = global_state().await;
    take_log();
    listen::<OrderProcessedEvent>(Arc::new(SendOrderConfirmationListener::new())).await;

    // Set the queue handler
    let queue_handler = Arc::new(RedisQueueHandler::new());
    event_dispatcher()
        .await
        .set_queueable_handler(queue_handler.clone())
        .await;

    // OrderProcessed says should_queue: the whole event goes to the handler.
    dispatch(Arc::new(OrderProcessedEvent::new(
        "1".into(),
        "2".into(),
        3.0,
    )))
    .await?;
    // fire_event! dispatches now: the event's listeners run, and the queued
    // listener among them goes to the handler.
    fire_event!(OrderProcessedEvent::new("4".into(), "5".into(), 6.0))?;

    assert_eq!(
        *queue_handler.jobs.lock().unwrap(),
        vec!["event OrderProcessed", "listener for OrderProcessed"]
    );
    assert!(take_log().is_empty(), "nothing ran inline");
    event_dispatcher().await.clear_queueable_handler().await;
    Ok(())
}

#[tokio::test]
async fn without_a_queue_handler_queued_work_runs_inline() -> Result<()> {
    let _global = global_state().await;
    take_log();
    listen::<OrderProcessedEvent>(Arc::new(SendOrderConfirmationListener::new())).await;
    dispatch_event!(OrderProcessedEvent::new("7".into(), "8".into(), 9.0))?;
    assert_eq!(take_log(), vec!["confirmation 7 8"]);
    Ok(())
}

#[tokio::test]
async fn event_faking_records_instead_of_delivering() -> Result<()> {
    let _global = global_state().await;
    take_log();
    listen::<OrderProcessedEvent>(Arc::new(SendOrderConfirmationListener::new())).await;

    // Enable event faking
    EventFacade::fake().await;
    assert!(is_faking().await);

    // Your application code that dispatches events
    process_order(OrderProcessedEvent::new("1".into(), "2".into(), 3.0)).await?;

    // Assert events were dispatched
    assert!(EventFacade::assert_dispatched("OrderProcessed").await);
    assert!(EventFacade::assert_dispatched_times("OrderProcessed", 1).await);
    assert!(EventFacade::assert_not_dispatched("OrderCancelled").await);
    assert!(!EventFacade::assert_nothing_dispatched().await);
    assert!(!EventFacade::assert_dispatched("OrderCancelled").await);
    assert!(!EventFacade::assert_dispatched_times("OrderProcessed", 2).await);
    assert!(take_log().is_empty(), "faked events reach no listener");

    // Clean up
    restore().await;
    assert!(!is_faking().await);
    process_order(OrderProcessedEvent::new("4".into(), "5".into(), 6.0)).await?;
    assert_eq!(take_log(), vec!["confirmation 4 5"]);
    Ok(())
}

async fn process_order(order: OrderProcessedEvent) -> Result<()> {
    order.dispatch().await
}

#[tokio::test]
async fn fake_then_nothing_dispatched() {
    let _global = global_state().await;
    fake().await;
    assert!(EventFacade::assert_nothing_dispatched().await);
    restore().await;
}

#[tokio::test]
async fn test_order_confirmation_listener_in_isolation() {
    // The listener writes to this file's shared log: hold the lock the
    // other tests hold, so its line does not land in their logs.
    let _global = global_state().await;
    take_log();
    let listener = SendOrderConfirmationListener::new();
    let event = Arc::new(OrderProcessedEvent::new(
        "order_123".to_string(),
        "user_456".to_string(),
        99.99,
    ));

    let result = listener.handle(event).await;
    assert!(result.is_ok());
    assert_eq!(take_log(), vec!["confirmation order_123 user_456"]);
}

#[tokio::test]
async fn test_event_broadcasting_while_faking() -> Result<()> {
    let _global = global_state().await;
    let broadcasts = event_core::broadcasting::MemoryBroadcaster::new();
    event_dispatcher()
        .await
        .set_broadcaster(Arc::new(broadcasts.clone()))
        .await;
    fake().await;

    let event = OrderProcessedEvent::new("order_123".to_string(), "user_456".to_string(), 99.99);
    event.dispatch().await?;
    assert!(EventFacade::assert_dispatched("OrderProcessed").await);
    assert!(
        broadcasts.messages().is_empty(),
        "a faked event is not broadcast"
    );

    restore().await;
    Ok(())
}

#[tokio::test]
async fn listener_builders_and_queue_settings_reach_the_options() {
    let listener = SendOrderConfirmationListener::new()
        .via_connection("redis")
        .via_queue("high")
        .with_delay(Duration::seconds(10));
    assert_eq!(ShouldQueueListener::queue(&listener), Some("high"));
    assert_eq!(
        ShouldQueueListener::delay(&listener),
        Some(Duration::seconds(10))
    );
    assert_eq!(listener.middleware(), vec!["throttle:10,1"]);
    assert_eq!(listener.max_exceptions(), Some(3));
    assert_eq!(listener.backoff().len(), 3);
    // A hand-written listener keeps its ShouldQueueListener settings to itself
    // unless it opts in with `as_should_queue_listener`; `options()` then
    // still reflects its EventListener methods.
    let options = listener.options();
    assert!(options.queued);
    assert_eq!(options.queue.as_deref(), Some("high"));
    assert_eq!(options.max_exceptions, Some(3));
}

#[test]
fn configuration_reads_the_seed_variables() -> Result<()> {
    let config = EventsConfig::from_vars([
        ("EVENTS_DEFAULT_QUEUE", "events"),
        ("EVENTS_STORE_ENABLED", "true"),
        ("EVENTS_STORE_TABLE", "events"),
        ("EVENTS_RETRY_ATTEMPTS", "3"),
        ("EVENTS_RETRY_DELAY_SECONDS", "60"),
    ])?;
    println!("Default queue: {}", config.default_queue);
    assert_eq!(config.default_queue, "events");
    assert!(config.store_enabled);
    assert_eq!(config.retry_attempts, 3);
    assert_eq!(config.retry_delay_seconds, 60);
    // And `from_env` as the seed writes it works in a plain environment.
    let config = EventsConfig::from_env()?;
    assert!(!config.default_queue.is_empty());
    Ok(())
}

// ----- "API Reference": helper macros and EventFacade methods ---------------------------

#[tokio::test]
async fn helper_macros_work_from_another_crate() -> Result<()> {
    let _global = global_state().await;
    take_log();
    // Register a listener
    register_listener!(
        OrderProcessedEvent,
        Arc::new(SendOrderConfirmationListener::new())
    );
    // Fire an event
    fire_event!(OrderProcessedEvent::new(
        "order_123".to_string(),
        "user_456".to_string(),
        99.99
    ))?;
    // Dispatch with automatic queue handling
    dispatch_event!(OrderProcessedEvent::new(
        "order_124".to_string(),
        "user_456".to_string(),
        99.99
    ))?;
    assert_eq!(
        take_log(),
        vec![
            "confirmation order_123 user_456",
            "confirmation order_124 user_456"
        ]
    );
    Ok(())
}

#[tokio::test]
async fn event_facade_methods() -> Result<()> {
    let _global = global_state().await;
    take_log();
    EventFacade::listen::<OrderProcessedEvent>(Arc::new(SendOrderConfirmationListener::new()))
        .await;
    assert!(EventFacade::has_listeners("OrderProcessed").await);
    assert_eq!(
        EventFacade::get_listeners().await.get("OrderProcessed"),
        Some(&1)
    );
    EventFacade::dispatch_event(Arc::new(OrderProcessedEvent::new(
        "f".into(),
        "g".into(),
        1.0,
    )))
    .await?;
    assert_eq!(take_log(), vec!["confirmation f g"]);
    EventFacade::forget("OrderProcessed").await;
    assert!(!EventFacade::has_listeners("OrderProcessed").await);
    EventFacade::listen::<OrderProcessedEvent>(Arc::new(SendOrderConfirmationListener::new()))
        .await;
    EventFacade::flush().await;
    assert!(EventFacade::get_listeners().await.is_empty());
    Ok(())
}

// ----- "ShouldBroadcast" -----------------------------------------------------------------

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct OrderShippedEvent {
    pub order_id: String,
}

impl Event for OrderShippedEvent {
    fn event_name(&self) -> &'static str {
        "OrderShipped"
    }
    fn to_json(&self) -> serde_json::Value {
        serde_json::to_value(self).unwrap_or_default()
    }
    fn as_should_broadcast(&self) -> Option<&dyn ShouldBroadcast> {
        Some(self)
    }
}

impl ShouldBroadcast for OrderShippedEvent {
    fn broadcast_on(&self) -> Vec<String> {
        vec![format!("orders.{}", self.order_id)]
    }
    fn broadcast_as(&self) -> Option<String> {
        Some("order.shipped".into())
    }
}

#[tokio::test]
async fn should_broadcast_events_reach_the_broadcaster() -> Result<()> {
    let dispatcher = event_core::Dispatcher::new();
    let broadcasts = event_core::broadcasting::MemoryBroadcaster::new();
    dispatcher
        .set_broadcaster(Arc::new(broadcasts.clone()))
        .await;
    dispatcher
        .dispatch(OrderShippedEvent {
            order_id: "9".into(),
        })
        .await?;
    let sent = broadcasts.on_channel("orders.9");
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].event, "order.shipped");
    assert_eq!(sent[0].data["order_id"], "9");
    assert!(
        OrderShippedEvent {
            order_id: "1".into()
        }
        .should_queue_broadcast()
    );
    Ok(())
}

// ----- "Example: Complete Order Processing System" -------------------------------------

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct OrderItem {
    pub sku: String,
    pub quantity: u32,
}

// 1. Create the event
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct OrderCreatedEvent {
    pub order_id: String,
    pub user_id: String,
    pub items: Vec<OrderItem>,
    pub total: f64,
    pub timestamp: chrono::DateTime<chrono::Utc>,
}

impl OrderCreatedEvent {
    fn sample() -> Self {
        Self {
            order_id: "o-1".into(),
            user_id: "u-1".into(),
            items: vec![],
            total: 1.0,
            timestamp: chrono::Utc::now(),
        }
    }
}

impl Event for OrderCreatedEvent {
    fn event_name(&self) -> &'static str {
        "OrderCreated"
    }
    fn to_json(&self) -> serde_json::Value {
        serde_json::to_value(self).unwrap_or_default()
    }
    fn should_queue(&self) -> bool {
        true
    }
}

// 2. Create listeners
pub struct SendOrderConfirmationListenerB;
pub struct UpdateInventoryListener;
pub struct ProcessPaymentListener;

macro_rules! logging_listener {
    ($ty:ty, $what:literal) => {
        #[async_trait]
        impl EventListener for $ty {
            async fn handle(&self, event: Arc<dyn Event>) -> Result<()> {
                let order = event
                    .downcast_ref::<OrderCreatedEvent>()
                    .ok_or_else(|| anyhow::anyhow!("not an order"))?;
                log(format!("{} {}", $what, order.order_id));
                Ok(())
            }
        }
    };
}
logging_listener!(SendOrderConfirmationListenerB, "confirm");
logging_listener!(UpdateInventoryListener, "inventory");
logging_listener!(ProcessPaymentListener, "payment");

// 3. Register listeners (typically in your app startup)
pub async fn register_order_listeners() -> Result<()> {
    listen::<OrderCreatedEvent>(Arc::new(SendOrderConfirmationListenerB)).await;
    listen::<OrderCreatedEvent>(Arc::new(UpdateInventoryListener)).await;
    listen::<OrderCreatedEvent>(Arc::new(ProcessPaymentListener)).await;
    Ok(())
}

pub struct CreateOrderRequest {
    pub user_id: String,
    pub items: Vec<OrderItem>,
}

struct Order {
    id: String,
    user_id: String,
    items: Vec<OrderItem>,
    total: f64,
}

async fn create_order_in_db(request: CreateOrderRequest) -> Result<Order> {
    Ok(Order {
        id: "order-42".into(),
        total: request.items.iter().map(|i| i.quantity as f64 * 2.5).sum(),
        user_id: request.user_id,
        items: request.items,
    })
}

// 4. Dispatch the event (in your order controller)
pub async fn create_order(order_data: CreateOrderRequest) -> Result<()> {
    // Create order in database
    let order = create_order_in_db(order_data).await?;

    // Dispatch event
    let event = OrderCreatedEvent {
        order_id: order.id,
        user_id: order.user_id,
        items: order.items,
        total: order.total,
        timestamp: chrono::Utc::now(),
    };

    event.dispatch().await?;
    Ok(())
}

#[tokio::test]
async fn complete_order_processing_example_runs_every_listener_in_order() -> Result<()> {
    let _global = global_state().await;
    take_log();
    register_order_listeners().await?;
    create_order(CreateOrderRequest {
        user_id: "u-7".into(),
        items: vec![OrderItem {
            sku: "book".into(),
            quantity: 2,
        }],
    })
    .await?;
    assert_eq!(
        take_log(),
        vec!["confirm order-42", "inventory order-42", "payment order-42"]
    );
    Ok(())
}

#[tokio::test]
async fn dispatch_if_and_unless() -> Result<()> {
    let _global = global_state().await;
    take_log();
    register_order_listeners().await?;
    OrderCreatedEvent::sample().dispatch_if(false).await?;
    OrderCreatedEvent::sample().dispatch_unless(true).await?;
    assert!(take_log().is_empty());
    OrderCreatedEvent::sample().dispatch_if(true).await?;
    OrderCreatedEvent::sample().dispatch_unless(false).await?;
    assert_eq!(take_log().len(), 6);
    Ok(())
}
