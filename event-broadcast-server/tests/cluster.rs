//! Two server processes joined over a Redis this test starts on a spare
//! loopback port: events and toOthers across nodes, presence the same on
//! both, a SIGKILLed node's members removed, Redis going away and back.

mod common;

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use common::nodes::*;
use common::*;
use event_core::broadcasting::{BroadcastMessage, Broadcaster};
use serde_json::{Value, json};
use test_support::PrivateRedis;

async fn publish(addr: SocketAddr, channel: &str, name: &str, socket_id: Option<&str>) {
    let mut body = json!({ "name": name, "channel": channel, "data": "{}" });
    if let Some(s) = socket_id {
        body["socket_id"] = s.into();
    }
    let (status, answer) = post_api(addr, "events", &body).await;
    assert_eq!(status, 200, "{answer}");
}

#[tokio::test]
async fn events_and_to_others_cross_nodes() {
    let Some(redis) = cluster_redis() else {
        return;
    };
    let (_n1, a1) = node(redis.port).await;
    let (_n2, a2) = node(redis.port).await;
    let mut on1 = subscriber(a1, "private-orders.1", None).await;
    let mut on2 = subscriber(a2, "private-orders.1", None).await;

    publish(a1, "private-orders.1", "from-node-1", None).await;
    assert_eq!(
        next_json(&mut on1.ws).await.unwrap()["event"],
        "from-node-1"
    );
    assert_eq!(
        next_json(&mut on2.ws).await.unwrap()["event"],
        "from-node-1"
    );

    // toOthers: published on node 1, excluding the socket on node 2.
    publish(a1, "private-orders.1", "not-for-2", Some(&on2.socket_id)).await;
    assert_eq!(next_json(&mut on1.ws).await.unwrap()["event"], "not-for-2");
    assert!(
        next_json_within(&mut on2.ws, Duration::from_millis(500))
            .await
            .is_none()
    );

    // The app's `redis` broadcaster publishes straight onto the cluster.
    let broadcaster = redis_broadcaster(&redis).await;
    broadcaster
        .broadcast(&BroadcastMessage {
            channels: vec!["private-orders.1".into()],
            event: "OrderShipped".into(),
            data: json!({ "order_id": 1 }),
            socket_id: Some(on1.socket_id.clone()),
        })
        .await
        .unwrap();
    let got = next_json(&mut on2.ws).await.unwrap();
    assert_eq!(got["event"], "OrderShipped");
    assert_eq!(
        serde_json::from_str::<Value>(got["data"].as_str().unwrap()).unwrap(),
        json!({ "order_id": 1 })
    );
    assert!(
        next_json_within(&mut on1.ws, Duration::from_millis(500))
            .await
            .is_none()
    );
}

