//! The Pusher protocol as a client sees it, against a real server on a
//! loopback port: handshake, subscriptions, presence, client events, pings.

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::*;
use event_broadcast_server::Server;
use event_core::Dispatcher;
use event_core::broadcasting::{self, Broadcastable, PusherBroadcaster};
use serde_json::{Value, json};

#[derive(Debug, Clone, serde::Serialize, serde::Deserialize, event_core::Event)]
#[event(broadcast = "orders.{order_id}", private)]
struct OrderShipped {
    order_id: u64,
    carrier: String,
}

#[tokio::test]
async fn connection_established_carries_socket_id_and_activity_timeout() {
    let server = server().await;
    let url = format!("ws://{}/app/test-key?protocol=7", server.local_addr());
    let (mut ws, _) = tokio_tungstenite::connect_async(url).await.unwrap();
    let frame = next_json(&mut ws).await.unwrap();
    assert_eq!(frame["event"], "pusher:connection_established");
    // pusher-js parses `data` as a JSON string inside the frame.
    let data: Value = serde_json::from_str(frame["data"].as_str().unwrap()).unwrap();
    assert!(event_broadcast::channel::valid_socket_id(
        data["socket_id"].as_str().unwrap()
    ));
    assert_eq!(data["activity_timeout"], 30);
}

#[tokio::test]
async fn up_answers_200() {
    let server = server().await;
    let (status, body) = http(server.local_addr(), "GET", "/up", None).await;
    assert_eq!((status, body.as_str()), (200, "ok"));
}

#[tokio::test]
async fn a_dispatched_private_event_reaches_the_subscriber_through_the_pusher_broadcaster() {
    let server = server().await;
    let addr = server.local_addr();
    let mut alice = connect(addr).await;
    subscribed(&mut alice, "private-orders.7", None).await;
    let mut other = connect(addr).await;
    subscribed(&mut other, "private-orders.8", None).await;

    let events = Dispatcher::new();
    events
        .set_broadcaster(Arc::new(PusherBroadcaster::with_base(
            creds(),
            format!("http://{addr}"),
        )))
        .await;
    events
        .dispatch(OrderShipped {
            order_id: 7,
            carrier: "DHL".into(),
        })
        .await
        .unwrap();
    let got = next_json(&mut alice.ws).await.unwrap();
    assert_eq!(got["event"], "OrderShipped");
    assert_eq!(got["channel"], "private-orders.7");
    let data: Value = serde_json::from_str(got["data"].as_str().unwrap()).unwrap();
    assert_eq!(data, json!({ "order_id": 7, "carrier": "DHL" }));
    assert!(
        next_json_within(&mut other.ws, Duration::from_millis(300))
            .await
            .is_none(),
        "another order's channel hears nothing"
    );
}

#[tokio::test]
async fn to_others_skips_the_sending_socket() {
    let server = server().await;
    let addr = server.local_addr();
    let mut sender = connect(addr).await;
    let mut peer = connect(addr).await;
    subscribed(&mut sender, "private-orders.1", None).await;
    subscribed(&mut peer, "private-orders.1", None).await;
    let events = Dispatcher::new();
    events
        .set_broadcaster(Arc::new(PusherBroadcaster::with_base(
            creds(),
            format!("http://{addr}"),
        )))
        .await;
    let event = OrderShipped {
        order_id: 1,
        carrier: "UPS".into(),
    };
    assert_eq!(event.broadcast_channel(), "orders.1");
    broadcasting::to_others(Some(sender.socket_id.clone()), events.dispatch(event))
        .await
        .unwrap();
    assert_eq!(
        next_json(&mut peer.ws).await.unwrap()["event"],
        "OrderShipped"
    );
    assert!(
        next_json_within(&mut sender.ws, Duration::from_millis(300))
            .await
            .is_none()
    );
}

#[tokio::test]
async fn ping_is_answered_with_pong() {
    let server = server().await;
    let mut c = connect(server.local_addr()).await;
    send(&mut c.ws, json!({ "event": "pusher:ping", "data": {} })).await;
    assert_eq!(next_json(&mut c.ws).await.unwrap()["event"], "pusher:pong");
}

