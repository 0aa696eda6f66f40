//! Events from the store: the history with filters, one correlation chain
//! with its parent links and its failed jobs, and actions recorded as
//! events.

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::{App, eventually, get, post};
use event_core::store::{EventStore, ExpectedVersion, NewEvent};
use event_dashboard::{DashboardState, router};
use serde_json::json;

#[tokio::test]
async fn a_chain_shows_every_event_with_its_parent_and_its_failed_jobs() {
    let app = App::new().await;
    let store = app.store().await;
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
    let store = app.store().await;
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
            json!({"action": "pause", "target": {"queue": "payments"}, "touched": 1,
                   "operator": {"name": "loopback client", "address": "127.0.0.1"}}),
            json!({"action": "clear", "target": {"queue": "payments"}, "touched": 2,
                   "operator": {"name": "loopback client", "address": "127.0.0.1"}}),
        ]
    );
}

/// Mounted in the app with its registry, the dashboard replays a stored
/// event: the listener runs again (a failure is reported, not hidden), and
/// the chain shows the replay under the original. Without the registry the
/// answer says which command replays it in the app.
#[tokio::test]
async fn a_stored_event_is_replayed_from_the_dashboard_mounted_in_the_app() {
    let app = App::new().await;
    let store = app.store().await;
    store.install(&app.dispatcher).await;
    let [order] = common::orders();
    app.charge(order).await;
    store.flush().await.expect("flush");
    let listed = get(
        &dashboard_of(&app, &store, false),
        "/api/events?name=ChargeCard",
    )
    .await;
    let event = listed.json["events"][0].clone();
    let id = event["id"].as_str().unwrap().to_string();
    let correlation = event["correlation_id"].as_str().unwrap().to_string();

    // Standalone (no listeners): handed to the app's workers as a job.
    let standalone = dashboard_of(&app, &store, false);
    assert_eq!(get(&standalone, "/api/meta").await.json["replay"], false);
    let handed = post(&standalone, &format!("/api/events/{id}/replay")).await;
    assert_eq!(handed.status, 202, "{}", handed.text);
    assert_eq!(handed.json["handed_to"], "workers", "{}", handed.text);
    assert!(handed.json["job"].as_str().is_some(), "{}", handed.text);
    // In the app: the card is still declined, and the replay says so.
    let mounted = dashboard_of(&app, &store, true);
    assert_eq!(get(&mounted, "/api/meta").await.json["replay"], true);
    let declined = post(&mounted, &format!("/api/events/{id}/replay")).await;
    assert_eq!(declined.status, 200, "{}", declined.text);
    assert_eq!(declined.json["touched"], 1, "{}", declined.text);
    let error = declined.json["failures"][0]["error"].as_str().unwrap();
    assert!(
        error.contains(&format!("card declined for order {order}")),
        "{error}"
    );

    // Paid now: the replay runs clean, and both show in the chain.
    common::make_payable(order);
    let paid = post(&mounted, &format!("/api/events/{id}/replay")).await;
    assert_eq!(
        (paid.json["touched"].clone(), paid.json["failures"].clone()),
        (1.into(), json!([])),
        "{}",
        paid.text
    );
    let only = post(
        &mounted,
        &format!("/api/events/{id}/replay?listener=NoSuchListener"),
    )
    .await;
    assert_eq!(only.status, 400, "{}", only.text);
    assert!(
        only.text.contains("has no listener `NoSuchListener`")
            && only.text.contains("ChargeCardListener"),
        "a listener the event does not have is named, with those it has: {}",
        only.text
    );
    let chain = get(&mounted, &format!("/api/chains/{correlation}")).await;
    let replays = chain.json["events"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["replay_of"] == id.as_str())
        .count();
    assert_eq!(replays, 2, "{}", chain.text);
    assert_eq!(
        get(&mounted, "/api/events/nope/replay").await.status,
        405,
        "a replay is a POST"
    );
    assert_eq!(post(&mounted, "/api/events/nope/replay").await.status, 404);
}

