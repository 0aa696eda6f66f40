//! The PostgreSQL backend: one history several app machines share.
//!
//! Writers commit concurrently, so a row with a lower position can become
//! visible after one with a higher position: "the last position seen" would
//! skip it. A reader goes by transaction instead: it reads, in one
//! repeatable-read snapshot, only rows whose inserting transaction (the
//! `xmin` system column, widened to 64 bits with the snapshot's epoch) is
//! below the snapshot's xmin (every such transaction has ended, so no row
//! can still appear there), ordered by (transaction, position). Appends
//! take their transaction id before their positions, which lets a reader
//! move a position floor up safely and keep its scan short. Each batch
//! sends one NOTIFY; readers LISTEN, poll as a fallback, and catch up after
//! reconnecting.

mod append;
mod listen;
mod table;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use deadpool_postgres::{Manager, ManagerConfig, Pool, RecyclingMethod, Runtime};
use tokio::sync::watch;
use tokio_postgres::types::ToSql;
use tokio_postgres::{NoTls, Row};

use super::backend::{Backend, Cursor};
use super::error::StoreError;
use super::query::{Filter, Param};
use super::record::{Appended, EventRecord, ExpectedVersion, NewEvent};
use super::schema::SELECT;

use append::Attempt;

pub(crate) struct PostgresStore {
    url: String,
    config: tokio_postgres::Config,
    table: String,
    sequence: String,
    pool: Pool,
    appended: Arc<watch::Sender<u64>>,
    listener: Mutex<Option<tokio::task::JoinHandle<()>>>,
}

impl Drop for PostgresStore {
    fn drop(&mut self) {
        if let Some(task) = self
            .listener
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take()
        {
            task.abort();
        }
    }
}

/// The error of a statement, the driver's kept: one without a server
/// error behind it (refused, reset, closed) is an outage
/// ([`StoreError::is_unreachable`]).
fn pg_error(url: &str, what: &str, e: tokio_postgres::Error) -> StoreError {
    StoreError::postgres(url, what, e)
}

fn is_unique_violation(e: &tokio_postgres::Error) -> bool {
    e.code() == Some(&tokio_postgres::error::SqlState::UNIQUE_VIOLATION)
}

impl PostgresStore {
    pub(crate) async fn open(url: &str, table: &str) -> Result<Self, StoreError> {
        let invalid = |reason: String| StoreError::InvalidUrl {
            url: event_kernel::config::redact(url),
            reason,
        };
        let config: tokio_postgres::Config = url
            .parse()
            .map_err(|e: tokio_postgres::Error| invalid(e.to_string()))?;
        let manager = Manager::from_config(
            config.clone(),
            NoTls,
            ManagerConfig {
                recycling_method: RecyclingMethod::Fast,
            },
        );
        let pool = Pool::builder(manager)
            .max_size(8)
            .runtime(Runtime::Tokio1)
            .create_timeout(Some(Duration::from_secs(5)))
            .wait_timeout(Some(Duration::from_secs(30)))
            .build()
            .map_err(|e| invalid(e.to_string()))?;
        let url = event_kernel::config::redact(url);
        let mut store = Self {
            url,
            config,
            table: table.to_string(),
            sequence: String::new(),
            pool,
            appended: Arc::new(watch::Sender::new(0)),
            listener: Mutex::new(None),
        };
        store.sequence = store.create_or_check().await?;
        Ok(store)
    }

    async fn client(&self) -> Result<deadpool_postgres::Object, StoreError> {
        self.pool.get().await.map_err(|e| match e {
            deadpool_postgres::PoolError::Backend(e) => {
                StoreError::postgres(&self.url, "connecting", e)
            }
            other => StoreError::Unreachable {
                url: self.url.clone(),
                reason: other.to_string(),
            },
        })
    }

    fn err<'a>(&'a self, what: &'a str) -> impl Fn(tokio_postgres::Error) -> StoreError + 'a {
        move |e| pg_error(&self.url, what, e)
    }
}

fn record(url: &str, row: &Row) -> Result<EventRecord, StoreError> {
    let decode = |e: tokio_postgres::Error| StoreError::postgres(url, "decoding an event row", e);
    let tags: serde_json::Value = row.try_get(5).map_err(decode)?;
    Ok(EventRecord {
        position: row.try_get(0).map_err(decode)?,
        id: row.try_get(1).map_err(decode)?,
        name: row.try_get(2).map_err(decode)?,
        payload: row.try_get(3).map_err(decode)?,
        metadata: row.try_get(4).map_err(decode)?,
        tags: serde_json::from_value(tags)
            .map_err(|e| StoreError::json("decoding the tags of an event", e))?,
        stream: row.try_get(6).map_err(decode)?,
        stream_version: row.try_get(7).map_err(decode)?,
        correlation_id: row.try_get(8).map_err(decode)?,
        causation_id: row.try_get(9).map_err(decode)?,
        replay_of: row.try_get(10).map_err(decode)?,
        dispatched_at: row.try_get::<_, DateTime<Utc>>(11).map_err(decode)?,
        recorded_at: row.try_get::<_, DateTime<Utc>>(12).map_err(decode)?,
    })
}

