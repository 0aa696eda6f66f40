//! The SQLite backend: embedded, the default (`sqlite://events.db`).
//!
//! SQLite lets one writer commit at a time (per database file, across
//! processes), and a row's position is assigned inside its write
//! transaction, so position order is commit order: a reader that remembers
//! the last position it saw never skips an event that commits late.

mod append;
mod hops;
mod lookup;
mod table;

use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use rusqlite::{Connection, OptionalExtension, params, params_from_iter};
use tokio::sync::watch;

use super::backend::{Backend, Cursor};
use super::error::StoreError;
use super::hops::{HopRecord, NewHop};
use super::query::{Filter, Param};
use super::record::{Appended, EventRecord, ExpectedVersion, NewEvent};
use super::schema::SELECT;

use append::{Attempt, append_one, insert_batch};
use table::create_or_check;

pub(crate) struct SqliteStore {
    url: String,
    table: String,
    /// Writes (one at a time anyway) and reads on their own connections, so
    /// a subscription's read does not wait behind a batch (WAL).
    writer: Arc<Mutex<Connection>>,
    reader: Arc<Mutex<Connection>>,
    /// Bumped after each commit from this process.
    appended: watch::Sender<u64>,
}

fn open(url: &str, path: &str) -> Result<Connection, StoreError> {
    event_sqlite::open(path).map_err(|e| StoreError::sqlite(url, "opening the database", e))
}

impl SqliteStore {
    /// Opens the file, creates the table if missing, refuses one of the wrong shape.
    pub(crate) async fn open(url: &str, path: &str, table: &str) -> Result<Self, StoreError> {
        let (url, path, table) = (url.to_string(), path.to_string(), table.to_string());
        let named = url.clone();
        tokio::task::spawn_blocking(move || {
            let writer = open(&url, &path)?;
            create_or_check(&writer, &url, &table)?;
            let reader = open(&url, &path)?;
            Ok(Self {
                url,
                table,
                writer: Arc::new(Mutex::new(writer)),
                reader: Arc::new(Mutex::new(reader)),
                appended: watch::Sender::new(0),
            })
        })
        .await
        .map_err(|e| StoreError::Backend {
            url: named,
            reason: format!("the opening task failed: {e}"),
        })?
    }

    async fn run<T: Send + 'static>(
        &self,
        conn: &Arc<Mutex<Connection>>,
        what: &'static str,
        work: impl FnOnce(&mut Connection, &str) -> rusqlite::Result<T> + Send + 'static,
    ) -> Result<T, StoreError> {
        let table = self.table.clone();
        let result = event_sqlite::run(conn, move |conn| work(conn, &table))
            .await
            .map_err(|lost| StoreError::Backend {
                url: self.url.clone(),
                reason: format!("{what}: {lost}"),
            })?;
        result.map_err(|e| StoreError::sqlite(&self.url, what, e))
    }
}

fn bad_value(index: usize, e: impl std::error::Error + Send + Sync + 'static) -> rusqlite::Error {
    rusqlite::Error::FromSqlConversionFailure(index, rusqlite::types::Type::Text, Box::new(e))
}

fn record(row: &rusqlite::Row<'_>) -> rusqlite::Result<EventRecord> {
    let json = |i: usize| -> rusqlite::Result<serde_json::Value> {
        let text: String = row.get(i)?;
        serde_json::from_str(&text).map_err(|e| bad_value(i, e))
    };
    let time = |i: usize| -> rusqlite::Result<DateTime<Utc>> {
        let text: String = row.get(i)?;
        parse_sqlite_time(&text).map_err(|e| bad_value(i, e))
    };
    let tags: String = row.get(5)?;
    Ok(EventRecord {
        position: row.get(0)?,
        id: row.get(1)?,
        name: row.get(2)?,
        payload: json(3)?,
        metadata: json(4)?,
        tags: serde_json::from_str(&tags).map_err(|e| bad_value(5, e))?,
        stream: row.get(6)?,
        stream_version: row.get(7)?,
        correlation_id: row.get(8)?,
        causation_id: row.get(9)?,
        replay_of: row.get(10)?,
        dispatched_at: time(11)?,
        recorded_at: time(12)?,
    })
}

fn to_sql(param: &Param) -> rusqlite::types::Value {
    match param {
        Param::Text(t) => rusqlite::types::Value::Text(t.clone()),
        Param::Int(i) => rusqlite::types::Value::Integer(*i),
        Param::Time(t) => rusqlite::types::Value::Text(sqlite_time(t)),
    }
}

#[async_trait]
impl Backend for SqliteStore {
    fn location(&self) -> &str {
        &self.url
    }

    async fn append_batch(&self, rows: &[NewEvent]) -> Result<(), StoreError> {
        let rows = rows.to_vec();
        self.run(&self.writer, "appending events", move |conn, table| {
            insert_batch(conn, table, &rows)
        })
        .await?;
        self.appended.send_modify(|n| *n += 1);
        Ok(())
    }

