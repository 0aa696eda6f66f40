//! Appending events on the SQLite backend: a batch in one transaction, and
//! one event with an expected version, computed inside its INSERT.

use rusqlite::{Connection, OptionalExtension, TransactionBehavior, params};

use super::lookup::Lookups;
use super::sqlite_time;
use crate::record::{Appended, ExpectedVersion, NewEvent};
use crate::schema::INSERT;

pub(super) fn insert_batch(
    conn: &mut Connection,
    table: &str,
    rows: &[NewEvent],
) -> rusqlite::Result<()> {
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    {
        let mut insert = tx.prepare_cached(&format!(
            "INSERT INTO {table} {INSERT} VALUES (?1, ?2, ?3, ?4, ?5, NULL, NULL, ?6, ?7, ?8, ?9)
             ON CONFLICT (id) DO NOTHING"
        ))?;
        let mut lookups = Lookups::new();
        for row in rows {
            let written = insert.execute(params![
                row.id,
                row.name,
                row.payload.to_string(),
                row.metadata.to_string(),
                serde_json::to_string(&row.tags).unwrap_or_else(|_| "[]".into()),
                row.correlation_id,
                row.causation_id,
                row.replay_of,
                sqlite_time(&row.dispatched_at),
            ])?;
            if written == 1 {
                lookups.add(&tx, table, tx.last_insert_rowid(), row)?;
            }
        }
    }
    tx.commit()
}

/// The outcome of one expected-version append, before it becomes an error.
pub(super) enum Attempt {
    Done(Appended),
    Conflict(Option<i64>),
}

pub(super) fn append_one(
    conn: &mut Connection,
    table: &str,
    row: &NewEvent,
    expected: ExpectedVersion,
) -> rusqlite::Result<Attempt> {
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    let existing = tx
        .query_row(
            &format!("SELECT position, stream_version FROM {table} WHERE id = ?1"),
            [&row.id],
            |r| Ok((r.get::<_, i64>(0)?, r.get::<_, Option<i64>>(1)?)),
        )
        .optional()?;
    if let Some((position, stream_version)) = existing {
        return Ok(Attempt::Done(Appended {
            position,
            stream_version,
            duplicate: true,
        }));
    }
    // The version is computed in the INSERT and the unique index rejects a
    // second writer of the same version; no read decides it.
    let condition = match expected {
        ExpectedVersion::Any => "TRUE".to_string(),
        ExpectedVersion::NoStream => "current = 0".to_string(),
        ExpectedVersion::Exact(n) => format!("current = {n}"),
    };
    let version_of = if row.stream.is_some() {
        "current + 1"
    } else {
        "NULL"
    };
    let inserted = tx.execute(
        &format!(
            "INSERT INTO {table} {INSERT}
             SELECT ?1, ?2, ?3, ?4, ?5, ?6, {version_of}, ?7, ?8, ?9, ?10
             FROM (SELECT COALESCE(MAX(stream_version), 0) AS current FROM {table} WHERE stream = ?6)
             WHERE {condition}"
        ),
        params![
            row.id,
            row.name,
            row.payload.to_string(),
            row.metadata.to_string(),
            serde_json::to_string(&row.tags).unwrap_or_else(|_| "[]".into()),
            row.stream,
            row.correlation_id,
            row.causation_id,
            row.replay_of,
            sqlite_time(&row.dispatched_at),
        ],
    );
    let inserted = match inserted {
        Ok(n) => n,
        Err(rusqlite::Error::SqliteFailure(e, _))
            if e.code == rusqlite::ErrorCode::ConstraintViolation =>
        {
            0
        }
        Err(e) => return Err(e),
    };
    if inserted == 0 {
        let current: Option<i64> = tx.query_row(
            &format!("SELECT MAX(stream_version) FROM {table} WHERE stream = ?1"),
            [&row.stream],
            |r| r.get(0),
        )?;
        return Ok(Attempt::Conflict(current));
    }
    let position = tx.last_insert_rowid();
    Lookups::new().add(&tx, table, position, row)?;
    let stream_version: Option<i64> = tx.query_row(
        &format!("SELECT stream_version FROM {table} WHERE position = ?1"),
        [position],
        |r| r.get(0),
    )?;
    tx.commit()?;
    Ok(Attempt::Done(Appended {
        position,
        stream_version,
        duplicate: false,
    }))
}
