//! What can go wrong talking to a queue.
//!
//! Every variant names the connection's URL (password redacted). Failures
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

/// What can go wrong talking to a queue. Every variant names the URL.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum QueueError {
    #[error("invalid queue URL `{url}`: {reason}")]
    InvalidUrl { url: String, reason: String },
    /// The connection could not be opened; `reason` is all that is known.
    #[error("cannot reach the queue at `{url}`: {reason}")]
    Unreachable { url: String, reason: String },
    /// A failure without a library error behind it (a writer thread gone).
    #[error("queue `{url}`: {reason}")]
    Backend { url: String, reason: String },
    /// SQLite refused a statement (or the file could not be opened).
    #[cfg(feature = "sqlite")]
    #[error("sqlite queue `{url}`: {action}: {source}")]
    Sqlite {
        url: String,
        /// What the queue was doing (`"claim jobs"`, `"open the database"`).
        action: &'static str,
        #[source]
        source: rusqlite::Error,
    },
    /// Redis refused a command or could not be reached.
    #[cfg(feature = "redis")]
    #[error("redis queue `{url}`: {action}: {source}")]
    Redis {
        url: String,
        /// What the queue was doing (`"fetch jobs"`, `"connect"`).
        action: &'static str,
        #[source]
        source: redis::RedisError,
    },
    /// PostgreSQL refused a statement or could not be reached.
    #[cfg(feature = "postgres")]
    #[error("postgres queue `{url}`: {doing}: {source}")]
    Postgres {
        url: String,
        /// What the queue was doing (`"claim jobs"`, `"connect"`).
        doing: String,
        #[source]
        source: tokio_postgres::Error,
    },
    /// A job or failed-job record could not be turned into (or read from) JSON.
    #[error("queue `{url}`: {action}: {source}")]
    Json {
        url: String,
        action: &'static str,
        #[source]
        source: serde_json::Error,
    },
    #[error("unknown queue connection `{0}`: add it with `Queue::with_connection`")]
    UnknownConnection(String),
    #[error("the `{connection}` connection needs EVENTS_QUEUE_URL")]
    MissingUrl { connection: String },
    #[error("the `{0}` feature of event-core is off, so the `{0}` connection is unavailable")]
    Disabled(&'static str),
    #[error(
        "the `sync` connection runs listeners inline: it has no worker and no failed-jobs store"
    )]
    Sync,
    #[error("the worker's job registry is not usable")]
    Registry(#[source] RegistryError),
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
            Self::Sqlite { source, .. } => matches!(
                source.sqlite_error_code(),
                Some(rusqlite::ErrorCode::CannotOpen | rusqlite::ErrorCode::DatabaseBusy)
            ),
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
    #[error("unknown event `{0}`: it is not in this worker's job registry")]
    UnknownEvent(String),
    #[error("unknown listener `{0}`: it is not in this worker's job registry")]
    UnknownListener(String),
    #[error("the payload of event `{event}` does not deserialise: {source}")]
    BadPayload {
        event: String,
        #[source]
        source: serde_json::Error,
    },
    #[error(
        "two listeners are named `{name}` (`{first}` and `{second}`): a job stores the name to find its listener again; give one another `name`"
    )]
    DuplicateName {
        name: String,
        first: &'static str,
        second: &'static str,
    },
    #[error("listener `{listener}`: {source}")]
    Middleware {
        listener: String,
        #[source]
        source: MiddlewareError,
    },
}

/// A middleware string that cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum MiddlewareError {
    #[error(
        "unknown job middleware `{0}`: expected `throttle:N,M`, `rate_limited:NAME`, \
         `without_overlapping:KEY`, or a name registered with `JobRegistry::middleware`"
    )]
    Unknown(String),
    #[error("job middleware `{text}`: {reason}")]
    Malformed { text: String, reason: &'static str },
    #[error(
        "job middleware `{0}` names a rate limit this worker's job registry does not have: add it with `JobRegistry::rate_limit`"
    )]
    UnknownLimit(String),
}
