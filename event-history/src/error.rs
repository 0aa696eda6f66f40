//! What can go wrong with the event store.

use super::record::ExpectedVersion;

/// An event-store failure. Every variant that talks to a database names it
/// (password redacted); a database's own error is kept as the `source()`,
/// typed as the driver's, as `QueueError` does for the queue, so a caller
/// can tell an outage ([`StoreError::is_unreachable`]) from a bug.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// `EVENTS_STORE_URL` is neither `sqlite://<path>` nor `postgres://...`,
    /// has no path after `sqlite://`, or the postgres driver refuses it.
    #[error("invalid event store URL `{url}`: {reason}")]
    InvalidUrl {
        /// The URL as given (password redacted).
        url: String,
        /// What is wrong with it.
        reason: String,
    },
    /// `EVENTS_STORE_TABLE` is not a plain identifier (a letter or `_`, then
    /// letters, digits, `_`; at most 48 characters). Checked before
    /// anything is opened, also for a disabled store.
    #[error("invalid EVENTS_STORE_TABLE `{table}`: {reason}")]
    InvalidTable {
        /// The name as given.
        table: String,
        /// The rule it breaks.
        reason: String,
    },
    /// The URL's backend is not compiled in: the cargo feature named here
    /// (`sqlite` or `postgres`) is off.
    #[error("the `{0}` feature of event-core is off, so `{0}://` event stores are unavailable")]
    Disabled(&'static str),
    /// The store could not be reached and no driver error says more (the
    /// connection pool's own errors); `reason` is all that is known.
    #[error("cannot reach the event store at `{url}`: {reason}")]
    Unreachable {
        /// The store's URL.
        url: String,
        /// What went wrong.
        reason: String,
    },
    /// A failure without a library error behind it (a database thread gone).
    #[error("event store `{url}`: {reason}")]
    Backend {
        /// The store's URL.
        url: String,
        /// What went wrong.
        reason: String,
    },
    /// SQLite refused a statement (or the file could not be opened).
    #[cfg(feature = "sqlite")]
    #[error("sqlite event store `{url}`: {action}: {source}")]
    Sqlite {
        /// The store's URL.
        url: String,
        /// What the store was doing (`"appending events"`).
        action: String,
        /// The driver's error.
        #[source]
        source: rusqlite::Error,
    },
    /// PostgreSQL refused a statement or could not be reached.
    #[cfg(feature = "postgres")]
    #[error("postgres event store `{url}`: {action}: {source}")]
    Postgres {
        /// The store's URL.
        url: String,
        /// What the store was doing (`"appending events"`).
        action: String,
        /// The driver's error.
        #[source]
        source: tokio_postgres::Error,
    },
    /// The table exists but is not an events table: refused when the store
    /// opens (nothing is migrated).
    #[error(
        "the table `{table}` at `{url}` is not an event store table: {}",
        problems.join("; ")
    )]
    WrongShape {
        /// The store's URL (password redacted).
        url: String,
        /// The table that was checked.
        table: String,
        /// One entry per missing or mismatched column, naming it.
        problems: Vec<String>,
    },
    /// [`EventStore::append`](crate::EventStore::append) found the stream
    /// elsewhere than `expected` (the unique (stream, stream_version) index
    /// decides; with `Any`, only when PostgreSQL keeps losing that race).
    #[error(
        "version conflict on stream `{stream}`: expected {expected}, but the stream is at {}",
        actual.map_or("no events".to_string(), |v| format!("version {v}"))
    )]
    VersionConflict {
        /// The stream appended to.
        stream: String,
        /// What the append asked for.
        expected: ExpectedVersion,
        /// The stream's version when the conflict was detected (`None`: empty).
        actual: Option<i64>,
    },
    /// [`EventStore::append`](crate::EventStore::append) with an expected
    /// version other than `Any`, for an event without a stream.
    #[error("an expected version ({0}) needs a stream: set `NewEvent::stream`")]
    NoStream(ExpectedVersion),
    /// [`EventStore::replay`](crate::EventStore::replay) was given an id
    /// that is not stored.
    #[error("no event with id `{0}` in the store")]
    NotFound(String),
    /// A replay of one event asked for a listener the event does not have.
    #[error(
        "event `{event}` has no listener `{listener}` to replay (its listeners: {})",
        if known.is_empty() { "none".to_string() } else { known.join(", ") }
    )]
    UnknownListener {
        /// The stored event's name.
        event: String,
        /// The listener asked for.
        listener: String,
        /// The event's listeners in the registry replayed through.
        known: Vec<String>,
    },
    /// [`Subscription::commit`](crate::Subscription::commit) on a
    /// subscription from [`EventStore::subscribe`](crate::EventStore::subscribe),
    /// which has no name to save a checkpoint under.
    #[error(
        "this subscription has no name to save a checkpoint under: open it with \
         EventStore::subscription(name)"
    )]
    UnnamedSubscription,
    /// [`EventStore::record`](crate::EventStore::record) was given an event
    /// with a stream (named here): only `append` checks a stream's version.
    #[error(
        "an event for stream `{0}` needs EventStore::append (its version is checked there), \
         not EventStore::record"
    )]
    StreamNeedsAppend(String),
    /// [`EventStore::record`](crate::EventStore::record) found the writer's
    /// buffer full ([`WriterOptions::buffer`](crate::WriterOptions::buffer)):
    /// the event was dropped and counted in `stats().dropped`.
    #[error("the event store's buffer is full: the event was dropped (counted in stats)")]
    BufferFull,
    /// The writer was shut down ([`EventStore::shutdown`](crate::EventStore::shutdown)):
    /// the event was not taken (and is counted in `stats().dropped`), or a
    /// flush cannot complete because the writer's task is gone.
    #[error(
        "the event store writer has stopped (EventStore::shutdown): the event was not recorded"
    )]
    Closed,
    /// The store was opened with `EVENTS_STORE_ENABLED=false`: there is no
    /// database to read, append to or subscribe to.
    #[error("the event store has `EVENTS_STORE_ENABLED=false`")]
    NotEnabled,
    /// [`EventStore::flush_timeout`](crate::EventStore::flush_timeout) gave
    /// up after this long; the events stay buffered and are written later.
    #[error("waited {0:?} for the event store writer to flush")]
    FlushTimeout(std::time::Duration),
    /// A stored value (a checkpoint, an event's tags) is not the JSON it
    /// should be.
    #[error("event store: {action}: {source}")]
    Json {
        /// What the store was doing (`"reading a checkpoint"`).
        action: String,
        /// The parser's error.
        #[source]
        source: serde_json::Error,
    },
}

