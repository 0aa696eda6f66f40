//! Several apps on one server, each with its limits, refused with the
//! protocol's codes: 4004 over the connection quota, `pusher:error` 4301 for
//! client events over the rate or payload limit, `LimitReached` (4009) for a
//! channel name over the length limit, 413 for a published event too big;
//! apps files in JSON and TOML, an unknown field an error naming it.

mod common;

use std::net::SocketAddr;
use std::process::Command;
use std::time::Duration;

use common::*;
use event_broadcast::signature::{self, Credentials};
use event_broadcast_server::{AppConfig, Limits, Server, load_apps_file};
use serde_json::{Value, json};

fn b_creds() -> Credentials {
    Credentials {
        app_id: "b".into(),
        key: "b-key".into(),
        secret: "b-secret".into(),
    }
}

fn app_b() -> AppConfig {
    let mut b = AppConfig::new(b_creds());
    b.limits = Limits {
        max_connections: Some(2),
        max_client_events_per_second: Some(3),
        max_channel_name_length: Some(20),
    };
    b.max_event_bytes = Some(100);
    b.client_events = Some(true);
    b
}

async fn two_apps() -> Server {
    let mut config = config();
    config.apps = vec![app_b()];
    Server::bind(config).await.expect("binds")
}

/// Subscribes `c` (of app `creds`) to `channel`, signing with its secret.
async fn subscribed_as(c: &mut Client2, creds: &Credentials, channel: &str) -> Value {
    let auth = signature::channel_auth(creds, &c.socket_id, channel, None);
    subscribe(&mut c.ws, channel, Some(&auth), None).await;
    next_json(&mut c.ws).await.expect("a reply")
}

async fn publish_as(addr: SocketAddr, creds: &Credentials, channel: &str, data: &str) -> u16 {
    let path = format!("/apps/{}/events", creds.app_id);
    let body = json!({ "name": "Ping", "channel": channel, "data": data }).to_string();
    let params = signature::sign_request(
        creds,
        "POST",
        &path,
        &[],
        Some(body.as_bytes()),
        chrono::Utc::now().timestamp(),
    );
    let query = form_urlencoded::Serializer::new(String::new())
        .extend_pairs(params)
        .finish();
    http(
        addr,
        "POST",
        &format!("{path}?{query}"),
        Some(body.into_bytes()),
    )
    .await
    .0
}

fn error_code(frame: &Value) -> Option<u64> {
    (frame["event"] == "pusher:error").then(|| {
        serde_json::from_str::<Value>(frame["data"].as_str().unwrap_or("null")).unwrap_or_default()
            ["code"]
            .as_u64()
    })?
}

#[tokio::test]
async fn each_app_has_its_own_sockets_events_and_connection_quota() {
    let server = two_apps().await;
    let addr = server.local_addr();
    let mut b1 = connect_key(addr, "b-key").await.expect("first of 2");
    let _b2 = connect_key(addr, "b-key").await.expect("second of 2");
    let Err((mut ws, first)) = connect_key(addr, "b-key").await else {
        panic!("a third connection of app b is refused");
    };
    assert_eq!(error_code(&first), Some(4004), "{first}");
    assert_eq!(close_code(&mut ws).await, Some(4004));
    // The other app is not counted against b's quota.
    let mut a = connect(addr).await;
    let _a2 = connect(addr).await;
    let _a3 = connect(addr).await;
    assert_eq!(server.connections(), 5);

    // The same channel name in two apps: two channels.
    subscribed(&mut a, "news", None).await;
    subscribe(&mut b1.ws, "news", None, None).await;
    assert_eq!(
        next_json(&mut b1.ws).await.unwrap()["event"],
        "pusher_internal:subscription_succeeded"
    );
    assert_eq!(publish_as(addr, &b_creds(), "news", "{}").await, 200);
    assert_eq!(next_json(&mut b1.ws).await.unwrap()["event"], "Ping");
    assert!(
        next_json_within(&mut a.ws, Duration::from_millis(300))
            .await
            .is_none(),
        "app b's event stays in app b"
    );
    // b's secret does not sign for the default app, nor the reverse.
    let wrong = Credentials {
        app_id: "test-app".into(),
        ..b_creds()
    };
    assert_eq!(publish_as(addr, &wrong, "news", "{}").await, 401);
    // b's payload limit (100 bytes) on the HTTP API: 413.
    let big = "x".repeat(101);
    assert_eq!(publish_as(addr, &b_creds(), "news", &big).await, 413);
    assert_eq!(publish_as(addr, &creds(), "news", &big).await, 200);
    // Unknown app id: 404.
    let nobody = Credentials {
        app_id: "nobody".into(),
        ..creds()
    };
    assert_eq!(publish_as(addr, &nobody, "news", "{}").await, 404);
}

