//! The PostgreSQL backend: one history several app machines share.
//!
//! Writers commit concurrently, so a row with a lower position can become
//! visible after one with a higher position: "the last position seen" would
//! skip it. A reader goes by transaction instead: it reads, in one
//! repeatable-read snapshot, only rows whose inserting transaction (the
//! `xmin` system column, widened to 64 bits with the snapshot's epoch) is
//! below the snapshot's xmin (every such transaction has ended, so no row
//! can still appear there), ordered by (transaction, position).
//!
//! To keep its scan short a reader also moves a position floor up, and
//! only past positions whose transactions have all ended: it notes the
//! sequence's value and a transaction id above the id of every transaction
//! holding one of those positions, and moves the floor once a snapshot's
//! xmin is past that id and every row that snapshot sees up to the noted
//! position has been delivered (a row written in a subtransaction carries
//! the subtransaction's id, later than the one the reader saw). A
//! transaction can take a position before it has
//! an id (a plain `INSERT`: the identity default runs before the row's
//! write assigns the id), so the reader does not take the id until
//! `pg_locks` shows every transaction holding the sequence with an id
//! ([`PostgresStore::horizon`]); the store's own appends take their id
//! first, so they never hold the floor up. The sequence must not cache
//! values (`CACHE 1`, as the store creates it): a cached value is handed
//! out later by a transaction that no longer shows in `pg_locks`.
//!
//! Each batch sends one NOTIFY; readers LISTEN, poll as a fallback, and
//! catch up after reconnecting.

mod append;
mod hops;
mod listen;
mod table;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use deadpool_postgres::{Manager, ManagerConfig, Pool, RecyclingMethod, Runtime};
use tokio::sync::watch;
use tokio_postgres::Row;
use tokio_postgres::types::ToSql;

use super::backend::{Backend, Cursor};
use super::error::StoreError;
use super::hops::{HopRecord, NewHop};
use super::query::{Filter, Param};
use super::record::{Appended, EventRecord, ExpectedVersion, NewEvent};
use super::schema::SELECT;

use append::Attempt;

/// Assigns the transaction its id (appends run it before taking positions).
const TAKE_XACT_ID: &str = "SELECT pg_current_xact_id()::text";

/// How many transaction ids before the snapshot's xmin (`$1`, 64-bit) a
/// row's 32-bit `xmin` is: 1..2^31 means an ended transaction, whose 64-bit
/// id is `$1 - behind` (the arithmetic is modulo 2^32, so a row written
/// just before the 32-bit wrap and a snapshot just after it still compare
/// right).
const BEHIND: &str = "((($1::bigint % 4294967296) - xmin::text::bigint + 4294967296) % 4294967296)";

