//! Watchlists: a signed-in user's `user_data` may carry `watchlist` (up to
//! [`MAX_WATCHLIST`] user ids); the server tells that connection which of
//! them are online right after the sign-in, then each time one comes online
//! (its first signed-in connection) or goes offline (its last one), with
//! `pusher_internal:watchlist_events` (pusher-js: `pusher.user.watchlist.bind('online' | 'offline', ...)`).
//!
//! Who is online across the cluster is kept as a presence set under the
//! internal name [`ONLINE`] (no client can subscribe to it: `#` is not
//! allowed in channel names), so it crosses nodes, is read by a node that
//! joins later and loses a dead node's users exactly as presence members do.

use axum::extract::ws::Utf8Bytes;
use event_broadcast::cluster::ClusterMessage;
use serde_json::{Value, json};

use super::presence::{join_member, leave_member};
use super::{Hub, State};
use crate::protocol;

/// The internal presence set of signed-in users.
pub(crate) const ONLINE: &str = "#online";

/// Most user ids one watchlist may hold (Pusher's limit).
pub(crate) const MAX_WATCHLIST: usize = 100;

fn watchlist_frame(name: &str, user_ids: &[&str]) -> Utf8Bytes {
    let data = json!({ "events": [{ "name": name, "user_ids": user_ids }] }).to_string();
    Utf8Bytes::from(protocol::frame(
        "pusher_internal:watchlist_events",
        None,
        &data,
    ))
}

impl State {
    /// Tells the local watchers of `user_id` that it is `online` / `offline`.
    pub(super) fn notify_watchers(&self, user_id: &str, name: &str) {
        let Some(watchers) = self.watchers.get(user_id) else {
            return;
        };
        let frame = watchlist_frame(name, &[user_id]);
        for socket_id in watchers {
            if let Some(local) = self.sockets.get(socket_id) {
                local.handle.send(frame.clone());
            }
        }
    }
}

impl Hub {
    /// A socket signed in as `user_id`, watching `watchlist`: it is online
    /// (on every node), and hears which of its watched users are.
    pub(crate) fn sign_in(&self, socket_id: &str, user_id: String, watchlist: Vec<String>) {
        let mut state = self.state();
        let Some(local) = state.sockets.get_mut(socket_id) else {
            return;
        };
        if local.user_id.is_some() {
            return; // signed in once per connection
        }
        local.user_id = Some(user_id.clone());
        local.watchlist = watchlist.clone();
        let handle = local.handle.clone();
        for watched in &watchlist {
            state
                .watchers
                .entry(watched.clone())
                .or_default()
                .insert(socket_id.to_string());
        }
        let ch = state.channels.entry(ONLINE.to_string()).or_default();
        let came_online = join_member(ch, &self.node_id, socket_id, &user_id, &Value::Null);
        let online: Vec<&str> = watchlist
            .iter()
            .filter(|w| ch.members.contains_key(w.as_str()))
            .map(String::as_str)
            .collect();
        if !watchlist.is_empty() {
            handle.send(watchlist_frame("online", &online));
        }
        if came_online {
            state.notify_watchers(&user_id, "online");
        }
        drop(state);
        self.publish(ClusterMessage::MemberJoined {
            origin: self.node_id.clone(),
            channel: ONLINE.to_string(),
            socket_id: socket_id.to_string(),
            user_id,
            user_info: Value::Null,
        });
    }

    /// A signed-in socket closed: its user goes offline after its last one.
    pub(super) fn sign_out(&self, socket_id: &str, user_id: &str, watchlist: &[String]) {
        let mut state = self.state();
        for watched in watchlist {
            if let Some(w) = state.watchers.get_mut(watched) {
                w.remove(socket_id);
                if w.is_empty() {
                    state.watchers.remove(watched);
                }
            }
        }
        let Some(ch) = state.channels.get_mut(ONLINE) else {
            return;
        };
        let went_offline = leave_member(ch, &self.node_id, socket_id, user_id);
        if ch.is_empty() {
            state.channels.remove(ONLINE);
        }
        if went_offline {
            state.notify_watchers(user_id, "offline");
        }
        drop(state);
        self.publish(ClusterMessage::MemberLeft {
            origin: self.node_id.clone(),
            channel: ONLINE.to_string(),
            socket_id: socket_id.to_string(),
            user_id: user_id.to_string(),
        });
    }
}