#[tokio::test]
async fn client_events_over_the_rate_or_size_and_long_names_are_refused() {
    let server = two_apps().await;
    let addr = server.local_addr();
    let mut sender = connect_key(addr, "b-key").await.unwrap();
    let mut receiver = connect_key(addr, "b-key").await.unwrap();

    let long = "private-a-very-long-channel-name";
    let refused = subscribed_as(&mut sender, &b_creds(), long).await;
    assert_eq!(refused["event"], "pusher:subscription_error", "{refused}");
    let data: Value = serde_json::from_str(refused["data"].as_str().unwrap()).unwrap();
    assert_eq!(data["type"], "LimitReached");
    assert_eq!(data["status"], 4009);

    for c in [&mut sender, &mut receiver] {
        let ok = subscribed_as(c, &b_creds(), "private-chat").await;
        assert_eq!(ok["event"], "pusher_internal:subscription_succeeded");
    }
    let sent = 10;
    for i in 0..sent {
        send(
            &mut sender.ws,
            json!({ "event": "client-typing", "channel": "private-chat", "data": { "i": i } }),
        )
        .await;
    }
    let mut refusals = 0;
    while let Some(f) = next_json_within(&mut sender.ws, Duration::from_millis(500)).await {
        if error_code(&f) == Some(4301) {
            refusals += 1;
        }
    }
    let mut delivered = 0;
    while let Some(f) = next_json_within(&mut receiver.ws, Duration::from_millis(500)).await {
        if f["event"] == "client-typing" {
            delivered += 1;
        }
    }
    assert_eq!(
        delivered + refusals,
        sent,
        "each event delivered or refused"
    );
    assert!(
        refusals >= 1 && delivered >= 3,
        "{delivered} delivered, {refusals} refused"
    );

    // Over the payload limit (100 bytes), from the socket that has sent
    // nothing yet (its rate budget is whole): 4301 too, nothing delivered.
    send(
        &mut receiver.ws,
        json!({ "event": "client-big", "channel": "private-chat", "data": { "x": "y".repeat(200) } }),
    )
    .await;
    let f = next_json(&mut receiver.ws).await.unwrap();
    assert_eq!(error_code(&f), Some(4301), "{f}");
    let data: Value = serde_json::from_str(f["data"].as_str().unwrap()).unwrap();
    assert!(
        data["message"].as_str().unwrap().contains("too large"),
        "{f}"
    );
    assert!(
        next_json_within(&mut sender.ws, Duration::from_millis(300))
            .await
            .is_none()
    );
}

fn write(dir: &tempfile::TempDir, name: &str, text: &str) -> std::path::PathBuf {
    let path = dir.path().join(name);
    std::fs::write(&path, text).unwrap();
    path
}

#[test]
fn apps_files_in_json_and_toml_and_an_unknown_field_named() {
    let dir = tempfile::tempdir().unwrap();
    let json_file = write(
        &dir,
        "apps.json",
        r#"{"apps": [{"id": "b", "key": "b-key", "secret": "b-secret", "max_connections": 2,
            "max_client_events_per_second": 3, "max_channel_name_length": 20,
            "max_event_payload_bytes": 100, "client_events": true}]}"#,
    );
    assert_eq!(load_apps_file(&json_file).unwrap(), vec![app_b()]);
    let toml_file = write(
        &dir,
        "apps.toml",
        r#"
[[apps]]
id = "b"
key = "b-key"
secret = "b-secret"
max_connections = 2
max_client_events_per_second = 3
max_channel_name_length = 20
max_event_payload_bytes = 100
client_events = true
"#,
    );
    assert_eq!(load_apps_file(&toml_file).unwrap(), vec![app_b()]);

    for (name, text) in [
        (
            "bad.json",
            r#"{"apps": [{"id": "b", "key": "k", "secret": "s", "colour": "red"}]}"#,
        ),
        (
            "bad.toml",
            "[[apps]]\nid = \"b\"\nkey = \"k\"\nsecret = \"s\"\ncolour = \"red\"\n",
        ),
    ] {
        let error = load_apps_file(&write(&dir, name, text)).unwrap_err();
        let text = format!("{error:#}");
        assert!(text.contains("unknown field `colour`"), "{text}");
        assert!(text.contains(name), "{text}");
    }
    let long = write(
        &dir,
        "long.json",
        r#"{"apps": [{"id": "b", "key": "k", "secret": "s", "max_channel_name_length": 500}]}"#,
    );
    let error = load_apps_file(&long).unwrap_err().to_string();
    assert!(error.contains("max_channel_name_length"), "{error}");
}

