//! Broadcasting events to channels (browsers through a Pusher-protocol
//! server, pub/sub, logs, tests).
//!
//! An event is broadcast when it offers a [`Broadcastable`] or
//! [`ShouldBroadcast`] view (`Event::as_broadcastable` /
//! `Event::as_should_broadcast`; `#[derive(Event)]` with `broadcast = "..."`
//! provides it) and the dispatcher has a [`Broadcaster`]
//! (`Dispatcher::set_broadcaster`). [`connect`] picks the broadcaster named by
//! `EVENTS_BROADCAST_CONNECTION`:
//!
//! ```no_run
//! # async fn run() -> anyhow::Result<()> {
//! use event_core::{broadcasting, config::EventsConfig, event_dispatcher};
//! let broadcaster = broadcasting::connect(&EventsConfig::from_env()?).await?;
//! event_dispatcher().await.set_broadcaster(broadcaster).await;
//! # Ok(()) }
//! ```
//!
//! Laravel's `broadcast(...)->toOthers()` is [`to_others`]: everything
//! broadcast inside it skips the socket that made the request.

mod auth;
pub mod channel;
pub mod cluster;
mod config;
mod log;
mod memory;
#[cfg(feature = "pusher")]
mod pusher;
#[cfg(feature = "redis")]
mod redis;
pub mod signature;

use std::future::Future;
use std::sync::Arc;

use anyhow::Result;
use async_trait::async_trait;

use crate::config::EventsConfig;
use crate::event::Event;

pub use auth::{AuthError, AuthResponse, ChannelAuthorizer, PresenceMember};
pub use config::{BroadcastConfig, BroadcastConnection, Scheme};
pub use log::LogBroadcaster;
pub use memory::MemoryBroadcaster;
#[cfg(feature = "pusher")]
pub use pusher::PusherBroadcaster;
#[cfg(feature = "redis")]
pub use redis::RedisBroadcaster;

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

/// What a broadcaster sends: the channels, the event name clients bind to, the
/// payload, and the socket to leave out ([`to_others`]).
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct BroadcastMessage {
    pub channels: Vec<String>,
    pub event: String,
    pub data: serde_json::Value,
    /// The socket that caused the event (the request's `X-Socket-ID`); it
    /// does not receive the broadcast.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub socket_id: Option<String>,
}

tokio::task_local! {
    static SOCKET_ID: Option<String>;
}

/// Runs `work` with every broadcast it causes excluding `socket_id` (Laravel's
/// `toOthers()`); pass the request's `X-Socket-ID` header. `None` (no header)
/// broadcasts to everyone.
pub async fn to_others<F: Future>(socket_id: Option<String>, work: F) -> F::Output {
    SOCKET_ID.scope(socket_id, work).await
}

/// The socket excluded by the enclosing [`to_others`], if any.
pub fn current_socket_id() -> Option<String> {
    SOCKET_ID.try_with(|id| id.clone()).ok().flatten()
}

impl BroadcastMessage {
    /// The message for `event`, if it broadcasts at all. Inside
    /// [`to_others`] it carries that socket id.
    pub fn for_event(event: &dyn Event) -> Option<Self> {
        if let Some(b) = event.as_should_broadcast() {
            return Some(Self {
                channels: b.broadcast_on(),
                event: b
                    .broadcast_as()
                    .unwrap_or_else(|| event.event_name().to_string()),
                data: b.broadcast_with(),
                socket_id: current_socket_id(),
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
            socket_id: current_socket_id(),
        })
    }
}

/// Sends broadcast messages somewhere.
#[async_trait]
pub trait Broadcaster: Send + Sync {
    async fn broadcast(&self, message: &BroadcastMessage) -> Result<()>;
}

/// A broadcaster that could not be made from the configuration.
#[derive(Debug, thiserror::Error)]
pub enum ConnectError {
    #[error("EVENTS_BROADCAST_CONNECTION is `{connection}` but {missing} is not set")]
    Missing {
        connection: &'static str,
        missing: &'static str,
    },
    #[error(
        "EVENTS_BROADCAST_CONNECTION is `{connection}`, which needs event-core's `{feature}` cargo feature"
    )]
    FeatureOff {
        connection: &'static str,
        feature: &'static str,
    },
    #[error("EVENTS_BROADCAST_SCHEME is `https`, which this build cannot speak: {reason}")]
    Scheme { reason: &'static str },
    #[error("could not connect to Redis at EVENTS_BROADCAST_REDIS_URL `{url}`")]
    Redis {
        url: String,
        #[source]
        source: anyhow::Error,
    },
}

/// The broadcaster `EVENTS_BROADCAST_CONNECTION` names (like
/// `queue::connect`): `log` (the default), `memory`, `pusher` (signed HTTP
/// to any Pusher-compatible server) or `redis` (straight onto the cluster
/// channel of `event-broadcast-server`).
pub async fn connect(config: &EventsConfig) -> Result<Arc<dyn Broadcaster>, ConnectError> {
    let b = &config.broadcast;
    match b.connection {
        BroadcastConnection::Log => Ok(Arc::new(LogBroadcaster)),
        BroadcastConnection::Memory => Ok(Arc::new(MemoryBroadcaster::new())),
        BroadcastConnection::Pusher => connect_pusher(b),
        BroadcastConnection::Redis => connect_redis(b).await,
    }
}

#[cfg(feature = "pusher")]
fn connect_pusher(b: &BroadcastConfig) -> Result<Arc<dyn Broadcaster>, ConnectError> {
    Ok(Arc::new(PusherBroadcaster::new(
        b.credentials("pusher")?,
        b,
    )?))
}

#[cfg(not(feature = "pusher"))]
fn connect_pusher(_: &BroadcastConfig) -> Result<Arc<dyn Broadcaster>, ConnectError> {
    Err(ConnectError::FeatureOff {
        connection: "pusher",
        feature: "pusher",
    })
}

#[cfg(feature = "redis")]
async fn connect_redis(b: &BroadcastConfig) -> Result<Arc<dyn Broadcaster>, ConnectError> {
    let url = b.redis_url.as_deref().ok_or(ConnectError::Missing {
        connection: "redis",
        missing: "EVENTS_BROADCAST_REDIS_URL",
    })?;
    let app_id = b.app_id.as_deref().ok_or(ConnectError::Missing {
        connection: "redis",
        missing: "EVENTS_BROADCAST_APP_ID",
    })?;
    let broadcaster = RedisBroadcaster::connect(url, app_id)
        .await
        .map_err(|source| ConnectError::Redis {
            url: url.to_string(),
            source,
        })?;
    Ok(Arc::new(broadcaster))
}

#[cfg(not(feature = "redis"))]
async fn connect_redis(_: &BroadcastConfig) -> Result<Arc<dyn Broadcaster>, ConnectError> {
    Err(ConnectError::FeatureOff {
        connection: "redis",
        feature: "redis",
    })
}
