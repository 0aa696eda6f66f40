//! The two tables of the `postgres` connection: created if missing, their
//! shape checked, and the statements that read and write them.

use super::failed_search::{self, DERIVED};
use super::ledger_sql::LedgerSql;
use super::monitor_sql::MonitorSql;
use super::store::StoreSql;

/// The columns each table must have: (name, `information_schema` data type).
const JOBS: [(&str, &str); 9] = [
    ("seq", "bigint"),
    ("id", "text"),
    ("queue", "text"),
    ("priority", "integer"),
    ("available_at", "bigint"),
    ("reserved_until", "bigint"),
    ("token", "text"),
    ("attempts", "integer"),
    ("payload", "text"),
];

const FAILED: [(&str, &str); 6] = [
    ("id", "text"),
    ("queue", "text"),
    ("payload", "text"),
    ("reason", "text"),
    ("attempts", "integer"),
    ("failed_at", "bigint"),
];

pub(super) const JOBS_TABLE: &str = "event_jobs";
pub(super) const FAILED_TABLE: &str = "event_failed_jobs";

/// Table names and statements for one schema.
#[derive(Debug)]
pub(super) struct Tables {
    pub schema: String,
    /// The NOTIFY channel workers of this schema LISTEN on.
    pub channel: String,
    pub create: String,
    pub insert: String,
    pub claim: String,
    pub next_due: String,
    pub extend: String,
    pub ack: String,
    pub retry: String,
    pub fail: String,
    pub release: String,
    pub size: String,
    pub sizes: String,
    pub clear: String,
    pub failed_list: String,
    pub failed_take: String,
    pub failed_restore: String,
    pub failed_forget: String,
    pub failed_purge: String,
    /// The monitoring tables and statements.
    pub monitor: MonitorSql,
    /// The alert ledger's and the completed log's.
    pub ledger: LedgerSql,
    /// Middleware counters and locks, unique jobs' locks.
    pub store: StoreSql,
}

/// `"name"`: the schema was checked to hold letters, digits and `_` only.
fn quoted(name: &str) -> String {
    format!("\"{name}\"")
}