#[tokio::test]
async fn the_binary_serves_every_app_of_its_apps_file_and_refuses_a_bad_one() {
    let dir = tempfile::tempdir().unwrap();
    let bad = write(
        &dir,
        "apps.json",
        r#"{"apps": [{"id": "b", "key": "k", "secret": "s", "colour": "red"}]}"#,
    );
    let out = Command::new(env!("CARGO_BIN_EXE_event-broadcast-server"))
        .args(["--port", "0", "--apps-file"])
        .arg(&bad)
        .env_remove("EVENTS_BROADCAST_APP_ID")
        .env_remove("EVENTS_BROADCAST_APP_KEY")
        .env_remove("EVENTS_BROADCAST_APP_SECRET")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(stderr.contains("unknown field `colour`"), "{stderr}");
    assert!(stderr.contains("--apps-file"), "{stderr}");

    let good = write(
        &dir,
        "apps.toml",
        "[[apps]]\nid = \"a\"\nkey = \"a-key\"\nsecret = \"a-secret\"\n\n\
         [[apps]]\nid = \"b\"\nkey = \"b-key\"\nsecret = \"b-secret\"\nmax_connections = 1\n",
    );
    let port = test_support::spare_port();
    let child = Command::new(env!("CARGO_BIN_EXE_event-broadcast-server"))
        .args(["--host", "127.0.0.1", "--port", &port.to_string()])
        .env("EVENTS_BROADCAST_SERVER_APPS_FILE", &good)
        .env_remove("EVENTS_BROADCAST_APP_ID")
        .env_remove("EVENTS_BROADCAST_APP_KEY")
        .env_remove("EVENTS_BROADCAST_APP_SECRET")
        .env_remove("EVENTS_BROADCAST_REDIS_URL")
        .env("RUST_LOG", "warn")
        .spawn()
        .unwrap();
    let _child = common::nodes::Proc(child);
    let addr: SocketAddr = ([127, 0, 0, 1], port).into();
    assert!(
        eventually(Duration::from_secs(10), async || {
            tokio::net::TcpStream::connect(addr).await.is_ok()
        })
        .await
    );
    connect_key(addr, "a-key").await.expect("app a is served");
    let _b = connect_key(addr, "b-key").await.expect("app b is served");
    let Err((_, first)) = connect_key(addr, "b-key").await else {
        panic!("app b's quota of 1 applies");
    };
    assert_eq!(error_code(&first), Some(4004));
}

/// Two nodes serving the default app and app b from a file: each app's
/// events cross nodes on its own bus, and never reach the other app.
#[tokio::test]
async fn each_app_is_its_own_cluster() {
    use common::nodes::{node_with, redis_available};
    if !redis_available() {
        return;
    }
    let redis_port = test_support::spare_port();
    let _redis = test_support::PrivateRedis::start_on(redis_port);
    let dir = tempfile::tempdir().unwrap();
    let file = write(
        &dir,
        "apps.json",
        r#"{"apps": [{"id": "b", "key": "b-key", "secret": "b-secret"}]}"#,
    );
    let env = [("EVENTS_BROADCAST_SERVER_APPS_FILE", file.to_str().unwrap())];
    let (_n1, a1) = node_with(redis_port, &env).await;
    let (_n2, a2) = node_with(redis_port, &env).await;
    let mut b_on_2 = connect_key(a2, "b-key").await.unwrap();
    subscribe(&mut b_on_2.ws, "news", None, None).await;
    assert_eq!(
        next_json(&mut b_on_2.ws).await.unwrap()["event"],
        "pusher_internal:subscription_succeeded"
    );
    let mut a_on_2 = connect(a2).await;
    subscribed(&mut a_on_2, "news", None).await;
    // App b's bus may still be joining on node 1: publish until it crosses.
    let crossed = eventually(Duration::from_secs(10), async || {
        assert_eq!(publish_as(a1, &b_creds(), "news", "{}").await, 200);
        next_json_within(&mut b_on_2.ws, Duration::from_millis(300))
            .await
            .is_some_and(|f| f["event"] == "Ping")
    })
    .await;
    assert!(crossed, "app b's event crosses to node 2");
    assert!(
        next_json_within(&mut a_on_2.ws, Duration::from_millis(300))
            .await
            .is_none(),
        "the default app hears nothing of app b"
    );
}
