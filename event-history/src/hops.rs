//! A recorded event's hops (its sync listener calls, the listeners it
//! queued, its broadcast), written beside the events in `<table>_hops`,
//! indexed by event id: what a chain's timeline shows of each event.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use event_kernel::hop::Hop;

/// A row of the hops table.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HopRecord {
    /// Write order.
    pub position: i64,
    /// The stored event it belongs to.
    pub event_id: String,
    /// `listener` (run inside the dispatch), `queued` (handed to the
    /// queue), `broadcast`, `job` (an attempt on a worker) or `request`
    /// (an HTTP request that opened the chain: `event_id` is the
    /// request's id, which its events name as their cause).
    pub kind: String,
    /// The listener's name; for a broadcast, the event name clients bind
    /// to; for a request, its method and route (`POST /orders/{order}`).
    pub name: String,
    /// A broadcast's channels.
    pub channels: Vec<String>,
    /// A broadcast: how many connections the server delivered it to, as
    /// the broadcaster reported it; `None` when it could not tell.
    pub receivers: Option<u64>,
    /// A request (`kind` = `request`): the response's HTTP status.
    pub status: Option<u16>,
    /// The queue a queued listener declared (`None`: the connection's default).
    pub queue: Option<String>,
    /// The error with its causes; `None` when it went through.
    pub error: Option<String>,
    /// When it started.
    pub started_at: DateTime<Utc>,
    /// How long it took, in microseconds.
    pub duration_us: i64,
    /// A job attempt (`kind` = `job`): the worker that ran it.
    pub worker: Option<String>,
    /// A job attempt: how long the job waited before it, in microseconds.
    pub waited_us: Option<i64>,
    /// A job attempt: which (1-based).
    pub attempt: Option<i64>,
    /// A job attempt: `done`, `retried`, `released`, `failed` or `deleted`.
    pub outcome: Option<String>,
}

/// A hop on its way to the table.
#[derive(Debug, Clone)]
pub(crate) struct NewHop {
    pub(crate) event_id: String,
    pub(crate) kind: &'static str,
    pub(crate) name: String,
    pub(crate) channels: String,
    pub(crate) receivers: Option<i64>,
    pub(crate) status: Option<i64>,
    pub(crate) queue: Option<String>,
    pub(crate) error: Option<String>,
    pub(crate) started_at: DateTime<Utc>,
    pub(crate) duration_us: i64,
    pub(crate) worker: Option<String>,
    pub(crate) waited_us: Option<i64>,
    pub(crate) attempt: Option<i64>,
    pub(crate) outcome: Option<&'static str>,
}

impl NewHop {
    pub(crate) fn new(event_id: ulid::Ulid, hop: Hop) -> Self {
        let micros = |d: std::time::Duration| i64::try_from(d.as_micros()).unwrap_or(i64::MAX);
        let job = hop.job.as_ref();
        Self {
            worker: job.map(|j| j.worker.clone()),
            waited_us: job.map(|j| micros(j.waited)),
            attempt: job.map(|j| i64::from(j.attempt)),
            outcome: job.map(|j| j.outcome),
            event_id: event_id.to_string(),
            kind: hop.kind.as_str(),
            name: hop.name,
            channels: serde_json::to_string(&hop.channels).unwrap_or_else(|_| "[]".into()),
            receivers: hop.receivers.map(|n| i64::try_from(n).unwrap_or(i64::MAX)),
            status: hop.status.map(i64::from),
            queue: hop.queue,
            error: hop.error,
            started_at: hop.started_at,
            duration_us: micros(hop.duration),
        }
    }
}

/// The hops table's columns, in the order every backend selects them.
pub(crate) const HOP_COLUMNS: &str = "position, event_id, kind, name, channels, queue, error, \
     started_at, duration_us, worker, waited_us, attempt, outcome, receivers, status";

/// A count read back from the table (never negative as written).
pub(crate) fn receivers_of(stored: Option<i64>) -> Option<u64> {
    stored.and_then(|n| u64::try_from(n).ok())
}

/// An HTTP status read back from the table.
pub(crate) fn status_of(stored: Option<i64>) -> Option<u16> {
    stored.and_then(|n| u16::try_from(n).ok())
}

/// Columns added to the hops table after its first release, with their
/// SQLite and PostgreSQL types: `open` adds each one a table lacks (its
/// old rows read NULL).
pub(crate) const ADDED_HOP_COLUMNS: [(&str, &str, &str); 2] = [
    ("receivers", "INTEGER", "bigint"),
    ("status", "INTEGER", "bigint"),
];

/// The most event ids one hops query asks for at once.
pub(crate) const HOP_IDS_PER_QUERY: usize = 500;
