//! Jobs and table rows of the `postgres` connection: the rows pushed jobs
//! become, failed-job rows read back, and receipts as statement arrays.

use super::writer::Rows;
use crate::job::{FailedJob, Job, JobEnvelope, Receipt};

/// The statement parameters of rows to insert (`insert` and
/// [`in_transaction`] share them).
pub(super) fn rows_params<'a>(
    rows: &'a Rows,
    channel: &'a String,
) -> [&'a (dyn tokio_postgres::types::ToSql + Sync); 7] {
    [
        &rows.ids,
        &rows.queues,
        &rows.priorities,
        &rows.available_at,
        &rows.attempts,
        &rows.payloads,
        channel,
    ]
}

/// The rows `jobs` become.
pub(super) fn rows_of(jobs: &[Job]) -> Result<Rows, serde_json::Error> {
    let mut rows = Rows::default();
    for job in jobs {
        let payload = job.to_json()?;
        let e = &job.envelope;
        rows.ids.push(e.id.clone());
        rows.queues.push(e.queue.clone());
        rows.priorities.push(e.priority);
        rows.available_at.push(e.available_at);
        rows.attempts.push(e.attempts.min(i32::MAX as u32) as i32);
        rows.payloads.push(payload);
    }
    Ok(rows)
}

pub(super) fn failed_from_row(row: &tokio_postgres::Row) -> FailedJob {
    let id: String = row.get(0);
    let queue: String = row.get(1);
    let payload: String = row.get(2);
    let envelope = JobEnvelope::stored(&id, &queue, &payload);
    FailedJob {
        id,
        queue,
        payload: envelope,
        reason: row.get(3),
        attempts: row.get::<_, i32>(4).max(0) as u32,
        failed_at: row.get(5),
    }
}

/// Receipts as the two arrays the batch statements `unnest`.
pub(super) fn receipt_arrays<'a>(
    receipts: impl Iterator<Item = &'a Receipt>,
) -> (Vec<i64>, Vec<String>) {
    receipts.map(|r| (r.row_seq(), r.token.clone())).unzip()
}
