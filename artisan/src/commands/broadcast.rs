//! `artisan broadcast:serve`: the Pusher-protocol broadcasting server
//! (event-broadcast-server), configured by `EVENTS_BROADCAST_*`.

#[cfg(feature = "server")]
use anyhow::Context;
use anyhow::Result;
use clap::Args;

#[derive(Debug, Args)]
pub struct BroadcastServe {
    /// Address to listen on (default: EVENTS_BROADCAST_HOST, else 127.0.0.1).
    #[arg(long, value_name = "HOST")]
    pub host: Option<String>,
    /// Port to listen on (default: EVENTS_BROADCAST_PORT, else 6001).
    #[arg(long, value_name = "PORT")]
    pub port: Option<u16>,
    /// Serve wss:// and https:// with this certificate chain (PEM; default:
    /// EVENTS_BROADCAST_SERVER_TLS_CERT). Needs --tls-key. SIGHUP reloads it.
    #[arg(long, value_name = "CERT.PEM")]
    pub tls_cert: Option<std::path::PathBuf>,
    /// The private key of --tls-cert (PEM; default: EVENTS_BROADCAST_SERVER_TLS_KEY).
    #[arg(long, value_name = "KEY.PEM")]
    pub tls_key: Option<std::path::PathBuf>,
    /// Serve the apps of this file (JSON, or TOML by a .toml name): each
    /// app's id, key, secret and limits (default: EVENTS_BROADCAST_SERVER_APPS_FILE).
    #[arg(long, value_name = "APPS.JSON")]
    pub apps_file: Option<std::path::PathBuf>,
}

/// Serves WebSocket and HTTP on one port until Ctrl-C / SIGTERM, then closes
/// connections in waves.
#[cfg(feature = "server")]
pub fn serve(args: BroadcastServe) -> Result<()> {
    // Log lines say what it listens on and each refusal.
    let _ = tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .try_init();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("could not start the async runtime")?;
    runtime.block_on(event_broadcast_server::serve_from_env(
        event_broadcast_server::ServeArgs {
            host: args.host,
            port: args.port,
            tls_cert: args.tls_cert,
            tls_key: args.tls_key,
            apps_file: args.apps_file,
        },
    ))
}

/// This build has no server (an app's own binary, built with
/// `default-features = false`): say where it is.
#[cfg(not(feature = "server"))]
pub fn serve(_args: BroadcastServe) -> Result<()> {
    Err(crate::UsageError(
        "broadcast:serve is not in this build (event-artisan without its `server` feature, as \
         `artisan init` adds it to an app): run the installed `artisan broadcast:serve`, or turn \
         on the feature: event-artisan = { ..., features = [\"server\"] }"
            .to_string(),
    )
    .into())
}
