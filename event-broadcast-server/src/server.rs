//! The server: one port for WebSocket (`/app/{key}`), the HTTP API
//! (`/apps/{id}/...`) and `GET /up`; started in-process ([`Server::bind`])
//! or by `artisan broadcast:serve`.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use anyhow::{Context, Result};
use axum::Router;
use axum::extract::ws::WebSocketUpgrade;
use axum::extract::{Path, Query, State};
use axum::response::IntoResponse;
use axum::routing::{any, get, post};
use rand::seq::SliceRandom;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::apps::Apps;
use crate::config::ServerConfig;
use crate::hub::{Hub, Stats};
use crate::protocol::close;
use crate::{cluster, connection, http_api, tls};

const READ_BUFFER: usize = 4 * 1024;
const WRITE_BUFFER: usize = 16 * 1024;

/// A running server.
pub struct Server {
    addr: SocketAddr,
    /// The server's own app (`ServerConfig::credentials`).
    hub: Arc<Hub>,
    apps: Arc<Apps>,
    stop: watch::Sender<bool>,
    task: JoinHandle<std::io::Result<()>>,
}

impl std::fmt::Debug for Server {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Server")
            .field("addr", &self.addr)
            .field("node_id", &self.hub.node_id)
            .finish_non_exhaustive()
    }
}

impl Server {
    /// Binds `config.host:config.port` (port 0 picks a free one), joins the
    /// cluster when `redis_url` is set, and serves in the background; with
    /// `config.tls`, over TLS only, reloading the certificate on SIGHUP.
    pub async fn bind(config: ServerConfig) -> Result<Self> {
        // A bad certificate is refused before the port is taken.
        let certificate = match &config.tls {
            Some(identity) => Some(
                tls::Certificate::load(identity.clone())
                    .context("the broadcasting server's TLS certificate cannot be used")?,
            ),
            None => None,
        };
        let listener = tokio::net::TcpListener::bind((config.host.as_str(), config.port))
            .await
            .with_context(|| format!("could not listen on {}:{}", config.host, config.port))?;
        let addr = listener.local_addr()?;
        let redis_url = config.redis_url.clone();
        let node_id = format!("{:016x}", rand::random::<u64>());
        let mut hubs = Vec::new();
        for app in config.app_configs() {
            let id = app.credentials.app_id.clone();
            let webhook_tls = match &app.webhook_url {
                Some(url) if url.starts_with("https://") => Some(
                    event_tls::client_config(
                        app.ca_file
                            .as_deref()
                            .map(|p| ("EVENTS_BROADCAST_CA_FILE", p)),
                    )
                    .with_context(|| {
                        format!("app `{id}`'s webhook URL is https, and TLS cannot be set up")
                    })?,
                ),
                _ => None,
            };
            let hub = Arc::new(Hub::new(Arc::new(app), webhook_tls, node_id.clone()));
            hub.start_meter();
            if let Some(url) = &redis_url {
                cluster::join(&hub, url)
                    .with_context(|| format!("invalid EVENTS_BROADCAST_REDIS_URL `{url}`"))?;
            }
            hubs.push(hub);
        }
        let apps = Arc::new(Apps::new(hubs).context("the apps cannot be served together")?);
        let hub = apps.all()[0].clone();
        let (stop, mut stopped) = watch::channel(false);
        let app = router(apps.clone());
        let shutdown = async move {
            let _ = stopped.wait_for(|s| *s).await;
        };
        let (ws, http) = if certificate.is_some() {
            ("wss", "https")
        } else {
            ("ws", "http")
        };
        let task = match certificate {
            None => tokio::spawn(async move {
                axum::serve(listener, app)
                    .with_graceful_shutdown(shutdown)
                    .await
            }),
            Some(certificate) => {
                let listener = tls::TlsListener::new(listener, &certificate)
                    .context("could not set up TLS")?;
                tls::reload_on_sighup(certificate).context("could not listen for SIGHUP")?;
                tokio::spawn(async move {
                    axum::serve(listener, app)
                        .with_graceful_shutdown(shutdown)
                        .await
                })
            }
        };
        tracing::info!(
            %addr,
            node = %hub.node_id,
            cluster = redis_url.is_some(),
            "broadcast server listening: {ws}://{addr}/app/{{key}}, HTTP API {http}://{addr}/apps/{{id}}"
        );
        Ok(Self {
            addr,
            hub,
            apps,
            stop,
            task,
        })
    }

    /// The address the server listens on (the real port when port 0 was given).
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// This node's id in the cluster.
    pub fn node_id(&self) -> &str {
        &self.hub.node_id
    }

    /// Counters of the server's own app (slow sockets closed, cluster
    /// frames dropped, frames sent).
    pub fn stats(&self) -> &Stats {
        &self.hub.stats
    }

