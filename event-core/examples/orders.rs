//! The seed's "complete order processing system", running for real.
//!
//! `cargo run -p event-core --example orders`
//!
//! An order is created, listeners registered with
//! `listen::<OrderCreatedEvent>` do their work, a wildcard listener audits
//! every event, and the last part shows the testing fakes. The payment
//! listeners are queued on the embedded sqlite connection (a file in a temp
//! dir) and run in a worker task; one of them is flaky and succeeds on its
//! second try, after its backoff.

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::Result;
use event_core::config::EventsConfig;
use event_core::prelude::*;
use event_core::queue::{self, Worker};
use event_core::testing::EventFake;
use serde::{Deserialize, Serialize};

/// One line of an order.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct OrderItem {
    /// The product's stock-keeping unit.
    pub sku: String,
    /// How many were ordered.
    pub quantity: u32,
    /// Unit price, in EUR.
    pub price: f64,
}

// 1. The event: one derive instead of a hand-written `impl Event`.
/// An order was created (dispatched as `"OrderCreated"`).
#[derive(Debug, Clone, Serialize, Deserialize, Event)]
#[event(tags("order", "commerce"))]
pub struct OrderCreatedEvent {
    /// The new order's id.
    pub order_id: String,
    /// Who placed it.
    pub user_id: String,
    /// What was ordered.
    pub items: Vec<OrderItem>,
    /// The sum of the lines, in EUR.
    pub total: f64,
    /// When it was created.
    pub timestamp: event_core::chrono::DateTime<event_core::chrono::Utc>,
}

// 2. The listeners: plain async fns that receive the typed event.
#[listener(event = OrderCreatedEvent)]
async fn send_order_confirmation(event: &OrderCreatedEvent) -> Result<()> {
    println!(
        "  [SendOrderConfirmation] emailing {} about order {} ({:.2} EUR)",
        event.user_id, event.order_id, event.total
    );
    Ok(())
}

#[listener(event = OrderCreatedEvent)]
async fn update_inventory(event: &OrderCreatedEvent) -> Result<()> {
    for item in &event.items {
        println!(
            "  [UpdateInventory] reserving {} x {}",
            item.quantity, item.sku
        );
    }
    Ok(())
}

// Queued: dispatching writes a job to the `payments` queue and returns; a
// worker runs it, with up to 3 tries.
#[listener(event = OrderCreatedEvent, queued, connection = "sqlite", queue = "payments", tries = 3)]
async fn process_payment(event: &OrderCreatedEvent) -> Result<()> {
    println!(
        "  [ProcessPayment] (worker) charging {:.2} EUR for order {}",
        event.total, event.order_id
    );
    Ok(())
}

static FRAUD_CHECKS: AtomicU32 = AtomicU32::new(0);

// A flaky call to a payment provider: its first attempt fails, the worker
// retries it after the 1 s backoff, and the second attempt succeeds.
#[listener(event = OrderCreatedEvent, queued, connection = "sqlite", queue = "payments", tries = 3, backoff = [1])]
async fn check_fraud(event: &OrderCreatedEvent) -> Result<()> {
    let attempt = FRAUD_CHECKS.fetch_add(1, Ordering::SeqCst) + 1;
    if attempt == 1 {
        println!("  [CheckFraud] (worker) attempt 1: the provider timed out; retry in 1 s");
        anyhow::bail!("fraud provider timed out");
    }
    println!(
        "  [CheckFraud] (worker) attempt {attempt}: order {} looks fine",
        event.order_id
    );
    Ok(())
}

/// The seed's wildcard audit listener, written by hand against the trait.
#[derive(Default)]
struct AuditListener {
    seen: Mutex<Vec<String>>,
}

#[async_trait]
impl EventListener for AuditListener {
    async fn handle(&self, event: Arc<dyn Event>) -> Result<()> {
        println!("  [Audit] event {} was fired", event.event_name());
        self.seen
            .lock()
            .map_err(|_| anyhow::anyhow!("audit log poisoned"))?
            .push(event.event_name().to_string());
        Ok(())
    }
}

// 3. Register listeners (typically at app startup).
/// Registers the order listeners on the global dispatcher.
pub async fn register_order_listeners() -> Result<()> {
    listen::<OrderCreatedEvent>(Arc::new(SendOrderConfirmationListener)).await;
    listen::<OrderCreatedEvent>(Arc::new(UpdateInventoryListener)).await;
    listen::<OrderCreatedEvent>(Arc::new(ProcessPaymentListener)).await;
    listen::<OrderCreatedEvent>(Arc::new(CheckFraudListener)).await;
    Ok(())
}

/// What a client sends to place an order.
#[derive(Debug)]
pub struct CreateOrderRequest {
    /// Who places it.
    pub user_id: String,
    /// What they order.
    pub items: Vec<OrderItem>,
}