    async fn append_hops(&self, hops: &[NewHop]) -> Result<(), StoreError> {
        let hops = hops.to_vec();
        self.run(&self.writer, "appending hops", move |conn, table| {
            hops::insert(conn, table, &hops)
        })
        .await
    }

    async fn hops(&self, event_ids: &[String]) -> Result<Vec<HopRecord>, StoreError> {
        let ids = event_ids.to_vec();
        self.run(&self.reader, "reading hops", move |conn, table| {
            hops::select(conn, table, &ids)
        })
        .await
    }

    async fn append(
        &self,
        row: &NewEvent,
        expected: ExpectedVersion,
    ) -> Result<Appended, StoreError> {
        let owned = row.clone();
        let attempt = self
            .run(&self.writer, "appending an event", move |conn, table| {
                append_one(conn, table, &owned, expected)
            })
            .await?;
        match attempt {
            Attempt::Done(appended) => {
                self.appended.send_modify(|n| *n += 1);
                Ok(appended)
            }
            Attempt::Conflict(actual) => Err(StoreError::VersionConflict {
                stream: row.stream.clone().unwrap_or_default(),
                expected,
                actual,
            }),
        }
    }

    async fn query(&self, filter: &Filter) -> Result<Vec<EventRecord>, StoreError> {
        let filter = filter.clone();
        self.run(&self.reader, "querying events", move |conn, table| {
            let Some((sql, values)) = lookup::select(conn, table, &filter, to_sql)? else {
                return Ok(Vec::new());
            };
            let mut stmt = conn.prepare_cached(&sql)?;
            let rows = stmt.query_map(params_from_iter(values), record)?;
            rows.collect()
        })
        .await
    }

    async fn get(&self, id: &str) -> Result<Option<EventRecord>, StoreError> {
        let id = id.to_string();
        self.run(&self.reader, "reading an event", move |conn, table| {
            conn.query_row(
                &format!("SELECT {SELECT} FROM {table} WHERE id = ?1"),
                [id],
                record,
            )
            .optional()
        })
        .await
    }

    async fn read(
        &self,
        cursor: Cursor,
        limit: usize,
    ) -> Result<(Vec<EventRecord>, Cursor), StoreError> {
        let after = cursor.position.max(cursor.start);
        let records = self
            .run(&self.reader, "reading new events", move |conn, table| {
                let mut stmt = conn.prepare_cached(&format!(
                    "SELECT {SELECT} FROM {table} WHERE position > ?1 ORDER BY position LIMIT ?2"
                ))?;
                let rows = stmt.query_map(params![after, limit as i64], record)?;
                rows.collect::<rusqlite::Result<Vec<_>>>()
            })
            .await?;
        let mut next = cursor;
        if let Some(last) = records.last() {
            next.position = last.position;
            next.floor = last.position;
        }
        Ok((records, next))
    }

    fn appended(&self) -> watch::Receiver<u64> {
        // Appends from this process wake a reader at once; other processes'
        // appends are seen at its next poll.
        self.appended.subscribe()
    }

    async fn load_checkpoint(&self, name: &str) -> Result<Option<Cursor>, StoreError> {
        let name = name.to_string();
        let text = self
            .run(&self.reader, "reading a checkpoint", move |conn, table| {
                conn.query_row(
                    &format!("SELECT cursor FROM {table}_checkpoints WHERE name = ?1"),
                    [name],
                    |r| r.get::<_, String>(0),
                )
                .optional()
            })
            .await?;
        text.map(|t| {
            serde_json::from_str(&t).map_err(|e| StoreError::json("reading a checkpoint", e))
        })
        .transpose()
    }

    async fn save_checkpoint(&self, name: &str, cursor: Cursor) -> Result<(), StoreError> {
        let name = name.to_string();
        let text = serde_json::to_string(&cursor)
            .map_err(|e| StoreError::json("saving a checkpoint", e))?;
        self.run(&self.writer, "saving a checkpoint", move |conn, table| {
            conn.execute(
                &format!(
                    "INSERT INTO {table}_checkpoints (name, cursor) VALUES (?1, ?2)
                     ON CONFLICT (name) DO UPDATE SET cursor = excluded.cursor"
                ),
                params![name, text],
            )
            .map(drop)
        })
        .await
    }

    async fn drop_table(&self) -> Result<(), StoreError> {
        self.run(&self.writer, "dropping the table", |conn, table| {
            conn.execute_batch(&format!(
                "DROP TABLE IF EXISTS {table}; DROP TABLE IF EXISTS {table}_checkpoints; \
                 DROP TABLE IF EXISTS {table}_hops; DROP TABLE IF EXISTS {table}_tags; \
                 DROP TABLE IF EXISTS {table}_since;"
            ))
        })
        .await
    }
}

/// Timestamps as SQLite stores them: fixed width, so text order is time order.
fn sqlite_time(t: &DateTime<Utc>) -> String {
    t.format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string()
}

fn parse_sqlite_time(text: &str) -> Result<DateTime<Utc>, chrono::ParseError> {
    DateTime::parse_from_rfc3339(text).map(|t| t.with_timezone(&Utc))
}