fn sql_param(param: &Param) -> Box<dyn ToSql + Sync + Send> {
    match param {
        Param::Text(t) => Box::new(t.clone()),
        Param::Int(i) => Box::new(*i),
        Param::Time(t) => Box::new(*t),
    }
}

#[async_trait]
impl Backend for PostgresStore {
    fn location(&self) -> &str {
        &self.url
    }

    async fn append_batch(&self, rows: &[NewEvent]) -> Result<(), StoreError> {
        if rows.is_empty() {
            return Ok(());
        }
        let t = &self.table;
        let err = self.err("appending events");
        let ids: Vec<&str> = rows.iter().map(|r| r.id.as_str()).collect();
        let names: Vec<&str> = rows.iter().map(|r| r.name.as_str()).collect();
        let payloads: Vec<&serde_json::Value> = rows.iter().map(|r| &r.payload).collect();
        let metadata: Vec<&serde_json::Value> = rows.iter().map(|r| &r.metadata).collect();
        let tags: Vec<serde_json::Value> = rows
            .iter()
            .map(|r| serde_json::to_value(&r.tags).unwrap_or_default())
            .collect();
        let correlations: Vec<&str> = rows.iter().map(|r| r.correlation_id.as_str()).collect();
        let causations: Vec<Option<&str>> =
            rows.iter().map(|r| r.causation_id.as_deref()).collect();
        let replays: Vec<Option<&str>> = rows.iter().map(|r| r.replay_of.as_deref()).collect();
        let times: Vec<DateTime<Utc>> = rows.iter().map(|r| r.dispatched_at).collect();
        let mut client = self.client().await?;
        let insert = client
            .prepare_cached(&format!(
                "INSERT INTO {t} (id, name, payload, metadata, tags, correlation_id, causation_id, \
                     replay_of, dispatched_at)
                 SELECT * FROM unnest($1::text[], $2::text[], $3::jsonb[], $4::jsonb[], $5::jsonb[],
                                      $6::text[], $7::text[], $8::text[], $9::timestamptz[])
                 ON CONFLICT (id) DO NOTHING"
            ))
            .await
            .map_err(&err)?;
        let tx = client.transaction().await.map_err(&err)?;
        // The transaction id before the positions, then the rows and one
        // NOTIFY, pipelined: one round trip between BEGIN and COMMIT.
        let channel = self.channel();
        let xact = tx.query_one("SELECT pg_current_xact_id()::text", &[]);
        let params: [&(dyn ToSql + Sync); 9] = [
            &ids,
            &names,
            &payloads,
            &metadata,
            &tags,
            &correlations,
            &causations,
            &replays,
            &times,
        ];
        let rows_in = tx.execute(&insert, &params);
        let notify_params: [&(dyn ToSql + Sync); 1] = [&channel];
        let notify = tx.execute("SELECT pg_notify($1, '')", &notify_params);
        futures::try_join!(xact, rows_in, notify).map_err(&err)?;
        tx.commit().await.map_err(&err)?;
        Ok(())
    }

    async fn append(
        &self,
        row: &NewEvent,
        expected: ExpectedVersion,
    ) -> Result<Appended, StoreError> {
        // `Any` retries when a concurrent writer took the next version; the
        // other expectations are a conflict at once.
        for _ in 0..50 {
            match self.append_attempt(row, expected).await? {
                Attempt::Done(appended) => return Ok(appended),
                Attempt::Taken if expected == ExpectedVersion::Any => continue,
                Attempt::Taken | Attempt::Nothing => {}
            }
            if let Some(existing) = self.get(&row.id).await? {
                return Ok(Appended {
                    position: existing.position,
                    stream_version: existing.stream_version,
                    duplicate: true,
                });
            }
            return Err(StoreError::VersionConflict {
                stream: row.stream.clone().unwrap_or_default(),
                expected,
                actual: self.stream_version(row.stream.as_deref()).await?,
            });
        }
        Err(StoreError::VersionConflict {
            stream: row.stream.clone().unwrap_or_default(),
            expected,
            actual: self.stream_version(row.stream.as_deref()).await?,
        })
    }

    async fn query(&self, filter: &Filter) -> Result<Vec<EventRecord>, StoreError> {
        let (clause, params) = filter.to_sql(|n| format!("${n}"), |p| format!("tags ? {p}"));
        let limit = filter.page_size();
        let boxed: Vec<Box<dyn ToSql + Sync + Send>> = params.iter().map(sql_param).collect();
        let refs: Vec<&(dyn ToSql + Sync)> = boxed
            .iter()
            .map(|b| b.as_ref() as &(dyn ToSql + Sync))
            .collect();
        let client = self.client().await?;
        let rows = client
            .query(
                &format!(
                    "SELECT {SELECT} FROM {} WHERE {clause} ORDER BY position LIMIT {limit}",
                    self.table
                ),
                &refs,
            )
            .await
            .map_err(self.err("querying events"))?;
        rows.iter().map(|row| record(&self.url, row)).collect()
    }

