//! The HTTP request as the root of its chain (event-core's `http` layer,
//! `RequestOrigin`), from a small axum app: POST /orders/{order}
//! dispatches an event with a sync listener and a queued one; the queued
//! one dispatches a second event on the worker, which is broadcast. The
//! chain API shows the request first (its route, status, time), the first
//! event's parent is the request, every hop has its parent link, and the
//! response carries the chain's `X-Correlation-Id`. A request naming a
//! chain in `X-Correlation-Id` continues it; without a recording store
//! the layer changes nothing. On sqlite, and on PostgreSQL when
//! EVENTS_TEST_POSTGRES_URL is set.

mod common;

use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::extract::{MatchedPath, Path, State};
use axum::http::{Request, StatusCode};
use common::get;
use event_core::broadcasting::{Broadcaster, MemoryBroadcaster, ShouldBroadcast};
use event_core::http::RequestOrigin;
use event_core::prelude::*;
use event_core::queue::{Queue, Worker};
use event_core::store::EventStore;
use event_dashboard::{DashboardState, router};
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

/// The app: POST /orders/{order} dispatches OrderPlaced, behind the layer.
fn app(events: &Dispatcher) -> axum::Router {
    axum::Router::new()
        .route(
            "/orders/{order}",
            axum::routing::post(
                |State(events): State<Dispatcher>, Path(order): Path<u64>| async move {
                    events
                        .dispatch(OrderPlaced { order })
                        .await
                        .map(|_| "placed")
                        .map_err(|e| (StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))
                },
            ),
        )
        .layer(
            RequestOrigin::new(events.clone())
                .route_from(|e| e.get::<MatchedPath>().map(|p| p.as_str().to_owned())),
        )
        .with_state(events.clone())
}

/// POSTs an order (with `correlation` as `X-Correlation-Id`); the status
/// and the response's `X-Correlation-Id`.
async fn place(app: &axum::Router, order: u64, correlation: Option<&str>) -> (u16, Option<String>) {
    let mut request = Request::post(format!("/orders/{order}"));
    if let Some(c) = correlation {
        request = request.header("x-correlation-id", c);
    }
    let response = app
        .clone()
        .oneshot(request.body(Body::empty()).unwrap())
        .await
        .expect("the app answers");
    let header = response
        .headers()
        .get("x-correlation-id")
        .map(|v| v.to_str().unwrap().to_string());
    (response.status().as_u16(), header)
}

