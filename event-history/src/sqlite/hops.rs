//! The hops table on SQLite: `<table>_hops`, indexed by event id.

use rusqlite::{Connection, TransactionBehavior, params, params_from_iter};

use super::{bad_value, parse_sqlite_time, sqlite_time};
use crate::hops::{ADDED_HOP_COLUMNS, HOP_COLUMNS, HopRecord, NewHop, receivers_of, status_of};

pub(super) fn create(conn: &Connection, table: &str) -> rusqlite::Result<()> {
    conn.execute_batch(&format!(
        "CREATE TABLE IF NOT EXISTS {table}_hops (
             position    INTEGER PRIMARY KEY AUTOINCREMENT,
             event_id    TEXT NOT NULL,
             kind        TEXT NOT NULL,
             name        TEXT NOT NULL,
             channels    TEXT NOT NULL,
             queue       TEXT,
             error       TEXT,
             started_at  TEXT NOT NULL,
             duration_us INTEGER NOT NULL,
             worker      TEXT,
             waited_us   INTEGER,
             attempt     INTEGER,
             outcome     TEXT,
             receivers   INTEGER,
             status      INTEGER
         );
         CREATE INDEX IF NOT EXISTS {table}_hops_event ON {table}_hops (event_id, position);"
    ))?;
    add_missing_columns(conn, table)
}

fn add_missing_columns(conn: &Connection, table: &str) -> rusqlite::Result<()> {
    let hops = format!("{table}_hops");
    let mut stmt = conn.prepare("SELECT name FROM pragma_table_info(?1)")?;
    let found: Vec<String> = stmt
        .query_map([&hops], |r| r.get(0))?
        .collect::<rusqlite::Result<_>>()?;
    for (column, kind, _) in ADDED_HOP_COLUMNS {
        if !found.iter().any(|f| f.eq_ignore_ascii_case(column)) {
            conn.execute_batch(&format!("ALTER TABLE {hops} ADD COLUMN {column} {kind}"))?;
        }
    }
    Ok(())
}

pub(super) fn insert(conn: &mut Connection, table: &str, hops: &[NewHop]) -> rusqlite::Result<()> {
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    {
        let mut insert = tx.prepare_cached(&format!(
            "INSERT INTO {table}_hops (event_id, kind, name, channels, queue, error, started_at,
                 duration_us, worker, waited_us, attempt, outcome, receivers, status)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14)"
        ))?;
        for hop in hops {
            insert.execute(params![
                hop.event_id,
                hop.kind,
                hop.name,
                hop.channels,
                hop.queue,
                hop.error,
                sqlite_time(&hop.started_at),
                hop.duration_us,
                hop.worker,
                hop.waited_us,
                hop.attempt,
                hop.outcome,
                hop.receivers,
                hop.status,
            ])?;
        }
    }
    tx.commit()
}

pub(super) fn select(
    conn: &mut Connection,
    table: &str,
    ids: &[String],
) -> rusqlite::Result<Vec<HopRecord>> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let marks = vec!["?"; ids.len()].join(", ");
    let mut stmt = conn.prepare(&format!(
        "SELECT {HOP_COLUMNS} FROM {table}_hops WHERE event_id IN ({marks}) ORDER BY position"
    ))?;
    let rows = stmt.query_map(params_from_iter(ids), |row| {
        let channels: String = row.get(4)?;
        let started: String = row.get(7)?;
        Ok(HopRecord {
            position: row.get(0)?,
            event_id: row.get(1)?,
            kind: row.get(2)?,
            name: row.get(3)?,
            channels: serde_json::from_str(&channels).map_err(|e| bad_value(4, e))?,
            queue: row.get(5)?,
            error: row.get(6)?,
            started_at: parse_sqlite_time(&started).map_err(|e| bad_value(7, e))?,
            duration_us: row.get(8)?,
            worker: row.get(9)?,
            waited_us: row.get(10)?,
            attempt: row.get(11)?,
            outcome: row.get(12)?,
            receivers: receivers_of(row.get(13)?),
            status: status_of(row.get(14)?),
        })
    })?;
    rows.collect()
}
