//! Who took an action: every `event_dashboard::ActionTaken` in the event
//! store names its operator and the client's address, as the app names
//! them (`DashboardState::operator`) or, by default, as the request got in
//! (the token's holder, a client the gate let in, a loopback client).

mod common;

use axum::http::Method;
use common::standalone::{http, serve};
use common::{App, loopback, remote, send};
use event_core::store::EventStore;
use event_dashboard::{DashboardState, ServeOptions, router};
use serde_json::{Value, json};

/// The stored actions' payloads, oldest first, as the dashboard lists them.
async fn recorded(app: &App, store: &EventStore) -> Vec<Value> {
    let reader = router(
        DashboardState::new(app.queue.clone())
            .unwrap()
            .store(store.clone()),
    );
    let answer = common::get(&reader, "/api/events?name=event_dashboard::ActionTaken").await;
    answer.json["events"]
        .as_array()
        .unwrap_or_else(|| panic!("{}", answer.text))
        .iter()
        .map(|e| e["payload"].clone())
        .collect()
}

#[tokio::test]
async fn mounted_the_app_names_the_operator_and_the_address_is_kept() {
    let app = App::new().await;
    let store = app.store().await;
    let dashboard = router(
        DashboardState::new(app.queue.clone())
            .unwrap()
            .store(store.clone())
            .gate(|parts| parts.headers.contains_key("x-admin"))
            .operator(|parts| {
                parts
                    .headers
                    .get("x-user")
                    .and_then(|v| v.to_str().ok())
                    .map(String::from)
            }),
    );
    let as_alice = [
        ("x-admin", "1"),
        ("x-user", "alice"),
        ("sec-fetch-site", "same-origin"),
    ];
    let paused = send(
        &dashboard,
        Method::POST,
        "/api/queues/payments/pause",
        &as_alice,
        remote(),
    )
    .await;
    assert_eq!(paused.status, 200, "{}", paused.text);
    assert_eq!(
        paused.json["operator"],
        json!({"name": "alice", "address": "10.1.2.3"}),
        "the answer says for whom: {}",
        paused.text
    );
    // The app's closure answers None: the default name says how the
    // request got in.
    let anonymous = [("x-admin", "1"), ("sec-fetch-site", "same-origin")];
    let resumed = send(
        &dashboard,
        Method::POST,
        "/api/queues/payments/resume",
        &anonymous,
        remote(),
    )
    .await;
    assert_eq!(resumed.status, 200, "{}", resumed.text);
    assert_eq!(
        recorded(&app, &store).await,
        vec![
            json!({"action": "pause", "target": {"queue": "payments"}, "touched": 1,
                   "operator": {"name": "alice", "address": "10.1.2.3"}}),
            json!({"action": "resume", "target": {"queue": "payments"}, "touched": 1,
                   "operator": {"name": "client let in by the gate", "address": "10.1.2.3"}}),
        ]
    );
}

#[tokio::test]
async fn mounted_without_a_gate_the_operator_is_the_loopback_client() {
    let app = App::new().await;
    let store = app.store().await;
    let worker = app.worker();
    let [order] = common::orders();
    app.charge(order).await;
    app.wait_failed(1, "the job failed on the worker").await;
    worker.stop().await;
    let dashboard = router(
        DashboardState::new(app.queue.clone())
            .unwrap()
            .store(store.clone()),
    );
    let retried = send(
        &dashboard,
        Method::POST,
        &format!("/api/failed/retry?search=order+{order}"),
        &[("sec-fetch-site", "same-origin")],
        loopback(),
    )
    .await;
    assert_eq!(retried.json["touched"], 1, "{}", retried.text);
    let actions = recorded(&app, &store).await;
    assert_eq!(actions.len(), 1, "{actions:?}");
    assert_eq!(
        actions[0]["operator"],
        json!({"name": "loopback client", "address": "127.0.0.1"})
    );
    assert_eq!(actions[0]["touched"], 1);
}

/// Standalone over TCP: the token's holder, from the address it came from.
#[tokio::test]
async fn standalone_the_operator_is_the_token_holder_at_its_address() {
    let app = App::new().await;
    let served = serve(ServeOptions {
        queue_url: Some(app.url.clone()),
        store_url: Some(app.store_url()),
        token: Some("abc".into()),
        ..ServeOptions::default()
    })
    .await;
    let host = format!("127.0.0.1:{}", served.addr.port());
    let answer = http(
        served.addr,
        &format!(
            "POST /api/queues/payments/pause HTTP/1.1\r\nHost: {host}\r\nOrigin: http://{host}\r\nAuthorization: Bearer abc\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
        ),
    )
    .await;
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    served.stop().await;

    let actions = recorded(&app, &app.store().await).await;
    assert_eq!(
        actions,
        vec![
            json!({"action": "pause", "target": {"queue": "payments"}, "touched": 1,
                   "operator": {"name": "token holder", "address": "127.0.0.1"}})
        ]
    );
}

/// The app's closure may be costly (a session lookup): it runs for actions
/// only, never for the page's reads.
#[tokio::test]
async fn the_operator_is_named_for_actions_only() {
    static CALLS: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let app = App::new().await;
    let dashboard = router(
        DashboardState::new(app.queue.clone())
            .unwrap()
            .operator(|_| {
                CALLS.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                Some("alice".into())
            }),
    );
    for uri in ["/", "/api/queues", "/api/failed", "/api/workers"] {
        assert_eq!(common::get(&dashboard, uri).await.status, 200, "{uri}");
    }
    assert_eq!(CALLS.load(std::sync::atomic::Ordering::SeqCst), 0);
    let paused = common::post(&dashboard, "/api/queues/payments/pause").await;
    assert_eq!(paused.json["operator"]["name"], "alice", "{}", paused.text);
    assert_eq!(CALLS.load(std::sync::atomic::Ordering::SeqCst), 1);
}
