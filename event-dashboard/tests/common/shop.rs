//! A small axum shop whose one request makes a whole correlation chain:
//! `POST /orders/{n}` dispatches `OrderPlaced`; its sync listener
//! (`shop::ReserveStock`) runs inside the request, its queued one
//! (`shop::ChargeCard`) runs on a real worker and dispatches
//! `PaymentTaken`, which is broadcast on `receipts`. The store records the
//! events and their hops, the worker its job's attempt.

use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::http::Request;
use event_core::broadcasting::{Broadcaster, MemoryBroadcaster, ShouldBroadcast};
use event_core::prelude::*;
use event_core::queue::{Queue, Worker};
use event_core::store::EventStore;
use serde_json::{Value, json};
use tower::ServiceExt;

#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
struct OrderPlaced {
    order: u64,
}

impl Event for OrderPlaced {
    fn event_name(&self) -> &'static str {
        "OrderPlaced"
    }
    fn to_json(&self) -> Value {
        json!(self)
    }
}

#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
struct PaymentTaken {
    order: u64,
}

impl Event for PaymentTaken {
    fn event_name(&self) -> &'static str {
        "PaymentTaken"
    }
    fn to_json(&self) -> Value {
        json!(self)
    }
    fn as_should_broadcast(&self) -> Option<&dyn ShouldBroadcast> {
        Some(self)
    }
}

impl ShouldBroadcast for PaymentTaken {
    fn broadcast_on(&self) -> Vec<String> {
        vec!["receipts".into()]
    }
    fn should_queue_broadcast(&self) -> bool {
        false
    }
}

/// Sync: reserves the stock inside the request.
struct ReserveStock;

#[async_trait]
impl EventListener for ReserveStock {
    async fn handle(&self, _: Arc<dyn Event>) -> anyhow::Result<()> {
        tokio::time::sleep(Duration::from_millis(5)).await;
        Ok(())
    }
    fn listener_name(&self) -> &str {
        "shop::ReserveStock"
    }
}

/// Queued: charges the card on the worker, then says the payment is taken.
struct ChargeCard(Dispatcher);

#[async_trait]
impl EventListener for ChargeCard {
    async fn handle(&self, event: Arc<dyn Event>) -> anyhow::Result<()> {
        let order = event.downcast_ref::<OrderPlaced>().expect("an order").order;
        self.0.dispatch(PaymentTaken { order }).await?;
        Ok(())
    }
    fn should_queue(&self) -> bool {
        true
    }
    fn listener_name(&self) -> &str {
        "shop::ChargeCard"
    }
}

/// What one order left behind: the queue (a sqlite file in `dir`) and
/// the order's number; the chain is in the store given to [`order`].
pub struct Ordered {
    pub dir: tempfile::TempDir,
    pub url: String,
    pub queue: Queue,
    pub order: u64,
}

/// Places one order through the app's HTTP route, runs the worker until
/// the queue is empty, and flushes `store`.
pub async fn order(store: &EventStore) -> Ordered {
    let dir = tempfile::tempdir().expect("tempdir");
    let url = format!("sqlite://{}", dir.path().join("jobs.db").display());
    let queue = Queue::open(&url).await.expect("open the queue");
    let events = Dispatcher::new();
    queue.install(&events).await;
    store.install(&events).await;
    let broadcaster = Arc::new(MemoryBroadcaster::new());
    events
        .set_broadcaster(broadcaster.clone() as Arc<dyn Broadcaster>)
        .await;
    events.listen::<OrderPlaced>(Arc::new(ReserveStock)).await;
    let charge: Arc<dyn EventListener> = Arc::new(ChargeCard(events.clone()));
    events.listen::<OrderPlaced>(charge.clone()).await;
    let registry = Arc::new(JobRegistry::new().listener::<OrderPlaced>(charge));

    // The app: POST /orders/{n} dispatches OrderPlaced.
    let app = axum::Router::new().route(
        "/orders/{order}",
        axum::routing::post(
            |axum::extract::State(events): axum::extract::State<Dispatcher>,
             axum::extract::Path(order): axum::extract::Path<u64>| async move {
                events
                    .dispatch(OrderPlaced { order })
                    .await
                    .map(|_| "placed")
                    .map_err(|e| (axum::http::StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))
            },
        ),
    );
    let app = app.with_state(events.clone());
    let [order] = super::orders();
    let request = Request::post(format!("/orders/{order}"))
        .body(Body::empty())
        .unwrap();
    let response = app.oneshot(request).await.expect("the app answers");
    assert_eq!(response.status(), 200);

    // The worker runs the queued listener, which dispatches PaymentTaken.
    let report = Worker::new(queue.clone(), registry)
        .hops_to(store.recorder().expect("an enabled store"))
        .queues([queue.default_queue()])
        .poll_interval(Duration::from_millis(20))
        .stop_when_empty(true)
        .run()
        .await
        .expect("the worker runs");
    assert_eq!(report.succeeded, 1, "{report:?}");
    assert_eq!(broadcaster.on_channel("receipts").len(), 1);
    store.flush().await.expect("flush");
    Ordered {
        dir,
        url,
        queue,
        order,
    }
}
