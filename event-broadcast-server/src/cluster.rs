//! Several servers as one, over Redis pub/sub.
//!
//! - Events, client events and terminations are published on the app's bus
//!   channel; every node delivers them to its own sockets.
//! - Presence: each node keeps every member socket of the cluster, learned
//!   from `member_joined` / `member_left` on the bus and from a registry hash
//!   (`node|socket|channel` -> member) read when it (re)subscribes.
//! - Liveness: each node scores itself in a sorted set every `node_ttl / 5`.
//!   A node whose score is older than `node_ttl` is dead: every survivor
//!   drops its members (sending `member_removed`), and the one that removes it
//!   from the set sweeps its registry entries. Bound: a killed node's members
//!   are gone everywhere within `node_ttl + node_ttl / 5`.
//! - Redis away: publishing waits in a bounded buffer (overflow is dropped
//!   and counted in `Stats::cluster_dropped`), every task reconnects by
//!   itself with backoff, local traffic never waits, and nothing exits.

use std::sync::Arc;
use std::time::Duration;

use event_broadcast::cluster::{
    ClusterMessage, cache_key, nodes_key, presence_key, pubsub_channel, subscriptions_key,
};
use futures::StreamExt;
use redis::AsyncCommands;
use redis::aio::ConnectionManager;
use serde_json::{Value, json};
use tokio::sync::mpsc;

use crate::hub::{Cached, ClusterLink, Hub, event_frame, is_cache_channel};
use crate::node_figures;
use crate::webhooks::Hook;

/// Joins `hub` to the cluster at `url`. Returns at once; the tasks run
/// (and reconnect) until the runtime stops.
pub(crate) fn join(hub: &Arc<Hub>, url: &str) -> anyhow::Result<()> {
    event_tls::install_default_provider();
    let client = redis::Client::open(url)?;
    let (tx, rx) = mpsc::channel(hub.config.cluster_buffer.max(1));
    hub.set_cluster(ClusterLink::new(tx, client.clone()));
    tokio::spawn(publisher(hub.clone(), client.clone(), rx));
    tokio::spawn(subscriber(hub.clone(), client.clone()));
    tokio::spawn(heartbeat(hub.clone(), client));
    Ok(())
}

fn backoff(attempt: u32) -> Duration {
    let ms = 50u64.saturating_mul(1 << attempt.min(6)).min(2_000);
    Duration::from_millis(ms + rand::random::<u64>() % 50)
}

async fn connect(client: &redis::Client, what: &str) -> ConnectionManager {
    let mut attempt = 0;
    loop {
        match ConnectionManager::new(client.clone()).await {
            Ok(c) => return c,
            Err(error) => {
                if attempt == 0 {
                    tracing::warn!(%error, what, "Redis unreachable; serving local traffic and retrying");
                }
                tokio::time::sleep(backoff(attempt)).await;
                attempt += 1;
            }
        }
    }
}

fn registry_field(node: &str, socket_id: &str, channel: &str) -> String {
    format!("{node}|{socket_id}|{channel}")
}

fn count_field(node: &str, channel: &str) -> String {
    format!("{node}|{channel}")
}

/// Keeps a broadcast's cache channels' frames in the cluster's cache hash.
fn cache_writes(pipe: &mut redis::Pipeline, key: &str, message: &ClusterMessage) -> bool {
    let ClusterMessage::Broadcast {
        channels,
        event,
        data,
        user_id,
        ..
    } = message
    else {
        return false;
    };
    let mut any = false;
    for channel in channels.iter().filter(|c| is_cache_channel(c)) {
        let cached = Cached::new(event_frame(event, channel, data, user_id.as_deref()));
        if let Ok(json) = serde_json::to_string(&cached) {
            pipe.hset(key, channel, json).ignore();
            any = true;
        }
    }
    any
}

/// Writes (or, at 0, deletes) a node's count of a channel.
fn set_count(pipe: &mut redis::Pipeline, key: &str, node: &str, channel: &str, count: usize) {
    if count == 0 {
        pipe.hdel(key, count_field(node, channel)).ignore();
    } else {
        pipe.hset(key, count_field(node, channel), count).ignore();
    }
}

