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

use std::path::PathBuf;

mod app_config;
mod apps;
mod auth_route;
mod cluster;
mod config;
mod connection;
mod http_api;
mod hub;
mod limits;
mod node_figures;
pub mod protocol;
mod server;
mod socket;
mod tls;
mod webhooks;

pub use app_config::{AppConfig, AppsFileError, load_apps_file};
pub use auth_route::auth_router;
pub use config::ServerConfig;
pub use event_tls::ServerIdentity;
pub use http_api::MAX_CLOCK_SKEW_SECS;
pub use hub::Stats;
pub use limits::Limits;
pub use server::Server;

/// What the command line of `artisan broadcast:serve` (and of the
/// `event-broadcast-server` binary) sets over `EVENTS_BROADCAST_*`.
#[derive(Debug, Clone, Default)]
pub struct ServeArgs {
    /// `--host`.
    pub host: Option<String>,
    /// `--port`.
    pub port: Option<u16>,
    /// `--tls-cert`: the certificate chain (PEM) for `wss://` and `https://`.
    pub tls_cert: Option<PathBuf>,
    /// `--tls-key`: its private key (PEM).
    pub tls_key: Option<PathBuf>,
    /// `--apps-file`: the apps to serve (JSON or TOML), over
    /// `EVENTS_BROADCAST_SERVER_APPS_FILE`.
    pub apps_file: Option<PathBuf>,
}

/// `artisan broadcast:serve` and the `event-broadcast-server` binary: reads
/// `EVENTS_BROADCAST_*` (and `.env`), lets the flags override them, and
/// serves until Ctrl-C / SIGTERM (SIGHUP reloads the TLS certificate).
pub async fn serve_from_env(args: ServeArgs) -> anyhow::Result<()> {
    let broadcast = event_broadcast::BroadcastConfig::from_env()?;
    // The apps file: the flag over the variable.
    let apps_file = match &args.apps_file {
        Some(path) => Some(("--apps-file", path.as_path())),
        None => broadcast
            .server_apps_file
            .as_deref()
            .map(|p| (app_config::APPS_FILE_VAR, p)),
    };
    let flags_tls = args.tls_cert.is_some() || args.tls_key.is_some();
    let mut config = if flags_tls {
        // The pair is checked below, with the flags over the variables.
        let mut without_tls = broadcast.clone();
        without_tls.server_tls_cert = None;
        without_tls.server_tls_key = None;
        ServerConfig::with_apps_file(&without_tls, apps_file)?
    } else {
        ServerConfig::with_apps_file(&broadcast, apps_file)?
    };
    if let Some(host) = args.host {
        config.host = host;
    }
    if let Some(port) = args.port {
        config.port = port;
    }
    if flags_tls {
        // Each flag wins over its variable; an error names what was given.
        let side = |flag: Option<PathBuf>, name: &str, var: &str, from_env: &Option<PathBuf>| {
            flag.map(|p| (name.to_string(), p))
                .or_else(|| from_env.clone().map(|p| (var.to_string(), p)))
        };
        config.tls = event_tls::ServerIdentity::pair(
            side(
                args.tls_cert,
                "--tls-cert",
                config::CERT_VAR,
                &broadcast.server_tls_cert,
            ),
            side(
                args.tls_key,
                "--tls-key",
                config::KEY_VAR,
                &broadcast.server_tls_key,
            ),
            "--tls-cert",
            "--tls-key",
        )?;
    }
    Server::bind(config).await?.run_until_signal().await
}
