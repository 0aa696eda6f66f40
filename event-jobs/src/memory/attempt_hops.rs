//! The memory worker's attempts as hops of their events
//! (`Worker::hops_to`): reported from its general path, which every job
//! queued inside a recorded event's listeners takes (it carries the ids).

use std::sync::Arc;
use std::time::{Duration, Instant};

use super::MemJob;
use crate::attempt::Verdict;
use crate::worker::hops::{AttemptHops, Seen};
use event_kernel::EventListener;

/// A general-path attempt reported under its event (a job queued inside a
/// recorded event's listeners leaves the quick path, so none is missed).
pub(super) fn report(
    hops: &AttemptHops,
    queue: &str,
    table: &[Arc<dyn EventListener>],
    job: &MemJob,
    verdict: &Verdict,
    began: Instant,
) {
    let (outcome, error) = match verdict {
        Verdict::Done => ("done", None),
        Verdict::Deleted => ("deleted", None),
        Verdict::Retry { error, .. } => ("retried", Some(format!("{error:#}"))),
        Verdict::Release { .. } => ("released", None),
        Verdict::Fail { reason, .. } => ("failed", Some(reason.clone())),
    };
    let ran = began.elapsed();
    let waited = (crate::job::now_ms() - ran.as_millis() as i64 - job.available_at).max(0);
    hops.report(Seen {
        event_id: job.scope_ids().0,
        name: job.job_name(table),
        queue,
        began_at: chrono::Utc::now() - ran,
        waited: Duration::from_millis(waited as u64),
        ran,
        attempt: job.attempts + 1,
        outcome,
        error,
    });
}
