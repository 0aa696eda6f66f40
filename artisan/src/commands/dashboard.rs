//! `artisan dashboard`: the event-dashboard crate's pages served on their
//! own, on the app's queue and event store (from `--url` / `--store-url`,
//! else the package's `.env` and the environment, as the app reads them).

use std::path::Path;

use anyhow::Result;
use clap::Args;

/// `artisan dashboard`.
#[derive(Debug, Args)]
pub struct Dashboard {
    /// Address to listen on (default 127.0.0.1: this machine only).
    #[arg(long, value_name = "HOST", default_value = "127.0.0.1")]
    pub host: std::net::IpAddr,
    /// Port to listen on (0: a free one).
    #[arg(long, value_name = "PORT", default_value_t = 8400)]
    pub port: u16,
    /// The queue connection (default: EVENTS_QUEUE_URL).
    #[arg(long, value_name = "URL")]
    pub url: Option<String>,
    /// The event store (default: EVENTS_STORE_URL when EVENTS_STORE_ENABLED).
    #[arg(long, value_name = "URL")]
    pub store_url: Option<String>,
    /// Show no actions and refuse them.
    #[arg(long)]
    pub read_only: bool,
    /// The token to require (default: a random one, printed in the URL).
    #[arg(long, value_name = "TOKEN")]
    pub token: Option<String>,
    /// Payload fields never shown, at any depth (comma-separated, e.g. password,card_number).
    #[arg(long, value_name = "FIELDS", value_delimiter = ',')]
    pub redact: Vec<String>,
}

/// Serves until Ctrl-C.
#[cfg(feature = "dashboard")]
pub fn dashboard(manifest: Option<&Path>, args: Dashboard) -> Result<()> {
    use anyhow::Context;

    let project = crate::project::Project::open(manifest).ok();
    let config = crate::config::app_config(project.as_ref())?;
    let queue_url = match args.url {
        Some(url) => url,
        None => config
            .queue_url
            .clone()
            .filter(|u| !u.trim().is_empty())
            .ok_or_else(|| {
                crate::UsageError(
                "no queue to show: pass --url sqlite://jobs.db (or redis://..., postgres://...), \
                 or set EVENTS_QUEUE_URL"
                    .to_string(),
            )
            })?,
    };
    let store_url = args
        .store_url
        .or_else(|| config.store_enabled.then(|| config.store_url.clone()));
    // Live pages by push when the app broadcasts to a server browsers reach.
    let broadcast = matches!(
        config.broadcast.connection,
        event_core::broadcasting::BroadcastConnection::Pusher
            | event_core::broadcasting::BroadcastConnection::Redis
    )
    .then(|| config.broadcast.clone());
    let options = event_dashboard::ServeOptions {
        host: args.host,
        port: args.port,
        queue_url: Some(queue_url),
        store_url,
        store_table: Some(config.store_table.clone()),
        read_only: args.read_only,
        token: args.token,
        redact: args
            .redact
            .into_iter()
            .map(|f| f.trim().to_string())
            .filter(|f| !f.is_empty())
            .collect(),
        broadcast,
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("could not start the async runtime")?;
    runtime
        .block_on(event_dashboard::serve(options))
        .context("the dashboard stopped")
}

/// This build has no dashboard (an app's own binary, built with
/// `default-features = false`): say where it is.
#[cfg(not(feature = "dashboard"))]
pub fn dashboard(_manifest: Option<&Path>, _args: Dashboard) -> Result<()> {
    Err(crate::UsageError(
        "dashboard is not in this build (event-artisan without its `dashboard` feature, as \
         `artisan init` adds it to an app): run the installed `artisan dashboard`, or turn on \
         the feature: event-artisan = { ..., features = [\"dashboard\"] }"
            .to_string(),
    )
    .into())
}
