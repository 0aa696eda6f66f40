//! Cache channels over raw sockets: a new subscriber gets the last event
//! right after `subscription_succeeded`, or `pusher:cache_miss` (and the app
//! the `cache_miss` webhook); the same on every node of a cluster, a node
//! started later included. pusher-js: `js_clients.rs`.

mod common;

use std::time::Duration;

use common::nodes::*;
use common::*;
use event_broadcast_server::Server;
use event_core::broadcasting::{BroadcastMessage, Broadcaster};
use serde_json::{Value, json};

fn data(frame: &Value) -> Value {
    serde_json::from_str(frame["data"].as_str().unwrap_or("null")).unwrap_or(Value::Null)
}

/// Subscribes and returns the frame after `subscription_succeeded`.
async fn first_after_subscribing(c: &mut Client2, channel: &str, member: Option<&str>) -> Value {
    subscribed(c, channel, member).await;
    next_json_within(&mut c.ws, Duration::from_secs(5))
        .await
        .expect("a frame after subscription_succeeded")
}

fn is_miss(frame: &Value, channel: &str) -> bool {
    frame["event"] == "pusher:cache_miss" && frame["channel"] == channel
}

#[tokio::test]
async fn a_new_subscriber_gets_the_last_event_or_a_cache_miss() {
    let (url, hooks) = webhook_receiver(0).await;
    let mut config = config();
    config.webhook_url = Some(url);
    config.client_events = true;
    let server = Server::bind(config).await.unwrap();
    let addr = server.local_addr();

    for (channel, member) in [
        ("cache-news", None),
        ("private-cache-orders", None),
        ("presence-cache-room", Some(r#"{"user_id":"1"}"#)),
    ] {
        let mut first = connect(addr).await;
        let miss = first_after_subscribing(&mut first, channel, member).await;
        assert!(is_miss(&miss, channel), "{channel}: {miss}");

        publish(addr, channel, "Headline", &json!({ "n": 1 })).await;
        publish(addr, channel, "Headline", &json!({ "n": 2 })).await;
        for n in [1, 2] {
            let got = next_json(&mut first.ws).await.unwrap();
            assert_eq!(data(&got), json!({ "n": n }), "{got}");
        }

        let mut late = connect(addr).await;
        let member2 = member.map(|_| r#"{"user_id":"2"}"#);
        let replayed = first_after_subscribing(&mut late, channel, member2).await;
        assert_eq!(replayed["event"], "Headline", "{channel}: {replayed}");
        assert_eq!(replayed["channel"], channel);
        assert_eq!(data(&replayed), json!({ "n": 2 }), "the last event only");
    }

    // A client event on a private cache channel is the last event too.
    let mut a = subscriber(addr, "private-cache-orders", None).await;
    let _ = next_json(&mut a.ws).await; // the replay
    send(
        &mut a.ws,
        json!({ "event": "client-typing", "channel": "private-cache-orders", "data": { "who": "a" } }),
    )
    .await;
    let replayed = eventually(Duration::from_secs(5), async || {
        let mut b = connect(addr).await;
        let f = first_after_subscribing(&mut b, "private-cache-orders", None).await;
        f["event"] == "client-typing" && f["data"] == json!({ "who": "a" })
    })
    .await;
    assert!(replayed, "a client event is replayed as sent");

    // Other channels: no cache_miss, nothing replayed.
    let _plain = subscriber(addr, "news", None).await;
    publish(addr, "news", "Headline", &json!({ "n": 1 })).await;
    let mut plain2 = subscriber(addr, "news", None).await;
    assert!(
        next_json_within(&mut plain2.ws, Duration::from_millis(300))
            .await
            .is_none()
    );

    let misses = eventually(Duration::from_secs(5), async || {
        webhook_names(&hooks)
            .iter()
            .filter(|h| h.starts_with("cache_miss"))
            .count()
            == 3
    })
    .await;
    assert!(
        misses,
        "one cache_miss webhook per miss: {:?}",
        webhook_names(&hooks)
    );
    assert!(webhook_names(&hooks).contains(&"cache_miss cache-news".to_string()));
}

#[tokio::test]
async fn the_cache_is_the_same_on_every_node_and_a_later_node() {
    let Some(redis) = cluster_redis() else {
        return;
    };
    let (_n1, a1) = node(redis.port).await;
    let (_n2, a2) = node(redis.port).await;

    publish(a1, "cache-prices", "Tick", &json!({ "p": 10 })).await;
    // The app's `redis` broadcaster: no node published it.
    let broadcaster = redis_broadcaster(&redis).await;
    broadcaster
        .broadcast(&BroadcastMessage {
            channels: vec!["cache-rates".into()],
            event: "Rate".into(),
            data: json!({ "r": 3 }),
            socket_id: None,
        })
        .await
        .unwrap();

    let on_node = async |addr, channel: &str, want: Value| {
        eventually(Duration::from_secs(5), async || {
            let mut c = connect(addr).await;
            data(&first_after_subscribing(&mut c, channel, None).await) == want
        })
        .await
    };
    assert!(on_node(a2, "cache-prices", json!({ "p": 10 })).await);
    assert!(on_node(a1, "cache-rates", json!({ "r": 3 })).await);
    assert!(on_node(a2, "cache-rates", json!({ "r": 3 })).await);

    // A node started after both events reads them from Redis.
    let (_n3, a3) = node(redis.port).await;
    assert!(on_node(a3, "cache-prices", json!({ "p": 10 })).await);
    assert!(on_node(a3, "cache-rates", json!({ "r": 3 })).await);
    let mut c = connect(a3).await;
    let miss = first_after_subscribing(&mut c, "cache-empty", None).await;
    assert!(is_miss(&miss, "cache-empty"), "{miss}");
}