impl Tables {
    pub(super) fn new(schema: &str) -> Self {
        let s = quoted(schema);
        let jobs = format!("{s}.{JOBS_TABLE}");
        let failed = format!("{s}.{FAILED_TABLE}");
        let upsert_failed = "ON CONFLICT (id) DO UPDATE SET queue = EXCLUDED.queue, payload = EXCLUDED.payload,
                 reason = EXCLUDED.reason, attempts = EXCLUDED.attempts, failed_at = EXCLUDED.failed_at,
                 name = EXCLUDED.name, short_name = EXCLUDED.short_name, event_id = EXCLUDED.event_id,
                 correlation_id = EXCLUDED.correlation_id, fingerprint = EXCLUDED.fingerprint,
                 kind = EXCLUDED.kind, message = EXCLUDED.message, tags = EXCLUDED.tags, words = EXCLUDED.words";
        let failed_ddl = failed_search::ddl(schema, &s, &failed);
        let monitor = MonitorSql::new(&s, &jobs, &failed);
        let ledger = LedgerSql::new(&s);
        let store = StoreSql::new(&s);
        Self {
            schema: schema.to_string(),
            channel: format!("{schema}.{JOBS_TABLE}"),
            create: format!(
                "CREATE SCHEMA IF NOT EXISTS {s};
                 CREATE TABLE IF NOT EXISTS {jobs} (
                     seq            bigint  GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
                     id             text    NOT NULL,
                     queue          text    NOT NULL,
                     priority       integer NOT NULL,
                     available_at   bigint  NOT NULL,
                     reserved_until bigint  NOT NULL DEFAULT 0,
                     token          text,
                     attempts       integer NOT NULL DEFAULT 0,
                     payload        text    NOT NULL
                 );
                 CREATE INDEX IF NOT EXISTS {JOBS_TABLE}_fetch ON {jobs} (queue, priority DESC, seq);
                 CREATE TABLE IF NOT EXISTS {failed} (
                     id        text    PRIMARY KEY,
                     queue     text    NOT NULL,
                     payload   text    NOT NULL,
                     reason    text    NOT NULL,
                     attempts  integer NOT NULL,
                     failed_at bigint  NOT NULL
                 );
                 {failed_ddl}
                 {monitor_ddl}
                 {ledger_ddl}
                 {store_ddl}",
                monitor_ddl = monitor.ddl,
                ledger_ddl = ledger.ddl,
                store_ddl = store.ddl
            ),
            // One statement: the rows, and one NOTIFY for all of them
            // (delivered when the transaction commits, dropped if it does not).
            insert: format!(
                "WITH inserted AS (
                     INSERT INTO {jobs} (id, queue, priority, available_at, attempts, payload)
                     SELECT * FROM unnest($1::text[], $2::text[], $3::int4[], $4::int8[], $5::int4[], $6::text[])
                     RETURNING 1)
                 SELECT pg_notify($7, '') FROM (SELECT count(*) FROM inserted) AS n"
            ),
            // A claim past its lease is claimable again: recovery is part of
            // every fetch.
            claim: format!(
                "WITH picked AS (
                     SELECT seq FROM {jobs}
                     WHERE queue = $1 AND available_at <= $2 AND reserved_until <= $2
                     ORDER BY priority DESC, seq
                     LIMIT $3
                     FOR UPDATE SKIP LOCKED)
                 UPDATE {jobs} AS j SET reserved_until = $2 + $4, token = $5, attempts = j.attempts + 1
                 FROM picked WHERE j.seq = picked.seq
                 RETURNING j.seq, j.priority, j.attempts, j.payload"
            ),
            next_due: format!(
                "SELECT min(greatest(available_at, reserved_until)) FROM {jobs} WHERE queue = ANY($1)"
            ),
            extend: format!(
                "UPDATE {jobs} AS j SET reserved_until = $3
                 FROM unnest($1::int8[], $2::text[]) AS d(seq, token)
                 WHERE j.seq = d.seq AND j.token = d.token"
            ),
            ack: format!(
                "DELETE FROM {jobs} AS j USING unnest($1::int8[], $2::text[]) AS d(seq, token)
                 WHERE j.seq = d.seq AND j.token = d.token"
            ),
            retry: format!(
                "UPDATE {jobs} SET available_at = $1, reserved_until = 0, token = NULL, payload = $2
                 WHERE seq = $3 AND token = $4"
            ),
            // Only while the claim holds: an expired one belongs to another worker.
            fail: format!(
                "WITH gone AS (DELETE FROM {jobs} WHERE seq = $1 AND token = $2 RETURNING 1)
                 INSERT INTO {failed} (id, queue, payload, reason, attempts, failed_at, {DERIVED})
                 SELECT $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17 FROM gone
                 {upsert_failed}"
            ),
            release: format!(
                "WITH released AS (
                     UPDATE {jobs} AS j SET reserved_until = 0, token = NULL, attempts = j.attempts - 1
                     FROM unnest($1::int8[], $2::text[]) AS d(seq, token)
                     WHERE j.seq = d.seq AND j.token = d.token
                     RETURNING 1)
                 SELECT pg_notify($3, '') FROM (SELECT count(*) FROM released) AS n"
            ),
            size: format!("SELECT count(*) FROM {jobs}"),
            sizes: format!(
                "SELECT queue, count(*) FROM {jobs} WHERE reserved_until <= $1
                 GROUP BY queue ORDER BY queue"
            ),
            clear: format!("DELETE FROM {jobs}"),
            failed_list: format!(
                "SELECT id, queue, payload, reason, attempts, failed_at FROM {failed}
                 ORDER BY failed_at, id"
            ),
            failed_take: format!(
                "DELETE FROM {failed} WHERE id = $1
                 RETURNING id, queue, payload, reason, attempts, failed_at"
            ),
            failed_restore: format!(
                "INSERT INTO {failed} (id, queue, payload, reason, attempts, failed_at, {DERIVED})
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15) {upsert_failed}"
            ),
            failed_forget: format!("DELETE FROM {failed} WHERE id = $1"),
            failed_purge: format!("DELETE FROM {failed}"),
            monitor,
            ledger,
            store,
        }
    }

    /// The failed store's table, qualified.
    pub(super) fn failed_table(&self) -> String {
        format!("{}.{FAILED_TABLE}", quoted(&self.schema))
    }

    /// True when `found` (as [`Tables::COLUMNS`] lists) has a failed table
    /// from a build before failed-job search: its rows need indexing once.
    pub(super) fn failed_unindexed(found: &[(String, String, String)]) -> bool {
        found.iter().any(|(t, _, _)| t == FAILED_TABLE)
            && !found
                .iter()
                .any(|(t, c, _)| t == FAILED_TABLE && c == "fingerprint")
    }

    /// The query listing both tables' columns and types.
    pub(super) const COLUMNS: &'static str =
        "SELECT table_name::text, column_name::text, data_type::text
         FROM information_schema.columns
         WHERE table_schema = $1 AND table_name IN ('event_jobs', 'event_failed_jobs')";

    /// What is wrong with the tables found (`(table, column, type)` rows), or
    /// `None` when each has every column this version needs (a table not
    /// there at all is fine: it is created).
    pub(super) fn shape_problems(&self, found: &[(String, String, String)]) -> Option<String> {
        let mut problems = Vec::new();
        for (table, wanted) in [(JOBS_TABLE, &JOBS[..]), (FAILED_TABLE, &FAILED[..])] {
            if !found.iter().any(|(t, _, _)| t == table) {
                continue;
            }
            let mut missing = Vec::new();
            let mut wrong = Vec::new();
            for (column, kind) in wanted {
                match found.iter().find(|(t, c, _)| t == table && c == column) {
                    None => missing.push(format!("`{column}` ({kind})")),
                    Some((_, _, actual)) if actual != kind => {
                        wrong.push(format!("`{column}` is {actual}, expected {kind}"))
                    }
                    Some(_) => {}
                }
            }
            let name = format!("`{}.{table}`", self.schema);
            if !missing.is_empty() {
                problems.push(format!("{name} lacks column(s) {}", missing.join(", ")));
            }
            if !wrong.is_empty() {
                problems.push(format!("{name}: column {}", wrong.join("; column ")));
            }
        }
        if problems.is_empty() {
            None
        } else {
            Some(format!(
                "the queue tables do not have the shape this version needs: {}",
                problems.join("; ")
            ))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(t: &str, c: &str, k: &str) -> (String, String, String) {
        (t.to_string(), c.to_string(), k.to_string())
    }

    #[test]
    fn a_wrong_shape_names_the_columns() {
        let tables = Tables::new("app");
        let mut found: Vec<_> = JOBS.iter().map(|(c, k)| row(JOBS_TABLE, c, k)).collect();
        found.extend(FAILED.iter().map(|(c, k)| row(FAILED_TABLE, c, k)));
        assert_eq!(tables.shape_problems(&found), None);
        assert_eq!(
            tables.shape_problems(&[]),
            None,
            "missing tables are created"
        );
        found.retain(|(t, c, _)| !(t == JOBS_TABLE && c == "token"));
        found.iter_mut().for_each(|r| {
            if r.0 == FAILED_TABLE && r.1 == "attempts" {
                r.2 = "text".into();
            }
        });
        let problem = tables.shape_problems(&found).unwrap();
        assert!(
            problem.contains("`app.event_jobs` lacks column(s) `token` (text)"),
            "{problem}"
        );
        assert!(
            problem
                .contains("`app.event_failed_jobs`: column `attempts` is text, expected integer"),
            "{problem}"
        );
    }
}
