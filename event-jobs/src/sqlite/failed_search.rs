//! Finding failed jobs on the `sqlite` connection, from indexes kept as
//! jobs fail: columns derived when a row is written (name, event and
//! correlation ids, fingerprint) with an index each, a tag table, an FTS5
//! index of the error's words, and the failure groups' counts. Searches
//! walk an index newest first and stop at a page; none reads every row.

use rusqlite::types::Value;
use rusqlite::{Connection, TransactionBehavior, params_from_iter};

use super::SqliteBackend;
use super::failed::{failed_from_row, insert_failed};
use crate::QueueError;
use crate::backend::FailedSearch;
use crate::failed::query::{FailedCursor, FailedPage, FailedQuery, FailureGroup};

const COLUMNS: [(&str, &str); 5] = [
    ("name", "TEXT"),
    ("short_name", "TEXT"),
    ("event_id", "TEXT"),
    ("correlation_id", "TEXT"),
    ("fingerprint", "TEXT"),
];

const SCHEMA: &str = "
CREATE INDEX IF NOT EXISTS event_failed_by_time ON event_failed_jobs (failed_at, id);
CREATE INDEX IF NOT EXISTS event_failed_by_queue ON event_failed_jobs (queue, failed_at, id);
CREATE INDEX IF NOT EXISTS event_failed_by_name ON event_failed_jobs (name, failed_at, id);
CREATE INDEX IF NOT EXISTS event_failed_by_short_name ON event_failed_jobs (short_name, failed_at, id);
CREATE INDEX IF NOT EXISTS event_failed_by_event ON event_failed_jobs (event_id);
CREATE INDEX IF NOT EXISTS event_failed_by_correlation ON event_failed_jobs (correlation_id);
CREATE INDEX IF NOT EXISTS event_failed_by_fingerprint ON event_failed_jobs (fingerprint, failed_at, id);
CREATE TABLE IF NOT EXISTS event_failed_tags (
    tag       TEXT    NOT NULL,
    failed_at INTEGER NOT NULL,
    id        TEXT    NOT NULL,
    PRIMARY KEY (tag, failed_at, id)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS event_failed_tags_of ON event_failed_tags (id);
CREATE TABLE IF NOT EXISTS event_failed_groups (
    fingerprint   TEXT    PRIMARY KEY,
    name          TEXT    NOT NULL,
    kind          TEXT    NOT NULL,
    message       TEXT    NOT NULL,
    count         INTEGER NOT NULL,
    first_seen_ms INTEGER NOT NULL,
    last_seen_ms  INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS event_failed_groups_recent ON event_failed_groups (last_seen_ms);
CREATE VIRTUAL TABLE IF NOT EXISTS event_failed_text USING fts5(
    reason, content = 'event_failed_jobs', content_rowid = 'rowid'
);
CREATE TRIGGER IF NOT EXISTS event_failed_indexed_insert AFTER INSERT ON event_failed_jobs BEGIN
    INSERT INTO event_failed_text (rowid, reason) VALUES (NEW.rowid, NEW.reason);
END;
CREATE TRIGGER IF NOT EXISTS event_failed_indexed_delete AFTER DELETE ON event_failed_jobs BEGIN
    INSERT INTO event_failed_text (event_failed_text, rowid, reason) VALUES ('delete', OLD.rowid, OLD.reason);
    DELETE FROM event_failed_tags WHERE id = OLD.id;
    UPDATE event_failed_groups SET count = count - 1 WHERE fingerprint = OLD.fingerprint;
    DELETE FROM event_failed_groups WHERE fingerprint = OLD.fingerprint AND count <= 0;
END;
";

/// Adds the derived columns, indexes and tables (a database from an
/// older build gets its failed rows indexed once, here).
pub(super) fn create(conn: &mut Connection) -> rusqlite::Result<()> {
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    let have: Vec<String> = tx
        .prepare("SELECT name FROM pragma_table_info('event_failed_jobs')")?
        .query_map([], |r| r.get(0))?
        .collect::<rusqlite::Result<_>>()?;
    let fresh = !have.iter().any(|c| c == "fingerprint");
    for (column, kind) in COLUMNS {
        if !have.iter().any(|c| c == column) {
            tx.execute_batch(&format!(
                "ALTER TABLE event_failed_jobs ADD COLUMN {column} {kind}"
            ))?;
        }
    }
    tx.execute_batch(SCHEMA)?;
    if fresh {
        // Rows an older build wrote: index them now, once.
        let old: Vec<crate::job::FailedJob> = tx
            .prepare(
                "SELECT id, queue, payload, reason, attempts, failed_at FROM event_failed_jobs",
            )?
            .query_map([], failed_from_row)?
            .collect::<rusqlite::Result<_>>()?;
        for failed in &old {
            insert_failed(&tx, failed)?;
        }
    }
    tx.commit()
}

/// The WHERE clause and its values for `query`'s filters (not the cursor).
fn filters(query: &FailedQuery) -> (Vec<String>, Vec<Value>) {
    let mut clauses = Vec::new();
    let mut values = Vec::new();
    let mut add = |clause: &str, value: &str| {
        values.push(Value::Text(value.to_string()));
        clauses.push(clause.replace('?', &format!("?{}", values.len())));
    };
    if let Some(q) = &query.queue {
        add("queue = ?", q);
    }
    if let Some(n) = &query.name {
        if n.contains("::") {
            add("name = ?", n);
        } else {
            add("short_name = ?", n);
        }
    }
    if let Some(t) = &query.tag {
        add("id IN (SELECT id FROM event_failed_tags WHERE tag = ?)", t);
    }
    if let Some(e) = &query.event_id {
        add("event_id = ?", e);
    }
    if let Some(c) = &query.correlation_id {
        add("correlation_id = ?", c);
    }
    if let Some(f) = &query.fingerprint {
        add("fingerprint = ?", f);
    }
    let words = query.words();
    if !words.is_empty() {
        let phrase: Vec<String> = words.iter().map(|w| format!("\"{w}\"")).collect();
        add(
            "rowid IN (SELECT rowid FROM event_failed_text WHERE event_failed_text MATCH ?)",
            &phrase.join(" AND "),
        );
    }
    (clauses, values)
}

#[async_trait::async_trait]
impl FailedSearch for SqliteBackend {
    async fn failed_search(&self, query: &FailedQuery) -> Result<FailedPage, QueueError> {
        let (mut clauses, mut values) = filters(query);
        if let Some(FailedCursor { failed_at, id }) = &query.after {
            values.push(Value::Integer(*failed_at));
            values.push(Value::Text(id.clone()));
            clauses.push(format!(
                "(failed_at, id) < (?{}, ?{})",
                values.len() - 1,
                values.len()
            ));
        }
        let size = query.page_size();
        let sql = format!(
            "SELECT id, queue, payload, reason, attempts, failed_at FROM event_failed_jobs {}
             ORDER BY failed_at DESC, id DESC LIMIT {}",
            where_of(&clauses),
            size + 1
        );
        let mut jobs = self
            .with("search failed jobs", move |conn| {
                conn.prepare(&sql)?
                    .query_map(params_from_iter(values), failed_from_row)?
                    .collect::<rusqlite::Result<Vec<_>>>()
            })
            .await?;
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
        let plain = FailedQuery {
            queue: query.queue.clone(),
            ..FailedQuery::default()
        };
        let unfiltered = FailedQuery {
            after: None,
            limit: 0,
            ..query.clone()
        } == plain;
        let queue = query.queue.clone();
        if unfiltered {
            // Kept by the counters: no row is read.
            return self
                .with("count failed jobs", move |conn| {
                    conn.query_row(
                        "SELECT coalesce(sum(failed), 0) FROM event_queue_state
                         WHERE ?1 IS NULL OR queue = ?1",
                        [queue],
                        |r| r.get::<_, i64>(0),
                    )
                })
                .await
                .map(|n| n.max(0) as u64);
        }
        let (clauses, values) = filters(query);
        let sql = format!(
            "SELECT count(*) FROM event_failed_jobs {}",
            where_of(&clauses)
        );
        self.with("count failed jobs", move |conn| {
            conn.query_row(&sql, params_from_iter(values), |r| r.get::<_, i64>(0))
        })
        .await
        .map(|n| n.max(0) as u64)
    }

    async fn failed_groups(&self) -> Result<Vec<FailureGroup>, QueueError> {
        self.with("list failure groups", |conn| {
            conn.prepare_cached(
                "SELECT fingerprint, name, kind, message, count, first_seen_ms, last_seen_ms
                 FROM event_failed_groups ORDER BY last_seen_ms DESC LIMIT 1000",
            )?
            .query_map([], |r| {
                Ok(FailureGroup {
                    fingerprint: r.get(0)?,
                    name: r.get(1)?,
                    kind: r.get(2)?,
                    message: r.get(3)?,
                    count: r.get::<_, i64>(4)?.max(0) as u64,
                    first_seen_ms: r.get(5)?,
                    last_seen_ms: r.get(6)?,
                })
            })?
            .collect()
        })
        .await
    }
}

fn where_of(clauses: &[String]) -> String {
    if clauses.is_empty() {
        String::new()
    } else {
        format!("WHERE {}", clauses.join(" AND "))
    }
}

#[cfg(test)]
mod tests {
    use crate::sqlite::SqliteBackend;

    /// The search every connection must offer, on a real SQLite file.
    #[tokio::test]
    async fn failed_jobs_are_found_by_every_filter() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("jobs.db");
        let b = SqliteBackend::open("sqlite://jobs.db", path.to_str().unwrap()).unwrap();
        crate::failed::scenarios::search_filters_follow_the_store(&b).await;
    }
}