// 4. Dispatch the event (in your order controller).
/// Creates the order and dispatches `OrderCreatedEvent`; returns its id.
pub async fn create_order(request: CreateOrderRequest) -> Result<String> {
    let order_id = format!("order-{}", event_core::ulid::Ulid::new());
    let total = request
        .items
        .iter()
        .map(|i| f64::from(i.quantity) * i.price)
        .sum();
    let event = OrderCreatedEvent {
        order_id: order_id.clone(),
        user_id: request.user_id,
        items: request.items,
        total,
        timestamp: event_core::chrono::Utc::now(),
    };
    event.dispatch().await?;
    Ok(order_id)
}

fn sample_request() -> CreateOrderRequest {
    CreateOrderRequest {
        user_id: "user-456".to_string(),
        items: vec![
            OrderItem {
                sku: "rust-book".to_string(),
                quantity: 2,
                price: 39.90,
            },
            OrderItem {
                sku: "ferris-plush".to_string(),
                quantity: 1,
                price: 14.50,
            },
        ],
    }
}

#[tokio::main]
async fn main() -> Result<()> {
    println!("== Registering listeners");
    register_order_listeners().await?;
    let audit = Arc::new(AuditListener::default());
    listen_wildcard(audit.clone()).await;
    let mut wiring: Vec<_> = event_dispatcher()
        .await
        .get_listeners()
        .await
        .into_iter()
        .collect();
    wiring.sort();
    for (event, count) in wiring {
        println!("  {event}: {count} listener(s)");
    }

    println!("\n== Queue: the sqlite connection and a worker task");
    // EVENTS_QUEUE_CONNECTION=sqlite, EVENTS_QUEUE_URL=sqlite://<temp dir>/jobs.db
    let dir = tempfile::tempdir()?;
    let config = EventsConfig {
        queue_connection: "sqlite".to_string(),
        queue_url: Some(format!("sqlite://{}/jobs.db", dir.path().display())),
        ..EventsConfig::default()
    };
    let connection = queue::connect(&config).await?;
    connection.install(event_dispatcher().await).await;
    // What the worker can rebuild (artisan generates `event_registry::job_registry()`).
    let jobs = JobRegistry::new()
        .listener::<OrderCreatedEvent>(Arc::new(ProcessPaymentListener))
        .listener::<OrderCreatedEvent>(Arc::new(CheckFraudListener));
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let worker = tokio::spawn(
        Worker::new(connection.clone(), jobs)
            .queues(["payments"])
            .concurrency(2)
            .poll_interval(Duration::from_millis(50))
            .run_until(async {
                let _ = stopped.await;
            }),
    );
    println!(
        "  worker started on {}",
        config.queue_url.as_deref().unwrap_or_default()
    );

    println!("\n== Creating an order");
    let order_id = create_order(sample_request()).await?;
    println!("  created {order_id}; the payment listeners were queued");
    for _ in 0..200 {
        if connection.size().await? == 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let _ = stop.send(());
    let report = worker.await??;
    println!(
        "  worker done: {} job(s) succeeded, {} retried, {} failed",
        report.succeeded, report.retried, report.failed
    );
    event_dispatcher().await.clear_queueable_handler().await;

    println!("\n== Testing with fakes");
    // The seed's global fake: events are recorded, not delivered.
    EventFacade::fake().await;
    create_order(sample_request()).await?;
    println!(
        "  EventFacade::assert_dispatched(\"OrderCreated\") = {}",
        EventFacade::assert_dispatched("OrderCreated").await
    );
    println!(
        "  EventFacade::assert_dispatched_times(\"OrderCreated\", 1) = {}",
        EventFacade::assert_dispatched_times("OrderCreated", 1).await
    );
    println!(
        "  EventFacade::assert_not_dispatched(\"OrderCancelled\") = {}",
        EventFacade::assert_not_dispatched("OrderCancelled").await
    );
    event_core::restore().await;

    // A scoped fake, safe in parallel tests, with typed assertions.
    {
        let events = EventFake::new();
        create_order(sample_request()).await?;
        events.assert_dispatched_once::<OrderCreatedEvent>();
        events.assert_dispatched_with::<OrderCreatedEvent>(|e| e.items.len() == 2);
        let order = &events.dispatched::<OrderCreatedEvent>()[0];
        println!(
            "  EventFake saw {} for {:.2} EUR; no listener ran",
            order.order_id, order.total
        );
    }

    let audited = audit
        .seen
        .lock()
        .map_err(|_| anyhow::anyhow!("audit log poisoned"))?
        .len();
    println!("\n== Done: the audit listener saw {audited} event(s) (faked ones never reach it)");
    Ok(())
}