async fn publisher(hub: Arc<Hub>, client: redis::Client, mut rx: mpsc::Receiver<ClusterMessage>) {
    let app = hub.config.credentials.app_id.clone();
    let bus = pubsub_channel(&app);
    let registry = presence_key(&app);
    let counts = subscriptions_key(&app);
    let cache = cache_key(&app);
    let mut conn = connect(&client, "publisher").await;
    while let Some(message) = rx.recv().await {
        let payload = match serde_json::to_string(&message) {
            Ok(p) => p,
            Err(_) => continue,
        };
        let mut pipe = redis::pipe();
        match &message {
            ClusterMessage::MemberJoined {
                origin,
                channel,
                socket_id,
                user_id,
                user_info,
            } => {
                let value = json!({ "user_id": user_id, "user_info": user_info }).to_string();
                pipe.hset(&registry, registry_field(origin, socket_id, channel), value)
                    .ignore();
            }
            ClusterMessage::MemberLeft {
                origin,
                channel,
                socket_id,
                ..
            } => {
                pipe.hdel(&registry, registry_field(origin, socket_id, channel))
                    .ignore();
            }
            ClusterMessage::SubscriptionCount {
                origin,
                channel,
                count,
            } => set_count(&mut pipe, &counts, origin, channel, *count),
            ClusterMessage::Broadcast { .. } => {
                cache_writes(&mut pipe, &cache, &message);
            }
            _ => {}
        }
        pipe.publish(&bus, &payload).ignore();
        let mut attempt = 0;
        // Retry this message until Redis takes it; the buffer behind it is
        // bounded, so the sockets never wait for us.
        while let Err(error) = pipe.query_async::<()>(&mut conn).await {
            if attempt == 0 {
                tracing::warn!(%error, "could not publish to the cluster; retrying");
            }
            tokio::time::sleep(backoff(attempt)).await;
            attempt += 1;
        }
    }
}

async fn subscriber(hub: Arc<Hub>, client: redis::Client) {
    let app = hub.config.credentials.app_id.clone();
    let bus = pubsub_channel(&app);
    let mut cache_conn = None;
    let mut attempt = 0;
    loop {
        match client.get_async_pubsub().await {
            Ok(mut pubsub) => {
                if let Err(error) = pubsub.subscribe(&bus).await {
                    tracing::warn!(%error, "could not subscribe to the cluster channel");
                } else {
                    attempt = 0;
                    tracing::info!(channel = %bus, node = %hub.node_id, "joined the cluster");
                    sync_registry(&hub, &client).await;
                    let mut stream = pubsub.on_message();
                    while let Some(msg) = stream.next().await {
                        let Ok(payload) = msg.get_payload::<String>() else {
                            continue;
                        };
                        match serde_json::from_str::<ClusterMessage>(&payload) {
                            Ok(message) => {
                                if matches!(message, ClusterMessage::Broadcast { origin: None, .. })
                                {
                                    // From an app's `redis` broadcaster: no node
                                    // published it, so each keeps its cache
                                    // channels (the same value from each).
                                    cache_from_app(&mut cache_conn, &client, &app, &message).await;
                                }
                                hub.apply_remote(message)
                            }
                            Err(error) => {
                                tracing::warn!(%error, "ignoring a malformed cluster message");
                            }
                        }
                    }
                    tracing::warn!("lost the cluster channel; reconnecting");
                }
            }
            Err(error) => {
                if attempt == 0 {
                    tracing::warn!(%error, "Redis unreachable for the cluster channel; retrying");
                }
            }
        }
        tokio::time::sleep(backoff(attempt)).await;
        attempt += 1;
    }
}

async fn cache_from_app(
    conn: &mut Option<redis::aio::MultiplexedConnection>,
    client: &redis::Client,
    app: &str,
    message: &ClusterMessage,
) {
    let mut pipe = redis::pipe();
    if !cache_writes(&mut pipe, &cache_key(app), message) {
        return;
    }
    if conn.is_none() {
        *conn = client.get_multiplexed_async_connection().await.ok();
    }
    if let Some(c) = conn.as_mut()
        && pipe.query_async::<()>(c).await.is_err()
    {
        *conn = None;
    }
}

/// Reads the registry: every member socket, subscription count and cached
/// event of every live node.
async fn sync_registry(hub: &Arc<Hub>, client: &redis::Client) {
    let app = &hub.config.credentials.app_id;
    let Ok(mut conn) = client.get_multiplexed_async_connection().await else {
        return;
    };
    let cached: std::collections::HashMap<String, String> =
        conn.hgetall(cache_key(app)).await.unwrap_or_default();
    let expired = hub.load_cache(cached.into_iter().collect());
    if !expired.is_empty() {
        let _: redis::RedisResult<()> = conn.hdel(cache_key(app), expired).await;
    }
    let counts: std::collections::HashMap<String, usize> = conn
        .hgetall(subscriptions_key(app))
        .await
        .unwrap_or_default();
    hub.replace_remote_counts(
        counts
            .into_iter()
            .filter_map(|(field, count)| {
                let (node, channel) = field.split_once('|')?;
                Some((node.to_string(), channel.to_string(), count))
            })
            .collect(),
    );
    let entries: std::collections::HashMap<String, String> =
        match conn.hgetall(presence_key(app)).await {
            Ok(e) => e,
            Err(_) => return,
        };
    for (field, value) in entries {
        let mut parts = field.splitn(3, '|');
        let (Some(node), Some(socket_id), Some(channel)) =
            (parts.next(), parts.next(), parts.next())
        else {
            continue;
        };
        if node == hub.node_id {
            continue;
        }
        let Ok(member) = serde_json::from_str::<Value>(&value) else {
            continue;
        };
        let Some(user_id) = member.get("user_id").and_then(Value::as_str) else {
            continue;
        };
        let info = member.get("user_info").cloned().unwrap_or(Value::Null);
        hub.remote_join(node, channel, socket_id, user_id, info);
    }
}

fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

async fn heartbeat(hub: Arc<Hub>, client: redis::Client) {
    let app = hub.config.credentials.app_id.clone();
    let nodes = nodes_key(&app);
    let registry = presence_key(&app);
    let ttl = hub.config.node_ttl;
    let every = (ttl / 5).max(Duration::from_millis(100));
    let mut conn = connect(&client, "heartbeat").await;
    let mut healthy = true;
    loop {
        let mut pipe = redis::pipe();
        pipe.zadd(&nodes, &hub.node_id, now_ms()).ignore();
        node_figures::write(&mut pipe, &hub);
        let beat: redis::RedisResult<()> = pipe.query_async(&mut conn).await;
        match beat {
            Ok(()) => {
                if !healthy {
                    // Redis may have lost our entries: write them again.
                    tracing::info!("Redis is back; re-registering local presence members");
                    reregister(&hub, &mut conn, &registry).await;
                }
                healthy = true;
                sweep(&hub, &mut conn, &nodes, &registry, ttl).await;
            }
            Err(error) => {
                if healthy {
                    tracing::warn!(%error, "cluster heartbeat failed; retrying");
                }
                healthy = false;
            }
        }
        tokio::time::sleep(every).await;
    }
}

async fn reregister(hub: &Arc<Hub>, conn: &mut ConnectionManager, registry: &str) {
    let mut pipe = redis::pipe();
    let counts = subscriptions_key(&hub.config.credentials.app_id);
    for (channel, count) in hub.local_counts() {
        set_count(&mut pipe, &counts, &hub.node_id, &channel, count);
    }
    for (socket_id, channel, user_id, info) in hub.local_members() {
        let value = json!({ "user_id": user_id, "user_info": info }).to_string();
        pipe.hset(
            registry,
            registry_field(&hub.node_id, &socket_id, &channel),
            value,
        )
        .ignore();
    }
    let _ = pipe.query_async::<()>(conn).await;
}

async fn sweep(
    hub: &Arc<Hub>,
    conn: &mut ConnectionManager,
    nodes: &str,
    registry: &str,
    ttl: Duration,
) {
    let cutoff = now_ms() - ttl.as_millis() as i64;
    // Dead nodes still in the set: the survivor that removes one sweeps its
    // registry entries and sends its members' webhooks.
    let stale: Vec<String> = conn
        .zrangebyscore(nodes, "-inf", cutoff)
        .await
        .unwrap_or_default();
    let mut won = Vec::new();
    let mut vacated = Vec::new();
    for node in stale {
        if node == hub.node_id {
            continue;
        }
        let removed: i64 = conn.zrem(nodes, &node).await.unwrap_or(0);
        if removed == 1 {
            let prefix = format!("{node}|");
            let fields: Vec<String> = conn.hkeys(registry).await.unwrap_or_default();
            let dead: Vec<&String> = fields.iter().filter(|f| f.starts_with(&prefix)).collect();
            if !dead.is_empty() {
                let _: redis::RedisResult<()> = conn.hdel(registry, dead).await;
            }
            // Its channels: each one it occupied is vacated once (the
            // webhook task counts occupancy, so only the last node's goes out).
            let counts = subscriptions_key(&hub.config.credentials.app_id);
            let fields: Vec<String> = conn.hkeys(&counts).await.unwrap_or_default();
            let dead: Vec<&String> = fields.iter().filter(|f| f.starts_with(&prefix)).collect();
            if !dead.is_empty() {
                let _: redis::RedisResult<()> = conn.hdel(&counts, &dead).await;
            }
            vacated.extend(dead.iter().map(|f| f[prefix.len()..].to_string()));
            won.push(node);
        }
    }
    // Nodes this one knows members of: dead when their score is stale or gone.
    for node in hub.remote_nodes() {
        let score: Option<i64> = if won.contains(&node) {
            None
        } else {
            conn.zscore(nodes, &node).await.unwrap_or(Some(i64::MAX))
        };
        if score.is_none_or(|s| s < cutoff) {
            let removed = hub.drop_node(&node, won.contains(&node));
            tracing::warn!(%node, removed, "node missed its heartbeats; removed its presence members and subscriptions");
        }
    }
    // After its members' `member_removed`, as when a channel empties on a node.
    for channel in vacated {
        hub.hook(Hook::Vacated(channel));
    }
    node_figures::forget_old(hub, conn).await;
}