    /// Open WebSocket connections (every app's).
    pub fn connections(&self) -> usize {
        open_connections(&self.apps)
    }

    /// Stops accepting, then closes the open connections in jittered waves
    /// over `config.drain` with 4100, so pusher-js backs off and the clients
    /// do not all come back at once.
    pub async fn shutdown(self) -> Result<()> {
        let _ = self.stop.send(true);
        let mut handles: Vec<_> = self.apps.all().iter().flat_map(|h| h.handles()).collect();
        handles.shuffle(&mut rand::rng());
        let drain = self.hub.config.drain;
        let waves = 10usize;
        let per_wave = handles.len().div_ceil(waves).max(1);
        let pause = drain / waves as u32;
        tracing::info!(
            connections = handles.len(),
            ?drain,
            "shutting down: closing connections in waves"
        );
        for (i, wave) in handles.chunks(per_wave).enumerate() {
            if i > 0 {
                let jitter = rand::random::<u64>() % (pause.as_millis() as u64 / 2 + 1);
                tokio::time::sleep(pause / 2 + Duration::from_millis(jitter)).await;
            }
            for handle in wave {
                handle.close(
                    close::OVER_CAPACITY,
                    "server shutting down; reconnect later",
                );
            }
        }
        let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
        while open_connections(&self.apps) > 0 && tokio::time::Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        match tokio::time::timeout(Duration::from_secs(5), self.task).await {
            Ok(joined) => joined.context("server task panicked")??,
            Err(_) => tracing::warn!("server did not stop within 5 s"),
        }
        Ok(())
    }

    /// Serves until Ctrl-C or SIGTERM, then shuts down gracefully.
    pub async fn run_until_signal(self) -> Result<()> {
        wait_for_signal().await;
        self.shutdown().await
    }
}

async fn wait_for_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        if let Ok(mut term) = signal(SignalKind::terminate()) {
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = term.recv() => {}
            }
            return;
        }
    }
    let _ = tokio::signal::ctrl_c().await;
}

fn open_connections(apps: &Apps) -> usize {
    apps.all()
        .iter()
        .map(|h| h.connections.load(Ordering::Relaxed))
        .sum()
}

fn router(apps: Arc<Apps>) -> Router {
    let max = apps.all()[0].config.max_message_bytes;
    Router::new()
        .route("/up", get(|| async { "ok" }))
        .route("/app/{key}", any(upgrade))
        .route("/apps/{app_id}/events", post(http_api::events))
        .route("/apps/{app_id}/batch_events", post(http_api::batch_events))
        .route("/apps/{app_id}/channels", get(http_api::channels))
        .route("/apps/{app_id}/nodes", get(http_api::nodes))
        .route("/apps/{app_id}/channels/{channel}", get(http_api::channel))
        .route(
            "/apps/{app_id}/channels/{channel}/users",
            get(http_api::users),
        )
        .route(
            "/apps/{app_id}/users/{user_id}/terminate_connections",
            post(http_api::terminate),
        )
        .layer(axum::extract::DefaultBodyLimit::max(
            max.max(1024).saturating_mul(4),
        ))
        .with_state(apps)
}

#[derive(serde::Deserialize)]
struct ConnectParams {
    protocol: Option<u32>,
}

async fn upgrade(
    ws: WebSocketUpgrade,
    Path(key): Path<String>,
    Query(params): Query<ConnectParams>,
    State(apps): State<Arc<Apps>>,
) -> impl IntoResponse {
    let max = apps.all()[0].config.max_message_bytes;
    // Small buffers: tungstenite's 128 KiB read buffer per socket would be
    // most of an idle connection's memory.
    ws.max_message_size(max)
        .max_frame_size(max)
        .read_buffer_size(READ_BUFFER)
        .write_buffer_size(WRITE_BUFFER)
        .on_upgrade(move |socket| async move {
            let Some(hub) = apps.by_key(&key).cloned() else {
                return connection::refuse(socket, close::UNKNOWN_APP, "unknown app key").await;
            };
            if let Some(p) = params.protocol
                && !(5..=7).contains(&p)
            {
                return connection::refuse(
                    socket,
                    close::UNSUPPORTED_PROTOCOL,
                    "unsupported protocol version",
                )
                .await;
            }
            let open = hub.connections.fetch_add(1, Ordering::Relaxed);
            if open >= hub.config.limits.max_connections.unwrap_or(usize::MAX) {
                hub.connections.fetch_sub(1, Ordering::Relaxed);
                return connection::refuse(
                    socket,
                    close::OVER_QUOTA,
                    "the app is over its connection quota",
                )
                .await;
            }
            if open_connections(&apps) > hub.config.max_connections {
                hub.connections.fetch_sub(1, Ordering::Relaxed);
                return connection::refuse(socket, close::OVER_CAPACITY, "over capacity").await;
            }
            connection::serve(socket, hub).await;
        })
}