#[tokio::test]
async fn a_silent_client_is_pinged_then_closed_with_4201() {
    let mut config = config();
    config.activity_timeout = 1;
    config.pong_timeout = Duration::from_millis(500);
    let server = Server::bind(config).await.unwrap();
    let mut c = connect(server.local_addr()).await;
    let ping = next_json_within(&mut c.ws, Duration::from_secs(3))
        .await
        .unwrap();
    assert_eq!(ping["event"], "pusher:ping");
    assert_eq!(close_code(&mut c.ws).await, Some(4201));
}

#[tokio::test]
async fn a_client_that_answers_pings_stays_connected() {
    let mut config = config();
    config.activity_timeout = 1;
    config.pong_timeout = Duration::from_millis(500);
    let server = Server::bind(config).await.unwrap();
    let mut c = connect(server.local_addr()).await;
    for _ in 0..2 {
        let ping = next_json_within(&mut c.ws, Duration::from_secs(3))
            .await
            .unwrap();
        assert_eq!(ping["event"], "pusher:ping");
        send(&mut c.ws, json!({ "event": "pusher:pong", "data": {} })).await;
    }
    send(&mut c.ws, json!({ "event": "pusher:ping", "data": {} })).await;
    assert_eq!(next_json(&mut c.ws).await.unwrap()["event"], "pusher:pong");
}

#[tokio::test]
async fn presence_has_one_member_per_user_and_announces_first_and_last_socket() {
    let server = server().await;
    let addr = server.local_addr();
    let ada = r#"{"user_id":"1","user_info":{"name":"Ada"}}"#;
    let bob = r#"{"user_id":2,"user_info":{"name":"Bob"}}"#;
    let mut a1 = connect(addr).await;
    let data = subscribed(&mut a1, "presence-room", Some(ada)).await;
    assert_eq!(data["presence"]["count"], 1);
    let mut b = connect(addr).await;
    let data = subscribed(&mut b, "presence-room", Some(bob)).await;
    assert_eq!(data["presence"]["ids"], json!(["1", "2"]));
    assert_eq!(data["presence"]["hash"]["1"], json!({ "name": "Ada" }));
    let added = next_json(&mut a1.ws).await.unwrap();
    assert_eq!(added["event"], "pusher_internal:member_added");
    let added: Value = serde_json::from_str(added["data"].as_str().unwrap()).unwrap();
    assert_eq!(
        added,
        json!({ "user_id": "2", "user_info": { "name": "Bob" } })
    );

    // Ada's second tab: still one member, nobody is told.
    let mut a2 = connect(addr).await;
    let data = subscribed(&mut a2, "presence-room", Some(ada)).await;
    assert_eq!(data["presence"]["count"], 2);
    assert!(
        next_json_within(&mut b.ws, Duration::from_millis(300))
            .await
            .is_none()
    );
    // One tab closes: Ada is still there.
    drop(a1);
    assert!(
        next_json_within(&mut b.ws, Duration::from_millis(300))
            .await
            .is_none()
    );
    let (_, users) = signed(
        addr,
        "GET",
        "/apps/test-app/channels/presence-room/users",
        &[],
        None,
    )
    .await;
    assert_eq!(
        serde_json::from_str::<Value>(&users).unwrap()["users"],
        json!([{"id":"1"},{"id":"2"}])
    );
    // The last one closes: member_removed.
    drop(a2);
    let removed = next_json(&mut b.ws).await.unwrap();
    assert_eq!(removed["event"], "pusher_internal:member_removed");
    let removed: Value = serde_json::from_str(removed["data"].as_str().unwrap()).unwrap();
    assert_eq!(removed, json!({ "user_id": "1" }));
}

