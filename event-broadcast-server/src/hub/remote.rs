//! What other nodes tell this one (and an app's `redis` broadcaster):
//! broadcasts, presence joins and leaves, user terminations, a node gone;
//! and what this node tells a node that asks for its members.

use std::collections::HashSet;

use event_broadcast::cluster::ClusterMessage;
use serde_json::Value;

use super::presence::{join_member, leave_member, member_added, member_removed};
use super::watchlist::ONLINE;
use super::{Hub, fan_out};
use crate::webhooks::Hook;

impl Hub {
    /// Applies a message from another node (or an app's `redis` broadcaster).
    pub(crate) fn apply_remote(&self, message: ClusterMessage) {
        match message {
            ClusterMessage::Broadcast {
                origin,
                channels,
                event,
                data,
                socket_id,
                user_id,
            } => {
                if origin.as_deref() == Some(self.node_id.as_str()) {
                    return;
                }
                // A client event's data is the client's JSON, forwarded as
                // sent (`event_frame`); its `user_id` on presence channels.
                self.deliver_local(
                    &channels,
                    &event,
                    &data,
                    socket_id.as_deref(),
                    user_id.as_deref(),
                );
            }
            ClusterMessage::MemberJoined {
                origin,
                channel,
                socket_id,
                user_id,
                user_info,
            } => {
                if origin != self.node_id {
                    self.remote_join(&origin, &channel, &socket_id, &user_id, user_info);
                }
            }
            ClusterMessage::MemberLeft {
                origin,
                channel,
                socket_id,
                user_id,
            } => {
                if origin != self.node_id {
                    self.remote_leave(&origin, &channel, &socket_id, &user_id);
                }
            }
            ClusterMessage::SubscriptionCount {
                origin,
                channel,
                count,
            } => {
                if origin != self.node_id {
                    self.remote_count(&origin, &channel, count);
                }
            }
            ClusterMessage::TerminateUser { origin, user_id } => {
                if origin != self.node_id {
                    self.terminate_local(&user_id);
                }
            }
        }
    }

    pub(crate) fn remote_join(
        &self,
        node: &str,
        channel: &str,
        socket_id: &str,
        user_id: &str,
        info: Value,
    ) {
        let mut state = self.state();
        let ch = state.channels.entry(channel.to_string()).or_default();
        if join_member(ch, node, socket_id, user_id, &info) {
            fan_out(
                ch,
                &member_added(channel, user_id, &info),
                None,
                &self.stats,
            );
            if channel == ONLINE {
                state.notify_watchers(user_id, "online");
            }
        }
    }

    pub(crate) fn remote_leave(&self, node: &str, channel: &str, socket_id: &str, user_id: &str) {
        let mut state = self.state();
        let Some(ch) = state.channels.get_mut(channel) else {
            return;
        };
        let left = leave_member(ch, node, socket_id, user_id);
        if left {
            fan_out(ch, &member_removed(channel, user_id), None, &self.stats);
        }
        if ch.is_empty() {
            state.channels.remove(channel);
        }
        if left && channel == ONLINE {
            state.notify_watchers(user_id, "offline");
        }
    }

    /// Removes every member socket and the subscription counts of a dead
    /// node; returns how many member sockets. `hooks`: this node sends the
    /// `member_removed` webhooks (one survivor does).
    pub(crate) fn drop_node(&self, node: &str, hooks: bool) -> usize {
        let mut state = self.state();
        let mut removed = 0;
        let mut empty = Vec::new();
        let mut offline = Vec::new();
        for (name, ch) in state.channels.iter_mut() {
            if ch.remote.remove(node).is_some() {
                self.announce_count(name, ch);
            }
            let mut gone = Vec::new();
            for (user_id, member) in ch.members.iter_mut() {
                let before = member.sockets.len();
                member.sockets.retain(|(n, _)| n != node);
                removed += before - member.sockets.len();
                if member.sockets.is_empty() {
                    gone.push(user_id.clone());
                }
            }
            for user_id in gone {
                if name == ONLINE {
                    offline.push(user_id.clone());
                } else if hooks {
                    self.hook(Hook::MemberRemoved(name.clone(), user_id.clone()));
                }
                ch.members.remove(&user_id);
                fan_out(ch, &member_removed(name, &user_id), None, &self.stats);
            }
            if ch.is_empty() {
                empty.push(name.clone());
            }
        }
        for user_id in offline {
            state.notify_watchers(&user_id, "offline");
        }
        for name in empty {
            state.channels.remove(&name);
        }
        removed
    }

    /// The nodes other than this one that hold presence members or
    /// subscriptions here.
    pub(crate) fn remote_nodes(&self) -> HashSet<String> {
        let state = self.state();
        let mut nodes = HashSet::new();
        for ch in state.channels.values() {
            nodes.extend(ch.remote.keys().cloned());
            for member in ch.members.values() {
                for (node, _) in &member.sockets {
                    if *node != self.node_id {
                        nodes.insert(node.clone());
                    }
                }
            }
        }
        nodes
    }

    /// The local presence entries, for the cluster registry: (socket, channel, user, info).
    pub(crate) fn local_members(&self) -> Vec<(String, String, String, Value)> {
        let state = self.state();
        let mut out = Vec::new();
        if let Some(online) = state.channels.get(ONLINE) {
            for (user, member) in &online.members {
                for (node, socket_id) in &member.sockets {
                    if *node == self.node_id {
                        out.push((
                            socket_id.clone(),
                            ONLINE.to_string(),
                            user.clone(),
                            Value::Null,
                        ));
                    }
                }
            }
        }
        for (name, ch) in &state.channels {
            for (socket_id, (_, user)) in &ch.subscribers {
                if let Some(user) = user
                    && let Some(member) = ch.members.get(user)
                {
                    out.push((
                        socket_id.clone(),
                        name.clone(),
                        user.clone(),
                        member.info.clone(),
                    ));
                }
            }
        }
        out
    }
}
