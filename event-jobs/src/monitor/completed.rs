//! Recently completed jobs: what ran, how long it waited and ran, on which
//! worker. Each worker hands over at most [`PER_FLUSH`] of its latest
//! completions a second; a connection keeps the latest [`KEPT`], none
//! older than [`KEPT_FOR`].

use std::time::Duration;

use serde::{Deserialize, Serialize};

/// At most this many completions a worker hands over per flush (a second).
pub const PER_FLUSH: usize = 1_000;
/// A connection keeps at most this many.
pub const KEPT: u64 = 10_000;
/// And none older than this.
pub const KEPT_FOR: Duration = Duration::from_secs(24 * 3600);

/// One job that finished with success.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CompletedJob {
    /// The job's id (empty for a memory job that never needed one).
    pub id: String,
    /// The listener's name, or the event's for a queued event.
    pub name: String,
    /// Its queue.
    pub queue: String,
    /// From ready to claimed (ms).
    pub wait_ms: u64,
    /// Its last attempt's run time (ms).
    pub run_ms: u64,
    /// Attempts made, the last included.
    pub attempts: u32,
    /// The worker that ran it (its id in `queue:workers`).
    pub worker: String,
    /// When it finished (ms since the epoch).
    pub done_at_ms: i64,
}