    async fn get(&self, id: &str) -> Result<Option<EventRecord>, StoreError> {
        let client = self.client().await?;
        let row = client
            .query_opt(
                &format!("SELECT {SELECT} FROM {} WHERE id = $1", self.table),
                &[&id],
            )
            .await
            .map_err(self.err("reading an event"))?;
        row.as_ref().map(|row| record(&self.url, row)).transpose()
    }

    async fn read(
        &self,
        cursor: Cursor,
        limit: usize,
    ) -> Result<(Vec<EventRecord>, Cursor), StoreError> {
        let t = &self.table;
        let err = self.err("reading new events");
        let mut client = self.client().await?;
        // Read before the snapshot: every position up to it was taken by a
        // transaction that already had its id (appends take it first).
        let sequence: i64 = client
            .query_one(
                &format!(
                    "SELECT CASE WHEN is_called THEN last_value ELSE 0 END FROM {}",
                    self.sequence
                ),
                &[],
            )
            .await
            .map_err(&err)?
            .get(0);
        let tx = client
            .build_transaction()
            .isolation_level(tokio_postgres::IsolationLevel::RepeatableRead)
            .read_only(true)
            .start()
            .await
            .map_err(&err)?;
        let snapshot = tx
            .query_one(
                "SELECT pg_snapshot_xmin(pg_current_snapshot())::text::bigint",
                &[],
            )
            .await
            .map_err(&err)?;
        let xmin: i64 = snapshot.get(0);
        let lower = cursor.floor.max(cursor.start);
        // `behind`: how many transaction ids before the snapshot's xmin the
        // row's (32-bit) xmin is; 1..2^31 means an ended transaction.
        let rows = tx
            .query(
                &format!(
                    "SELECT {SELECT}, tx FROM (
                         SELECT {SELECT}, $1::bigint - behind AS tx, behind FROM (
                             SELECT {SELECT},
                                    ((($1::bigint % 4294967296) - xmin::text::bigint + 4294967296)
                                     % 4294967296) AS behind
                             FROM {t} WHERE position > $2
                         ) a
                     ) b
                     WHERE behind BETWEEN 1 AND 2147483647 AND (tx, position) > ($3, $4)
                     ORDER BY tx, position LIMIT $5"
                ),
                &[&xmin, &lower, &cursor.tx, &cursor.position, &(limit as i64)],
            )
            .await
            .map_err(&err)?;
        tx.commit().await.map_err(&err)?;
        let mut next = cursor;
        let mut records = Vec::with_capacity(rows.len());
        for row in &rows {
            records.push(record(&self.url, row)?);
            next.tx = row.get(13);
            next.position = row.get(0);
        }
        if rows.len() < limit {
            // Caught up with everything below xmin.
            if let Some((seq, pending_xmax)) = next.pending
                && pending_xmax <= xmin
            {
                next.floor = next.floor.max(seq);
                next.pending = None;
            }
            if next.pending.is_none() {
                // A transaction id assigned now is above every id taken
                // before `sequence` was read, running or not. (The
                // snapshot's xmax is not: it is one past the latest
                // *completed* id, and a running writer can be above it.)
                let next_xid: i64 = client
                    .query_one("SELECT pg_current_xact_id()::text::bigint", &[])
                    .await
                    .map_err(&err)?
                    .get(0);
                next.pending = Some((sequence, next_xid));
            }
        }
        Ok((records, next))
    }

    fn appended(&self) -> watch::Receiver<u64> {
        self.start_listener();
        self.appended.subscribe()
    }

    async fn load_checkpoint(&self, name: &str) -> Result<Option<Cursor>, StoreError> {
        let client = self.client().await?;
        let row = client
            .query_opt(
                &format!(
                    "SELECT cursor FROM {}_checkpoints WHERE name = $1",
                    self.table
                ),
                &[&name],
            )
            .await
            .map_err(self.err("reading a checkpoint"))?;
        row.map(|r| {
            serde_json::from_value(r.get::<_, serde_json::Value>(0))
                .map_err(|e| StoreError::json("reading a checkpoint", e))
        })
        .transpose()
    }

    async fn save_checkpoint(&self, name: &str, cursor: Cursor) -> Result<(), StoreError> {
        let value =
            serde_json::to_value(cursor).map_err(|e| StoreError::json("saving a checkpoint", e))?;
        let client = self.client().await?;
        client
            .execute(
                &format!(
                    "INSERT INTO {}_checkpoints (name, cursor) VALUES ($1, $2)
                     ON CONFLICT (name) DO UPDATE SET cursor = excluded.cursor, updated_at = now()",
                    self.table
                ),
                &[&name, &value],
            )
            .await
            .map_err(self.err("saving a checkpoint"))?;
        Ok(())
    }

    async fn drop_table(&self) -> Result<(), StoreError> {
        let client = self.client().await?;
        client
            .batch_execute(&format!(
                "DROP TABLE IF EXISTS {t}; DROP TABLE IF EXISTS {t}_checkpoints;",
                t = self.table
            ))
            .await
            .map_err(self.err("dropping the table"))
    }
}