pub(crate) struct PostgresStore {
    url: String,
    config: tokio_postgres::Config,
    tls: event_tls::postgres::MakeRustlsConnect,
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
    /// A transaction id above the id of every transaction that holds a
    /// position taken before this call, or `None` when some transaction
    /// holds positions but has no id yet (try again at the next read).
    ///
    /// Taking a position (`nextval`, which the identity default calls)
    /// locks the sequence in `RowExclusiveLock` until the transaction ends,
    /// and a transaction id, once assigned, is an `ExclusiveLock` on it
    /// until then too: both show in `pg_locks`. So if every holder of such
    /// a lock on the sequence has an id now, those ids were assigned before
    /// the one this statement takes (the `CASE` reads `pg_locks` before it
    /// reaches `pg_current_xact_id()`), and a holder seen without one means
    /// no answer yet. A transaction that ended before the check has an id
    /// below it as well. A writer that takes its position before its id
    /// (a plain `INSERT` from psql or another program: the identity default
    /// runs before the row's write assigns the id) is therefore waited for,
    /// not trusted: the floor never moves past a position whose transaction
    /// can still commit.
    ///
    /// Comparisons are on 64-bit ids (`xid8`, epoch included), so the
    /// 32-bit wrap does not matter here.
    async fn horizon(&self, client: &deadpool_postgres::Object) -> Result<Option<i64>, StoreError> {
        let sql = "SELECT CASE WHEN EXISTS (
                           SELECT FROM pg_locks
                           WHERE locktype IN ('relation', 'transactionid')
                           GROUP BY virtualtransaction
                           HAVING bool_or(locktype = 'relation'
                                          AND database = (SELECT oid FROM pg_database
                                                          WHERE datname = current_database())
                                          AND relation = $1::text::regclass
                                          AND mode <> 'AccessShareLock')
                              AND NOT bool_or(locktype = 'transactionid'
                                              AND mode = 'ExclusiveLock' AND granted))
                       THEN NULL
                       ELSE pg_current_xact_id()::text::bigint END";
        let statement = client
            .prepare_cached(sql)
            .await
            .map_err(self.err("reading new events"))?;
        Ok(client
            .query_one(&statement, &[&self.sequence])
            .await
            .map_err(self.err("reading new events"))?
            .get(0))
    }

    pub(crate) async fn open(url: &str, table: &str) -> Result<Self, StoreError> {
        let invalid = |reason: String| StoreError::InvalidUrl {
            url: event_kernel::config::redact(url),
            reason,
        };
        let (config, tls) = event_tls::postgres::config(url)
            .map_err(|e| invalid(event_tls::postgres::reason(&e)))?;
        let manager = Manager::from_config(
            config.clone(),
            tls.clone(),
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
            tls,
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

    async fn append_hops(&self, hops: &[NewHop]) -> Result<(), StoreError> {
        self.insert_hops(hops).await
    }

    async fn hops(&self, event_ids: &[String]) -> Result<Vec<HopRecord>, StoreError> {
        self.select_hops(event_ids).await
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
        let xact = client.prepare_cached(TAKE_XACT_ID).await.map_err(&err)?;
        let notify_statement = client
            .prepare_cached("SELECT pg_notify($1, '')")
            .await
            .map_err(&err)?;
        let tx = client.transaction().await.map_err(&err)?;
        // The transaction id before the positions, then the rows and one
        // NOTIFY, pipelined: one round trip between BEGIN and COMMIT. All
        // three are prepared, so each sends its whole request when first
        // polled, and `try_join!` polls them in this order: the server runs
        // them in it. (An unprepared statement first waits for its Parse
        // round trip: the INSERT then ran first and took positions before
        // the transaction had an id.) Readers do not depend on this order
        // for correctness (see `horizon`), only for a floor that keeps
        // moving while appends are in flight.
        let channel = self.channel();
        let xact = tx.query_one(&xact, &[]);
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
        let notify = tx.execute(&notify_statement, &notify_params);
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
        // Read before the snapshot and before `horizon`: every position up
        // to it was taken by a transaction that `horizon` then sees.
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
        // The pending floor can move at this read if every transaction that
        // held one of its positions has ended (its horizon is at or below
        // xmin) and every row of theirs this snapshot sees is delivered by
        // now or in this batch: its `xmin` is below the snapshot's. A row
        // written in a subtransaction has the subtransaction's id, taken
        // after the top-level one `horizon` saw, so it can still be at or
        // above xmin once its transaction has ended.
        let settled = match cursor.pending {
            Some((seq, horizon)) if horizon <= xmin => !tx
                .query_one(
                    &format!(
                        "SELECT EXISTS (SELECT FROM {t} WHERE position > $2 AND position <= $3
                                        AND NOT ({BEHIND} BETWEEN 1 AND 2147483647))"
                    ),
                    &[&xmin, &lower, &seq],
                )
                .await
                .map_err(&err)?
                .get::<_, bool>(0),
            _ => false,
        };
        let rows = tx
            .query(
                &format!(
                    "SELECT {SELECT}, tx FROM (
                         SELECT {SELECT}, $1::bigint - behind AS tx, behind FROM (
                             SELECT {SELECT}, {BEHIND} AS behind
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
            if let Some((seq, _)) = next.pending
                && settled
            {
                next.floor = next.floor.max(seq);
                next.pending = None;
            }
            if next.pending.is_none() {
                next.pending = self
                    .horizon(&client)
                    .await?
                    .map(|next_xid| (sequence, next_xid));
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
                "DROP TABLE IF EXISTS {t}; DROP TABLE IF EXISTS {t}_checkpoints; \
                 DROP TABLE IF EXISTS {t}_hops;",
                t = self.table
            ))
            .await
            .map_err(self.err("dropping the table"))
    }
}
