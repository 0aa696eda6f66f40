//! Live pages by push over a real event-broadcast-server: a socket that
//! subscribes to the dashboard's channel (signed by the dashboard's own
//! endpoint) is told when a job fails on the worker, and only then; other
//! channels are refused; a connection browsers cannot reach is an error.

mod common;

use std::time::Duration;

use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::http::{Method, Request};
use common::{App, get, loopback, pusher};
use event_core::broadcasting::{BroadcastConfig, BroadcastConnection};
use event_dashboard::{CHANGED, CHANNEL, DashboardError, DashboardState, router};
use futures::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;
use tower::ServiceExt;

/// pusher-js's auth request: a form body, from the page (same origin).
async fn auth(router: &axum::Router, socket_id: &str, channel: &str) -> (u16, Value) {
    let body = format!("socket_id={socket_id}&channel_name={channel}");
    let mut request = Request::builder()
        .method(Method::POST)
        .uri("/api/live/auth")
        .header("content-type", "application/x-www-form-urlencoded")
        .header("sec-fetch-site", "same-origin")
        .body(Body::from(body))
        .unwrap();
    request.extensions_mut().insert(ConnectInfo(loopback()));
    let response = router.clone().oneshot(request).await.unwrap();
    let status = response.status().as_u16();
    let bytes = axum::body::to_bytes(response.into_body(), 1 << 20)
        .await
        .unwrap();
    (
        status,
        serde_json::from_slice(&bytes).unwrap_or(Value::Null),
    )
}

/// The next Pusher frame (event name and data), if one comes within `wait`.
async fn next_frame(socket: &mut pusher::Socket, wait: Duration) -> Option<(String, Value)> {
    let deadline = tokio::time::Instant::now() + wait;
    loop {
        let message = tokio::time::timeout_at(deadline, socket.next())
            .await
            .ok()??
            .ok()?;
        if let Message::Text(text) = message {
            let frame: Value = serde_json::from_str(&text).ok()?;
            let event = frame["event"].as_str().unwrap_or_default().to_string();
            if event == "pusher:ping" {
                continue;
            }
            let data = match &frame["data"] {
                Value::String(s) => serde_json::from_str(s).unwrap_or(Value::String(s.clone())),
                other => other.clone(),
            };
            return Some((event, data));
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failure_on_the_worker_is_pushed_to_the_subscribed_page() {
    let (server, broadcast) = pusher::server("dash").await;
    let app = App::new().await;
    let dashboard = router(
        DashboardState::new(app.queue.clone())
            .unwrap()
            .read_only(true) // live pages are live read-only too
            .push(&broadcast)
            .await
            .expect("push over the server"),
    );
    let meta = get(&dashboard, "/api/meta").await;
    assert_eq!(meta.json["live"]["mode"], "push", "{}", meta.text);
    assert_eq!(meta.json["live"]["key"], "dash-key");
    assert_eq!(meta.json["live"]["channel"], CHANNEL);
    let port = server.local_addr().port();
    let csp = meta.headers["content-security-policy"].to_str().unwrap();
    assert!(
        csp.contains(&format!("connect-src 'self' ws://127.0.0.1:{port}")),
        "the page may reach the server: {csp}"
    );
    let script = get(&dashboard, "/assets/pusher.min.js").await;
    assert!(
        script.text.contains("Pusher JavaScript Library v8"),
        "pusher-js is served from the crate"
    );

    let (mut socket, _) = tokio_tungstenite::connect_async(format!(
        "ws://127.0.0.1:{port}/app/dash-key?protocol=7&client=js&version=8.6.0"
    ))
    .await
    .expect("connect to the broadcast server");
    let (event, data) = next_frame(&mut socket, Duration::from_secs(5))
        .await
        .expect("connection established");
    assert_eq!(event, "pusher:connection_established");
    let socket_id = data["socket_id"].as_str().unwrap().to_string();

    let (status, refused) = auth(&dashboard, &socket_id, "private-orders").await;
    assert_eq!(
        status, 403,
        "only the dashboard's channel is signed: {refused}"
    );
    let (status, signed) = auth(&dashboard, &socket_id, CHANNEL).await;
    assert_eq!(status, 200, "{signed}");
    socket
        .send(Message::text(
            json!({"event": "pusher:subscribe", "data": {"channel": CHANNEL, "auth": signed["auth"]}})
                .to_string(),
        ))
        .await
        .unwrap();
    let (event, _) = next_frame(&mut socket, Duration::from_secs(5))
        .await
        .expect("subscribed");
    assert_eq!(event, "pusher_internal:subscription_succeeded");

    // Nothing happens: nothing is pushed.
    assert_eq!(
        next_frame(&mut socket, Duration::from_millis(1_500)).await,
        None
    );

    // A job fails on the worker: the page is told, within a second or so.
    let worker = app.worker();
    let [order] = common::orders();
    app.charge(order).await;
    let (event, data) = next_frame(&mut socket, Duration::from_secs(10))
        .await
        .expect("the change is pushed");
    assert_eq!(event, CHANGED);
    assert!(
        data["parts"].as_array().is_some_and(|p| !p.is_empty()),
        "{data}"
    );
    // Then it goes quiet again: frames follow changes, not a clock.
    let mut frames = 1;
    while next_frame(&mut socket, Duration::from_millis(1_500))
        .await
        .is_some()
    {
        frames += 1;
        assert!(frames < 10, "frames keep coming with nothing changing");
    }
    worker.stop().await;
    server.shutdown().await.unwrap();
}

#[tokio::test]
async fn push_needs_a_server_browsers_reach() {
    let app = App::new().await;
    let log = BroadcastConfig::default();
    let err = DashboardState::new(app.queue.clone())
        .unwrap()
        .push(&log)
        .await
        .expect_err("the log broadcaster reaches no browser");
    assert!(matches!(err, DashboardError::PushNeedsServer(_)), "{err:?}");
    assert!(
        err.to_string()
            .contains("EVENTS_BROADCAST_CONNECTION is `log`"),
        "{err}"
    );

    let no_secret = BroadcastConfig {
        connection: BroadcastConnection::Pusher,
        app_id: Some("dash".into()),
        app_key: Some("dash-key".into()),
        ..BroadcastConfig::default()
    };
    let err = DashboardState::new(app.queue.clone())
        .unwrap()
        .push(&no_secret)
        .await
        .expect_err("no secret, no signatures");
    assert!(
        err.to_string().contains("EVENTS_BROADCAST_APP_SECRET"),
        "{err}"
    );

    // Without push the page polls, and the auth endpoint says so.
    let polling = router(DashboardState::new(app.queue.clone()).unwrap());
    assert_eq!(
        get(&polling, "/api/meta").await.json["live"]["mode"],
        "polling"
    );
    assert_eq!(auth(&polling, "1.2", CHANNEL).await.0, 404);
}
