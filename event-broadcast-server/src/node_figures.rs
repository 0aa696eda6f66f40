//! Each node's figures for `GET /apps/{id}/nodes` (the dashboard reads
//! them): connections, channels, messages per second. In a cluster every
//! node writes its own to a Redis hash on its heartbeat, and a request reads
//! the set of nodes and that hash (one `ZRANGE`, one `HGETALL`; never a
//! scan). A node whose lease expired is shown with `alive: false` until
//! [`KEPT`] after its last beat.

use std::collections::HashMap;
use std::time::Duration;

use event_broadcast::cluster::{node_figures_key, nodes_key};
use redis::AsyncCommands;
use redis::aio::ConnectionManager;
use serde::{Deserialize, Serialize};

use crate::hub::Hub;

/// How long a dead node stays in the list (with `alive: false`).
pub(crate) const KEPT: Duration = Duration::from_secs(60);

/// One node, as `GET /apps/{id}/nodes` lists it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct NodeFigures {
    /// The node id (`Server::node_id`).
    pub id: String,
    /// False once the node missed its lease (`node_ttl`).
    pub alive: bool,
    /// When the node started (ms since the epoch).
    pub started_at_ms: i64,
    /// Its last heartbeat (ms since the epoch; now, without a cluster).
    pub last_beat_ms: i64,
    /// Open WebSocket connections on it.
    pub connections: usize,
    /// Channels with a subscriber on it.
    pub channels: usize,
    /// Frames queued to its sockets per second, over the last second.
    pub messages_per_second: f64,
}

/// This node's figures now.
pub(crate) fn mine(hub: &Hub) -> NodeFigures {
    NodeFigures {
        id: hub.node_id.clone(),
        alive: true,
        started_at_ms: hub.started_at_ms,
        last_beat_ms: chrono::Utc::now().timestamp_millis(),
        connections: hub.connections.load(std::sync::atomic::Ordering::Relaxed),
        channels: hub.local_channel_count(),
        messages_per_second: hub.messages_per_second(),
    }
}

/// Adds "write this node's figures" to a heartbeat's pipeline.
pub(crate) fn write(pipe: &mut redis::Pipeline, hub: &Hub) {
    let app = &hub.config.credentials.app_id;
    if let Ok(json) = serde_json::to_string(&mine(hub)) {
        pipe.hset(node_figures_key(app), &hub.node_id, json)
            .ignore();
    }
}

/// Forgets the figures of nodes silent for longer than [`KEPT`] (run by
/// the heartbeat's sweep).
pub(crate) async fn forget_old(hub: &Hub, conn: &mut ConnectionManager) {
    let key = node_figures_key(&hub.config.credentials.app_id);
    let all: HashMap<String, String> = conn.hgetall(&key).await.unwrap_or_default();
    let cutoff = chrono::Utc::now().timestamp_millis() - KEPT.as_millis() as i64;
    let old: Vec<&String> = all
        .iter()
        .filter(|(_, json)| {
            serde_json::from_str::<NodeFigures>(json).map_or(true, |f| f.last_beat_ms < cutoff)
        })
        .map(|(id, _)| id)
        .collect();
    if !old.is_empty() {
        let _: redis::RedisResult<()> = conn.hdel(&key, old).await;
    }
}

/// Every node of the cluster: live ones, then those whose lease expired
/// less than [`KEPT`] ago (`alive: false`), oldest first.
pub(crate) async fn cluster(
    hub: &Hub,
    conn: &mut ConnectionManager,
) -> redis::RedisResult<Vec<NodeFigures>> {
    let app = &hub.config.credentials.app_id;
    let (beats, figures): (Vec<(String, i64)>, HashMap<String, String>) = redis::pipe()
        .zrange_withscores(nodes_key(app), 0, -1)
        .hgetall(node_figures_key(app))
        .query_async(conn)
        .await?;
    let beats: HashMap<String, i64> = beats.into_iter().collect();
    let now = chrono::Utc::now().timestamp_millis();
    let lease = now - hub.config.node_ttl.as_millis() as i64;
    let kept = now - KEPT.as_millis() as i64;
    let mut out: Vec<NodeFigures> = figures
        .values()
        .filter_map(|json| serde_json::from_str::<NodeFigures>(json).ok())
        .filter_map(|mut f| {
            if let Some(beat) = beats.get(&f.id) {
                f.last_beat_ms = f.last_beat_ms.max(*beat);
            }
            f.alive = beats.contains_key(&f.id) && f.last_beat_ms >= lease;
            (f.alive || f.last_beat_ms >= kept).then_some(f)
        })
        .collect();
    if !out.iter().any(|f| f.id == hub.node_id) {
        // Before this node's first heartbeat (or while Redis lost it).
        out.push(mine(hub));
    }
    out.sort_by(|a, b| (!a.alive, a.started_at_ms, &a.id).cmp(&(!b.alive, b.started_at_ms, &b.id)));
    Ok(out)
}
