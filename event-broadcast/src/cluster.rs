//! The wire format `event-broadcast-server` nodes exchange over Redis
//! pub/sub, and that the `redis` broadcaster publishes. One definition, read
//! by both sides.

use serde::{Deserialize, Serialize};

/// The pub/sub channel of app `app_id`'s cluster.
pub fn pubsub_channel(app_id: &str) -> String {
    format!("event-broadcast:{app_id}:bus")
}

/// The hash of presence members (`node|socket|channel` -> member JSON).
pub fn presence_key(app_id: &str) -> String {
    format!("event-broadcast:{app_id}:presence")
}

/// The sorted set of live nodes, scored by their last heartbeat (ms).
pub fn nodes_key(app_id: &str) -> String {
    format!("event-broadcast:{app_id}:nodes")
}

/// One message on the cluster channel.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ClusterMessage {
    /// An event for every subscriber of `channels` on every node.
    Broadcast {
        /// The node that published it (`None`: an app's `redis` broadcaster).
        #[serde(default)]
        origin: Option<String>,
        channels: Vec<String>,
        event: String,
        /// The frame's `data`: already a JSON string, sent as is.
        data: String,
        /// The socket that must not receive it (`toOthers`).
        #[serde(default)]
        socket_id: Option<String>,
        /// `user_id` of a client event on a presence channel.
        #[serde(default)]
        user_id: Option<String>,
    },
    /// A presence member's socket joined `channel` on `origin`.
    MemberJoined {
        origin: String,
        channel: String,
        socket_id: String,
        user_id: String,
        user_info: serde_json::Value,
    },
    /// A presence member's socket left `channel` on `origin`.
    MemberLeft {
        origin: String,
        channel: String,
        socket_id: String,
        user_id: String,
    },
    /// Close every connection of `user_id` on every node.
    TerminateUser { origin: String, user_id: String },
}
