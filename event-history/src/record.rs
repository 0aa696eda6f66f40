//! One stored event: the row of the events table, and what goes into it.

use std::fmt;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use event_kernel::Event;

/// A row of the events table.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EventRecord {
    /// Global order (gap-free only in the sense that a subscription never skips one).
    pub position: i64,
    /// The event's ULID, unique: appending it again is a no-op.
    pub id: String,
    /// The event's name (`Event::event_name`): what queries and replay go by.
    pub name: String,
    /// The event as JSON (`Event::to_json`); replay rebuilds the event from it.
    pub payload: serde_json::Value,
    /// About the write, not the event: `pid` (and `queued`, `queue`) for a
    /// dispatch, `replayed_listeners` for a replay record, `{}` unless set.
    pub metadata: serde_json::Value,
    /// The event's tags, what [`Query::tag`](crate::Query::tag) matches.
    pub tags: Vec<String>,
    /// Optional per-entity order: `stream` and `stream_version` are unique together.
    pub stream: Option<String>,
    /// Its version in its stream, from 1; `None` without a stream.
    pub stream_version: Option<i64>,
    /// The id of the top-level event of this chain (its own id for a top-level event).
    pub correlation_id: String,
    /// The id of the event whose listener dispatched this one.
    pub causation_id: Option<String>,
    /// For a replay record: the id of the event that was replayed.
    pub replay_of: Option<String>,
    /// When it was dispatched (a dispatch's ULID timestamp, to the
    /// millisecond); what [`Query::since`](crate::Query::since) compares.
    pub dispatched_at: DateTime<Utc>,
    /// When the database wrote it, by the database's clock.
    pub recorded_at: DateTime<Utc>,
}

/// An event to append (the row without what the database assigns).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NewEvent {
    /// Unique: a fresh ULID, or your own for idempotent re-submits
    /// ([`NewEvent::with_id`]); an id already stored is not written again.
    pub id: String,
    /// The event's name; replay rebuilds the event by it.
    pub name: String,
    /// The event as JSON.
    pub payload: serde_json::Value,
    /// JSON about the write, not the event (default `{}`).
    pub metadata: serde_json::Value,
    /// What [`Query::tag`](crate::Query::tag) matches (default none).
    pub tags: Vec<String>,
    /// The stream to append to; only [`EventStore::append`](crate::EventStore::append)
    /// takes one (`record` refuses it, `append_batch` stores the event without it).
    pub stream: Option<String>,
    /// The top-level event of its chain: its own id, or the parent's
    /// correlation id after [`NewEvent::caused_by`].
    pub correlation_id: String,
    /// The event whose listener dispatched it; `None` for a top-level event.
    pub causation_id: Option<String>,
    /// Set only on replay records (the replayed event's id); queries skip
    /// such rows by default.
    pub replay_of: Option<String>,
    /// When it happened (default: when the value was built).
    pub dispatched_at: DateTime<Utc>,
}

impl NewEvent {
    /// A top-level event with a fresh ULID (its own correlation id).
    pub fn new(name: impl Into<String>, payload: serde_json::Value) -> Self {
        let id = ulid::Ulid::new();
        Self {
            id: id.to_string(),
            name: name.into(),
            payload,
            metadata: serde_json::json!({}),
            tags: Vec::new(),
            stream: None,
            correlation_id: id.to_string(),
            causation_id: None,
            replay_of: None,
            dispatched_at: Utc::now(),
        }
    }

    /// From an event value: its name, JSON and tags.
    pub fn from_event(event: &dyn Event) -> Self {
        let mut new = Self::new(event.event_name(), event.to_json());
        new.tags = event.tags();
        new
    }

    /// Uses `id` (a ULID or any unique text) instead of a fresh one, for
    /// idempotent re-submits. A top-level event's correlation id follows it.
    pub fn with_id(mut self, id: impl Into<String>) -> Self {
        let id = id.into();
        if self.causation_id.is_none() && self.correlation_id == self.id {
            self.correlation_id = id.clone();
        }
        self.id = id;
        self
    }

    /// Appends to `stream` (an entity's own ordered history, e.g. `order-42`).
    pub fn in_stream(mut self, stream: impl Into<String>) -> Self {
        self.stream = Some(stream.into());
        self
    }

    /// Sets `metadata`: JSON about the write, not the event.
    pub fn with_metadata(mut self, metadata: serde_json::Value) -> Self {
        self.metadata = metadata;
        self
    }

    /// Replaces the tags (those of [`NewEvent::from_event`] too).
    pub fn with_tags<I: IntoIterator<Item = S>, S: Into<String>>(mut self, tags: I) -> Self {
        self.tags = tags.into_iter().map(Into::into).collect();
        self
    }

    /// Marks this event as caused by `parent` (same chain).
    pub fn caused_by(mut self, parent: &EventRecord) -> Self {
        self.correlation_id = parent.correlation_id.clone();
        self.causation_id = Some(parent.id.clone());
        self
    }
}

/// What a stream must look like for an append to go through.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum ExpectedVersion {
    /// Whatever it is: the event gets the next version.
    Any,
    /// The stream must have no events yet (the event becomes version 1).
    NoStream,
    /// The stream must be at exactly this version (the event becomes n + 1).
    Exact(i64),
}

impl fmt::Display for ExpectedVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ExpectedVersion::Any => f.write_str("any version"),
            ExpectedVersion::NoStream => f.write_str("no stream"),
            ExpectedVersion::Exact(n) => write!(f, "version {n}"),
        }
    }
}

/// Where an append landed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Appended {
    /// The event's position (for a duplicate, the stored event's).
    pub position: i64,
    /// Its version in its stream; `None` without a stream.
    pub stream_version: Option<i64>,
    /// True when an event with this id was already stored (nothing was written).
    pub duplicate: bool,
}

/// An event waiting in the writer's buffer.
pub(crate) enum Pending {
    /// A dispatched event: the live event (turned into JSON by the writer,
    /// off the dispatch path) and its ids.
    Dispatched {
        event: Arc<dyn Event>,
        id: ulid::Ulid,
        correlation_id: ulid::Ulid,
        causation_id: Option<ulid::Ulid>,
    },
    /// A row given by the app (`EventStore::record`).
    Ready(NewEvent),
    /// A hop of a recorded event (written to the hops table).
    Hop(crate::hops::NewHop),
}

impl Pending {
    pub(crate) fn into_new(self) -> NewEvent {
        let (event, id, correlation_id, causation_id) = match self {
            Pending::Ready(row) => return row,
            Pending::Hop(_) => unreachable!("hops are written apart (writer::drain)"),
            Pending::Dispatched {
                event,
                id,
                correlation_id,
                causation_id,
            } => (event, id, correlation_id, causation_id),
        };
        let at = DateTime::from_timestamp_millis(id.timestamp_ms() as i64).unwrap_or_default();
        let mut metadata = serde_json::Map::new();
        metadata.insert("pid".into(), std::process::id().into());
        if event.should_queue() {
            metadata.insert("queued".into(), true.into());
        }
        if let Some(queue) = event.queue_name() {
            metadata.insert("queue".into(), queue.into());
        }
        NewEvent {
            id: id.to_string(),
            name: event.event_name().to_string(),
            payload: event.to_json(),
            metadata: metadata.into(),
            tags: event.tags(),
            stream: None,
            correlation_id: correlation_id.to_string(),
            causation_id: causation_id.map(|c| c.to_string()),
            replay_of: None,
            dispatched_at: at,
        }
    }
}
