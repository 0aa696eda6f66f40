//! A queue's state now, as a backend reads it from what it keeps up to date
//! at write time (counters, an index's first entry), never by counting jobs.

use serde::{Deserialize, Serialize};

/// One queue's state now.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct QueueGauge {
    /// The queue.
    pub queue: String,
    /// Jobs ready to run now, not claimed.
    pub pending: u64,
    /// Jobs waiting for a later time (a delay or a retry's backoff).
    pub delayed: u64,
    /// Jobs a worker has claimed (running, or held by a worker that died
    /// until its lease expires).
    pub running: u64,
    /// Jobs of this queue in the failed store.
    pub failed: u64,
    /// Workers take nothing from it until it is resumed.
    pub paused: bool,
    /// How long the oldest ready job has waited, in ms (0 with none).
    pub oldest_pending_ms: u64,
}
