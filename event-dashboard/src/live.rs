//! Live pages by push: the dashboard watches the figures the connection
//! keeps at write time (gauges, workers, the latest completed job) and,
//! when they change, publishes one small frame on a private channel of the
//! app's Pusher-protocol server. Pages subscribe with pusher-js (the
//! channel authorised by the dashboard's own guard) and fetch what changed;
//! without a server, or when the socket drops, they poll instead.
//!
//! Frames go straight to the broadcaster: never through the queue, so they
//! never show in the figures they announce.

use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

use event_core::broadcasting::{
    BroadcastConfig, BroadcastConnection, BroadcastMessage, Broadcaster, ChannelAuthorizer, Scheme,
    connect,
};
use event_core::queue::Monitor;
use serde_json::{Value, json};

use crate::broadcasting::ServerReader;
use crate::error::DashboardError;

/// The private channel the pages subscribe to.
pub const CHANNEL: &str = "private-events-dashboard";

/// The event name of a frame.
pub const CHANGED: &str = "dashboard.changed";

/// How often the figures are compared: at most this many frames a second
/// is `1000 / WATCH_EVERY`.
pub const WATCH_EVERY: Duration = Duration::from_millis(500);

/// A dashboard's push: the broadcaster it publishes with, the authorizer
/// that signs its pages' subscriptions, and what pusher-js needs to know.
pub(crate) struct Push {
    broadcaster: Arc<dyn Broadcaster>,
    authorizer: ChannelAuthorizer<()>,
    client: Value,
    origin: String,
    watching: Mutex<bool>,
    server: ServerReader,
}

impl std::fmt::Debug for Push {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Push")
            .field("server", &self.origin)
            .finish_non_exhaustive()
    }
}

impl Push {
    /// From the app's broadcasting settings (`EVENTS_BROADCAST_*`): the
    /// `pusher` or `redis` connection of an `event-broadcast-server` (or
    /// any Pusher-compatible server) with the app's key and secret.
    pub(crate) async fn connect(config: &BroadcastConfig) -> Result<Self, DashboardError> {
        match config.connection {
            BroadcastConnection::Pusher | BroadcastConnection::Redis => {}
            other => {
                return Err(DashboardError::PushNeedsServer(format!(
                    "EVENTS_BROADCAST_CONNECTION is `{}`: live pages need a server browsers connect to (`pusher` or `redis`, with event-broadcast-server)",
                    format!("{other:?}").to_lowercase()
                )));
            }
        }
        let credentials = config
            .credentials("dashboard")
            .map_err(DashboardError::Push)?;
        let broadcaster = connect(config).await.map_err(DashboardError::Push)?;
        let server = ServerReader::new(config)?;
        let tls = matches!(config.scheme, Scheme::Https);
        let origin = format!(
            "{}://{}:{}",
            if tls { "wss" } else { "ws" },
            config.host,
            config.port
        );
        Ok(Self {
            broadcaster,
            client: json!({
                "mode": "push",
                "key": credentials.key,
                "host": config.host,
                "port": config.port,
                "tls": tls,
                "channel": CHANNEL,
                "event": CHANGED,
                "auth_endpoint": "api/live/auth",
                "interval_ms": 2000,
            }),
            authorizer: ChannelAuthorizer::new(credentials)
                .channel(CHANNEL.trim_start_matches("private-"), |_, _| true),
            origin,
            watching: Mutex::new(false),
            server,
        })
    }

    /// What `api/meta` tells the page under `live`.
    pub(crate) fn client(&self) -> &Value {
        &self.client
    }

    /// The server's HTTP API, for the Broadcasting part.
    pub(crate) fn server(&self) -> &ServerReader {
        &self.server
    }

    /// The server's WebSocket origin, for the page's `connect-src`.
    pub(crate) fn origin(&self) -> &str {
        &self.origin
    }

    /// Signs a page's subscription to the dashboard's channel (and no
    /// other): pusher-js's form body (`socket_id`, `channel_name`).
    pub(crate) fn authorize(&self, body: &[u8]) -> Result<Value, (u16, String)> {
        self.authorizer
            .authorize_form(&(), body)
            .map(|a| json!(a))
            .map_err(|e| (e.status(), e.to_string()))
    }

    /// Starts the watcher once (on the first page load); it ends when the
    /// last handle to this push is dropped.
    pub(crate) fn watch(self: &Arc<Self>, monitor: Monitor) {
        let mut watching = self.watching.lock().unwrap_or_else(|p| p.into_inner());
        if *watching {
            return;
        }
        *watching = true;
        tokio::spawn(watch(Arc::downgrade(self), monitor));
    }
}

/// What a page shows that can change, without the clocks that tick on
/// their own (beats, ages): a change here is worth a frame.
async fn figures(monitor: &Monitor) -> Option<Value> {
    let gauges = monitor.gauges().await.ok()?;
    let workers = monitor.workers().await.ok()?;
    let latest = monitor.completed(1, None).await.ok()?;
    // A waiting job's age grows by itself: counted in 5 s steps, so a page
    // showing it is told every 5 s, not every tick.
    let queues: Vec<Value> = gauges
        .iter()
        .map(|g| {
            json!([
                g.queue,
                g.pending,
                g.delayed,
                g.running,
                g.failed,
                g.paused,
                g.oldest_pending_ms / 5_000
            ])
        })
        .collect();
    Some(json!({
        "queues": queues,
        "workers": workers.iter().map(|w| json!([
            w.beat.id, w.state, w.beat.running, w.beat.processed, w.beat.failed
        ])).collect::<Vec<_>>(),
        "completed": latest.first().map(|j| (j.id.clone(), j.done_at_ms)),
    }))
}

async fn watch(push: Weak<Push>, monitor: Monitor) {
    let mut last: Option<Value> = None;
    let mut tick = tokio::time::interval(WATCH_EVERY);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        let Some(push) = push.upgrade() else { return };
        let Some(now) = figures(&monitor).await else {
            continue;
        };
        let parts: Vec<&str> = ["queues", "workers", "completed"]
            .into_iter()
            .filter(|k| last.as_ref().is_none_or(|l| l[k] != now[k]))
            .collect();
        if last.is_some() && !parts.is_empty() {
            let message = BroadcastMessage {
                channels: vec![CHANNEL.to_string()],
                event: CHANGED.to_string(),
                data: json!({ "parts": parts }),
                socket_id: None,
            };
            if let Err(e) = push.broadcaster.broadcast(&message).await {
                tracing::debug!(error = %e, "the dashboard could not push a change");
            }
        }
        last = Some(now);
    }
}
