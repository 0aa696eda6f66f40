//! A correlation chain as the timeline shows it, from a small axum app's
//! HTTP request: the event it dispatches, that event's sync listener (ran,
//! time) and queued listener (on which queue), the second event the queued
//! listener dispatches on the worker, and that event's broadcast (its
//! channel): every hop under its event, with parent links. On sqlite, and
//! on PostgreSQL (the store) when EVENTS_TEST_POSTGRES_URL is set. The
//! app is `common::shop`; tests/browser.rs shows the same chain in the page.

mod common;

use common::get;
use event_core::store::EventStore;
use event_dashboard::{DashboardState, router};
use serde_json::{Value, json};

async fn the_chain_shows_every_hop(store: EventStore) {
    let ordered = common::shop::order(&store).await;
    let (queue, order) = (&ordered.queue, ordered.order);

    let dashboard = router(DashboardState::new(queue.clone()).unwrap().store(store));
    let listed = get(&dashboard, "/api/events?name=OrderPlaced").await;
    let placed = listed.json["events"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["payload"]["order"] == order)
        .expect("the order's event")
        .clone();
    let chain = get(
        &dashboard,
        &format!("/api/chains/{}", placed["correlation_id"].as_str().unwrap()),
    )
    .await;
    assert_eq!(chain.status, 200, "{}", chain.text);
    let events = chain.json["events"].as_array().unwrap();
    let names: Vec<&str> = events.iter().filter_map(|e| e["name"].as_str()).collect();
    assert_eq!(names, ["OrderPlaced", "PaymentTaken"], "{}", chain.text);
    let (placed, taken) = (&events[0], &events[1]);

    // The origin: its sync listener ran (with its time), its queued one
    // went to the default queue.
    assert_eq!(placed["parent"], Value::Null, "{}", chain.text);
    let reserve = &placed["listeners"][0];
    assert_eq!(
        (reserve["listener"].as_str(), reserve["ok"].as_bool()),
        (Some("shop::ReserveStock"), Some(true)),
        "{}",
        chain.text
    );
    assert!(
        reserve["duration_ms"].as_f64().unwrap() >= 5.0,
        "{}",
        chain.text
    );
    assert!(reserve["started_at"].is_string(), "{}", chain.text);
    let queued = &placed["queued"][0];
    assert_eq!(
        (queued["listener"].as_str(), queued["queue"].as_str()),
        (Some("shop::ChargeCard"), Some(queue.default_queue())),
        "{}",
        chain.text
    );
    // Its job's attempt on the worker: which queue and worker, waited, ran,
    // which attempt, how it ended.
    let job = &placed["jobs"][0];
    assert_eq!(
        (
            job["listener"].as_str(),
            job["queue"].as_str(),
            job["attempt"].as_i64(),
            job["outcome"].as_str()
        ),
        (
            Some("shop::ChargeCard"),
            Some(queue.default_queue()),
            Some(1),
            Some("done")
        ),
        "{}",
        chain.text
    );
    assert!(
        job["worker"].as_str().is_some_and(|w| w.contains(':')),
        "{}",
        chain.text
    );
    assert!(
        job["waited_ms"].is_number() && job["duration_ms"].is_number(),
        "{}",
        chain.text
    );
    // The second event, dispatched on the worker under the first, and its
    // broadcast on its channel.
    assert_eq!(taken["parent"], placed["id"], "{}", chain.text);
    assert_eq!(taken["depth"], 1, "{}", chain.text);
    let broadcast = &taken["broadcasts"][0];
    assert_eq!(
        (broadcast["event"].as_str(), broadcast["channels"].clone()),
        (Some("PaymentTaken"), json!(["receipts"])),
        "{}",
        chain.text
    );
    assert_eq!(broadcast["ok"], true, "{}", chain.text);
    assert_eq!(taken["listeners"], json!([]), "{}", chain.text);
}

#[tokio::test]
async fn a_request_s_chain_shows_every_hop_on_sqlite() {
    let dir = tempfile::tempdir().expect("tempdir");
    let url = format!("sqlite://{}", dir.path().join("events.db").display());
    let store = EventStore::open(&url, "events")
        .await
        .expect("open the store");
    the_chain_shows_every_hop(store).await;
}

#[tokio::test]
async fn a_request_s_chain_shows_every_hop_on_postgres() {
    let Some(url) = test_support::postgres_url() else {
        println!("skipped: set EVENTS_TEST_POSTGRES_URL");
        return;
    };
    let table = test_support::unique("dash_hops").replace('-', "_");
    let store = EventStore::open(&url, &table)
        .await
        .expect("open the store");
    the_chain_shows_every_hop(store.clone()).await;
    store.drop_table().await.expect("drop the table");
}
