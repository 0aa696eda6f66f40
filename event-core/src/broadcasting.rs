//! Broadcasting events to channels: browsers through a Pusher-protocol
//! server, Redis pub/sub, logs, tests (the `event-broadcast` crate).
//!
//! An event is broadcast when it offers a [`Broadcastable`] or
//! [`ShouldBroadcast`] view (`#[derive(Event)]` with `broadcast = "..."`
//! provides it) and the dispatcher has a [`Broadcaster`]. [`connect`] picks
//! the broadcaster `EVENTS_BROADCAST_CONNECTION` names:
//!
//! ```no_run
//! # async fn run() -> anyhow::Result<()> {
//! use event_core::{broadcasting, config::EventsConfig, event_dispatcher};
//! let broadcaster = broadcasting::connect(&EventsConfig::from_env()?).await?;
//! event_dispatcher().await.set_broadcaster(broadcaster).await;
//! # Ok(()) }
//! ```
//!
//! Laravel's `broadcast(...)->toOthers()` is [`to_others`]. The Pusher
//! protocol itself (signatures, channel names, cluster keys) is in
//! `event-broadcast`, shared with `event-broadcast-server`.

#[cfg(feature = "redis")]
pub use event_broadcast::RedisBroadcaster;
pub use event_broadcast::signature::Credentials;
pub use event_broadcast::{
    AuthError, AuthResponse, BroadcastConfig, BroadcastConnection, BroadcastMessage, Broadcastable,
    Broadcaster, ChannelAuthorizer, ConnectError, Delivery, LogBroadcaster, MASTER_KEY_VAR,
    MasterKey, MemoryBroadcaster, NoMasterKey, PresenceMember, Scheme, ShouldBroadcast, connect,
    current_socket_id, to_others,
};
#[cfg(feature = "pusher")]
pub use event_broadcast::{CertificateRefused, PusherBroadcaster};