#[tokio::test]
async fn client_events_reach_others_with_user_id_and_are_never_echoed() {
    let mut config = config();
    config.client_events = true;
    let server = Server::bind(config).await.unwrap();
    let addr = server.local_addr();
    let mut a = connect(addr).await;
    let mut b = connect(addr).await;
    subscribed(&mut a, "presence-chat", Some(r#"{"user_id":"a"}"#)).await;
    subscribed(&mut b, "presence-chat", Some(r#"{"user_id":"b"}"#)).await;
    let _added = next_json(&mut a.ws).await.unwrap();
    send(
        &mut a.ws,
        json!({ "event": "client-typing", "channel": "presence-chat", "data": { "typing": true } }),
    )
    .await;
    let got = next_json(&mut b.ws).await.unwrap();
    assert_eq!(got["event"], "client-typing");
    assert_eq!(got["data"], json!({ "typing": true }));
    assert_eq!(got["user_id"], "a");
    assert!(
        next_json_within(&mut a.ws, Duration::from_millis(300))
            .await
            .is_none()
    );
}

#[tokio::test]
async fn terminate_connections_closes_every_socket_of_the_user() {
    let server = server().await;
    let addr = server.local_addr();
    let mut a = connect(addr).await;
    subscribed(&mut a, "presence-x", Some(r#"{"user_id":"42"}"#)).await;
    let mut other = connect(addr).await;
    subscribed(&mut other, "presence-x", Some(r#"{"user_id":"7"}"#)).await;
    let _ = next_json(&mut a.ws).await;
    let (status, _) = signed(
        addr,
        "POST",
        "/apps/test-app/users/42/terminate_connections",
        &[],
        None,
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(close_code(&mut a.ws).await, Some(4200));
    let removed = next_json(&mut other.ws).await.unwrap();
    assert_eq!(removed["event"], "pusher_internal:member_removed");
}

#[tokio::test]
async fn channel_info_and_batch_events_over_the_http_api() {
    let server = server().await;
    let addr = server.local_addr();
    let mut c = connect(addr).await;
    subscribed(&mut c, "news", None).await;
    subscribed(&mut c, "presence-lobby", Some(r#"{"user_id":"u1"}"#)).await;
    let (status, body) = signed(
        addr,
        "GET",
        "/apps/test-app/channels/news",
        &[("info", "subscription_count")],
        None,
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        serde_json::from_str::<Value>(&body).unwrap(),
        json!({"occupied": true, "subscription_count": 1})
    );
    let (status, body) = signed(
        addr,
        "GET",
        "/apps/test-app/channels",
        &[("filter_by_prefix", "presence-"), ("info", "user_count")],
        None,
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        serde_json::from_str::<Value>(&body).unwrap(),
        json!({"channels": {"presence-lobby": {"user_count": 1}}})
    );
    let batch = json!({ "batch": [
        { "channel": "news", "name": "first", "data": "{\"n\":1}" },
        { "channel": "news", "name": "second", "data": "{\"n\":2}" },
    ]});
    let (status, answer) = post_api(addr, "batch_events", &batch).await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(next_json(&mut c.ws).await.unwrap()["event"], "first");
    assert_eq!(next_json(&mut c.ws).await.unwrap()["event"], "second");
}

/// Pusher's `info` on "POST event": the answer counts each channel's
/// subscriptions (and a presence channel's users) as the event went out;
/// without `info` the answer stays `{}`; an unknown attribute is refused.
#[tokio::test]
async fn a_trigger_with_info_answers_each_channel_s_counts() {
    let server = server().await;
    let addr = server.local_addr();
    let mut news = Vec::new();
    for _ in 0..3 {
        news.push(subscriber(addr, "news", None).await);
    }
    let _member = subscriber(addr, "presence-lobby", Some(r#"{"user_id":"u1"}"#)).await;
    let trigger = async |body: Value| post_api(addr, "events", &body).await;
    let (status, answer) = trigger(json!({
        "name": "counted", "channels": ["news", "presence-lobby", "empty"], "data": "{}",
        "info": "subscription_count,user_count",
    }))
    .await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(
        answer,
        json!({ "channels": {
            "news": { "subscription_count": 3 },
            "presence-lobby": { "subscription_count": 1, "user_count": 1 },
            "empty": { "subscription_count": 0 },
        }})
    );
    for c in &mut news {
        assert_eq!(next_json(&mut c.ws).await.unwrap()["event"], "counted");
    }
    let (status, answer) =
        trigger(json!({ "name": "plain", "channel": "news", "data": "{}" })).await;
    assert_eq!((status, answer), (200, json!({})));
    let (status, answer) = trigger(json!({
        "name": "bad", "channel": "news", "data": "{}", "info": "subscription_count,colour",
    }))
    .await;
    assert_eq!(status, 400, "{answer}");
    assert!(
        answer["error"].as_str().unwrap().contains("`colour`"),
        "{answer}"
    );

    let batch = json!({ "batch": [
        { "channel": "news", "name": "first", "data": "{}", "info": "subscription_count" },
        { "channel": "news", "name": "second", "data": "{}" },
    ]});
    let (status, answer) = post_api(addr, "batch_events", &batch).await;
    assert_eq!(
        (status, answer),
        (200, json!({ "batch": [{ "subscription_count": 3 }, {}] }))
    );
}

/// The `pusher` broadcaster asks for the counts only through `deliver`
/// (what the dispatcher calls when the event store records hops): the
/// subscriptions of every channel of the message, summed.
#[tokio::test]
async fn the_pusher_broadcaster_reports_the_connections_a_message_reached() {
    use event_core::broadcasting::{BroadcastMessage, Broadcaster};
    let server = server().await;
    let addr = server.local_addr();
    let mut sockets = Vec::new();
    for channel in ["news", "news", "sport"] {
        sockets.push(subscriber(addr, channel, None).await);
    }
    let broadcaster = PusherBroadcaster::with_base(creds(), format!("http://{addr}"));
    let message = BroadcastMessage {
        channels: vec!["news".into(), "sport".into(), "nobody".into()],
        event: "Scored".into(),
        data: json!({ "goals": 1 }),
        socket_id: None,
    };
    let delivery = broadcaster.deliver(&message).await.unwrap();
    assert_eq!(delivery.receivers, Some(3));
    for c in &mut sockets {
        assert_eq!(next_json(&mut c.ws).await.unwrap()["event"], "Scored");
    }
}

#[tokio::test]
async fn graceful_shutdown_closes_with_a_backoff_code() {
    let mut config = config();
    config.drain = Duration::from_millis(300);
    let server = Server::bind(config).await.unwrap();
    let addr = server.local_addr();
    let mut clients = Vec::new();
    for _ in 0..20 {
        clients.push(connect(addr).await);
    }
    let stopping = tokio::spawn(server.shutdown());
    for c in &mut clients {
        assert_eq!(close_code(&mut c.ws).await, Some(4100));
    }
    stopping.await.unwrap().unwrap();
    assert!(
        tokio_tungstenite::connect_async(format!("ws://{addr}/app/test-key"))
            .await
            .is_err()
    );
}

#[tokio::test]
async fn a_socket_that_stops_reading_is_closed_and_never_blocks_the_others() {
    let mut config = config();
    config.socket_queue = 16;
    let server = Server::bind(config).await.unwrap();
    let addr = server.local_addr();
    let mut stuck = connect(addr).await;
    subscribed(&mut stuck, "firehose", None).await;
    let mut reader = connect(addr).await;
    subscribed(&mut reader, "firehose", None).await;
    let payload = "x".repeat(9000);
    let mut received = 0;
    // `stuck` never reads: its kernel buffers fill, then its queue, then it is closed.
    for round in 0..150 {
        let batch: Vec<Value> = (0..10)
            .map(|i| json!({ "channel": "firehose", "name": format!("e{round}-{i}"), "data": payload }))
            .collect();
        let body = json!({ "batch": batch }).to_string().into_bytes();
        let (status, text) =
            signed(addr, "POST", "/apps/test-app/batch_events", &[], Some(body)).await;
        assert_eq!(status, 200, "{text}");
        while let Some(f) = next_json_within(&mut reader.ws, Duration::from_millis(1)).await {
            if f["event"].as_str().is_some_and(|e| e.starts_with('e')) {
                received += 1;
            }
        }
        if server
            .stats()
            .slow_closed
            .load(std::sync::atomic::Ordering::Relaxed)
            > 0
        {
            break;
        }
    }
    assert!(
        server
            .stats()
            .slow_closed
            .load(std::sync::atomic::Ordering::Relaxed)
            >= 1,
        "the stuck socket was closed"
    );
    while let Some(f) = next_json_within(&mut reader.ws, Duration::from_millis(500)).await {
        if f["event"].as_str().is_some_and(|e| e.starts_with('e')) {
            received += 1;
        }
    }
    assert!(received > 0);
    // The reader still gets new events.
    let body = json!({ "name": "after", "channel": "firehose", "data": "{}" })
        .to_string()
        .into_bytes();
    signed(addr, "POST", "/apps/test-app/events", &[], Some(body)).await;
    assert_eq!(next_json(&mut reader.ws).await.unwrap()["event"], "after");
    // And the stuck one, once it reads, finds a 4100 close after what it had
    // buffered, or (when it took longer than the close grace) a dropped connection.
    let code = close_code(&mut stuck.ws).await;
    assert!(matches!(code, Some(4100) | None), "{code:?}");
}
