//! Finding failed jobs on the `postgres` connection, from indexes kept as
//! jobs fail: columns derived when a row is written (name, short name,
//! event and correlation ids, fingerprint, kind, message, tags, the
//! error's words), a B-tree per filter ending in `(failed_at, id)` so a
//! page walks one index newest first and stops, GIN indexes for tags and
//! words (no pending list: `fastupdate = off`, so a read never pays for
//! entries not merged yet), and `event_failed_groups`, kept by the failed
//! table's statement triggers ([`super::monitor_sql`]). A table from an
//! older build gets the columns, and its rows indexed, once.

use async_trait::async_trait;
use tokio_postgres::types::ToSql;

use super::PostgresBackend;
use super::pool::Via;
use crate::QueueError;
use crate::backend::FailedSearch;
use crate::failed::fingerprint;
use crate::failed::query::{FailedCursor, FailedPage, FailedQuery, FailureGroup, words};
use crate::job::FailedJob;

pub(super) const GROUPS_TABLE: &str = "event_failed_groups";

/// The columns derived from a failed job, in statement order (after the
/// six stored ones).
pub(super) struct Derived {
    pub name: String,
    pub short_name: String,
    pub event_id: Option<String>,
    pub correlation_id: Option<String>,
    pub fingerprint: String,
    pub kind: String,
    pub message: String,
    pub tags: Vec<String>,
    pub words: Vec<String>,
}

impl Derived {
    pub(super) fn of(failed: &FailedJob) -> Self {
        let name = fingerprint::name_of(failed).to_string();
        let envelope = &failed.payload;
        Self {
            short_name: name.rsplit("::").next().unwrap_or(&name).to_string(),
            name,
            event_id: envelope.event_id.clone(),
            correlation_id: envelope.correlation_id.clone(),
            fingerprint: fingerprint::fingerprint(failed),
            kind: fingerprint::kind(&failed.reason).to_string(),
            message: fingerprint::normalise(&failed.reason),
            tags: envelope.settings.tags.clone(),
            words: words(&failed.reason),
        }
    }

    pub(super) fn params(&self) -> [&(dyn ToSql + Sync); 9] {
        [
            &self.name,
            &self.short_name,
            &self.event_id,
            &self.correlation_id,
            &self.fingerprint,
            &self.kind,
            &self.message,
            &self.tags,
            &self.words,
        ]
    }
}

/// The derived column names, in [`Derived::params`] order.
pub(super) const DERIVED: &str =
    "name, short_name, event_id, correlation_id, fingerprint, kind, message, tags, words";

/// The columns, indexes and groups table. `literal`: the schema as an SQL
/// string; `s`: quoted; `failed`: the qualified table.
pub(super) fn ddl(literal: &str, s: &str, failed: &str) -> String {
    format!(
        "DO $do$ BEGIN
             IF NOT EXISTS (SELECT 1 FROM information_schema.columns
                            WHERE table_schema = '{literal}' AND table_name = 'event_failed_jobs'
                              AND column_name = 'fingerprint') THEN
                 ALTER TABLE {failed} ADD COLUMN name text, ADD COLUMN short_name text,
                     ADD COLUMN event_id text, ADD COLUMN correlation_id text,
                     ADD COLUMN fingerprint text, ADD COLUMN kind text, ADD COLUMN message text,
                     ADD COLUMN tags text[], ADD COLUMN words text[];
             END IF;
         END $do$;
         CREATE INDEX IF NOT EXISTS event_failed_by_time ON {failed} (failed_at, id);
         CREATE INDEX IF NOT EXISTS event_failed_by_queue ON {failed} (queue, failed_at, id);
         CREATE INDEX IF NOT EXISTS event_failed_by_name ON {failed} (name, failed_at, id);
         CREATE INDEX IF NOT EXISTS event_failed_by_short_name ON {failed} (short_name, failed_at, id);
         CREATE INDEX IF NOT EXISTS event_failed_by_event ON {failed} (event_id);
         CREATE INDEX IF NOT EXISTS event_failed_by_correlation ON {failed} (correlation_id);
         CREATE INDEX IF NOT EXISTS event_failed_by_fingerprint ON {failed} (fingerprint, failed_at, id);
         CREATE INDEX IF NOT EXISTS event_failed_by_tag ON {failed} USING gin (tags)
             WITH (fastupdate = off);
         CREATE INDEX IF NOT EXISTS event_failed_by_word ON {failed} USING gin (words)
             WITH (fastupdate = off);
         CREATE TABLE IF NOT EXISTS {s}.{GROUPS_TABLE} (
             fingerprint   text PRIMARY KEY,
             name          text NOT NULL,
             kind          text NOT NULL,
             message       text NOT NULL,
             count         int8 NOT NULL,
             first_seen_ms int8 NOT NULL,
             last_seen_ms  int8 NOT NULL);
         CREATE INDEX IF NOT EXISTS event_failed_groups_recent ON {s}.{GROUPS_TABLE} (last_seen_ms);"
    )
}

