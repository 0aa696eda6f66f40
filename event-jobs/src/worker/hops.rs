//! A worker's attempts as hops of the events that queued them: given a
//! recorder (`Worker::hops_to`, the event store's), each attempt at a job
//! that carries an event id (queued inside a recorded event's listeners)
//! is reported under that event: which queue, which worker, how long it
//! waited and ran, which attempt, how it ended.

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use event_kernel::hop::{Hop, HopKind, JobAttempt};
use event_kernel::scope::Recorder;

/// Where a worker's attempts go, and the worker's id.
#[derive(Clone)]
pub(crate) struct AttemptHops {
    pub(crate) recorder: Arc<dyn Recorder>,
    pub(crate) worker: String,
}

/// One finished attempt, as the worker saw it.
pub(crate) struct Seen<'a> {
    pub(crate) event_id: Option<&'a str>,
    pub(crate) name: &'a str,
    pub(crate) queue: &'a str,
    pub(crate) began_at: DateTime<Utc>,
    pub(crate) waited: Duration,
    pub(crate) ran: Duration,
    pub(crate) attempt: u32,
    pub(crate) outcome: &'static str,
    pub(crate) error: Option<String>,
}

impl AttemptHops {
    /// Reports `seen` under its event; a job without an event id is not a
    /// hop of any stored event.
    pub(crate) fn report(&self, seen: Seen<'_>) {
        let Some(event_id) = seen
            .event_id
            .and_then(|id| ulid::Ulid::from_string(id).ok())
        else {
            return;
        };
        self.recorder.hop(
            event_id,
            Hop {
                kind: HopKind::Job,
                name: seen.name.to_string(),
                channels: Vec::new(),
                receivers: None,
                status: None,
                queue: Some(seen.queue.to_string()),
                error: seen.error,
                started_at: seen.began_at,
                duration: seen.ran,
                job: Some(JobAttempt {
                    worker: self.worker.clone(),
                    waited: seen.waited,
                    attempt: seen.attempt,
                    outcome: seen.outcome,
                }),
            },
        );
    }
}
