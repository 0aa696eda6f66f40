//! A job's attempts as its envelope keeps them: each attempt that did not
//! complete (retried, released, failed) with its time, worker and
//! duration, and the error with its source chain. A failed job's envelope
//! carries them to the failed store, so its detail shows every attempt.

use serde::{Deserialize, Serialize};

/// The most attempts an envelope keeps (the newest; a job with unlimited
/// tries does not grow without bound).
pub const MAX_ATTEMPTS_KEPT: usize = 50;

/// One attempt at a job that did not complete.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AttemptRecord {
    /// 1-based.
    pub attempt: u32,
    /// Unix ms it ended.
    pub ended_at_ms: i64,
    /// How long it ran, in ms (on the memory connection's quick path, to
    /// within the few ms of the coarse clock its figures use); `None` only
    /// in records of versions whose memory quick path did not time it.
    pub duration_ms: Option<u64>,
    /// The worker that ran it (its id in `api/workers` / `queue:workers`).
    pub worker: String,
    /// `retried`, `released` or `failed`.
    pub outcome: String,
    /// The error and its causes, outermost first (empty for a release).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub error_chain: Vec<String>,
}

/// The error's message and each of its causes, outermost first.
pub(crate) fn chain_of(error: &anyhow::Error) -> Vec<String> {
    error.chain().map(|e| e.to_string()).collect()
}

/// Adds `record` to `kept`, dropping the oldest beyond [`MAX_ATTEMPTS_KEPT`].
pub(crate) fn keep(kept: &mut Vec<AttemptRecord>, record: AttemptRecord) {
    kept.push(record);
    if kept.len() > MAX_ATTEMPTS_KEPT {
        let extra = kept.len() - MAX_ATTEMPTS_KEPT;
        kept.drain(..extra);
    }
}
