//! The cluster as one server: three nodes over a private redis-server.
//! Channel info and `pusher_internal:subscription_count` count every
//! node; a SIGKILLed node's subscriptions and members leave every count,
//! and its channels' `member_removed` / `channel_vacated` webhooks are sent
//! exactly once.

mod common;

use std::net::SocketAddr;
use std::time::Duration;

use common::nodes::*;
use common::*;
use serde_json::{Value, json};

/// Reads frames until one matches `want`, for up to `wait`.
async fn until(ws: &mut Ws, wait: Duration, want: impl Fn(&Value) -> bool) -> Option<Value> {
    let deadline = tokio::time::Instant::now() + wait;
    loop {
        let left = deadline.saturating_duration_since(tokio::time::Instant::now());
        let frame = next_json_within(ws, left).await?;
        if want(&frame) {
            return Some(frame);
        }
    }
}

fn count_event(channel: &str, n: u64) -> impl Fn(&Value) -> bool {
    move |f| {
        f["event"] == "pusher_internal:subscription_count"
            && f["channel"] == channel
            && serde_json::from_str::<Value>(f["data"].as_str().unwrap_or("null")).ok()
                == Some(json!({ "subscription_count": n }))
    }
}

async fn channel_info(addr: SocketAddr, channel: &str, info: &str) -> Value {
    get_json(
        addr,
        &format!("/apps/test-app/channels/{channel}"),
        &[("info", info)],
    )
    .await
}

async fn channel_names(addr: SocketAddr) -> Vec<String> {
    let list = get_json(addr, "/apps/test-app/channels", &[]).await;
    let mut names: Vec<String> = list["channels"]
        .as_object()
        .map(|o| o.keys().cloned().collect())
        .unwrap_or_default();
    names.sort();
    names
}

#[tokio::test]
async fn three_nodes_count_as_one_and_a_killed_node_is_vacated_once() {
    let Some(redis) = cluster_redis() else {
        return;
    };
    let (url, got) = webhook_receiver(0).await;
    let env = [
        ("EVENTS_BROADCAST_WEBHOOK_URL", url.as_str()),
        ("EVENTS_BROADCAST_SUBSCRIPTION_COUNT", "true"),
    ];
    let (_n1, a1) = node_with(redis.port, &env).await;
    let (mut n2, a2) = node_with(redis.port, &env).await;
    let (_n3, a3) = node_with(redis.port, &env).await;
    let all = [a1, a2, a3];

    // `news` on nodes 1 and 2; `private-only-2` on node 2 alone; presence
    // members on nodes 2 and 3.
    let mut news1 = subscriber(a1, "news", None).await;
    let _news2 = subscriber(a2, "news", None).await;
    let _only2 = subscriber(a2, "private-only-2", None).await;
    let _bob = subscriber(a2, "presence-room", Some(r#"{"user_id":"2"}"#)).await;
    let mut cy = subscriber(a3, "presence-room", Some(r#"{"user_id":"3"}"#)).await;

    // The subscriber on node 1 hears the cluster's count: 2.
    assert!(
        until(
            &mut news1.ws,
            Duration::from_secs(5),
            count_event("news", 2)
        )
        .await
        .is_some(),
        "node 1's subscriber hears subscription_count 2"
    );
    // Every node answers with the cluster's figures.
    let counted = on_every(&all, Duration::from_secs(5), async |a| {
        channel_info(a, "news", "subscription_count").await
            == json!({ "occupied": true, "subscription_count": 2 })
            && channel_info(a, "presence-room", "user_count,subscription_count").await
                == json!({ "occupied": true, "user_count": 2, "subscription_count": 2 })
            && channel_names(a).await == ["news", "presence-room", "private-only-2"]
            && users(a, "presence-room").await == user_list(&["2", "3"])
    })
    .await;
    assert!(counted, "every node counts every node's subscriptions");
    let occupied = eventually(Duration::from_secs(5), async || {
        webhook_names(&got)
            .iter()
            .any(|h| h == "channel_occupied private-only-2")
    })
    .await;
    assert!(occupied, "{:?}", webhook_names(&got));

    // SIGKILL node 2 mid-run: no goodbye.
    n2.sigkill();
    let survivors = [a1, a3];
    assert!(
        until(
            &mut news1.ws,
            Duration::from_secs(30),
            count_event("news", 1)
        )
        .await
        .is_some(),
        "node 1's subscriber hears the count drop to 1"
    );
    let agreed = on_every(&survivors, Duration::from_secs(30), async |a| {
        channel_info(a, "news", "subscription_count").await
            == json!({ "occupied": true, "subscription_count": 1 })
            && channel_info(a, "private-only-2", "subscription_count").await
                == json!({ "occupied": false, "subscription_count": 0 })
            && channel_names(a).await == ["news", "presence-room"]
            && users(a, "presence-room").await == user_list(&["3"])
    })
    .await;
    assert!(agreed, "the survivors agree within 30 s of the kill");
    let removed = until(&mut cy.ws, Duration::from_secs(5), |f| {
        f["event"] == "pusher_internal:member_removed"
    })
    .await
    .expect("member_removed reaches node 3's member");
    assert_eq!(removed["data"], json!({ "user_id": "2" }).to_string());

    // The dead node's webhooks: once each, from one survivor.
    let wanted = [
        "channel_vacated private-only-2",
        "member_removed presence-room 2",
    ];
    assert!(
        eventually(Duration::from_secs(30), async || {
            let names = webhook_names(&got);
            wanted.iter().all(|w| names.iter().any(|n| n == w))
        })
        .await,
        "the dead node's webhooks arrive: {:?}",
        webhook_names(&got)
    );
    // Two more heartbeats of every survivor: still once each (a quiet
    // period, not a synchronisation).
    tokio::time::sleep(Duration::from_secs(2)).await;
    let names = webhook_names(&got);
    assert_eq!(
        names
            .iter()
            .filter(|h| *h == "channel_occupied news")
            .count(),
        1,
        "one channel_occupied for a channel on two nodes: {names:?}"
    );
    for w in wanted {
        assert_eq!(
            names.iter().filter(|n| *n == w).count(),
            1,
            "{w} once: {names:?}"
        );
    }
    assert!(
        !names
            .iter()
            .any(|n| n == "channel_vacated news" || n == "channel_vacated presence-room"),
        "channels still occupied elsewhere are not vacated: {names:?}"
    );
}
