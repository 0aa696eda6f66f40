//! The channels of one node: who is subscribed where, presence members
//! (across the cluster), and the fan-out. One lock, never held across an
//! `.await`; sends only queue (`try_send`).

mod cache;
mod cluster_link;
mod counts;
mod presence;
mod remote;
mod watchlist;

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use axum::extract::ws::Utf8Bytes;
use event_broadcast::channel::ChannelKind;
use event_broadcast::cluster::ClusterMessage;
use serde_json::Value;

use crate::config::ServerConfig;
use crate::protocol;
use crate::socket::{Sent, SocketHandle};
use crate::webhooks::{Hook, Webhooks};
pub(crate) use cache::{Cached, event_frame, is_cache_channel};
pub(crate) use cluster_link::ClusterLink;

pub(crate) use presence::parse_channel_data;
pub(crate) use watchlist::MAX_WATCHLIST;

use presence::{Member, join_member, leave_member, member_added, member_removed, presence_data};
#[derive(Debug, Default)]
struct Channel {
    /// Local subscribers: socket id -> (handle, presence user id).
    subscribers: HashMap<String, (SocketHandle, Option<String>)>,
    /// Presence members across the cluster, by user id.
    members: HashMap<String, Member>,
    /// Other nodes' subscriptions: node id -> how many sockets.
    remote: HashMap<String, usize>,
}

impl Channel {
    fn is_empty(&self) -> bool {
        self.subscribers.is_empty() && self.members.is_empty() && self.remote.is_empty()
    }
}

#[derive(Debug)]
struct Local {
    handle: SocketHandle,
    /// Set by `pusher:signin`.
    user_id: Option<String>,
    /// The user ids its sign-in watches.
    watchlist: Vec<String>,
    channels: HashSet<String>,
}

#[derive(Debug, Default)]
struct State {
    sockets: HashMap<String, Local>,
    channels: HashMap<String, Channel>,
    /// Cache channels' last events (every node's, see `cache`).
    cache: HashMap<String, Cached>,
    /// Watched user id -> the local sockets watching it.
    watchers: HashMap<String, HashSet<String>>,
}

/// Counters a test or an operator can read.
#[derive(Debug, Default)]
pub struct Stats {
    /// Sockets closed because their queue was full.
    pub slow_closed: AtomicU64,
    /// Cluster frames dropped while Redis was away and the buffer was full.
    pub cluster_dropped: AtomicU64,
    /// Frames queued to sockets.
    pub frames_sent: AtomicU64,
}

/// What a successful subscription answers with.
pub(crate) struct Subscribed {
    /// `pusher_internal:subscription_succeeded`'s data.
    pub data: String,
}

pub(crate) struct Hub {
    pub config: Arc<ServerConfig>,
    pub node_id: String,
    state: Mutex<State>,
    next_socket: AtomicU64,
    pub connections: AtomicUsize,
    pub stats: Stats,
    /// When this node started (ms since the epoch).
    pub started_at_ms: i64,
    /// Frames queued to sockets per second, over the last second (f64 bits).
    messages_per_second: AtomicU64,
    cluster: OnceLock<ClusterLink>,
    webhooks: Option<Webhooks>,
}

impl Hub {
    /// `webhook_tls`: the client config of an `https://` webhook URL.
    /// `node_id` is the server's, shared by its apps' hubs.
    pub(crate) fn new(
        config: Arc<ServerConfig>,
        webhook_tls: Option<Arc<event_tls::rustls::ClientConfig>>,
        node_id: String,
    ) -> Self {
        let webhooks = config.webhook_url.clone().map(|url| {
            Webhooks::start(
                url,
                config.credentials.clone(),
                config.redis_url.clone(),
                config.webhook_retry,
                webhook_tls,
            )
        });
        Self {
            webhooks,
            config,
            node_id,
            state: Mutex::new(State::default()),
            next_socket: AtomicU64::new(rand::random::<u32>() as u64),
            connections: AtomicUsize::new(0),
            stats: Stats::default(),
            started_at_ms: chrono::Utc::now().timestamp_millis(),
            messages_per_second: AtomicU64::new(0f64.to_bits()),
            cluster: OnceLock::new(),
        }
    }

    pub(crate) fn set_cluster(&self, link: ClusterLink) {
        let _ = self.cluster.set(link);
    }

    /// The way to the cluster, when this node is in one.
    pub(crate) fn cluster(&self) -> Option<&ClusterLink> {
        self.cluster.get()
    }

    /// Frames queued to this node's sockets per second, over the last second.
    pub(crate) fn messages_per_second(&self) -> f64 {
        f64::from_bits(self.messages_per_second.load(Ordering::Relaxed))
    }

