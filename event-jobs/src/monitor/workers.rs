//! Workers as the backend knows them: each registers itself and beats
//! while it runs, so any process can list who is alive.

use serde::{Deserialize, Serialize};

/// How many missed beats make a worker stalled.
pub const STALLED_AFTER_BEATS: i64 = 3;
/// How many missed beats make a worker gone: it is dropped from the list.
pub const GONE_AFTER_BEATS: i64 = 20;

/// What a worker says about itself at each beat.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WorkerBeat {
    /// Unique per worker run (host, pid and a ULID).
    pub id: String,
    /// The machine's host name.
    pub host: String,
    /// Its process id.
    pub pid: u32,
    /// The queues it reads, in order.
    pub queues: Vec<String>,
    /// How many jobs it runs at once.
    pub concurrency: usize,
    /// When it started (ms since the epoch).
    pub started_at_ms: i64,
    /// Its last beat (ms since the epoch).
    pub last_beat_ms: i64,
    /// How often it beats (ms).
    pub interval_ms: i64,
    /// Jobs it runs now.
    pub running: u64,
    /// Jobs it finished with success since it started.
    pub processed: u64,
    /// Jobs it moved to the failed store since it started.
    pub failed: u64,
}

/// A listed worker's state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum WorkerState {
    /// Beat within the last [`STALLED_AFTER_BEATS`] intervals.
    Alive,
    /// Missed [`STALLED_AFTER_BEATS`] beats: killed, frozen or cut off.
    Stalled,
}

impl WorkerBeat {
    /// Its state at `now_ms`; `None` once it is gone ([`GONE_AFTER_BEATS`]).
    pub fn state(&self, now_ms: i64) -> Option<WorkerState> {
        let silent = now_ms - self.last_beat_ms;
        let interval = self.interval_ms.max(1);
        if silent > interval * GONE_AFTER_BEATS {
            None
        } else if silent > interval * STALLED_AFTER_BEATS {
            Some(WorkerState::Stalled)
        } else {
            Some(WorkerState::Alive)
        }
    }

    /// True when it was gone by `now_ms` (a backend may delete it).
    pub fn is_gone(&self, now_ms: i64) -> bool {
        self.state(now_ms).is_none()
    }
}

/// A worker in a listing: its last beat and its state.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WorkerStatus {
    /// What it said at its last beat.
    #[serde(flatten)]
    pub beat: WorkerBeat,
    /// Alive or stalled.
    pub state: WorkerState,
    /// Ms since its last beat.
    pub silent_ms: i64,
}
