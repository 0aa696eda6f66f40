//! Watchlists: a user signed in with `watchlist` hears which watched users
//! are online right after its sign-in, then `online` when one signs in (its
//! first connection) and `offline` when its last connection closes; across
//! two nodes, and when the node a watched user was on is SIGKILLed.

mod common;

use std::net::SocketAddr;
use std::time::Duration;

use common::nodes::*;
use common::*;
use event_broadcast::signature;
use serde_json::{Value, json};

/// Signs `c` in as `id` watching `watchlist`.
async fn sign_in(c: &mut Client2, id: &str, watchlist: &[&str]) {
    let user_data = json!({ "id": id, "watchlist": watchlist }).to_string();
    let auth = signature::user_auth(&creds(), &c.socket_id, &user_data);
    send(
        &mut c.ws,
        json!({ "event": "pusher:signin", "data": { "auth": auth, "user_data": user_data } }),
    )
    .await;
    let ok = next_json(&mut c.ws).await.expect("a sign-in answer");
    assert_eq!(ok["event"], "pusher:signin_success", "{ok}");
}

/// The next watchlist event: `(name, user_ids)`.
async fn watch_event(c: &mut Client2, wait: Duration) -> Option<(String, Value)> {
    let deadline = tokio::time::Instant::now() + wait;
    loop {
        let left = deadline.saturating_duration_since(tokio::time::Instant::now());
        let f = next_json_within(&mut c.ws, left).await?;
        if f["event"] == "pusher_internal:watchlist_events" {
            let data: Value = serde_json::from_str(f["data"].as_str()?).ok()?;
            let e = &data["events"][0];
            return Some((e["name"].as_str()?.to_string(), e["user_ids"].clone()));
        }
    }
}

async fn online_offline(a: SocketAddr, b: SocketAddr) {
    let mut ada = connect(a).await;
    sign_in(&mut ada, "1", &["2", "3"]).await;
    assert_eq!(
        watch_event(&mut ada, Duration::from_secs(5)).await,
        Some(("online".into(), json!([]))),
        "nobody watched is online yet"
    );
    // Bob signs in twice (two tabs): one `online`.
    let mut bob = connect(b).await;
    sign_in(&mut bob, "2", &[]).await;
    assert_eq!(
        watch_event(&mut ada, Duration::from_secs(5)).await,
        Some(("online".into(), json!(["2"])))
    );
    let mut bob_again = connect(b).await;
    sign_in(&mut bob_again, "2", &[]).await;
    // Someone not watched: nothing.
    let mut eve = connect(b).await;
    sign_in(&mut eve, "9", &[]).await;
    assert!(
        watch_event(&mut ada, Duration::from_millis(500))
            .await
            .is_none()
    );
    // A later watcher hears Bob is online already.
    let mut cy = connect(a).await;
    sign_in(&mut cy, "3", &["2"]).await;
    assert_eq!(
        watch_event(&mut cy, Duration::from_secs(5)).await,
        Some(("online".into(), json!(["2"])))
    );
    assert_eq!(
        watch_event(&mut ada, Duration::from_secs(5)).await,
        Some(("online".into(), json!(["3"])))
    );
    // Offline after Bob's last connection.
    drop(bob);
    assert!(
        watch_event(&mut ada, Duration::from_millis(500))
            .await
            .is_none(),
        "Bob still has a connection"
    );
    drop(bob_again);
    assert_eq!(
        watch_event(&mut ada, Duration::from_secs(5)).await,
        Some(("offline".into(), json!(["2"])))
    );
    assert_eq!(
        watch_event(&mut cy, Duration::from_secs(5)).await,
        Some(("offline".into(), json!(["2"])))
    );
}

#[tokio::test]
async fn watchers_hear_online_and_offline_on_one_node() {
    let server = server().await;
    let addr = server.local_addr();
    online_offline(addr, addr).await;
}

#[tokio::test]
async fn a_watchlist_longer_than_100_is_refused() {
    let server = server().await;
    let mut c = connect(server.local_addr()).await;
    let many: Vec<String> = (0..101).map(|i| i.to_string()).collect();
    let user_data = json!({ "id": "1", "watchlist": many }).to_string();
    let auth = signature::user_auth(&creds(), &c.socket_id, &user_data);
    send(
        &mut c.ws,
        json!({ "event": "pusher:signin", "data": { "auth": auth, "user_data": user_data } }),
    )
    .await;
    assert_eq!(close_code(&mut c.ws).await, Some(4009));
}

#[tokio::test]
async fn watchlists_cross_nodes_and_a_killed_node_s_users_go_offline() {
    let Some(redis) = cluster_redis() else {
        return;
    };
    let (_n1, a1) = node(redis.port).await;
    let (_n2, a2) = node(redis.port).await;
    online_offline(a1, a2).await;

    let (mut n3, a3) = node(redis.port).await;
    let mut dan = connect(a3).await;
    sign_in(&mut dan, "4", &[]).await;
    let mut ada = connect(a1).await;
    let joined = eventually(Duration::from_secs(5), async || {
        let mut probe = connect(a1).await;
        sign_in(&mut probe, "p", &["4"]).await;
        watch_event(&mut probe, Duration::from_secs(1)).await
            == Some(("online".into(), json!(["4"])))
    })
    .await;
    assert!(joined, "node 1 learns dan is online");
    sign_in(&mut ada, "1", &["4"]).await;
    assert_eq!(
        watch_event(&mut ada, Duration::from_secs(5)).await,
        Some(("online".into(), json!(["4"])))
    );
    n3.sigkill();
    assert_eq!(
        watch_event(&mut ada, Duration::from_secs(30)).await,
        Some(("offline".into(), json!(["4"]))),
        "a killed node's users go offline"
    );
}
