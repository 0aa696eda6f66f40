//! Broadcasting events to channels (WebSocket clients, pub/sub).
//!
//! An event is broadcast when it offers a [`Broadcastable`] or
//! [`ShouldBroadcast`] view (`Event::as_broadcastable` /
//! `Event::as_should_broadcast`; `#[derive(Event)]` with `broadcast = "..."`
//! provides it) and the dispatcher has a [`Broadcaster`]
//! (`Dispatcher::set_broadcaster`).

use std::sync::{Arc, Mutex};

use anyhow::Result;
use async_trait::async_trait;

use crate::event::Event;

/// The seed's broadcasting interface: one channel, a payload, public or private.
pub trait Broadcastable: Send + Sync {
    fn broadcast_channel(&self) -> String;
    fn broadcast_data(&self) -> serde_json::Value;
    fn is_private(&self) -> bool {
        false
    }
    /// Presence channels (who is online) are private channels with member data.
    fn is_presence(&self) -> bool {
        false
    }
}

/// Laravel's `ShouldBroadcast`: several channels and a custom event name.
pub trait ShouldBroadcast: Event {
    /// Full channel names, with `private-` / `presence-` prefixes where needed.
    fn broadcast_on(&self) -> Vec<String>;
    fn broadcast_as(&self) -> Option<String> {
        None
    }
    fn broadcast_with(&self) -> serde_json::Value {
        self.to_json()
    }
    fn should_queue_broadcast(&self) -> bool {
        true
    }
}

/// What a broadcaster sends: the channels, the event name clients bind to, and
/// the payload.
#[derive(Debug, Clone, PartialEq)]
pub struct BroadcastMessage {
    pub channels: Vec<String>,
    pub event: String,
    pub data: serde_json::Value,
}

impl BroadcastMessage {
    /// The message for `event`, if it broadcasts at all.
    pub fn for_event(event: &dyn Event) -> Option<Self> {
        if let Some(b) = event.as_should_broadcast() {
            return Some(Self {
                channels: b.broadcast_on(),
                event: b
                    .broadcast_as()
                    .unwrap_or_else(|| event.event_name().to_string()),
                data: b.broadcast_with(),
            });
        }
        let b = event.as_broadcastable()?;
        let channel = b.broadcast_channel();
        let channel = if b.is_presence() {
            format!("presence-{channel}")
        } else if b.is_private() {
            format!("private-{channel}")
        } else {
            channel
        };
        Some(Self {
            channels: vec![channel],
            event: event.event_name().to_string(),
            data: b.broadcast_data(),
        })
    }
}

/// Sends broadcast messages somewhere.
#[async_trait]
pub trait Broadcaster: Send + Sync {
    async fn broadcast(&self, message: &BroadcastMessage) -> Result<()>;
}

/// Writes each broadcast to the `tracing` log (Laravel's `log` driver).
#[derive(Debug, Default, Clone, Copy)]
pub struct LogBroadcaster;

#[async_trait]
impl Broadcaster for LogBroadcaster {
    async fn broadcast(&self, message: &BroadcastMessage) -> Result<()> {
        tracing::info!(
            channels = ?message.channels,
            event = %message.event,
            data = %message.data,
            "broadcasting"
        );
        Ok(())
    }
}

/// Keeps every broadcast in memory, for tests and demos.
#[derive(Debug, Default, Clone)]
pub struct MemoryBroadcaster {
    sent: Arc<Mutex<Vec<BroadcastMessage>>>,
}

impl MemoryBroadcaster {
    pub fn new() -> Self {
        Self::default()
    }

    /// Every message broadcast so far, oldest first.
    pub fn messages(&self) -> Vec<BroadcastMessage> {
        self.sent.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// Messages sent on `channel`.
    pub fn on_channel(&self, channel: &str) -> Vec<BroadcastMessage> {
        self.messages()
            .into_iter()
            .filter(|m| m.channels.iter().any(|c| c == channel))
            .collect()
    }
}

#[async_trait]
impl Broadcaster for MemoryBroadcaster {
    async fn broadcast(&self, message: &BroadcastMessage) -> Result<()> {
        self.sent
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(message.clone());
        Ok(())
    }
}
