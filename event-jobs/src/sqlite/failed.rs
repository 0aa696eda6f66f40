//! The failed store's rows on the `sqlite` connection: writing a record,
//! and reading one back whatever its columns hold.

use rusqlite::types::Value;
use rusqlite::{Connection, params};

use super::columns;
use crate::failed::fingerprint;
use crate::job::{FailedJob, JobEnvelope};

pub(super) fn insert_failed(conn: &Connection, failed: &FailedJob) -> rusqlite::Result<()> {
    let payload = serde_json::to_string(&failed.payload).unwrap_or_default();
    let envelope = &failed.payload;
    let name = fingerprint::name_of(failed);
    let short = name.rsplit("::").next().unwrap_or(name);
    let print = fingerprint::fingerprint(failed);
    // Delete, then insert (not `OR REPLACE`, not an upsert): the delete
    // triggers take the old row out of the counters, the group and the
    // text index; the insert triggers put the new one in.
    conn.prepare_cached("DELETE FROM event_failed_jobs WHERE id = ?1")?
        .execute(params![failed.id])?;
    conn.prepare_cached(
        "INSERT INTO event_failed_jobs (id, queue, payload, reason, attempts, failed_at,
             name, short_name, event_id, correlation_id, fingerprint)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
    )?
    .execute(params![
        failed.id,
        failed.queue,
        payload,
        failed.reason,
        failed.attempts,
        failed.failed_at,
        name,
        short,
        envelope.event_id,
        envelope.correlation_id,
        print,
    ])?;
    {
        let mut tag = conn.prepare_cached(
            "INSERT OR IGNORE INTO event_failed_tags (tag, failed_at, id) VALUES (?1, ?2, ?3)",
        )?;
        for t in &envelope.settings.tags {
            tag.execute(params![t, failed.failed_at, failed.id])?;
        }
    }
    conn.prepare_cached(
        "INSERT INTO event_failed_groups (fingerprint, name, kind, message, count, first_seen_ms, last_seen_ms)
         VALUES (?1, ?2, ?3, ?4, 1, ?5, ?5)
         ON CONFLICT (fingerprint) DO UPDATE SET count = count + 1,
             first_seen_ms = min(first_seen_ms, excluded.first_seen_ms),
             last_seen_ms = max(last_seen_ms, excluded.last_seen_ms)",
    )?
    .execute(params![
        print,
        name,
        fingerprint::kind(&failed.reason),
        fingerprint::normalise(&failed.reason),
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
