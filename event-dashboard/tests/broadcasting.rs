//! `GET api/broadcasting` against real event-broadcast-server nodes: two
//! nodes joined over Redis (EVENTS_TEST_REDIS_URL, an app id of the test's
//! own), sockets on both; the dashboard, given the first node's settings,
//! lists both nodes alive with their connections, the channels with their
//! subscription counts (as the node read counts them) and a presence
//! channel's members from both nodes.
//! Without a server the answer says how to configure one; an unreachable
//! server is a 502 with the cause.

mod common;

use std::time::Duration;

use common::pusher::{credentials, settings, subscribed};
use common::{App, eventually, get};
use event_broadcast_server::{Server, ServerConfig};
use event_dashboard::{DashboardState, router};
use serde_json::{Value, json};

/// A node of `app_id`'s cluster on `redis`, on a free port.
async fn node(app_id: &str, redis: &str) -> Server {
    let mut config = ServerConfig::new(credentials(app_id));
    config.port = 0;
    config.redis_url = Some(redis.to_string());
    Server::bind(config).await.expect("bind a node")
}

#[tokio::test]
async fn without_a_server_the_part_says_how_to_configure_one() {
    let app = App::new().await;
    let dashboard = router(DashboardState::new(app.queue.clone()).unwrap());
    let answer = get(&dashboard, "/api/broadcasting").await;
    assert_eq!(answer.status, 200, "{}", answer.text);
    assert_eq!(answer.json["configured"], false);
    let how = answer.json["how"].as_str().unwrap();
    assert!(
        how.contains("EVENTS_BROADCAST_CONNECTION") && how.contains("EVENTS_BROADCAST_HOST"),
        "{how}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nodes_channels_and_presence_members_across_nodes() {
    let Some(redis) = test_support::redis_url() else {
        return;
    };
    let app_id = test_support::unique("dashbc");
    let first = node(&app_id, &redis).await;
    let second = node(&app_id, &redis).await;
    let (p1, p2) = (first.local_addr().port(), second.local_addr().port());
    let _orders_1 = subscribed(&app_id, p1, "orders", None).await;
    let _orders_2 = subscribed(&app_id, p2, "orders", None).await;
    let _alice = subscribed(&app_id, p1, "presence-room", Some("alice")).await;
    let _bob = subscribed(&app_id, p2, "presence-room", Some("bob")).await;

    let app = App::new().await;
    let dashboard = router(
        DashboardState::new(app.queue.clone())
            .unwrap()
            .push(&settings(&app_id, p1))
            .await
            .expect("the dashboard reads the first node"),
    );
    let mut last = Value::Null;
    // Each node writes its figures on its heartbeat; the presence members
    // of the other node arrive over Redis.
    let seen = eventually(Duration::from_secs(15), async || {
        last = get(&dashboard, "/api/broadcasting").await.json;
        let nodes = last["nodes"].as_array().cloned().unwrap_or_default();
        let room = last["channels"]
            .as_array()
            .and_then(|c| c.iter().find(|c| c["name"] == "presence-room").cloned());
        let orders = last["channels"]
            .as_array()
            .and_then(|c| c.iter().find(|c| c["name"] == "orders").cloned());
        nodes.len() == 2
            && nodes
                .iter()
                .all(|n| n["alive"] == true && n["connections"] == 2)
            && last["connections"] == 4
            // The node asked counts the cluster's subscriptions: a socket
            // on `orders` on each node.
            && orders.is_some_and(|o| o["subscription_count"] == 2)
            && room.is_some_and(|r| {
                let mut members: Vec<_> = r["members"].as_array().cloned().unwrap_or_default();
                members.sort_by_key(|m| m.to_string());
                r["presence"] == true && members == vec![json!("alice"), json!("bob")]
            })
    })
    .await;
    assert!(
        seen,
        "both nodes, their sockets, the channels and both members: {last:#}"
    );
    assert_eq!(last["configured"], true);
    assert_eq!(last["server"], format!("http://127.0.0.1:{p1}"));
    assert!(last["messages_per_second"].is_number(), "{last:#}");

    // The node the dashboard reads is gone: a 502 saying why.
    first.shutdown().await.expect("stop the first node");
    let gone = get(&dashboard, "/api/broadcasting").await;
    assert_eq!(gone.status, 502, "{}", gone.text);
    assert!(
        gone.json["error"]
            .as_str()
            .unwrap()
            .contains(&format!("127.0.0.1:{p1}")),
        "{}",
        gone.text
    );
    second.shutdown().await.expect("stop the second node");
}
