//! Broadcasting events to channels: the broadcasters (log, memory, a
//! Pusher-compatible HTTP server, the broadcast server's Redis channel),
//! channel authorisation, and the one home of the Pusher protocol
//! (signatures, channel names, cluster keys), which `event-broadcast-server`
//! shares.
//!
//! The seam an event and the dispatcher use (`Broadcastable`,
//! `ShouldBroadcast`, `BroadcastMessage`, `Broadcaster`, `to_others`) is the
//! kernel's, re-exported here. [`connect`] picks the broadcaster named by
//! `EVENTS_BROADCAST_CONNECTION`:
//!
//! ```no_run
//! # async fn run() -> anyhow::Result<()> {
//! use event_broadcast::{BroadcastConfig, connect};
//! let broadcaster = connect(&BroadcastConfig::from_env()?).await?;
//! # let _ = broadcaster;
//! # Ok(()) }
//! ```

mod auth;
pub mod channel;
pub mod cluster;
mod config;
mod connect;
mod encryption;
mod error;
mod log;
mod memory;
#[cfg(feature = "pusher")]
mod pusher;
#[cfg(feature = "redis")]
mod redis;
pub mod signature;

pub use auth::{AuthError, AuthResponse, ChannelAuthorizer, Params, PresenceMember};
pub use config::{BroadcastConfig, BroadcastConnection, Scheme};
pub use connect::connect;
pub use encryption::{MASTER_KEY_VAR, MasterKey, NoMasterKey};
pub use error::ConnectError;
pub use event_kernel::broadcasting::{
    BroadcastMessage, Broadcastable, Broadcaster, Delivery, ShouldBroadcast, current_socket_id,
    to_others,
};
pub use log::LogBroadcaster;
pub use memory::MemoryBroadcaster;
#[cfg(feature = "pusher")]
pub use pusher::{CertificateRefused, PusherBroadcaster};
#[cfg(feature = "redis")]
pub use redis::RedisBroadcaster;
