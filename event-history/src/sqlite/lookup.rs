//! What keeps the history's filtered reads on indexes on SQLite, written in
//! the same transaction as the events:
//!
//! - `<table>_tags (tag, event_position)`: one row per tag of an event, so
//!   a tag filter walks that tag's positions in order instead of reading
//!   every event's tags;
//! - `<table>_since (second, position)`: a row each time the latest
//!   dispatch time written so far moves into a later second, with the
//!   position that moved it. The first row at or after a `since`'s second
//!   is a position no event dispatched at or after `since` comes before
//!   (an event written late, dispatched earlier than one before it, moves
//!   nothing: it is above that position anyway), so a `since` query reads
//!   from there by position, the events of at most one second before it.
//!
//! Both are filled from the events when first created on a table that
//! already holds some.

use rusqlite::types::Value;
use rusqlite::{Connection, OptionalExtension, Transaction};

use crate::query::{Filter, Param};
use crate::record::NewEvent;
use crate::schema::SELECT;

/// Creates the two tables (filling them from the events when new).
pub(super) fn create(conn: &Connection, table: &str) -> rusqlite::Result<()> {
    let exists = |name: &str| -> rusqlite::Result<bool> {
        conn.query_row(
            "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?1",
            [name],
            |_| Ok(()),
        )
        .optional()
        .map(|found| found.is_some())
    };
    if !exists(&format!("{table}_tags"))? {
        conn.execute_batch(&format!(
            "CREATE TABLE {table}_tags (
                 tag            TEXT NOT NULL,
                 event_position INTEGER NOT NULL,
                 PRIMARY KEY (tag, event_position)
             ) WITHOUT ROWID;
             INSERT OR IGNORE INTO {table}_tags (tag, event_position)
                 SELECT t.value, e.position FROM {table} e, json_each(e.tags) t;"
        ))?;
    }
    if !exists(&format!("{table}_since"))? {
        conn.execute_batch(&format!(
            "CREATE TABLE {table}_since (
                 second   INTEGER PRIMARY KEY,
                 position INTEGER NOT NULL
             );
             INSERT INTO {table}_since (second, position)
                 SELECT second, position FROM (
                     SELECT position, second, max(second) OVER (
                         ORDER BY position ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING
                     ) AS before
                     FROM (SELECT position, CAST(strftime('%s', dispatched_at) AS INTEGER) AS second
                           FROM {table})
                 ) WHERE before IS NULL OR second > before;"
        ))?;
    }
    Ok(())
}

/// Adds each written event to the lookup tables, inside its transaction.
pub(super) struct Lookups {
    /// The latest second in `<table>_since` (read once per transaction).
    top: Option<Option<i64>>,
}

impl Lookups {
    pub(super) fn new() -> Self {
        Self { top: None }
    }

    /// Records `row`, just written at `position`.
    pub(super) fn add(
        &mut self,
        tx: &Transaction<'_>,
        table: &str,
        position: i64,
        row: &NewEvent,
    ) -> rusqlite::Result<()> {
        if !row.tags.is_empty() {
            let mut tag = tx.prepare_cached(&format!(
                "INSERT OR IGNORE INTO {table}_tags (tag, event_position) VALUES (?1, ?2)"
            ))?;
            for t in &row.tags {
                tag.execute(rusqlite::params![t, position])?;
            }
        }
        let top = match self.top {
            Some(top) => top,
            None => tx.query_row(&format!("SELECT max(second) FROM {table}_since"), [], |r| {
                r.get::<_, Option<i64>>(0)
            })?,
        };
        let second = row.dispatched_at.timestamp();
        if top.is_none_or(|top| second > top) {
            tx.prepare_cached(&format!(
                "INSERT INTO {table}_since (second, position) VALUES (?1, ?2)"
            ))?
            .execute(rusqlite::params![second, position])?;
            self.top = Some(Some(second));
        } else {
            self.top = Some(top);
        }
        Ok(())
    }
}

/// The first position an event dispatched at or after `since` can have;
/// `None` when no event was dispatched that late.
fn floor(conn: &Connection, table: &str, since: i64) -> rusqlite::Result<Option<i64>> {
    conn.prepare_cached(&format!(
        "SELECT position FROM {table}_since WHERE second >= ?1 ORDER BY second LIMIT 1"
    ))?
    .query_row([since], |r| r.get(0))
    .optional()
}

/// The statement of one page of `filter` and its parameters, `None` when
/// nothing can match. Every filter reads by an index: a tag by
/// `<table>_tags` in position order, `since` from its floor by position,
/// name and correlation by their `(…, position)` indexes.
pub(super) fn select(
    conn: &Connection,
    table: &str,
    filter: &Filter,
    to_sql: impl Fn(&Param) -> Value,
) -> rusqlite::Result<Option<(String, Vec<Value>)>> {
    let mut lower = filter.after;
    if let Some(since) = filter.since {
        match floor(conn, table, since.timestamp())? {
            Some(first) => lower = lower.max(Some(first - 1)),
            None => return Ok(None),
        }
    }
    // The rest of the filter as both backends spell it; the tag and the
    // position bound are added here.
    let rest = Filter {
        tag: None,
        after: None,
        ..filter.clone()
    };
    let (clause, params) = rest.to_sql(|n| format!("?{n}"), |_| unreachable!("no tag"));
    let mut values: Vec<Value> = params.iter().map(&to_sql).collect();
    let limit = filter.page_size();
    let (from, order) = match &filter.tag {
        Some(tag) => {
            values.push(Value::Text(tag.clone()));
            (
                format!(
                    "{table}_tags JOIN {table} ON position = event_position WHERE tag = ?{} AND",
                    values.len()
                ),
                "event_position",
            )
        }
        None => (format!("{table} WHERE"), "position"),
    };
    let mut sql = format!("SELECT {SELECT} FROM {from} {clause}");
    if let Some(lower) = lower {
        values.push(Value::Integer(lower));
        sql.push_str(&format!(" AND {order} > ?{}", values.len()));
    }
    sql.push_str(&format!(" ORDER BY {order} LIMIT {limit}"));
    Ok(Some((sql, values)))
}

#[cfg(test)]
#[path = "lookup_tests.rs"]
mod tests;
