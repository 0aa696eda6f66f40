//! What can go wrong with the event store.

use super::record::ExpectedVersion;

/// An event-store failure. Every variant that talks to a database names it.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("invalid event store URL `{url}`: {reason}")]
    InvalidUrl { url: String, reason: String },
    #[error("invalid EVENTS_STORE_TABLE `{table}`: {reason}")]
    InvalidTable { table: String, reason: String },
    #[error("the `{0}` feature of event-core is off, so `{0}://` event stores are unavailable")]
    Disabled(&'static str),
    #[error("cannot reach the event store at `{url}`")]
    Unreachable {
        url: String,
        #[source]
        source: BoxError,
    },
    #[error("event store `{url}`: {what}")]
    Database {
        url: String,
        what: String,
        #[source]
        source: BoxError,
    },
    #[error(
        "the table `{table}` at `{url}` is not an event store table: {}",
        problems.join("; ")
    )]
    WrongShape {
        url: String,
        table: String,
        /// One entry per missing or mismatched column, naming it.
        problems: Vec<String>,
    },
    #[error(
        "version conflict on stream `{stream}`: expected {expected}, but the stream is at {}",
        actual.map_or("no events".to_string(), |v| format!("version {v}"))
    )]
    VersionConflict {
        stream: String,
        expected: ExpectedVersion,
        /// The stream's version when the conflict was detected (`None`: empty).
        actual: Option<i64>,
    },
    #[error("an expected version ({0}) needs a stream: set `NewEvent::stream`")]
    NoStream(ExpectedVersion),
    #[error("no event with id `{0}` in the store")]
    NotFound(String),
    #[error(
        "this subscription has no name to save a checkpoint under: open it with \
         EventStore::subscription(name)"
    )]
    UnnamedSubscription,
    #[error(
        "an event for stream `{0}` needs EventStore::append (its version is checked there), \
         not EventStore::record"
    )]
    StreamNeedsAppend(String),
    #[error("the event store's buffer is full: the event was dropped (counted in stats)")]
    BufferFull,
    #[error("the event store writer has stopped")]
    Closed,
    #[error("the event store has `EVENTS_STORE_ENABLED=false`")]
    NotEnabled,
    #[error("waited {0:?} for the event store writer to flush")]
    FlushTimeout(std::time::Duration),
    #[error("a stored value does not decode: {what}")]
    Decode {
        what: String,
        #[source]
        source: BoxError,
    },
}

/// The cause of a database error, whatever the driver.
pub type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

impl StoreError {
    pub(crate) fn db(url: &str, what: impl Into<String>, source: impl Into<BoxError>) -> Self {
        StoreError::Database {
            url: url.to_string(),
            what: what.into(),
            source: source.into(),
        }
    }

    pub(crate) fn decode(what: impl Into<String>, source: impl Into<BoxError>) -> Self {
        StoreError::Decode {
            what: what.into(),
            source: source.into(),
        }
    }

    /// True when the store could not be reached or the connection broke
    /// (the writer keeps the batch and tries again).
    pub fn is_outage(&self) -> bool {
        matches!(
            self,
            StoreError::Unreachable { .. } | StoreError::Database { .. }
        )
    }
}