impl StoreError {
    /// The URL of the store the error is about, when it has one.
    pub fn url(&self) -> Option<&str> {
        match self {
            Self::InvalidUrl { url, .. }
            | Self::Unreachable { url, .. }
            | Self::Backend { url, .. }
            | Self::WrongShape { url, .. } => Some(url),
            #[cfg(feature = "sqlite")]
            Self::Sqlite { url, .. } => Some(url),
            #[cfg(feature = "postgres")]
            Self::Postgres { url, .. } => Some(url),
            _ => None,
        }
    }

    /// True when the store could not be reached at all (refused, reset,
    /// closed, a file that cannot be opened, a database that stays busy), as
    /// opposed to refusing one request. The writer keeps its batch and tries
    /// again; a subscription waits.
    pub fn is_unreachable(&self) -> bool {
        match self {
            Self::Unreachable { .. } => true,
            #[cfg(feature = "sqlite")]
            Self::Sqlite { source, .. } => event_sqlite::is_unreachable(source),
            #[cfg(feature = "postgres")]
            Self::Postgres { source, .. } => source.is_closed() || source.code().is_none(),
            _ => false,
        }
    }

    #[cfg(feature = "sqlite")]
    pub(crate) fn sqlite(url: &str, action: impl Into<String>, source: rusqlite::Error) -> Self {
        StoreError::Sqlite {
            url: url.to_string(),
            action: action.into(),
            source,
        }
    }

    #[cfg(feature = "postgres")]
    pub(crate) fn postgres(
        url: &str,
        action: impl Into<String>,
        source: tokio_postgres::Error,
    ) -> Self {
        StoreError::Postgres {
            url: url.to_string(),
            action: action.into(),
            source,
        }
    }

    pub(crate) fn json(action: impl Into<String>, source: serde_json::Error) -> Self {
        StoreError::Json {
            action: action.into(),
            source,
        }
    }
}
