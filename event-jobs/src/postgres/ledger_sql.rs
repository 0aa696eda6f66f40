//! The tables and statements of the `postgres` connection's alert ledger
//! (a lease, the raised alerts) and completed-jobs log.

use crate::monitor::{KEPT, KEPT_FOR};

/// Ledger and log statements for one schema.
#[derive(Debug)]
pub(super) struct LedgerSql {
    pub ddl: String,
    pub lease: String,
    pub raised: String,
    pub raise: String,
    pub clear: String,
    pub record_completed: String,
    pub prune_completed: String,
    pub completed: String,
}

impl LedgerSql {
    /// `s`: the quoted schema.
    pub(super) fn new(s: &str) -> Self {
        let leases = format!("{s}.event_queue_leases");
        let alerts = format!("{s}.event_queue_alerts");
        let completed = format!("{s}.event_completed_jobs");
        let kept_for_ms = KEPT_FOR.as_millis() as i64;
        let columns = "done_at_ms, id, name, queue, wait_ms, run_ms, attempts, worker";
        Self {
            ddl: format!(
                "CREATE TABLE IF NOT EXISTS {leases} (
                     name     text PRIMARY KEY,
                     holder   text NOT NULL,
                     until_ms int8 NOT NULL);
                 CREATE TABLE IF NOT EXISTS {alerts} (
                     key         text PRIMARY KEY,
                     raised_at_ms int8 NOT NULL);
                 CREATE TABLE IF NOT EXISTS {completed} (
                     seq        int8 GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
                     done_at_ms int8 NOT NULL,
                     id         text NOT NULL,
                     name       text NOT NULL,
                     queue      text NOT NULL,
                     wait_ms    int8 NOT NULL,
                     run_ms     int8 NOT NULL,
                     attempts   int4 NOT NULL,
                     worker     text NOT NULL);
                 CREATE INDEX IF NOT EXISTS event_completed_recent ON {completed} (done_at_ms);"
            ),
            // Taken when free, expired, or already ours.
            lease: format!(
                "INSERT INTO {leases} AS l (name, holder, until_ms) VALUES ($1, $2, $3)
                 ON CONFLICT (name) DO UPDATE SET holder = excluded.holder, until_ms = excluded.until_ms
                 WHERE l.holder = excluded.holder OR l.until_ms <= $4"
            ),
            raised: format!("SELECT key FROM {alerts} ORDER BY key"),
            raise: format!(
                "INSERT INTO {alerts} (key, raised_at_ms) VALUES ($1, $2) ON CONFLICT (key) DO NOTHING"
            ),
            clear: format!("DELETE FROM {alerts} WHERE key = $1"),
            record_completed: format!(
                "INSERT INTO {completed} ({columns})
                 SELECT * FROM unnest($1::int8[], $2::text[], $3::text[], $4::text[], $5::int8[],
                                      $6::int8[], $7::int4[], $8::text[])"
            ),
            // The latest KEPT rows (by insertion, through the primary key)
            // of the last KEPT_FOR; $1: the time now.
            prune_completed: format!(
                "DELETE FROM {completed}
                 WHERE seq <= (SELECT max(seq) FROM {completed}) - {KEPT} OR done_at_ms < $1::int8 - {kept_for_ms}"
            ),
            completed: format!(
                "SELECT {columns} FROM {completed}
                 WHERE done_at_ms < coalesce($2, 9223372036854775807)
                 ORDER BY done_at_ms DESC, seq DESC LIMIT $1"
            ),
        }
    }
}
