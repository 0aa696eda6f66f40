//! Refusals: every bad subscription, signature, key and frame in the issue's
//! list, each checked for what the client would notice.

mod common;

use std::time::Duration;

use common::*;
use event_broadcast::signature::{self, Credentials};
use event_broadcast_server::Server;
use futures::SinkExt;
use serde_json::{Value, json};

/// Subscribes with `auth`, expects `pusher:subscription_error`, then checks
/// that an event published on the channel does not reach the socket.
async fn refused(auth: Option<String>, channel: &str, channel_data: Option<&str>) {
    let server = server().await;
    let addr = server.local_addr();
    let mut c = connect(addr).await;
    subscribe(&mut c.ws, channel, auth.as_deref(), channel_data).await;
    let reply = next_json(&mut c.ws).await.unwrap();
    assert_eq!(reply["event"], "pusher:subscription_error", "{reply}");
    assert_eq!(reply["channel"], channel);
    let data: Value = serde_json::from_str(reply["data"].as_str().unwrap()).unwrap();
    assert_eq!(data["status"], 401);
    let body = json!({ "name": "secret", "channel": channel, "data": "{}" }).to_string();
    let (status, _) = signed(
        addr,
        "POST",
        "/apps/test-app/events",
        &[],
        Some(body.into_bytes()),
    )
    .await;
    assert_eq!(status, 200);
    assert!(
        next_json_within(&mut c.ws, Duration::from_millis(300))
            .await
            .is_none(),
        "a refused socket receives nothing on the channel"
    );
}

fn auth_for(socket_id: &str, channel: &str, data: Option<&str>) -> String {
    signature::channel_auth(&creds(), socket_id, channel, data)
}

#[tokio::test]
async fn subscription_without_auth_is_refused() {
    refused(None, "private-orders.1", None).await;
}

#[tokio::test]
async fn subscription_with_a_wrong_signature_is_refused() {
    refused(Some("test-key:deadbeef".into()), "private-orders.1", None).await;
}

#[tokio::test]
async fn subscription_signed_for_another_socket_is_refused() {
    refused(
        Some(auth_for("1.1", "private-orders.1", None)),
        "private-orders.1",
        None,
    )
    .await;
}

#[tokio::test]
async fn subscription_signed_for_another_channel_is_refused() {
    let server = server().await;
    let mut c = connect(server.local_addr()).await;
    let auth = auth_for(&c.socket_id, "private-orders.2", None);
    subscribe(&mut c.ws, "private-orders.1", Some(&auth), None).await;
    let reply = next_json(&mut c.ws).await.unwrap();
    assert_eq!(reply["event"], "pusher:subscription_error");
}

#[tokio::test]
async fn subscription_signed_with_another_key_is_refused() {
    let server = server().await;
    let mut c = connect(server.local_addr()).await;
    // The right secret under another key, and the right signature with the key swapped.
    let other = Credentials {
        key: "other-key".into(),
        ..creds()
    };
    for auth in [
        signature::channel_auth(&other, &c.socket_id, "private-a", None),
        auth_for(&c.socket_id, "private-a", None).replacen("test-key", "evil-key", 1),
    ] {
        subscribe(&mut c.ws, "private-a", Some(&auth), None).await;
        let reply = next_json(&mut c.ws).await.unwrap();
        assert_eq!(reply["event"], "pusher:subscription_error", "{auth}");
    }
}

