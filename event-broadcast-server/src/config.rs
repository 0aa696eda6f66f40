//! The server's settings, from the same `EVENTS_BROADCAST_*` variables the
//! app reads (`event_broadcast::BroadcastConfig`).

use std::path::Path;
use std::time::Duration;

use anyhow::Context;

use event_broadcast::BroadcastConfig;
use event_broadcast::signature::Credentials;
use event_tls::ServerIdentity;

use crate::app_config::{APPS_FILE_VAR, load_apps_file};

/// The variable of the server's TLS certificate.
pub(crate) const CERT_VAR: &str = "EVENTS_BROADCAST_SERVER_TLS_CERT";
/// The variable of its key.
pub(crate) const KEY_VAR: &str = "EVENTS_BROADCAST_SERVER_TLS_KEY";

/// Everything a [`Server`](crate::Server) needs.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    /// The one app this server serves (`EVENTS_BROADCAST_APP_ID` / `_KEY` / `_SECRET`).
    pub credentials: Credentials,
    /// The address to listen on (`EVENTS_BROADCAST_HOST`, default `127.0.0.1`).
    pub host: String,
    /// The port to listen on (`EVENTS_BROADCAST_PORT`, default 6001; 0 picks a free one).
    pub port: u16,
    /// Seconds of client silence before the server pings (`EVENTS_BROADCAST_ACTIVITY_TIMEOUT`).
    pub activity_timeout: u64,
    /// How long a pinged client has to answer before it is closed with 4201.
    pub pong_timeout: Duration,
    /// `client-*` events allowed (`EVENTS_BROADCAST_CLIENT_EVENTS`).
    pub client_events: bool,
    /// Sends `pusher_internal:subscription_count` (the cluster's count) to a
    /// non-presence channel's subscribers when it changes
    /// (`EVENTS_BROADCAST_SUBSCRIPTION_COUNT`).
    pub subscription_count: bool,
    /// Joins the cluster over Redis pub/sub (`EVENTS_BROADCAST_REDIS_URL`).
    pub redis_url: Option<String>,
    /// Largest WebSocket message accepted (`EVENTS_BROADCAST_MAX_MESSAGE_BYTES`,
    /// default 64 KiB); a bigger one closes that connection with 1009 (message
    /// too big), from the frame's header, before it is read whole.
    pub max_message_bytes: usize,
    /// Largest `data` of one published event (Pusher's limit is 10 KB).
    pub max_event_bytes: usize,
    /// Frames queued for one socket before it counts as too slow and is closed.
    pub socket_queue: usize,
    /// Connections accepted at once; the next ones are closed with 4100.
    pub max_connections: usize,
    /// Frames buffered for Redis while it is away; older ones are dropped (and counted).
    pub cluster_buffer: usize,
    /// A node whose heartbeat is older than this is dead: its presence members are removed.
    pub node_ttl: Duration,
    /// How long a graceful shutdown spreads its closes over.
    pub drain: Duration,
    /// Where webhooks are posted (`EVENTS_BROADCAST_WEBHOOK_URL`; none by default).
    pub webhook_url: Option<String>,
    /// The first retry delay of a failed webhook (doubling each time).
    pub webhook_retry: Duration,
    /// Serves `wss://` and `https://` with this certificate and key
    /// (`--tls-cert` / `--tls-key`, `EVENTS_BROADCAST_SERVER_TLS_CERT` /
    /// `_KEY`); SIGHUP reads the files again. None: `ws://` and `http://`.
    pub tls: Option<ServerIdentity>,
    /// This app's limits (connections, client events per second, channel
    /// name length); refused with the protocol's codes (see `limits`).
    pub limits: crate::limits::Limits,
    /// More apps served on the same port (`--apps-file` /
    /// `EVENTS_BROADCAST_SERVER_APPS_FILE`), each with a hub of its own.
    pub apps: Vec<crate::app_config::AppConfig>,
    /// CA certificates (PEM) an `https://` webhook URL's certificate may
    /// come from, besides the system roots (`EVENTS_BROADCAST_CA_FILE`).
    pub ca_file: Option<std::path::PathBuf>,
}

impl ServerConfig {
    /// The defaults for `credentials`, on 127.0.0.1:6001.
    pub fn new(credentials: Credentials) -> Self {
        Self {
            credentials,
            host: "127.0.0.1".into(),
            port: 6001,
            activity_timeout: 30,
            pong_timeout: Duration::from_secs(30),
            client_events: false,
            subscription_count: false,
            redis_url: None,
            max_message_bytes: BroadcastConfig::default().max_message_bytes,
            max_event_bytes: 10 * 1024,
            socket_queue: 256,
            max_connections: 100_000,
            cluster_buffer: 10_000,
            node_ttl: Duration::from_secs(5),
            drain: Duration::from_secs(5),
            webhook_url: None,
            webhook_retry: Duration::from_secs(1),
            tls: None,
            limits: crate::limits::Limits::default(),
            apps: Vec::new(),
            ca_file: None,
        }
    }

    /// From `EVENTS_BROADCAST_*`; the app id, key and secret are required
    /// (unless `EVENTS_BROADCAST_SERVER_APPS_FILE` names apps: then its first
    /// is the server's own), and a TLS certificate needs its key (and the
    /// reverse).
    pub fn from_broadcast_config(config: &BroadcastConfig) -> anyhow::Result<Self> {
        let apps_file = config.server_apps_file.as_deref();
        Self::with_apps_file(config, apps_file.map(|p| (APPS_FILE_VAR, p)))
    }

    /// [`from_broadcast_config`](Self::from_broadcast_config) with the apps
    /// file named by `apps_file` (`(setting, path)`; the setting names it in
    /// errors) instead of the variable's.
    pub(crate) fn with_apps_file(
        config: &BroadcastConfig,
        apps_file: Option<(&str, &Path)>,
    ) -> anyhow::Result<Self> {
        let file_apps = match apps_file {
            Some((name, path)) => load_apps_file(path)
                .with_context(|| format!("the apps file of {name} cannot be used"))?,
            None => Vec::new(),
        };
        let mut config = config.clone();
        let env_app =
            config.app_id.is_some() || config.app_key.is_some() || config.app_secret.is_some();
        if let (false, Some(first)) = (env_app, file_apps.first()) {
            // No EVENTS_BROADCAST_APP_*: the file's first app is the server's own.
            config.app_id = Some(first.credentials.app_id.clone());
            config.app_key = Some(first.credentials.key.clone());
            config.app_secret = Some(first.credentials.secret.clone());
        }
        let config = &config;
        let mut out = Self::new(config.credentials("server")?);
        out.host.clone_from(&config.host);
        out.port = config.port;
        out.activity_timeout = config.activity_timeout;
        out.client_events = config.client_events;
        out.subscription_count = config.subscription_count;
        out.max_message_bytes = config.max_message_bytes;
        out.redis_url.clone_from(&config.redis_url);
        out.webhook_url.clone_from(&config.webhook_url);
        out.ca_file.clone_from(&config.ca_file);
        out.tls = ServerIdentity::pair(
            config
                .server_tls_cert
                .clone()
                .map(|p| (CERT_VAR.to_string(), p)),
            config
                .server_tls_key
                .clone()
                .map(|p| (KEY_VAR.to_string(), p)),
            CERT_VAR,
            KEY_VAR,
        )?;
        out.add_apps(file_apps)?;
        Ok(out)
    }
}
