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

/// The hash of each node's subscriptions (`node|channel` -> how many of
/// that node's sockets are subscribed; no field at 0).
pub fn subscriptions_key(app_id: &str) -> String {
    format!("event-broadcast:{app_id}:subscriptions")
}

/// The hash of cache channels' last events (`channel` -> the frame and
/// when it expires).
pub fn cache_key(app_id: &str) -> String {
    format!("event-broadcast:{app_id}:cache")
}

/// The hash of each node's figures (`node` -> JSON), written on its heartbeat.
pub fn node_figures_key(app_id: &str) -> String {
    format!("event-broadcast:{app_id}:node-figures")
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
        /// Full channel names.
        channels: Vec<String>,
        /// The event name clients bind to.
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
        /// The node the socket is connected to.
        origin: String,
        /// The presence channel.
        channel: String,
        /// The socket that subscribed.
        socket_id: String,
        /// The member's id ([`PresenceMember::user_id`](crate::PresenceMember::user_id)).
        user_id: String,
        /// The member's info, as its auth signed it.
        user_info: serde_json::Value,
    },
    /// A presence member's socket left `channel` on `origin`.
    MemberLeft {
        /// The node the socket was connected to.
        origin: String,
        /// The presence channel.
        channel: String,
        /// The socket that unsubscribed or closed.
        socket_id: String,
        /// The member's id.
        user_id: String,
    },
    /// How many of `origin`'s sockets are subscribed to `channel` now (the
    /// other nodes add it to their own for the cluster's count).
    SubscriptionCount {
        /// The node whose count this is.
        origin: String,
        /// The channel.
        channel: String,
        /// That node's subscriptions to it (0: none left).
        count: usize,
    },
    /// Close every connection of `user_id` on every node.
    TerminateUser {
        /// The node that received the request.
        origin: String,
        /// The signed-in user whose connections close.
        user_id: String,
    },
}