#[tokio::test]
async fn presence_with_tampered_channel_data_is_refused() {
    let server = server().await;
    let mut c = connect(server.local_addr()).await;
    let auth = auth_for(&c.socket_id, "presence-room", Some(r#"{"user_id":"1"}"#));
    subscribe(
        &mut c.ws,
        "presence-room",
        Some(&auth),
        Some(r#"{"user_id":"admin"}"#),
    )
    .await;
    let reply = next_json(&mut c.ws).await.unwrap();
    assert_eq!(reply["event"], "pusher:subscription_error");
}

#[tokio::test]
async fn unknown_app_key_closes_with_4001() {
    let server = server().await;
    let Err((mut ws, frame)) = connect_key(server.local_addr(), "nope").await else {
        panic!("an unknown key must not connect");
    };
    assert_eq!(frame["event"], "pusher:error");
    assert_eq!(close_code(&mut ws).await, Some(4001));
}

fn signed_query(body: &[u8], timestamp: i64) -> Vec<(String, String)> {
    signature::sign_request(
        &creds(),
        "POST",
        "/apps/test-app/events",
        &[],
        Some(body),
        timestamp,
    )
}

async fn post_with(server: &Server, params: Vec<(String, String)>, body: Vec<u8>) -> u16 {
    let query = form_urlencoded::Serializer::new(String::new())
        .extend_pairs(params)
        .finish();
    http(
        server.local_addr(),
        "POST",
        &format!("/apps/test-app/events?{query}"),
        Some(body),
    )
    .await
    .0
}

fn event_body() -> Vec<u8> {
    json!({ "name": "x", "channel": "news", "data": "{}" })
        .to_string()
        .into_bytes()
}

#[tokio::test]
async fn http_publish_with_a_bad_signature_is_401() {
    let server = server().await;
    let body = event_body();
    let mut params = signed_query(&body, chrono::Utc::now().timestamp());
    params.last_mut().unwrap().1 = "0".repeat(64);
    assert_eq!(post_with(&server, params, body.clone()).await, 401);
    let mut params = signed_query(&body, chrono::Utc::now().timestamp());
    params.retain(|(k, _)| k != "auth_signature");
    assert_eq!(post_with(&server, params, body).await, 401);
}

#[tokio::test]
async fn http_publish_with_a_wrong_body_md5_is_401() {
    let server = server().await;
    let body = event_body();
    let params = signed_query(&body, chrono::Utc::now().timestamp());
    let mut tampered = body.clone();
    tampered.extend_from_slice(b" ");
    assert_eq!(post_with(&server, params, tampered).await, 401);
}

#[tokio::test]
async fn http_publish_older_than_600_s_is_401() {
    let server = server().await;
    let body = event_body();
    let old = chrono::Utc::now().timestamp() - 601;
    assert_eq!(
        post_with(&server, signed_query(&body, old), body.clone()).await,
        401
    );
    let recent = chrono::Utc::now().timestamp() - 500;
    assert_eq!(
        post_with(&server, signed_query(&body, recent), body).await,
        200
    );
}

#[tokio::test]
async fn http_publish_with_another_key_or_app_is_refused() {
    let server = server().await;
    let body = event_body();
    let other = Credentials {
        key: "k2".into(),
        ..creds()
    };
    let params = signature::sign_request(
        &other,
        "POST",
        "/apps/test-app/events",
        &[],
        Some(&body),
        chrono::Utc::now().timestamp(),
    );
    assert_eq!(post_with(&server, params, body.clone()).await, 401);
    let (status, _) = signed(
        server.local_addr(),
        "POST",
        "/apps/other-app/events",
        &[],
        Some(body),
    )
    .await;
    assert_eq!(status, 404);
}

#[tokio::test]
async fn malformed_frames_close_that_connection_only() {
    let server = server().await;
    let addr = server.local_addr();
    let mut good = connect(addr).await;
    subscribed(&mut good, "news", None).await;
    for bad in [
        "not json",
        r#"{"event":"pusher:subscribe"}"#,
        r#"{"event":"hello"}"#,
        "[1,2]",
    ] {
        let mut c = connect(addr).await;
        c.ws.send(tokio_tungstenite::tungstenite::Message::Text(bad.into()))
            .await
            .unwrap();
        assert_eq!(close_code(&mut c.ws).await, Some(1007), "{bad}");
    }
    send(&mut good.ws, json!({ "event": "pusher:ping", "data": {} })).await;
    assert_eq!(
        next_json(&mut good.ws).await.unwrap()["event"],
        "pusher:pong"
    );
}

#[tokio::test]
async fn oversized_frames_close_that_connection_only() {
    let mut config = config();
    config.max_message_bytes = 4096;
    let server = Server::bind(config).await.unwrap();
    let addr = server.local_addr();
    let mut good = connect(addr).await;
    let mut big = connect(addr).await;
    let huge = json!({ "event": "pusher:ping", "data": "x".repeat(10_000) }).to_string();
    let _ = big
        .ws
        .send(tokio_tungstenite::tungstenite::Message::Text(huge.into()))
        .await;
    assert!(close_code(&mut big.ws).await.is_some_and(|c| c != 1000));
    send(&mut good.ws, json!({ "event": "pusher:ping", "data": {} })).await;
    assert_eq!(
        next_json(&mut good.ws).await.unwrap()["event"],
        "pusher:pong"
    );
}

async fn whisper(client_events: bool, channel: &str, subscribe_first: bool) -> (Value, bool) {
    let mut config = config();
    config.client_events = client_events;
    let server = Server::bind(config).await.unwrap();
    let addr = server.local_addr();
    let mut a = connect(addr).await;
    let mut b = connect(addr).await;
    subscribed(&mut b, channel, None).await;
    if subscribe_first {
        subscribed(&mut a, channel, None).await;
    }
    send(
        &mut a.ws,
        json!({ "event": "client-hi", "channel": channel, "data": {} }),
    )
    .await;
    let reply = next_json_within(&mut a.ws, Duration::from_millis(500))
        .await
        .unwrap_or(Value::Null);
    let heard = next_json_within(&mut b.ws, Duration::from_millis(300))
        .await
        .is_some();
    (reply, heard)
}

#[tokio::test]
async fn client_events_are_refused_unless_enabled() {
    let (reply, heard) = whisper(false, "private-a", true).await;
    assert_eq!(reply["event"], "pusher:error");
    assert!(!heard);
}

#[tokio::test]
async fn client_events_are_refused_on_public_channels() {
    let (reply, heard) = whisper(true, "public-a", true).await;
    assert_eq!(reply["event"], "pusher:error");
    assert!(!heard);
}

#[tokio::test]
async fn client_events_are_refused_from_unsubscribed_sockets() {
    let (reply, heard) = whisper(true, "private-a", false).await;
    assert_eq!(reply["event"], "pusher:error");
    assert!(!heard);
    let (reply, heard) = whisper(true, "private-a", true).await;
    assert!(reply.is_null(), "the sender hears nothing back: {reply}");
    assert!(heard);
}

#[tokio::test]
async fn a_bad_signin_closes_with_4009_and_a_good_one_succeeds() {
    let server = server().await;
    let mut c = connect(server.local_addr()).await;
    let user_data = r#"{"id":"9"}"#;
    let auth = signature::user_auth(&creds(), &c.socket_id, user_data);
    send(
        &mut c.ws,
        json!({ "event": "pusher:signin", "data": { "auth": auth, "user_data": user_data } }),
    )
    .await;
    assert_eq!(
        next_json(&mut c.ws).await.unwrap()["event"],
        "pusher:signin_success"
    );
    let mut bad = connect(server.local_addr()).await;
    send(
        &mut bad.ws,
        json!({ "event": "pusher:signin", "data": { "auth": auth, "user_data": user_data } }),
    )
    .await;
    assert_eq!(close_code(&mut bad.ws).await, Some(4009));
}
