//! One boot for the app (Laravel's service providers): from an
//! [`EventsConfig`], the queue connected and installed, the event store
//! connected and installed when enabled, the broadcaster connected. The
//! generated `event_registry::boot(&config)` calls [`Runtime::start`], then
//! registers the app's listeners and runs the app's own hook; `main`, the
//! app's `queue:work` and `event:replay` all call it, so the worker is the
//! app.
//!
//! ```no_run
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> anyhow::Result<()> {
//! let config = event_core::config::EventsConfig::from_env()?;
//! let events = event_core::boot::Runtime::start(&config, event_core::event_dispatcher().await).await?;
//! // ... register listeners, dispatch ...
//! events.shutdown().await?; // flushes the event store
//! # Ok(())
//! # }
//! ```

use std::fmt;
use std::sync::Arc;

use event_broadcast::{Broadcaster, ConnectError};
use event_history::{EventStore, StoreError};
use event_jobs::{Queue, QueueError};
use event_kernel::Dispatcher;

use crate::config::EventsConfig;

/// What the app runs on once booted: the queue, the event store (when
/// enabled) and the broadcaster, installed on one dispatcher. Dropping it
/// leaves them installed; [`Runtime::shutdown`] flushes the store.
pub struct Runtime {
    config: EventsConfig,
    dispatcher: Dispatcher,
    queue: Queue,
    store: Option<EventStore>,
    broadcaster: Arc<dyn Broadcaster>,
}

/// Why the app could not boot (or shut down cleanly); each names the
/// variable to look at and keeps the driver's error as its source.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BootError {
    /// The queue `EVENTS_QUEUE_CONNECTION` names could not be connected.
    #[error("cannot connect the queue (EVENTS_QUEUE_CONNECTION is `{connection}`)")]
    Queue {
        /// The connection's name.
        connection: String,
        /// Why.
        #[source]
        source: QueueError,
    },
    /// The event store could not be opened.
    #[error(
        "cannot open the event store at {url} (EVENTS_STORE_URL; EVENTS_STORE_ENABLED=false turns it off)"
    )]
    Store {
        /// `EVENTS_STORE_URL`, password hidden.
        url: String,
        /// Why.
        #[source]
        source: StoreError,
    },
    /// The broadcaster could not be connected.
    #[error("cannot connect the broadcaster")]
    Broadcast(#[source] ConnectError),
    /// The store could not write what was recorded before shutdown.
    #[error("cannot flush the event store at shutdown")]
    Flush(#[source] StoreError),
}

impl Runtime {
    /// Connects and installs on `dispatcher` the queue, the event store
    /// (when `EVENTS_STORE_ENABLED`) and the broadcaster `config` names, and
    /// logs one line saying which `.env` and which connections (to `tracing`
    /// at info, or to stderr while no `tracing` subscriber is set).
    pub async fn start(config: &EventsConfig, dispatcher: &Dispatcher) -> Result<Self, BootError> {
        let queue = event_jobs::connect(config)
            .await
            .map_err(|source| BootError::Queue {
                connection: config.queue_connection.clone(),
                source,
            })?;
        let store = if config.store_enabled {
            let store =
                event_history::connect(config)
                    .await
                    .map_err(|source| BootError::Store {
                        url: event_kernel::config::redact(&config.store_url),
                        source,
                    })?;
            Some(store)
        } else {
            None
        };
        let broadcaster = event_broadcast::connect(&config.broadcast)
            .await
            .map_err(BootError::Broadcast)?;
        queue.install(dispatcher).await;
        if let Some(store) = &store {
            store.install(dispatcher).await;
        }
        dispatcher.set_broadcaster(broadcaster.clone()).await;
        let runtime = Self {
            config: config.clone(),
            dispatcher: dispatcher.clone(),
            queue,
            store,
            broadcaster,
        };
        if tracing::dispatcher::has_been_set() {
            tracing::info!(target: "event_core::boot", "{runtime}");
        } else {
            eprintln!("{runtime}");
        }
        Ok(runtime)
    }

    /// The settings it was booted with.
    pub fn config(&self) -> &EventsConfig {
        &self.config
    }

    /// The dispatcher everything is installed on.
    pub fn dispatcher(&self) -> &Dispatcher {
        &self.dispatcher
    }

    /// The queue connection (what `queue:work` works).
    pub fn queue(&self) -> &Queue {
        &self.queue
    }

    /// The event store, `None` with `EVENTS_STORE_ENABLED=false`.
    pub fn store(&self) -> Option<&EventStore> {
        self.store.as_ref()
    }

    /// The broadcaster (a worker's `JobRegistry::broadcaster` for queued
    /// broadcasts).
    pub fn broadcaster(&self) -> Arc<dyn Broadcaster> {
        self.broadcaster.clone()
    }

    /// Writes every event recorded so far to the store and closes it; what
    /// is dispatched afterwards is not recorded.
    pub async fn shutdown(self) -> Result<(), BootError> {
        if let Some(store) = &self.store {
            store.shutdown().await.map_err(BootError::Flush)?;
        }
        Ok(())
    }
}

impl fmt::Debug for Runtime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Runtime")
            .field("env_file", &self.config.env_file)
            .field("queue", &self.queue.connection_name())
            .field("store", &self.store)
            .finish_non_exhaustive()
    }
}

/// `events: .env /app/.env; queue sqlite (sqlite:///app/jobs.db), default queue `events`; store sqlite:///app/events.db (table events); broadcasting log`
impl fmt::Display for Runtime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let c = &self.config;
        match &c.env_file {
            Some(path) => write!(f, "events: settings from {}", path.display())?,
            None => write!(f, "events: no .env found, settings from the environment")?,
        }
        write!(f, "; queue {}", self.queue.connection_name())?;
        if let Some(url) = &c.queue_url {
            write!(f, " ({})", event_kernel::config::redact(url))?;
        }
        write!(f, ", default queue `{}`", c.default_queue)?;
        match &self.store {
            Some(store) => write!(f, "; store {} (table {})", store.location(), store.table())?,
            None => write!(f, "; store off")?,
        }
        write!(
            f,
            "; broadcasting {}",
            format!("{:?}", c.broadcast.connection).to_ascii_lowercase()
        )
    }
}
