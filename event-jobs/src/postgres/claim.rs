//! Claiming jobs on the `postgres` connection: `SELECT ... FOR UPDATE SKIP
//! LOCKED` per queue, in the claim's own order, and the rows among them
//! that are not job envelopes, for the failed store.

use std::time::Duration;

use super::Inner;
use super::pool::Via;
use crate::QueueError;
use crate::job::{Claimed, FailedJob, Job, JobEnvelope, Receipt, now_ms};

/// What a claim took: the jobs, and the rows that cannot run (with the
/// failed record each becomes).
type Taken = (Vec<Claimed>, Vec<(Receipt, FailedJob)>);

impl Inner {
    /// Claims up to `max` jobs of `queues`, in the order of `queues`.
    pub(super) async fn claim(
        &self,
        queues: &[String],
        max: usize,
        lease: Duration,
    ) -> Result<Taken, QueueError> {
        let token = ulid::Ulid::new().to_string();
        let now = now_ms();
        let lease_ms = lease.as_millis().min(i64::MAX as u128) as i64;
        let mut claimed = Vec::new();
        let mut broken = Vec::new();
        for queue in queues {
            let want = max.saturating_sub(claimed.len());
            if want == 0 {
                break;
            }
            let mut rows = self
                .query(
                    Via::Worker,
                    "cannot claim jobs",
                    &self.tables.claim,
                    &[queue, &now, &(want as i64), &lease_ms, &token],
                )
                .await?;
            // RETURNING keeps no order: the claim's own.
            rows.sort_by_key(|r| (std::cmp::Reverse(r.get::<_, i32>(1)), r.get::<_, i64>(0)));
            for row in rows {
                let seq: i64 = row.get(0);
                let attempt = row.get::<_, i32>(2).max(1) as u32;
                let payload: &str = row.get(3);
                let receipt = Receipt {
                    key: seq.to_string(),
                    token: token.clone(),
                };
                match parse_row(seq, attempt, payload) {
                    Ok(envelope) => claimed.push(Claimed {
                        job: Job::from_envelope(envelope),
                        attempt,
                        receipt,
                    }),
                    Err(reason) => {
                        let envelope =
                            JobEnvelope::unreadable(format!("row-{seq}"), queue.clone(), payload);
                        broken.push((receipt, FailedJob::new(envelope, reason, attempt)));
                    }
                }
            }
        }
        Ok((claimed, broken))
    }
}

fn parse_row(seq: i64, attempts: u32, payload: &str) -> Result<JobEnvelope, String> {
    serde_json::from_str::<JobEnvelope>(payload)
        .map(|mut envelope| {
            envelope.attempts = attempts.saturating_sub(1);
            envelope
        })
        .map_err(|e| format!("job row {seq} is not a job envelope: {e}"))
}