/// What the group triggers run: `rows` (a transition table) counted into
/// (`sign` 1) or out of (-1) their groups.
pub(super) fn group_counts(groups: &str, rows: &str, sign: i32) -> String {
    if sign > 0 {
        format!(
            "INSERT INTO {groups} AS g (fingerprint, name, kind, message, count, first_seen_ms, last_seen_ms)
             SELECT fingerprint, min(name), min(kind), min(message), count(*), min(failed_at), max(failed_at)
             FROM {rows} WHERE fingerprint IS NOT NULL GROUP BY fingerprint ORDER BY fingerprint
             ON CONFLICT (fingerprint) DO UPDATE SET count = g.count + excluded.count,
                 first_seen_ms = least(g.first_seen_ms, excluded.first_seen_ms),
                 last_seen_ms = greatest(g.last_seen_ms, excluded.last_seen_ms);"
        )
    } else {
        format!(
            "UPDATE {groups} AS g SET count = g.count - d.n
             FROM (SELECT fingerprint, count(*) AS n FROM {rows}
                   WHERE fingerprint IS NOT NULL GROUP BY fingerprint) AS d
             WHERE g.fingerprint = d.fingerprint;
             DELETE FROM {groups} WHERE count <= 0
                 AND fingerprint IN (SELECT fingerprint FROM {rows});"
        )
    }
}

/// The WHERE clauses and values of `query`'s filters and cursor.
fn filters(
    query: &FailedQuery,
    with_cursor: bool,
) -> (Vec<String>, Vec<Box<dyn ToSql + Sync + Send>>) {
    let mut clauses = Vec::new();
    let mut values: Vec<Box<dyn ToSql + Sync + Send>> = Vec::new();
    let mut add = |clause: &str, value: Box<dyn ToSql + Sync + Send>| {
        values.push(value);
        clauses.push(clause.replace('?', &format!("${}", values.len())));
    };
    if let Some(q) = &query.queue {
        add("queue = ?", Box::new(q.clone()));
    }
    if let Some(n) = &query.name {
        let column = if n.contains("::") {
            "name"
        } else {
            "short_name"
        };
        add(&format!("{column} = ?"), Box::new(n.clone()));
    }
    if let Some(t) = &query.tag {
        add("tags @> ARRAY[?::text]", Box::new(t.clone()));
    }
    if let Some(e) = &query.event_id {
        add("event_id = ?", Box::new(e.clone()));
    }
    if let Some(c) = &query.correlation_id {
        add("correlation_id = ?", Box::new(c.clone()));
    }
    if let Some(f) = &query.fingerprint {
        add("fingerprint = ?", Box::new(f.clone()));
    }
    // One condition per word: the planner probes the GIN index with the
    // rarest and checks the others on the rows it finds.
    for word in query.words() {
        add("words @> ARRAY[?::text]", Box::new(word));
    }
    if let (true, Some(FailedCursor { failed_at, id })) = (with_cursor, &query.after) {
        values.push(Box::new(*failed_at));
        values.push(Box::new(id.clone()));
        clauses.push(format!(
            "(failed_at, id) < (${}, ${})",
            values.len() - 1,
            values.len()
        ));
    }
    (clauses, values)
}

fn where_of(clauses: &[String]) -> String {
    if clauses.is_empty() {
        String::new()
    } else {
        format!("WHERE {}", clauses.join(" AND "))
    }
}