async fn the_request_is_the_root_of_its_chain(store: EventStore) {
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
    let app = app(&events);

    let [order, continued] = common::orders();
    let (status, correlation) = place(&app, order, None).await;
    assert_eq!(status, 200);
    let correlation = correlation.expect("the response names the chain");
    assert!(
        ulid::Ulid::from_string(&correlation).is_ok(),
        "{correlation}"
    );
    // A request naming that chain continues it (and is a root of its own).
    let (status, again) = place(&app, continued, Some(&correlation)).await;
    assert_eq!(
        (status, again.as_deref()),
        (200, Some(correlation.as_str()))
    );

    let report = Worker::new(queue.clone(), registry)
        .hops_to(store.recorder().expect("an enabled store"))
        .queues([queue.default_queue()])
        .poll_interval(Duration::from_millis(20))
        .stop_when_empty(true)
        .run()
        .await
        .expect("the worker runs");
    assert_eq!(report.succeeded, 2, "{report:?}");
    assert_eq!(broadcaster.on_channel("receipts").len(), 2);
    store.flush().await.expect("flush");

    let dashboard = router(DashboardState::new(queue.clone()).unwrap().store(store));
    let chain = get(&dashboard, &format!("/api/chains/{correlation}")).await;
    assert_eq!(chain.status, 200, "{}", chain.text);
    let nodes = chain.json["events"].as_array().unwrap();
    let of_order = |n: u64| -> Vec<&Value> {
        nodes
            .iter()
            .filter(|e| e["payload"]["order"] == n)
            .collect()
    };
    let requests: Vec<&Value> = nodes.iter().filter(|e| e["kind"] == "request").collect();
    assert_eq!(requests.len(), 2, "{}", chain.text);
    // The requests come first, the first one with the chain's id as its own.
    assert_eq!(nodes[0]["kind"], "request", "{}", chain.text);
    let first = requests
        .iter()
        .find(|r| r["id"] == correlation.as_str())
        .expect("the first request's id is the chain's");
    assert_eq!(
        (
            first["name"].as_str(),
            first["parent"].clone(),
            first["depth"].as_u64(),
            first["request"]["method"].as_str(),
            first["request"]["route"].as_str(),
            first["request"]["status"].as_u64(),
            first["request"]["ok"].as_bool(),
        ),
        (
            Some("POST /orders/{order}"),
            Value::Null,
            Some(0),
            Some("POST"),
            Some("/orders/{order}"),
            Some(200),
            Some(true)
        ),
        "{}",
        chain.text
    );
    assert!(
        first["request"]["duration_ms"].is_number() && first["dispatched_at"].is_string(),
        "{}",
        chain.text
    );

    for (n, request) in [
        (order, first.to_owned()),
        (continued, {
            let other = requests
                .iter()
                .find(|r| r["id"] != correlation.as_str())
                .unwrap();
            *other
        }),
    ] {
        let events = of_order(n);
        let names: Vec<&str> = events.iter().filter_map(|e| e["name"].as_str()).collect();
        assert_eq!(names, ["OrderPlaced", "PaymentTaken"], "{}", chain.text);
        let (placed, taken) = (events[0], events[1]);
        // request → OrderPlaced → (sync listener, queued listener → job on
        // the worker → PaymentTaken → broadcast).
        assert_eq!(placed["parent"], request["id"], "{}", chain.text);
        assert_eq!(placed["depth"], 1, "{}", chain.text);
        assert_eq!(placed["correlation_id"], correlation.as_str());
        assert_eq!(
            placed["listeners"][0]["listener"], "shop::ReserveStock",
            "{}",
            chain.text
        );
        assert_eq!(placed["queued"][0]["listener"], "shop::ChargeCard");
        assert_eq!(placed["jobs"][0]["outcome"], "done", "{}", chain.text);
        assert_eq!(taken["parent"], placed["id"], "{}", chain.text);
        assert_eq!(taken["depth"], 2, "{}", chain.text);
        assert_eq!(
            taken["broadcasts"][0]["channels"],
            json!(["receipts"]),
            "{}",
            chain.text
        );
    }
}

#[tokio::test]
async fn the_request_is_the_root_of_its_chain_on_sqlite() {
    let dir = tempfile::tempdir().expect("tempdir");
    let url = format!("sqlite://{}", dir.path().join("events.db").display());
    let store = EventStore::open(&url, "events").await.expect("open");
    the_request_is_the_root_of_its_chain(store).await;
}

#[tokio::test]
async fn the_request_is_the_root_of_its_chain_on_postgres() {
    let Some(url) = test_support::postgres_url() else {
        println!("skipped: set EVENTS_TEST_POSTGRES_URL");
        return;
    };
    let table = test_support::unique("dash_origin").replace('-', "_");
    let store = EventStore::open(&url, &table).await.expect("open");
    the_request_is_the_root_of_its_chain(store.clone()).await;
    store.drop_table().await.expect("drop the table");
}

/// Without a recording store the layer passes requests through: no
/// header, no scope (the event starts a chain of its own).
#[tokio::test]
async fn without_a_recording_store_the_layer_changes_nothing() {
    let events = Dispatcher::new();
    let seen: Arc<std::sync::Mutex<Vec<bool>>> = Arc::default();
    struct InScope(Arc<std::sync::Mutex<Vec<bool>>>);
    #[async_trait]
    impl EventListener for InScope {
        async fn handle(&self, _: Arc<dyn Event>) -> anyhow::Result<()> {
            self.0
                .lock()
                .unwrap()
                .push(event_core::store::current().is_some());
            Ok(())
        }
    }
    events
        .listen::<OrderPlaced>(Arc::new(InScope(seen.clone())))
        .await;
    let [order] = common::orders();
    let (status, header) = place(&app(&events), order, None).await;
    assert_eq!((status, header), (200, None));
    assert_eq!(*seen.lock().unwrap(), [false]);
}
