//! Claiming jobs on the `sqlite` connection: the rows a fetch selects, read
//! whatever their columns hold, claimed in one transaction; a row that
//! cannot run is moved to the failed store in the same transaction.

use rusqlite::types::Value;
use rusqlite::{Connection, TransactionBehavior, params};

use super::columns::{self, describe, integer};
use super::failed::insert_failed;
use crate::job::{Claimed, FailedJob, Job, JobEnvelope, Receipt};

/// One row a fetch selected, each column as SQLite holds it.
struct Selected {
    seq: i64,
    queue: String,
    priority: Value,
    attempts: Value,
    available_at: Value,
    reserved_until: Value,
    payload: Value,
}

/// A row that is not a runnable job, and what the failed store keeps of it.
struct Unreadable {
    failed: Box<FailedJob>,
}

impl Selected {
    fn from_row(row: &rusqlite::Row<'_>, queue: &str) -> rusqlite::Result<Self> {
        Ok(Self {
            seq: row.get(0)?,
            queue: queue.to_string(),
            priority: row.get(1)?,
            attempts: row.get(2)?,
            available_at: row.get(3)?,
            reserved_until: row.get(4)?,
            payload: row.get(5)?,
        })
    }

    /// The envelope and the attempts made before this claim, or why the
    /// row cannot run.
    fn read(&self) -> Result<(JobEnvelope, u32), Unreadable> {
        let (envelope, payload_problem) = self.envelope();
        let attempts = integer("attempts", &self.attempts).and_then(|n| {
            u32::try_from(n).map_err(|_| format!("column `attempts` holds {n}, expected 0 or more"))
        });
        let problems: Vec<String> = [
            payload_problem,
            attempts.as_ref().err().cloned(),
            integer("priority", &self.priority).err(),
            integer("available_at", &self.available_at).err(),
            integer("reserved_until", &self.reserved_until).err(),
        ]
        .into_iter()
        .flatten()
        .collect();
        if let (Some(mut envelope), Ok(attempts), true) =
            (envelope.clone(), attempts, problems.is_empty())
        {
            envelope.attempts = attempts;
            return Ok((envelope, attempts));
        }
        let reason = format!(
            "job row {} of queue `{}` cannot be read: {}",
            self.seq,
            self.queue,
            problems.join("; ")
        );
        // A readable envelope is kept whole, so `queue:retry` runs it again
        // (written back with sound columns).
        let mut envelope = envelope.unwrap_or_else(|| {
            JobEnvelope::unreadable(
                format!("row-{}", self.seq),
                self.queue.clone(),
                &self.raw_payload(),
            )
        });
        envelope.queue.clone_from(&self.queue);
        envelope.attempts = 0;
        // Named after the row, not the envelope: two bad rows carrying the
        // same envelope must not replace each other in the failed store.
        let mut failed = FailedJob::new(envelope, reason, 0);
        failed.id = format!("row-{}", self.seq);
        Err(Unreadable {
            failed: Box::new(failed),
        })
    }

    /// The envelope, if the payload holds one, and what is wrong with the
    /// payload column, if anything. JSON stored as a BLOB is both: kept as
    /// the envelope, but still failed, since a fetch cannot tell what wrote it.
    fn envelope(&self) -> (Option<JobEnvelope>, Option<String>) {
        let parse = |text: &str| {
            serde_json::from_str::<JobEnvelope>(text)
                .map_err(|e| format!("the payload is not a job envelope: {e}"))
        };
        match &self.payload {
            Value::Text(text) => match parse(text) {
                Ok(envelope) => (Some(envelope), None),
                Err(problem) => (None, Some(problem)),
            },
            Value::Blob(bytes) => {
                let problem = format!(
                    "column `payload` holds a BLOB of {} bytes, expected the job's JSON text",
                    bytes.len()
                );
                let envelope = std::str::from_utf8(bytes).ok().and_then(|t| parse(t).ok());
                (envelope, Some(problem))
            }
            other => (
                None,
                Some(format!(
                    "column `payload` holds {}, expected the job's JSON text",
                    describe(other)
                )),
            ),
        }
    }

    fn raw_payload(&self) -> String {
        columns::text(self.payload.clone())
    }
}

/// Claims up to `max` runnable rows of `queues` in one transaction, and
/// moves the rows among them that cannot be read to the failed store.
pub(super) fn claim(
    conn: &mut Connection,
    queues: &[String],
    max: usize,
    now: i64,
    lease_ms: i64,
    token: &str,
) -> rusqlite::Result<(Vec<Claimed>, Vec<FailedJob>)> {
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    let mut claimed = Vec::new();
    let mut unreadable = Vec::new();
    {
        // Times that are not integers never compare as due: select them too,
        // so they reach the failed store instead of waiting forever.
        let mut select = tx.prepare_cached(
            "SELECT seq, priority, attempts, available_at, reserved_until, payload FROM event_jobs
             WHERE queue = ?1 AND ((available_at <= ?2 AND reserved_until <= ?2)
                OR typeof(available_at) IN ('text', 'blob') OR typeof(reserved_until) IN ('text', 'blob'))
             ORDER BY priority DESC, seq LIMIT ?3",
        )?;
        let mut rows = Vec::new();
        for queue in queues {
            let want = max - rows.len();
            if want == 0 {
                break;
            }
            let found = select.query_map(params![queue, now, want as i64], |r| {
                Selected::from_row(r, queue)
            })?;
            for row in found {
                rows.push(row?);
            }
        }
        let mut take = tx.prepare_cached(
            "UPDATE event_jobs SET reserved_until = ?1, token = ?2, attempts = ?3 WHERE seq = ?4",
        )?;
        let mut remove = tx.prepare_cached("DELETE FROM event_jobs WHERE seq = ?1")?;
        for row in rows {
            match row.read() {
                Ok((envelope, before)) => {
                    let attempt = before.saturating_add(1);
                    take.execute(params![now + lease_ms, token, attempt, row.seq])?;
                    claimed.push(Claimed {
                        job: Job::from_envelope(envelope),
                        attempt,
                        receipt: Receipt {
                            key: row.seq.to_string(),
                            token: token.to_string(),
                        },
                    });
                }
                Err(Unreadable { failed }) => {
                    remove.execute(params![row.seq])?;
                    insert_failed(&tx, &failed)?;
                    unreadable.push(*failed);
                }
            }
        }
    }
    tx.commit()?;
    Ok((claimed, unreadable))
}
