//! A Pusher Channels protocol (v7) server for event-core broadcasts.
//!
//! pusher-js and Laravel Echo connect unchanged to `ws://host:port/app/{key}`;
//! apps publish through the HTTP API (event-core's `pusher` broadcaster) or
//! straight onto the cluster's Redis channel (the `redis` broadcaster).
//!
//! ```no_run
//! # async fn run() -> anyhow::Result<()> {
//! use event_broadcast_server::{Server, ServerConfig};
//! use event_broadcast::signature::Credentials;
//!
//! let server = Server::bind(ServerConfig::new(Credentials {
//!     app_id: "1".into(), key: "app-key".into(), secret: "app-secret".into(),
//! }))
//! .await?;
//! println!("listening on {}", server.local_addr());
//! server.run_until_signal().await
//! # }
//! ```

mod auth_route;
mod cluster;
mod config;
mod connection;
mod http_api;
mod hub;
pub mod protocol;
mod server;
mod socket;
mod webhooks;

pub use auth_route::auth_router;
pub use config::ServerConfig;
pub use http_api::MAX_CLOCK_SKEW_SECS;
pub use hub::Stats;
pub use server::Server;

/// `artisan broadcast:serve` and the `event-broadcast-server` binary: reads
/// `EVENTS_BROADCAST_*` (and `.env`), overrides host and port when given,
/// and serves until Ctrl-C / SIGTERM.
pub async fn serve_from_env(host: Option<String>, port: Option<u16>) -> anyhow::Result<()> {
    let broadcast = event_broadcast::BroadcastConfig::from_env()?;
    let mut config = ServerConfig::from_broadcast_config(&broadcast)?;
    if let Some(host) = host {
        config.host = host;
    }
    if let Some(port) = port {
        config.port = port;
    }
    Server::bind(config).await?.run_until_signal().await
}
