//! Subscription counts across the cluster: each node's own sockets on a
//! channel, the other nodes' counts (from the bus and the registry), and
//! `pusher_internal:subscription_count` to the subscribers when the sum moves.

use axum::extract::ws::Utf8Bytes;
use event_broadcast::channel::ChannelKind;
use event_broadcast::cluster::ClusterMessage;
use serde_json::json;

use super::{Channel, Hub, fan_out, kind};
use crate::protocol;

impl Channel {
    /// Subscriptions on every node.
    pub(super) fn total(&self) -> usize {
        self.subscribers.len() + self.remote.values().sum::<usize>()
    }
}

fn count_frame(channel: &str, total: usize) -> Utf8Bytes {
    let data = json!({ "subscription_count": total }).to_string();
    Utf8Bytes::from(protocol::frame(
        "pusher_internal:subscription_count",
        Some(channel),
        &data,
    ))
}

impl Hub {
    /// After a local socket subscribed to (or left) `channel`: tells this
    /// node's subscribers the new total, and the other nodes this node's count.
    pub(crate) fn local_count_changed(&self, channel: &str) {
        let local = {
            let state = self.state();
            match state.channels.get(channel) {
                Some(ch) => {
                    self.announce_count(channel, ch);
                    ch.subscribers.len()
                }
                None => 0,
            }
        };
        self.publish(ClusterMessage::SubscriptionCount {
            origin: self.node_id.clone(),
            channel: channel.to_string(),
            count: local,
        });
    }

    /// Sends the channel's total to its local subscribers, when
    /// `EVENTS_BROADCAST_SUBSCRIPTION_COUNT` is on (never on presence
    /// channels, whose members are their count, as on Pusher).
    pub(super) fn announce_count(&self, name: &str, ch: &Channel) {
        if self.config.subscription_count
            && kind(name) != ChannelKind::Presence
            && !ch.subscribers.is_empty()
        {
            fan_out(ch, &count_frame(name, ch.total()), None, &self.stats);
        }
    }

    /// Another node's count of `channel` (0: it has none left).
    pub(crate) fn remote_count(&self, node: &str, channel: &str, count: usize) {
        let mut state = self.state();
        let ch = state.channels.entry(channel.to_string()).or_default();
        let before = ch.total();
        if count == 0 {
            ch.remote.remove(node);
        } else {
            ch.remote.insert(node.to_string(), count);
        }
        if ch.total() != before {
            self.announce_count(channel, ch);
        }
        if ch.is_empty() {
            state.channels.remove(channel);
        }
    }

    /// Replaces every other node's counts with the registry's `(node,
    /// channel, count)` (read when this node (re)joins the bus).
    pub(crate) fn replace_remote_counts(&self, counts: Vec<(String, String, usize)>) {
        let names: Vec<String> = {
            let mut state = self.state();
            for ch in state.channels.values_mut() {
                ch.remote.clear();
            }
            state.channels.retain(|_, ch| !ch.is_empty());
            state.channels.keys().cloned().collect()
        };
        for (node, channel, count) in counts {
            if node != self.node_id {
                self.remote_count(&node, &channel, count);
            }
        }
        // Totals that only shrank (a count gone while this node was away).
        let state = self.state();
        for name in names {
            if let Some(ch) = state.channels.get(&name) {
                self.announce_count(&name, ch);
            }
        }
    }

    /// `(subscriptions, presence users)` of `channel` over every node of
    /// the cluster; `(0, 0)` when nobody is subscribed.
    pub(crate) fn channel_counts(&self, channel: &str) -> (usize, usize) {
        self.state()
            .channels
            .get(channel)
            .map_or((0, 0), |ch| (ch.total(), ch.members.len()))
    }

    /// This node's `(channel, subscriptions)` (to write them again when
    /// Redis comes back).
    pub(crate) fn local_counts(&self) -> Vec<(String, usize)> {
        self.state()
            .channels
            .iter()
            .filter(|(_, ch)| !ch.subscribers.is_empty())
            .map(|(name, ch)| (name.clone(), ch.subscribers.len()))
            .collect()
    }
}
