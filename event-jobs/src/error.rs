//! What can go wrong talking to a queue.
//!
//! A variant about one connection names its URL (password redacted). Failures
//! of the storage itself keep the library's error as their `source()`, so a
//! caller can tell a refused connection (`redis::RedisError::is_connection_refusal`)
//! from a constraint violation (`rusqlite::Error::SqliteFailure`) without
//! parsing text:
//!
//! ```no_run
//! # async fn demo(queue: event_jobs::Queue) {
//! use event_jobs::QueueError;
//! match queue.size().await {
//!     Err(QueueError::Redis { source, .. }) if source.is_io_error() => { /* down: try later */ }
//!     Err(other) => eprintln!("{other}"),
//!     Ok(n) => println!("{n} jobs waiting"),
//! }
//! # }
//! ```

/// What can go wrong talking to a queue. Variants about one connection name
/// its URL ([`QueueError::url`]).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum QueueError {
    /// No connection takes this URL, one of its query parameters does not
    /// parse (`failed_cap`, `schema`, `pool_size`), the driver refuses it, or
    /// `EVENTS_QUEUE_CONNECTION` names another connection than its scheme.
    #[error("invalid queue URL `{url}`: {reason}")]
    InvalidUrl {
        /// The URL as given (password redacted).
        url: String,
        /// What is wrong with it.
        reason: String,
    },
    /// The connection could not be opened; `reason` is all that is known
    /// (`postgres`: no pooled connection in time; `sqlite`: its writer
    /// thread would not start).
    #[error("cannot reach the queue at `{url}`: {reason}")]
    Unreachable {
        /// The connection's URL (password redacted).
        url: String,
        /// Why, as text.
        reason: String,
    },
    /// A failure without a library error behind it (a writer thread gone;
    /// on `postgres` also tables of the wrong shape and JSON that does not
    /// encode).
    #[error("queue `{url}`: {reason}")]
    Backend {
        /// The connection's URL (password redacted).
        url: String,
        /// What went wrong, as text.
        reason: String,
    },
    /// SQLite refused a statement (or the file could not be opened).
    #[cfg(feature = "sqlite")]
    #[error("sqlite queue `{url}`: {action}: {source}")]
    Sqlite {
        /// The connection's URL.
        url: String,
        /// What the queue was doing (`"claim jobs"`, `"open the database"`).
        action: &'static str,
        /// SQLite's error (`sqlite_error_code()` tells busy from a constraint).
        #[source]
        source: rusqlite::Error,
    },
    /// Redis refused a command or could not be reached.
    #[cfg(feature = "redis")]
    #[error("redis queue `{url}`: {action}: {source}")]
    Redis {
        /// The connection's URL (password redacted).
        url: String,
        /// What the queue was doing (`"claim jobs"`, `"connect"`).
        action: &'static str,
        /// The driver's error (`is_io_error()`, `is_connection_refusal()`...).
        #[source]
        source: redis::RedisError,
    },
    /// PostgreSQL refused a statement or could not be reached.
    #[cfg(feature = "postgres")]
    #[error("postgres queue `{url}`: {action}: {source}")]
    Postgres {
        /// The connection's URL (password redacted).
        url: String,
        /// What the queue was doing (`"cannot claim jobs"`, `"cannot connect"`).
        action: String,
        /// The driver's error (`code()` is the SQLSTATE, `None` when the
        /// server was not reached).
        #[source]
        source: tokio_postgres::Error,
    },
    /// A job or failed-job record could not be turned into JSON, on
    /// `sqlite` and `redis` (`postgres` reports it as [`QueueError::Backend`]).
    #[error("queue `{url}`: {action}: {source}")]
    Json {
        /// The connection's URL (password redacted).
        url: String,
        /// What the queue was doing (`"write a job"`, `"write a failed job"`).
        action: &'static str,
        /// serde_json's error.
        #[source]
        source: serde_json::Error,
    },
    /// A listener or event names a `connection` this queue was not given
    /// with [`Queue::with_connection`](crate::Queue::with_connection); the
    /// dispatch fails.
    #[error("unknown queue connection `{0}`: add it with `Queue::with_connection`")]
    UnknownConnection(String),
    /// [`connect`](crate::connect) to `sqlite`, `redis` or `postgres` without
    /// a URL (`EVENTS_QUEUE_URL` unset).
    #[error("the `{connection}` connection needs EVENTS_QUEUE_URL")]
    MissingUrl {
        /// The connection `EVENTS_QUEUE_CONNECTION` names.
        connection: String,
    },
    /// The URL is for a connection whose cargo feature (`sqlite`, `redis`,
    /// `postgres`) this build leaves out.
    #[error("the `{0}` feature of event-core is off, so the `{0}` connection is unavailable")]
    Disabled(&'static str),
    /// Asked of the `sync` connection, which stores nothing: sizes,
    /// `clear`, `push`, the failed store, a worker or its stats.
    #[error(
        "the `sync` connection runs listeners inline: it has no worker and no failed-jobs store"
    )]
    Sync,
    /// A worker refused to start: its [`JobRegistry`](crate::JobRegistry)
    /// fails [`check`](crate::JobRegistry::check).
    #[error("the worker's job registry is not usable")]
    Registry(#[source] RegistryError),
    /// An `encrypted` listener's job could not be sealed (no
    /// `EVENTS_APP_KEY`): it was not queued.
    #[error(transparent)]
    Sealed(#[from] crate::SealError),
    /// The unit of work ([`defer`](crate::defer)) committed, then one of
    /// the deliveries it held (an `after_commit` event or listener) failed;
    /// the ones after it did not run.
    #[error("a delivery held until the unit of work committed failed")]
    AfterCommit(#[source] anyhow::Error),
}

impl QueueError {
    /// The URL of the connection the error is about, when it has one.
    pub fn url(&self) -> Option<&str> {
        match self {
            Self::InvalidUrl { url, .. }
            | Self::Unreachable { url, .. }
            | Self::Backend { url, .. }
            | Self::Json { url, .. } => Some(url),
            #[cfg(feature = "sqlite")]
            Self::Sqlite { url, .. } => Some(url),
            #[cfg(feature = "postgres")]
            Self::Postgres { url, .. } => Some(url),
            #[cfg(feature = "redis")]
            Self::Redis { url, .. } => Some(url),
            Self::UnknownConnection(_)
            | Self::MissingUrl { .. }
            | Self::Disabled(_)
            | Self::Registry(_)
            | Self::Sealed(_)
            | Self::AfterCommit(_)
            | Self::Sync => None,
        }
    }

    /// True when the storage could not be reached at all (connection
    /// refused, reset, timed out), as opposed to refusing one request.
    pub fn is_unreachable(&self) -> bool {
        match self {
            Self::Unreachable { .. } => true,
            #[cfg(feature = "redis")]
            Self::Redis { source, .. } => {
                source.is_io_error()
                    || source.is_connection_refusal()
                    || source.is_connection_dropped()
                    || source.is_timeout()
            }
            #[cfg(feature = "sqlite")]
            Self::Sqlite { source, .. } => event_sqlite::is_unreachable(source),
            #[cfg(feature = "postgres")]
            Self::Postgres { source, .. } => source.is_closed() || source.code().is_none(),
            _ => false,
        }
    }
}

/// Why a job could not be rebuilt.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RegistryError {
    /// The job names an event this registry has no type for (add it with
    /// [`JobRegistry::event`](crate::JobRegistry::event) or `listener`).
    #[error("unknown event `{0}`: it is not in this worker's job registry")]
    UnknownEvent(String),
    /// The job names a listener this registry does not have (add it with
    /// [`JobRegistry::listener`](crate::JobRegistry::listener)).
    #[error("unknown listener `{0}`: it is not in this worker's job registry")]
    UnknownListener(String),
    /// The job's payload is sealed (an `encrypted` listener's) and this
    /// worker's keys do not open it.
    #[error(transparent)]
    Sealed(#[from] crate::SealError),
    /// The stored payload does not deserialise into the registered event
    /// type (the type changed since the job was queued).
    #[error("the payload of event `{event}` does not deserialise: {source}")]
    BadPayload {
        /// The event's name.
        event: String,
        /// serde_json's error.
        #[source]
        source: serde_json::Error,
    },
    /// Two listener types share one `listener_name()`; the second was not
    /// added. Found by [`check`](crate::JobRegistry::check), before a worker starts.
    #[error(
        "two listeners are named `{name}` (`{first}` and `{second}`): a job stores the name to find its listener again; give one another `name`"
    )]
    DuplicateName {
        /// The shared name.
        name: String,
        /// The Rust type registered first (the one kept).
        first: &'static str,
        /// The Rust type registered second.
        second: &'static str,
    },
    /// A listener lists a middleware this registry cannot run.
    #[error("listener `{listener}`: {source}")]
    Middleware {
        /// The listener's name.
        listener: String,
        /// What is wrong with its middleware.
        #[source]
        source: MiddlewareError,
    },
}

/// A middleware string that cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum MiddlewareError {
    /// Neither a built-in middleware nor a name registered with
    /// [`JobRegistry::middleware`](crate::JobRegistry::middleware).
    #[error(
        "unknown job middleware `{0}`: expected `throttle:N,M`, `rate_limited:NAME`, \
         `without_overlapping:KEY`, or a name registered with `JobRegistry::middleware`"
    )]
    Unknown(String),
    /// A built-in middleware with arguments that do not parse (`throttle:ten,1`).
    #[error("job middleware `{text}`: {reason}")]
    Malformed {
        /// The string as written.
        text: String,
        /// What its arguments should be.
        reason: &'static str,
    },
    /// `rate_limited:NAME` where `NAME` was not defined with
    /// [`JobRegistry::rate_limit`](crate::JobRegistry::rate_limit).
    #[error(
        "job middleware `{0}` names a rate limit this worker's job registry does not have: add it with `JobRegistry::rate_limit`"
    )]
    UnknownLimit(String),
}
