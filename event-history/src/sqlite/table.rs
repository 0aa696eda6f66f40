//! The event table of the SQLite backend: created if missing (with its
//! indexes and the checkpoints table), or its shape checked.

use rusqlite::Connection;

use crate::error::StoreError;
use crate::schema::{self, Dialect};

pub(super) fn create_or_check(conn: &Connection, url: &str, table: &str) -> Result<(), StoreError> {
    let db = |e: rusqlite::Error| StoreError::sqlite(url, format!("creating table `{table}`"), e);
    let found = columns(conn, table).map_err(db)?;
    if found.is_empty() {
        conn.execute_batch(&format!(
            "CREATE TABLE IF NOT EXISTS {table} (
                position       INTEGER PRIMARY KEY AUTOINCREMENT,
                id             TEXT NOT NULL UNIQUE,
                name           TEXT NOT NULL,
                payload        TEXT NOT NULL,
                metadata       TEXT NOT NULL,
                tags           TEXT NOT NULL,
                stream         TEXT,
                stream_version INTEGER,
                correlation_id TEXT NOT NULL,
                causation_id   TEXT,
                replay_of      TEXT,
                dispatched_at  TEXT NOT NULL,
                recorded_at    TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
            );"
        ))
        .map_err(db)?;
    } else {
        let problems = schema::shape_problems(&found, Dialect::Sqlite);
        if !problems.is_empty() {
            return Err(StoreError::WrongShape {
                url: url.to_string(),
                table: table.to_string(),
                problems,
            });
        }
    }
    conn.execute_batch(&format!(
        "CREATE UNIQUE INDEX IF NOT EXISTS {table}_stream ON {table} (stream, stream_version);
         CREATE INDEX IF NOT EXISTS {table}_name ON {table} (name, position);
         CREATE INDEX IF NOT EXISTS {table}_correlation ON {table} (correlation_id, position);
         CREATE INDEX IF NOT EXISTS {table}_stream_position ON {table} (stream, position)
             WHERE stream IS NOT NULL;
         CREATE TABLE IF NOT EXISTS {table}_checkpoints (
             name   TEXT PRIMARY KEY,
             cursor TEXT NOT NULL
         );"
    ))
    .map_err(db)?;
    super::lookup::create(conn, table).map_err(db)?;
    super::hops::create(conn, table).map_err(db)
}

fn columns(conn: &Connection, table: &str) -> rusqlite::Result<Vec<(String, String)>> {
    let mut stmt = conn.prepare("SELECT name, type FROM pragma_table_info(?1)")?;
    let rows = stmt.query_map([table], |r| Ok((r.get(0)?, r.get(1)?)))?;
    rows.collect()
}
