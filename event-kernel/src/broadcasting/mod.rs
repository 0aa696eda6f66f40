//! The broadcasting seam: what an event offers to be broadcast, what a
//! broadcaster receives, and Laravel's `toOthers()`.
//!
//! An event is broadcast when it offers a [`Broadcastable`] or
//! [`ShouldBroadcast`] view (`Event::as_broadcastable` /
//! `Event::as_should_broadcast`; `#[derive(Event)]` with `broadcast = "..."`
//! provides it) and the dispatcher has a [`Broadcaster`]
//! (`Dispatcher::set_broadcaster`). The broadcasters themselves (log,
//! memory, pusher, redis) and the Pusher protocol live in `event-broadcast`.
//!
//! Laravel's `broadcast(...)->toOthers()` is [`to_others`]: everything
//! broadcast inside it skips the socket that made the request.

pub mod queued;

use std::future::Future;

use anyhow::Result;
use async_trait::async_trait;

use crate::event::Event;
pub use crate::event::{Broadcastable, ShouldBroadcast};

/// What a broadcaster sends: the channels, the event name clients bind to, the
/// payload, and the socket to leave out ([`to_others`]).
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct BroadcastMessage {
    /// Full channel names, with their `private-` / `presence-` prefixes.
    pub channels: Vec<String>,
    /// The event name clients bind to.
    pub event: String,
    /// The payload clients receive.
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

/// What a broadcaster learnt of one sent message ([`Broadcaster::deliver`]).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Delivery {
    /// How many connections the server delivered it to, summed over the
    /// message's channels (a connection on two of them counts twice);
    /// `None` when the broadcaster or the server cannot tell, never a
    /// guessed 0.
    pub receivers: Option<u64>,
}

/// Sends broadcast messages somewhere.
#[async_trait]
pub trait Broadcaster: Send + Sync {
    /// Sends `message` to every channel it names; an error becomes the
    /// dispatch's [`BroadcastFailed`](crate::BroadcastFailed) (or the
    /// broadcast job's failure).
    async fn broadcast(&self, message: &BroadcastMessage) -> Result<()>;

    /// Sends `message` as [`broadcast`](Self::broadcast) does, and says how
    /// many connections it reached when the broadcaster can learn it. The
    /// dispatcher calls this instead of `broadcast` only when the event's
    /// hops are recorded (the event store's timeline shows the count), so a
    /// broadcaster may ask its server for more here. The default sends with
    /// `broadcast` and reports `None` (unknown).
    async fn deliver(&self, message: &BroadcastMessage) -> Result<Delivery> {
        self.broadcast(message).await?;
        Ok(Delivery::default())
    }
}
