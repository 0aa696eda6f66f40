//! Standalone: `artisan dashboard` binds 127.0.0.1, prints a URL with a
//! token (like Jupyter) and serves until Ctrl-C.

use std::future::Future;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};

use event_core::config::EventsConfig;
use event_core::queue::{self, Queue};
use event_core::store;

use crate::error::DashboardError;
use crate::state::DashboardState;

/// How to serve the dashboard alone. Every field takes effect.
#[derive(Debug, Clone)]
pub struct ServeOptions {
    /// The address to listen on (default 127.0.0.1: this machine only).
    pub host: IpAddr,
    /// The port (default 8400; 0 picks a free one).
    pub port: u16,
    /// The queue connection's URL (`sqlite://jobs.db`, `redis://..`,
    /// `postgres://..`); `None` reads `EVENTS_QUEUE_URL` and the other
    /// `EVENTS_*` variables and `.env`, as the app does.
    pub queue_url: Option<String>,
    /// The event store's URL; `None` reads `EVENTS_STORE_URL` (and
    /// `EVENTS_STORE_ENABLED`, `EVENTS_STORE_TABLE`) like the app, and shows
    /// no events when the store is disabled.
    pub store_url: Option<String>,
    /// The store's table (default: `EVENTS_STORE_TABLE`, else `events`).
    pub store_table: Option<String>,
    /// Show no actions and refuse them (403).
    pub read_only: bool,
    /// The token to require; `None` makes a random one per run.
    pub token: Option<String>,
    /// Payload fields never shown, at any depth ([`crate::redact::fields`]).
    pub redact: Vec<String>,
    /// Live pages by push over this broadcast server
    /// ([`DashboardState::push`]); `None`: the pages poll. `artisan
    /// dashboard` passes the app's `EVENTS_BROADCAST_*` when they name a
    /// `pusher` or `redis` connection.
    pub broadcast: Option<event_core::broadcasting::BroadcastConfig>,
}

impl Default for ServeOptions {
    fn default() -> Self {
        Self {
            host: IpAddr::V4(Ipv4Addr::LOCALHOST),
            port: 8400,
            queue_url: None,
            store_url: None,
            store_table: None,
            read_only: false,
            token: None,
            redact: Vec::new(),
            broadcast: None,
        }
    }
}

/// A bound, not yet running, standalone dashboard.
#[derive(Debug)]
pub struct Standalone {
    listener: tokio::net::TcpListener,
    state: DashboardState,
    url: String,
    addr: SocketAddr,
}

impl Standalone {
    /// The address it listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The URL to open, with its token.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// Serves until `shutdown` completes.
    pub async fn run_until(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> Result<(), DashboardError> {
        let app = crate::router(self.state);
        axum::serve(
            self.listener,
            app.into_make_service_with_connect_info::<SocketAddr>(),
        )
        .with_graceful_shutdown(shutdown)
        .await
        .map_err(DashboardError::Serve)
    }
}

/// A random token: 160 bits from two ULIDs' random parts, in hex.
fn fresh_token() -> String {
    let a = ulid::Ulid::new().random();
    let b = ulid::Ulid::new().random();
    format!("{a:020x}{b:020x}")
}

/// Opens the queue (and the store) `options` name and binds the address,
/// without serving yet: [`Standalone::url`] is the URL to print.
pub async fn bind(options: ServeOptions) -> Result<Standalone, DashboardError> {
    let needs_env = options.queue_url.is_none() || options.store_url.is_none();
    let config = if needs_env {
        Some(EventsConfig::from_env().map_err(DashboardError::Config)?)
    } else {
        None
    };
    let queue = match (&options.queue_url, &config) {
        (Some(url), _) => Queue::open(url).await,
        (None, Some(config)) => queue::connect(config).await,
        (None, None) => unreachable!("the configuration is read when a URL is missing"),
    }
    .map_err(DashboardError::Queue)?;
    let store = match (&options.store_url, &config) {
        (Some(url), _) => {
            let table = options.store_table.as_deref().unwrap_or("events");
            let s = store::EventStore::open(url, table)
                .await
                .map_err(DashboardError::Store)?;
            Some(s)
        }
        (None, Some(config)) => {
            let mut wanted = config.store();
            if let Some(table) = &options.store_table {
                wanted.table = table.clone();
            }
            let s = store::connect(wanted)
                .await
                .map_err(DashboardError::Store)?;
            s.is_enabled().then_some(s)
        }
        (None, None) => unreachable!("the configuration is read when a URL is missing"),
    };
    let token = options.token.clone().unwrap_or_else(fresh_token);
    let mut state = DashboardState::new(queue)?
        .token(token.clone())?
        .read_only(options.read_only);
    if let Some(store) = store {
        state = state.store(store);
    }
    if let Some(broadcast) = &options.broadcast {
        state = state.push(broadcast).await?;
    }
    if !options.redact.is_empty() {
        state = state.redact(crate::redact::fields(&options.redact));
    }
    let addr = SocketAddr::new(options.host, options.port);
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|source| DashboardError::Bind { addr, source })?;
    let addr = listener
        .local_addr()
        .map_err(|source| DashboardError::Bind { addr, source })?;
    let host = match addr.ip() {
        IpAddr::V6(ip) => format!("[{ip}]"),
        IpAddr::V4(ip) => ip.to_string(),
    };
    let url = format!("http://{host}:{}/?token={token}", addr.port());
    Ok(Standalone {
        listener,
        state,
        url,
        addr,
    })
}

/// Serves the dashboard alone until Ctrl-C: binds (127.0.0.1:8400 by
/// default), prints the URL to open, with its token, then serves.
pub async fn serve(options: ServeOptions) -> Result<(), DashboardError> {
    let standalone = bind(options).await?;
    println!("  The dashboard is at {}", standalone.url());
    println!("  (the token is good for this run; Ctrl-C stops it)");
    standalone
        .run_until(async {
            let _ = tokio::signal::ctrl_c().await;
        })
        .await
}
