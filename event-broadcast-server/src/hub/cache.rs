//! Cache channels (`cache-`, `private-cache-`, `presence-cache-`,
//! `private-encrypted-cache-`): the last event of each (published or a
//! client event) is kept for [`CACHE_TTL`] and sent to a new subscriber
//! right after its `subscription_succeeded`; without one, the subscriber
//! gets `pusher:cache_miss` and the app the `cache_miss` webhook. Every node
//! sees every event of the cluster, so each keeps the cache itself; the
//! cluster's Redis hash holds it for nodes that join later.

use std::time::Duration;

use axum::extract::ws::Utf8Bytes;
use event_broadcast::channel::ChannelKind;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::{Hub, State};
use crate::protocol;
use crate::socket::SocketHandle;
use crate::webhooks::Hook;

/// How long the last event of a cache channel is kept (Pusher's 30 minutes).
pub(crate) const CACHE_TTL: Duration = Duration::from_secs(30 * 60);

/// A cache channel's last event: the frame as subscribers got it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct Cached {
    /// The event frame, sent again as is.
    pub frame: String,
    /// When it expires (ms since the epoch).
    pub expires_at_ms: i64,
}

impl Cached {
    pub(crate) fn new(frame: String) -> Self {
        Self {
            frame,
            expires_at_ms: now_ms() + CACHE_TTL.as_millis() as i64,
        }
    }

    fn live(&self) -> bool {
        self.expires_at_ms > now_ms()
    }
}

fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

/// `cache-`, after the `private-`, `private-encrypted-` or `presence-` prefix.
pub(crate) fn is_cache_channel(channel: &str) -> bool {
    ChannelKind::strip(channel).starts_with("cache-")
}

/// The frame subscribers of `channel` get for an event (a `client-*`
/// event's data is the client's JSON, passed as sent).
pub(crate) fn event_frame(event: &str, channel: &str, data: &str, user_id: Option<&str>) -> String {
    if event.starts_with("client-") {
        let value: Value = serde_json::from_str(data).unwrap_or(Value::Null);
        protocol::client_event(event, channel, &value, user_id)
    } else {
        protocol::channel_event(event, channel, data, user_id)
    }
}

impl State {
    /// Keeps `frame` as `channel`'s last event, when it is a cache channel.
    pub(super) fn remember(&mut self, channel: &str, frame: &str) {
        if is_cache_channel(channel) {
            self.cache
                .insert(channel.to_string(), Cached::new(frame.to_string()));
        }
    }
}

impl Hub {
    /// After a subscription to a cache channel succeeded: its last event,
    /// or `pusher:cache_miss` (and the `cache_miss` webhook).
    pub(crate) fn replay_cache(&self, channel: &str, handle: &SocketHandle) {
        if !is_cache_channel(channel) {
            return;
        }
        let cached = self
            .state()
            .cache
            .get(channel)
            .filter(|c| c.live())
            .map(|c| c.frame.clone());
        match cached {
            Some(frame) => {
                handle.send(Utf8Bytes::from(frame));
            }
            None => {
                let miss = json!({ "event": "pusher:cache_miss", "channel": channel });
                handle.send(Utf8Bytes::from(miss.to_string()));
                self.hook(Hook::CacheMiss(channel.to_string()));
            }
        }
    }

    /// Entries read from the cluster's hash (`channel` -> [`Cached`] JSON);
    /// a newer one this node already has wins. Returns the expired (or
    /// unreadable) ones, for the hash to forget.
    pub(crate) fn load_cache(&self, entries: Vec<(String, String)>) -> Vec<String> {
        let mut state = self.state();
        let mut expired = Vec::new();
        for (channel, json) in entries {
            let Ok(cached) = serde_json::from_str::<Cached>(&json) else {
                expired.push(channel);
                continue;
            };
            if !cached.live() {
                expired.push(channel);
                continue;
            }
            let newer = state
                .cache
                .get(&channel)
                .is_some_and(|c| c.expires_at_ms >= cached.expires_at_ms);
            if !newer {
                state.cache.insert(channel, cached);
            }
        }
        expired
    }

    /// Forgets expired entries (run once a second).
    pub(crate) fn purge_cache(&self) {
        self.state().cache.retain(|_, c| c.live());
    }
}
