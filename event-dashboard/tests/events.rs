//! Events from the store: the history with filters, one correlation chain
//! with its parent links and its failed jobs, and actions recorded as
//! events.

mod common;

use std::time::Duration;

use common::{App, eventually, get, post};
use event_core::store::{EventStore, ExpectedVersion, NewEvent};
use event_dashboard::{DashboardState, router};
use serde_json::json;

async fn store(app: &App) -> EventStore {
    let url = format!("sqlite://{}", app.dir.path().join("events.db").display());
    EventStore::open(&url, "events")
        .await
        .expect("open the store")
}

#[tokio::test]
async fn a_chain_shows_every_event_with_its_parent_and_its_failed_jobs() {
    let app = App::new().await;
    let store = store(&app).await;
    store.install(&app.dispatcher).await;
    let dashboard = router(
        DashboardState::new(app.queue.clone())
            .unwrap()
            .store(store.clone()),
    );

    // A dispatched event whose queued listener fails on the worker.
    let worker = app.worker();
    app.charge(5).await;
    store.flush().await.expect("flush");
    let listed = get(&dashboard, "/api/events?name=ChargeCard").await;
    assert_eq!(listed.status, 200, "{}", listed.text);
    let charged = listed.json["events"][0].clone();
    assert_eq!(charged["payload"]["order"], 5, "{}", listed.text);
    let correlation = charged["correlation_id"].as_str().unwrap().to_string();
    assert!(
        eventually(Duration::from_secs(15), async || {
            get(&dashboard, &format!("/api/chains/{correlation}"))
                .await
                .json["failed_jobs"]
                .as_array()
                .is_some_and(|f| f.len() == 1)
        })
        .await,
        "the chain shows the job that failed on the worker"
    );
    worker.stop().await;

    // Two more hops under it: a child and a grandchild.
    let origin = store
        .get(charged["id"].as_str().unwrap())
        .await
        .unwrap()
        .unwrap();
    let child = NewEvent::new("CardDeclined", json!({"order": 5})).caused_by(&origin);
    let child_id = child.id.clone();
    store.append(child, ExpectedVersion::Any).await.unwrap();
    let child = store.get(&child_id).await.unwrap().unwrap();
    let grandchild = NewEvent::new("CustomerEmailed", json!({})).caused_by(&child);
    store
        .append(grandchild, ExpectedVersion::Any)
        .await
        .unwrap();

    let chain = get(&dashboard, &format!("/api/chains/{correlation}")).await;
    let events = chain.json["events"].as_array().unwrap();
    let hops: Vec<(String, i64, Option<String>)> = events
        .iter()
        .map(|e| {
            (
                e["name"].as_str().unwrap().to_string(),
                e["depth"].as_i64().unwrap(),
                e["parent"].as_str().map(str::to_string),
            )
        })
        .collect();
    assert_eq!(
        hops,
        vec![
            ("ChargeCard".into(), 0, None),
            ("CardDeclined".into(), 1, Some(origin.id.clone())),
            ("CustomerEmailed".into(), 2, Some(child_id.clone())),
        ]
    );
    let failed = &chain.json["failed_jobs"][0];
    assert!(
        failed["reason"]
            .as_str()
            .unwrap()
            .contains("card declined for order 5")
    );
    assert_eq!(failed["correlation_id"], correlation.as_str());

    let one = get(&dashboard, &format!("/api/events/{child_id}")).await;
    assert_eq!(one.json["name"], "CardDeclined");
    assert_eq!(get(&dashboard, "/api/chains/nope").await.status, 404);
    let filtered = get(&dashboard, "/api/events?name=CustomerEmailed").await;
    assert_eq!(
        filtered.json["events"].as_array().unwrap().len(),
        1,
        "{}",
        filtered.text
    );
}

#[tokio::test]
async fn every_action_is_recorded_with_what_it_touched() {
    let app = App::new().await;
    let store = store(&app).await;
    let dashboard = router(
        DashboardState::new(app.queue.clone())
            .unwrap()
            .store(store.clone()),
    );
    let paused = post(&dashboard, "/api/queues/payments/pause").await;
    assert_eq!(paused.json["recorded"], true, "{}", paused.text);
    app.charge(1).await;
    app.charge(2).await;
    let cleared = post(&dashboard, "/api/queues/payments/clear").await;
    assert_eq!(cleared.json["touched"], 2);
    let actions = get(&dashboard, "/api/events?name=event_dashboard::ActionTaken").await;
    let payloads: Vec<_> = actions.json["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["payload"].clone())
        .collect();
    assert_eq!(
        payloads,
        vec![
            json!({"action": "pause", "target": {"queue": "payments"}, "touched": 1}),
            json!({"action": "clear", "target": {"queue": "payments"}, "touched": 2}),
        ]
    );
}