#[tokio::test]
async fn presence_is_the_same_on_every_node_and_a_killed_node_leaves_no_ghosts() {
    let Some(redis) = cluster_redis() else {
        return;
    };
    let (_n1, a1) = node(redis.port).await;
    let (mut n2, a2) = node(redis.port).await;
    let mut ada = subscriber(
        a1,
        "presence-room",
        Some(r#"{"user_id":"1","user_info":{"name":"Ada"}}"#),
    )
    .await;
    // The cluster agrees eventually, not at once: node 2 learns of Ada from
    // the bus (or the registry) a moment after node 1 accepted her.
    let only_ada = json!({ "users": [{ "id": "1" }] });
    assert!(
        eventually(Duration::from_secs(5), async || users(a2, "presence-room")
            .await
            == only_ada)
        .await,
        "node 2 learns node 1's member"
    );
    let mut bob = connect(a2).await;
    let data = subscribed(
        &mut bob,
        "presence-room",
        Some(r#"{"user_id":"2","user_info":{"name":"Bob"}}"#),
    )
    .await;
    assert_eq!(
        data["presence"]["ids"],
        json!(["1", "2"]),
        "node 2 knows node 1's member"
    );
    let added = next_json(&mut ada.ws).await.unwrap();
    assert_eq!(added["event"], "pusher_internal:member_added");
    let both = json!({ "users": [{ "id": "1" }, { "id": "2" }] });
    assert_eq!(users(a1, "presence-room").await, both);
    assert_eq!(users(a2, "presence-room").await, both);

    // A third node joining later reads the registry.
    let (_n3, a3) = node(redis.port).await;
    assert!(
        eventually(Duration::from_secs(3), async || users(a3, "presence-room")
            .await
            == both)
        .await
    );

    // SIGKILL node 2: no goodbye. Bound: node_ttl (5 s) + one heartbeat (1 s).
    let killed = Instant::now();
    n2.sigkill();
    let removed = next_json_within(&mut ada.ws, Duration::from_secs(9))
        .await
        .expect("member_removed arrives");
    assert_eq!(removed["event"], "pusher_internal:member_removed");
    let waited = killed.elapsed();
    assert!(
        waited < Duration::from_millis(7500),
        "removed after {waited:?}"
    );
    println!("a killed node's members were removed after {waited:?}");
    assert_eq!(users(a1, "presence-room").await, only_ada);
    assert!(
        eventually(Duration::from_secs(3), async || users(a3, "presence-room")
            .await
            == only_ada)
        .await
    );
}

#[tokio::test]
async fn redis_going_away_keeps_local_traffic_and_reconnects() {
    let Some(redis) = cluster_redis() else {
        return;
    };
    let redis_port = redis.port;
    let (mut n1, a1) = node(redis_port).await;
    let (_n2, a2) = node(redis_port).await;
    let mut on1 = subscriber(a1, "news", None).await;
    let mut on2 = subscriber(a2, "news", None).await;

    drop(redis);
    publish(a1, "news", "while-redis-is-down", None).await;
    assert_eq!(
        next_json(&mut on1.ws).await.unwrap()["event"],
        "while-redis-is-down"
    );
    let _late = subscriber(a1, "news", None).await;
    assert!(n1.0.try_wait().unwrap().is_none(), "the node did not exit");

    let _redis = PrivateRedis::start_on(redis_port);
    // Reconnected by itself: events cross nodes again.
    let crossed = eventually(Duration::from_secs(10), async || {
        publish(a1, "news", "after-redis-is-back", None).await;
        loop {
            match next_json_within(&mut on2.ws, Duration::from_millis(300)).await {
                Some(f) if f["event"] == "after-redis-is-back" => return true,
                Some(_) => continue,
                None => return false,
            }
        }
    })
    .await;
    assert!(crossed, "events cross nodes after Redis comes back");
}

#[tokio::test]
async fn webhooks_are_sent_once_per_cluster() {
    let Some(redis) = cluster_redis() else {
        return;
    };
    let (url, got) = webhook_receiver(0).await;
    let env = [("EVENTS_BROADCAST_WEBHOOK_URL", url.as_str())];
    let (_n1, a1) = node_with(redis.port, &env).await;
    let (_n2, a2) = node_with(redis.port, &env).await;
    let _on1 = subscriber(a1, "presence-w", Some(r#"{"user_id":"1"}"#)).await;
    // Node 2 knows user 1 before user 1 joins there too.
    assert!(
        eventually(Duration::from_secs(5), async || users(a2, "presence-w")
            .await
            == user_list(&["1"]))
        .await
    );
    let _on2 = subscriber(a2, "presence-w", Some(r#"{"user_id":"1"}"#)).await;
    let _other = subscriber(a2, "presence-w", Some(r#"{"user_id":"2"}"#)).await;
    assert!(
        eventually(Duration::from_secs(5), async || webhook_names(&got).len()
            >= 3)
        .await
    );
    // A quiet half second: nothing more comes (not a synchronisation).
    tokio::time::sleep(Duration::from_millis(500)).await;
    let mut names = webhook_names(&got);
    names.sort();
    assert_eq!(
        names,
        vec![
            "channel_occupied presence-w",
            "member_added presence-w 1",
            "member_added presence-w 2"
        ],
        "one channel_occupied for two nodes, one member_added per user"
    );
}

/// The `redis` broadcaster seals `private-encrypted-` channels' data with the
/// master key (each such channel in a frame of its own); a subscriber opens
/// it with the channel's key, and the public channel of the same broadcast
/// gets the data as it is.
#[tokio::test]
async fn the_redis_broadcaster_encrypts_private_encrypted_channels() {
    let Some(redis) = cluster_redis() else {
        return;
    };
    use event_core::broadcasting::MasterKey;
    let (_n1, a1) = node(redis.port).await;
    let mut secret = subscriber(a1, "private-encrypted-orders.1", None).await;
    let mut public = subscriber(a1, "news", None).await;
    let key = MasterKey::from_bytes([5; 32]);
    let broadcaster = redis_broadcaster(&redis)
        .await
        .encryption_master_key(key.clone());
    broadcaster
        .broadcast(&BroadcastMessage {
            channels: vec!["news".into(), "private-encrypted-orders.1".into()],
            event: "OrderShipped".into(),
            data: json!({ "order_id": 1 }),
            socket_id: None,
        })
        .await
        .unwrap();
    let got = next_json(&mut secret.ws).await.unwrap();
    let sealed = got["data"].as_str().unwrap();
    assert!(!sealed.contains("order_id"), "{sealed}");
    let opened = key
        .decrypt("private-encrypted-orders.1", sealed)
        .expect("opens with the channel's key");
    assert_eq!(
        serde_json::from_str::<Value>(&opened).unwrap(),
        json!({ "order_id": 1 })
    );
    let plain = next_json(&mut public.ws).await.unwrap();
    assert_eq!(
        serde_json::from_str::<Value>(plain["data"].as_str().unwrap()).unwrap(),
        json!({ "order_id": 1 })
    );
}