/// The standalone dashboard hands a replay to the app's workers: a job the
/// worker runs with the app's registry and store (the listener runs again,
/// the chain shows the replay); a worker without a store, or a listener the
/// event does not have, fails the job with a reason that says so.
#[tokio::test]
async fn a_replay_from_the_standalone_dashboard_runs_on_the_app_s_worker() {
    let app = App::new().await;
    let store = app.store().await;
    store.install(&app.dispatcher).await;
    let [order] = common::orders();
    common::make_payable(order);
    app.charge(order).await;
    store.flush().await.expect("flush");
    let standalone = dashboard_of(&app, &store, false);
    let listed = get(&standalone, "/api/events?name=ChargeCard").await;
    let id = listed.json["events"][0]["id"].as_str().unwrap().to_string();
    let correlation = listed.json["events"][0]["correlation_id"]
        .as_str()
        .unwrap()
        .to_string();

    // The app's worker: its registry with the store's replayer.
    let replaying = Arc::new(
        (*app.registry)
            .clone()
            .replayer(store.replayer(app.registry.clone())),
    );
    let handed = post(&standalone, &format!("/api/events/{id}/replay")).await;
    assert_eq!(handed.status, 202, "{}", handed.text);
    let report = work_default_queue(&app, replaying.clone()).await;
    assert_eq!((report.succeeded, report.failed), (1, 0), "{report:?}");
    common::assert_replay_ran_the_listener(&standalone, &correlation, &id).await;

    // A listener the event does not have: the job fails, naming it.
    let unknown = post(
        &standalone,
        &format!("/api/events/{id}/replay?listener=NoSuchListener"),
    )
    .await;
    assert_eq!(unknown.status, 202, "{}", unknown.text);
    let report = work_default_queue(&app, replaying).await;
    assert_eq!(report.failed, 1, "{report:?}");
    // A worker whose process has no store: the job fails, saying so.
    post(&standalone, &format!("/api/events/{id}/replay")).await;
    let report = work_default_queue(&app, app.registry.clone()).await;
    assert_eq!(report.failed, 1, "{report:?}");
    let failed = get(&standalone, &format!("/api/failed?event={id}")).await;
    let reasons: Vec<&str> = failed.json["jobs"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|j| j["reason"].as_str())
        .collect();
    assert_eq!(reasons.len(), 2, "{}", failed.text);
    assert!(
        reasons
            .iter()
            .any(|r| r.contains("has no listener `NoSuchListener`")),
        "{reasons:?}"
    );
    assert!(
        reasons.iter().any(|r| r.contains("has no event store")),
        "{reasons:?}"
    );
}

/// A worker on the connection's default queue (where replay jobs go)
/// until it is empty.
async fn work_default_queue(
    app: &App,
    registry: Arc<event_core::queue::JobRegistry>,
) -> event_core::queue::WorkerReport {
    event_core::queue::Worker::new(app.queue.clone(), registry)
        .queues([app.queue.default_queue()])
        .poll_interval(Duration::from_millis(20))
        .stop_when_empty(true)
        .run()
        .await
        .expect("the worker runs")
}

fn dashboard_of(app: &App, store: &EventStore, replay: bool) -> axum::Router {
    let state = DashboardState::new(app.queue.clone())
        .unwrap()
        .store(store.clone());
    router(if replay {
        state.replay_with(app.registry.clone())
    } else {
        state
    })
}

/// With a redactor, a payload's named fields never leave the server: not in
/// a failed job's detail, the history, one event or a chain.
#[tokio::test]
async fn redacted_fields_are_hidden_everywhere_a_payload_is_shown() {
    let app = App::new().await;
    let store = app.store().await;
    store.install(&app.dispatcher).await;
    let worker = app.worker();
    let [order] = common::orders();
    app.charge(order).await;
    store.flush().await.expect("flush");
    let dashboard = router(
        DashboardState::new(app.queue.clone())
            .unwrap()
            .store(store.clone())
            .redact(event_dashboard::redact::fields(["order"])),
    );
    let plain = router(
        DashboardState::new(app.queue.clone())
            .unwrap()
            .store(store.clone()),
    );
    app.wait_failed(1, "the charge failed on the worker").await;
    worker.stop().await;
    let key = get(&dashboard, "/api/failed").await.json["jobs"][0]["key"]
        .as_str()
        .unwrap()
        .to_string();
    let event = get(&dashboard, "/api/events?name=ChargeCard").await.json["events"][0].clone();
    let (id, chain) = (
        event["id"].as_str().unwrap().to_string(),
        event["correlation_id"].as_str().unwrap().to_string(),
    );
    let shown = [
        format!("/api/failed/{key}"),
        "/api/events?name=ChargeCard".to_string(),
        format!("/api/events/{id}"),
        format!("/api/chains/{chain}"),
    ];
    for path in &shown {
        let redacted = get(&dashboard, path).await;
        assert_eq!(redacted.status, 200, "{path}: {}", redacted.text);
        assert!(
            !redacted.text.contains(&format!("\"order\":{order}")),
            "{path}: {}",
            redacted.text
        );
        assert!(
            redacted.text.contains("[redacted]"),
            "{path}: {}",
            redacted.text
        );
        let unredacted = get(&plain, path).await;
        assert!(
            unredacted.text.contains(&format!("\"order\":{order}")),
            "{path} without a redactor: {}",
            unredacted.text
        );
    }
}
