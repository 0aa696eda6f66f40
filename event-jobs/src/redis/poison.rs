//! Records of the `redis` connection that are not jobs: the failed record
//! of a delayed member the fetch cannot place, and its move to the failed
//! store, atomically with its removal, so no record wedges a prefix; the
//! text kept of a stream entry another program wrote.

use super::RedisBackend;
use crate::QueueError;
use crate::job::{FailedJob, JobEnvelope};

/// The text of what Redis holds, shortened for a reason line.
fn shown(bytes: &[u8]) -> String {
    let text = String::from_utf8_lossy(bytes);
    match text.char_indices().nth(80) {
        Some((end, _)) => format!("{:?}...", &text[..end]),
        None => format!("{text:?}"),
    }
}

/// The text a failed record keeps of a stream entry that is not one `job`
/// field: every field name and value, in the entry's order, as a JSON array
/// of `[name, value]` pairs (a name may repeat in an entry). Bytes that are
/// not UTF-8 are read as lossy UTF-8, as the `sqlite` connection reads a BLOB.
pub(super) fn entry_text(fields: &[(Vec<u8>, Vec<u8>)]) -> String {
    let text = |b: &[u8]| serde_json::Value::String(String::from_utf8_lossy(b).into_owned());
    serde_json::Value::Array(
        fields
            .iter()
            .map(|(name, value)| serde_json::Value::Array(vec![text(name), text(value)]))
            .collect(),
    )
    .to_string()
}

impl RedisBackend {
    /// The failed record of a delayed member the fetch cannot place. A
    /// member that is a bare envelope keeps it (and its queue), so
    /// `queue:retry` runs it.
    pub(super) fn unreadable_delayed(&self, member: &[u8]) -> FailedJob {
        let reason = match member.iter().position(|&b| b == b'\n') {
            None | Some(0) => format!(
                "a member of the delayed set has no `<queue>\\n<priority>\\n` header: {}",
                shown(member)
            ),
            Some(a) => {
                let rest = &member[a + 1..];
                let priority = rest.split(|&b| b == b'\n').next().unwrap_or_default();
                if rest.contains(&b'\n') {
                    format!(
                        "a member of the delayed set has priority {}, expected an integer: {}",
                        shown(priority),
                        shown(member)
                    )
                } else {
                    format!(
                        "a member of the delayed set has no `<queue>\\n<priority>\\n` header: {}",
                        shown(member)
                    )
                }
            }
        };
        let body = member
            .iter()
            .rposition(|&b| b == b'\n')
            .map_or(member, |i| &member[i + 1..]);
        match serde_json::from_slice::<JobEnvelope>(body) {
            Ok(mut envelope) => {
                envelope.attempts = 0;
                // Its own id: two bad members carrying the same envelope
                // must not replace each other in the failed store.
                let mut failed = FailedJob::new(envelope, reason, 0);
                failed.id = format!("delayed-{}", ulid::Ulid::new());
                failed
            }
            Err(_) => {
                let raw = String::from_utf8_lossy(member).into_owned();
                let queue = raw
                    .split_once('\n')
                    .map(|(q, _)| q.to_string())
                    .unwrap_or_default();
                FailedJob::new(
                    JobEnvelope::unreadable(format!("delayed-{}", ulid::Ulid::new()), queue, &raw),
                    reason,
                    0,
                )
            }
        }
    }

    pub(super) async fn fail_delayed(
        &self,
        member: Vec<u8>,
        failed: FailedJob,
    ) -> Result<(), QueueError> {
        let record =
            serde_json::to_string(&failed).map_err(|e| self.json("write a failed job", e))?;
        let mut conn = self.conn.clone();
        let _: i64 = self
            .fail_delayed_script
            .arg(&self.tag)
            .arg(member)
            .arg(&failed.id)
            .arg(record)
            .arg(failed.failed_at)
            .arg(self.failed_cap)
            .arg(&failed.queue)
            .arg(self.index_args(&failed))
            .invoke_async(&mut conn)
            .await
            .map_err(self.redis("move a job to the failed store"))?;
        Ok(())
    }
}