impl PostgresBackend {
    /// Indexes the rows an older build wrote (once: when the derived
    /// columns were just added).
    pub(super) async fn index_old_failed(&self) -> Result<(), QueueError> {
        let inner = &self.inner;
        let rows = inner
            .query(
                Via::Dispatch,
                "cannot index the failed jobs",
                &format!(
                    "SELECT id, queue, payload, reason, attempts, failed_at FROM {}
                     WHERE fingerprint IS NULL",
                    inner.tables.failed_table()
                ),
                &[],
            )
            .await?;
        let sql = format!(
            "UPDATE {} SET ({DERIVED}) = ($2, $3, $4, $5, $6, $7, $8, $9, $10) WHERE id = $1",
            inner.tables.failed_table()
        );
        for row in &rows {
            let failed = super::rows::failed_from_row(row);
            let derived = Derived::of(&failed);
            let mut params: Vec<&(dyn ToSql + Sync)> = vec![&failed.id];
            params.extend(derived.params());
            inner
                .execute(Via::Dispatch, "cannot index the failed jobs", &sql, &params)
                .await?;
        }
        Ok(())
    }
}

/// A search's statement and its values.
pub(super) type Statement = (String, Vec<Box<dyn ToSql + Sync + Send>>);

impl PostgresBackend {
    /// The statement of one page of `query` (one row more than the page, to
    /// know whether another follows).
    pub(super) fn search_statement(&self, query: &FailedQuery) -> Statement {
        let (clauses, values) = filters(query, true);
        let sql = format!(
            "SELECT id, queue, payload, reason, attempts, failed_at FROM {} {}
             ORDER BY failed_at DESC, id DESC LIMIT {}",
            self.inner.tables.failed_table(),
            where_of(&clauses),
            query.page_size() + 1
        );
        (sql, values)
    }
}

#[async_trait]
impl FailedSearch for PostgresBackend {
    async fn failed_search(&self, query: &FailedQuery) -> Result<FailedPage, QueueError> {
        let inner = &self.inner;
        let size = query.page_size();
        let (sql, values) = self.search_statement(query);
        let params: Vec<&(dyn ToSql + Sync)> =
            values.iter().map(|v| &**v as &(dyn ToSql + Sync)).collect();
        let rows = inner
            .query(Via::Dispatch, "cannot search failed jobs", &sql, &params)
            .await?;
        let mut jobs: Vec<FailedJob> = rows.iter().map(super::rows::failed_from_row).collect();
        let next = (jobs.len() > size).then(|| {
            jobs.truncate(size);
            jobs.last().map(FailedCursor::after)
        });
        Ok(FailedPage {
            jobs,
            next: next.flatten(),
        })
    }

    async fn failed_count(&self, query: &FailedQuery) -> Result<u64, QueueError> {
        let inner = &self.inner;
        let plain = FailedQuery {
            queue: query.queue.clone(),
            ..FailedQuery::default()
        };
        let unfiltered = FailedQuery {
            after: None,
            limit: 0,
            ..query.clone()
        } == plain;
        if unfiltered {
            // Kept by the counters: no row of the failed store is read.
            let gauges = crate::monitor::Monitoring::gauges(self).await?;
            return Ok(gauges
                .iter()
                .filter(|g| query.queue.as_ref().is_none_or(|q| *q == g.queue))
                .map(|g| g.failed)
                .sum());
        }
        let (clauses, values) = filters(query, false);
        let sql = format!(
            "SELECT count(*) FROM {} {}",
            inner.tables.failed_table(),
            where_of(&clauses)
        );
        let params: Vec<&(dyn ToSql + Sync)> =
            values.iter().map(|v| &**v as &(dyn ToSql + Sync)).collect();
        let rows = inner
            .query(Via::Dispatch, "cannot count failed jobs", &sql, &params)
            .await?;
        Ok(rows.first().map_or(0, |r| r.get::<_, i64>(0)).max(0) as u64)
    }

    async fn failed_groups(&self) -> Result<Vec<FailureGroup>, QueueError> {
        let inner = &self.inner;
        let rows = inner
            .query(
                Via::Dispatch,
                "cannot list failure groups",
                &format!(
                    "SELECT fingerprint, name, kind, message, count, first_seen_ms, last_seen_ms
                     FROM \"{}\".{GROUPS_TABLE} ORDER BY last_seen_ms DESC LIMIT 1000",
                    inner.tables.schema
                ),
                &[],
            )
            .await?;
        Ok(rows
            .iter()
            .map(|r| FailureGroup {
                fingerprint: r.get(0),
                name: r.get(1),
                kind: r.get(2),
                message: r.get(3),
                count: r.get::<_, i64>(4).max(0) as u64,
                first_seen_ms: r.get(5),
                last_seen_ms: r.get(6),
            })
            .collect())
    }
}
