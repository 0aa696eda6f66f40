//! The failed store's rows on the `sqlite` connection: writing a record,
//! and reading one back whatever its columns hold.

use rusqlite::types::Value;
use rusqlite::{Connection, params};

use super::columns;
use crate::job::{FailedJob, JobEnvelope};

pub(super) fn insert_failed(conn: &Connection, failed: &FailedJob) -> rusqlite::Result<()> {
    let payload = serde_json::to_string(&failed.payload).unwrap_or_default();
    conn.prepare_cached(
        "INSERT OR REPLACE INTO event_failed_jobs (id, queue, payload, reason, attempts, failed_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
    )?
    .execute(params![
        failed.id,
        failed.queue,
        payload,
        failed.reason,
        failed.attempts,
        failed.failed_at
    ])?;
    Ok(())
}

/// A failed-job row, read whatever its columns hold: `queue:failed` must
/// list every record, including one another program wrote.
pub(super) fn failed_from_row(row: &rusqlite::Row<'_>) -> rusqlite::Result<FailedJob> {
    let text = |i: usize| -> rusqlite::Result<String> { Ok(columns::text(row.get(i)?)) };
    let number = |i: usize| -> rusqlite::Result<i64> {
        Ok(match row.get::<_, Value>(i)? {
            Value::Integer(n) => n,
            Value::Text(t) => t.trim().parse().unwrap_or(0),
            _ => 0,
        })
    };
    let id = text(0)?;
    let queue = text(1)?;
    let payload = text(2)?;
    let envelope = JobEnvelope::stored(&id, &queue, &payload);
    Ok(FailedJob {
        id,
        queue,
        payload: envelope,
        reason: text(3)?,
        attempts: u32::try_from(number(4)?).unwrap_or(0),
        failed_at: number(5)?,
    })
}