    /// Measures [`messages_per_second`](Self::messages_per_second) once a
    /// second while the runtime runs.
    pub(crate) fn start_meter(self: &std::sync::Arc<Self>) {
        let hub = std::sync::Arc::downgrade(self);
        tokio::spawn(async move {
            let mut last = (tokio::time::Instant::now(), 0u64);
            let mut tick = tokio::time::interval(Duration::from_secs(1));
            loop {
                tick.tick().await;
                let Some(hub) = hub.upgrade() else { return };
                hub.purge_cache();
                let now = tokio::time::Instant::now();
                let sent = hub.stats.frames_sent.load(Ordering::Relaxed);
                let secs = now.duration_since(last.0).as_secs_f64().max(1e-3);
                let rate = sent.saturating_sub(last.1) as f64 / secs;
                hub.messages_per_second
                    .store(rate.to_bits(), Ordering::Relaxed);
                last = (now, sent);
            }
        });
    }

    fn publish(&self, message: ClusterMessage) {
        if let Some(link) = self.cluster.get() {
            link.publish(message, &self.stats);
        }
    }

    pub(crate) fn hook(&self, hook: Hook) {
        if let Some(w) = &self.webhooks {
            w.send(hook);
        }
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub(crate) fn new_socket_id(&self) -> String {
        let n = self.next_socket.fetch_add(1, Ordering::Relaxed);
        format!("{}.{}", n % 1_000_000_000, rand::random::<u32>())
    }

    pub(crate) fn add_socket(&self, socket_id: &str, handle: SocketHandle) {
        self.state().sockets.insert(
            socket_id.to_string(),
            Local {
                handle,
                user_id: None,
                watchlist: Vec::new(),
                channels: HashSet::new(),
            },
        );
    }

    /// Forgets a closed socket: leaves its channels (presence members too).
    pub(crate) fn remove_socket(&self, socket_id: &str) {
        let Some(local) = self.state().sockets.remove(socket_id) else {
            return;
        };
        for channel in &local.channels {
            self.unsubscribe(socket_id, channel);
        }
        if let Some(user_id) = &local.user_id {
            self.sign_out(socket_id, user_id, &local.watchlist);
        }
    }

    pub(crate) fn is_subscribed(&self, socket_id: &str, channel: &str) -> bool {
        self.state()
            .sockets
            .get(socket_id)
            .is_some_and(|s| s.channels.contains(channel))
    }

    /// Subscribes a local socket; `member` is `(user_id, user_info)` on presence channels.
    pub(crate) fn subscribe(
        &self,
        socket_id: &str,
        channel: &str,
        member: Option<(String, Value)>,
    ) -> Option<Subscribed> {
        let mut state = self.state();
        let handle = {
            let local = state.sockets.get_mut(socket_id)?;
            local.channels.insert(channel.to_string());
            local.handle.clone()
        };
        let ch = state.channels.entry(channel.to_string()).or_default();
        if ch.subscribers.is_empty() {
            self.hook(Hook::Occupied(channel.to_string()));
        }
        let user_id = member.as_ref().map(|(id, _)| id.clone());
        ch.subscribers
            .insert(socket_id.to_string(), (handle, user_id.clone()));
        let Some((user_id, info)) = member else {
            return Some(Subscribed { data: "{}".into() });
        };
        let added = join_member(ch, &self.node_id, socket_id, &user_id, &info);
        if added {
            self.hook(Hook::MemberAdded(channel.to_string(), user_id.clone()));
            let frame = member_added(channel, &user_id, &info);
            fan_out(ch, &frame, Some(socket_id), &self.stats);
        }
        let data = presence_data(ch);
        drop(state);
        self.publish(ClusterMessage::MemberJoined {
            origin: self.node_id.clone(),
            channel: channel.to_string(),
            socket_id: socket_id.to_string(),
            user_id,
            user_info: info,
        });
        Some(Subscribed { data })
    }

    pub(crate) fn unsubscribe(&self, socket_id: &str, channel: &str) {
        let mut state = self.state();
        if let Some(local) = state.sockets.get_mut(socket_id) {
            local.channels.remove(channel);
        }
        let Some(ch) = state.channels.get_mut(channel) else {
            return;
        };
        let Some((_, user_id)) = ch.subscribers.remove(socket_id) else {
            return;
        };
        if let Some(user_id) = &user_id
            && leave_member(ch, &self.node_id, socket_id, user_id)
        {
            self.hook(Hook::MemberRemoved(channel.to_string(), user_id.clone()));
            fan_out(ch, &member_removed(channel, user_id), None, &self.stats);
        }
        if ch.subscribers.is_empty() {
            self.hook(Hook::Vacated(channel.to_string()));
        }
        if ch.is_empty() {
            state.channels.remove(channel);
        }
        drop(state);
        if let Some(user_id) = user_id {
            self.publish(ClusterMessage::MemberLeft {
                origin: self.node_id.clone(),
                channel: channel.to_string(),
                socket_id: socket_id.to_string(),
                user_id,
            });
        }
        self.local_count_changed(channel);
    }

    /// Sends an event to every subscriber of `channels` on this node, and to
    /// the other nodes. `data` is the frame's (string) data.
    pub(crate) fn broadcast(
        &self,
        channels: &[String],
        event: &str,
        data: &str,
        except: Option<&str>,
    ) {
        self.deliver_local(channels, event, data, except, None);
        self.publish(ClusterMessage::Broadcast {
            origin: Some(self.node_id.clone()),
            channels: channels.to_vec(),
            event: event.to_string(),
            data: data.to_string(),
            socket_id: except.map(str::to_string),
            user_id: None,
        });
    }

    /// Fan-out on this node only: each channel's frame is encoded once and
    /// its bytes shared by every socket.
    pub(crate) fn deliver_local(
        &self,
        channels: &[String],
        event: &str,
        data: &str,
        except: Option<&str>,
        user_id: Option<&str>,
    ) {
        let mut state = self.state();
        for channel in channels {
            let cache = is_cache_channel(channel);
            if !cache && !state.channels.contains_key(channel) {
                continue;
            }
            let frame = event_frame(event, channel, data, user_id);
            if cache {
                state.remember(channel, &frame);
            }
            if let Some(ch) = state.channels.get(channel) {
                fan_out(ch, &Utf8Bytes::from(frame), except, &self.stats);
            }
        }
    }

    /// A `client-*` event from a local socket: to the channel's other
    /// subscribers here and on other nodes, never back to the sender.
    pub(crate) fn client_event(&self, socket_id: &str, channel: &str, event: &str, data: &Value) {
        let user_id = {
            let mut state = self.state();
            let Some(ch) = state.channels.get(channel) else {
                return;
            };
            let user_id = ch.subscribers.get(socket_id).and_then(|(_, u)| u.clone());
            let frame = protocol::client_event(event, channel, data, user_id.as_deref());
            fan_out(
                ch,
                &Utf8Bytes::from(frame.clone()),
                Some(socket_id),
                &self.stats,
            );
            state.remember(channel, &frame);
            user_id
        };
        // Other nodes rebuild the frame from the data as JSON text.
        self.publish(ClusterMessage::Broadcast {
            origin: Some(self.node_id.clone()),
            channels: vec![channel.to_string()],
            event: event.to_string(),
            data: data.to_string(),
            socket_id: Some(socket_id.to_string()),
            user_id,
        });
    }

    /// Closes every connection of `user_id`, on every node.
    pub(crate) fn terminate_user(&self, user_id: &str) {
        self.terminate_local(user_id);
        self.publish(ClusterMessage::TerminateUser {
            origin: self.node_id.clone(),
            user_id: user_id.to_string(),
        });
    }

    fn terminate_local(&self, user_id: &str) {
        let state = self.state();
        for (socket_id, local) in &state.sockets {
            let presence_user = local.channels.iter().any(|c| {
                state
                    .channels
                    .get(c)
                    .and_then(|ch| ch.subscribers.get(socket_id))
                    .is_some_and(|(_, u)| u.as_deref() == Some(user_id))
            });
            if local.user_id.as_deref() == Some(user_id) || presence_user {
                local
                    .handle
                    .close(protocol::close::RECONNECT, "connections terminated");
            }
        }
    }

    /// Every local socket's handle (for a graceful shutdown).
    pub(crate) fn handles(&self) -> Vec<SocketHandle> {
        self.state()
            .sockets
            .values()
            .map(|l| l.handle.clone())
            .collect()
    }

    /// `(channel, subscriptions, presence users)` of the occupied channels,
    /// counted over every node of the cluster.
    pub(crate) fn channels(&self) -> Vec<(String, usize, usize)> {
        self.state()
            .channels
            .iter()
            .filter(|(name, ch)| {
                name.as_str() != watchlist::ONLINE && (ch.total() > 0 || !ch.members.is_empty())
            })
            .map(|(name, ch)| (name.clone(), ch.total(), ch.members.len()))
            .collect()
    }

    /// Channels with a subscriber on this node.
    pub(crate) fn local_channel_count(&self) -> usize {
        self.state()
            .channels
            .values()
            .filter(|ch| !ch.subscribers.is_empty())
            .count()
    }

    /// Presence user ids of `channel`, sorted.
    pub(crate) fn users(&self, channel: &str) -> Vec<String> {
        let state = self.state();
        let mut ids: Vec<String> = state
            .channels
            .get(channel)
            .map(|ch| ch.members.keys().cloned().collect())
            .unwrap_or_default();
        ids.sort();
        ids
    }
}

fn fan_out(ch: &Channel, frame: &Utf8Bytes, except: Option<&str>, stats: &Stats) {
    let mut sent = 0u64;
    for (socket_id, (handle, _)) in &ch.subscribers {
        if Some(socket_id.as_str()) == except {
            continue;
        }
        match handle.send(frame.clone()) {
            Sent::Queued => sent += 1,
            Sent::TooSlow => {
                stats.slow_closed.fetch_add(1, Ordering::Relaxed);
            }
            Sent::Gone => {}
        }
    }
    stats.frames_sent.fetch_add(sent, Ordering::Relaxed);
}

pub(crate) fn kind(channel: &str) -> ChannelKind {
    ChannelKind::of(channel)
}
