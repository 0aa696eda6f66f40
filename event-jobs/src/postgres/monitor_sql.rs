//! The monitoring tables of the `postgres` connection, the triggers that
//! keep its counters in the same transaction as the job writes, and the
//! statements that read and write them. [`super::monitoring`] says what
//! each figure means.

use super::failed_search::{GROUPS_TABLE, group_counts};
use super::wake::SIGNALS;
use crate::monitor::BUCKETS;

pub(super) const COUNTS_TABLE: &str = "event_queue_counts";
pub(super) const DELTAS_TABLE: &str = "event_queue_deltas";
pub(super) const QUEUES_TABLE: &str = "event_queues";
pub(super) const SIGNALS_TABLE: &str = "event_queue_signals";
pub(super) const WORKERS_TABLE: &str = "event_queue_workers";
pub(super) const TALLIES_TABLE: &str = "event_queue_tallies";

/// The figure columns of a tally row, in [`crate::monitor::Tally`] order:
/// the three counters, then `w0..` (wait) and `r0..` (run) buckets.
pub(super) fn figure_columns() -> Vec<String> {
    let mut columns = vec![
        "processed".to_string(),
        "failed".to_string(),
        "retried".to_string(),
    ];
    columns.extend((0..BUCKETS).map(|i| format!("w{i}")));
    columns.extend((0..BUCKETS).map(|i| format!("r{i}")));
    columns
}

/// What rows of the jobs table (`rows`: a transition table, or the table)
/// count for, `sign` (1 or -1) each: per queue, `due_s = 0` holds the
/// unclaimed and claimed counts; `due_s = s` counts unclaimed rows due in
/// second `s`, for the rows due after the second now (`now_s`).
fn job_counts(rows: &str, sign: i32) -> String {
    format!(
        "SELECT queue, 0::int8 AS due_s,
                {sign} * (CASE WHEN token IS NULL THEN 1 ELSE 0 END)::int8 AS unclaimed,
                {sign} * (CASE WHEN token IS NULL THEN 0 ELSE 1 END)::int8 AS claimed
         FROM {rows}
         UNION ALL
         SELECT queue, available_at / 1000, {sign}::int8, 0::int8 FROM {rows}
         WHERE token IS NULL AND available_at / 1000 > now_s"
    )
}

/// Monitoring statements for one schema.
#[derive(Debug)]
pub(super) struct MonitorSql {
    /// Tables, index, trigger functions, and (once, when the triggers are
    /// made) the counts of the rows already there.
    pub ddl: String,
    pub fold: String,
    pub gauges: String,
    pub prune_due: String,
    pub record: String,
    pub tallies: String,
    pub prune_tallies: String,
    pub set_paused: String,
    pub signals: String,
    pub restart: String,
    pub beat: String,
    pub unregister: String,
    pub workers: String,
    pub drop_workers: String,
    pub clear_queue: String,
}

impl MonitorSql {
    /// `s`: the quoted schema; `jobs`, `failed`: the qualified tables.
    pub(super) fn new(s: &str, jobs: &str, failed: &str) -> Self {
        let counts = format!("{s}.{COUNTS_TABLE}");
        let deltas = format!("{s}.{DELTAS_TABLE}");
        let queues = format!("{s}.{QUEUES_TABLE}");
        let signals = format!("{s}.{SIGNALS_TABLE}");
        let workers = format!("{s}.{WORKERS_TABLE}");
        let tallies = format!("{s}.{TALLIES_TABLE}");
        let figures = figure_columns();
        let figure_ddl: String = figures
            .iter()
            .map(|c| format!(", {c} int8 NOT NULL DEFAULT 0"))
            .collect();
        let delta_cols = "queue, due_s, unclaimed, claimed, failed";
        let new_rows = job_counts("new_rows", 1);
        let old_rows = job_counts("old_rows", -1);
        let existing = job_counts(jobs, 1);
        let trigger = |name: &str, event: &str, refs: &str, table: &str, function: &str| {
            format!(
                "CREATE TRIGGER {name} AFTER {event} ON {table} REFERENCING {refs}
                 FOR EACH STATEMENT EXECUTE FUNCTION {s}.{function}();"
            )
        };
        let jobs_triggers = [
            trigger(
                "event_jobs_count_insert",
                "INSERT",
                "NEW TABLE AS new_rows",
                jobs,
                "event_jobs_count",
            ),
            trigger(
                "event_jobs_count_update",
                "UPDATE",
                "OLD TABLE AS old_rows NEW TABLE AS new_rows",
                jobs,
                "event_jobs_count",
            ),
            trigger(
                "event_jobs_count_delete",
                "DELETE",
                "OLD TABLE AS old_rows",
                jobs,
                "event_jobs_count",
            ),
        ]
        .join("\n");
        let failed_triggers = [
            trigger(
                "event_failed_count_insert",
                "INSERT",
                "NEW TABLE AS new_rows",
                failed,
                "event_failed_count",
            ),
            trigger(
                "event_failed_count_update",
                "UPDATE",
                "OLD TABLE AS old_rows NEW TABLE AS new_rows",
                failed,
                "event_failed_count",
            ),
            trigger(
                "event_failed_count_delete",
                "DELETE",
                "OLD TABLE AS old_rows",
                failed,
                "event_failed_count",
            ),
        ]
        .join("\n");
        let groups = format!("{s}.{GROUPS_TABLE}");
        let groups_in = group_counts(&groups, "new_rows", 1);
        let groups_out = group_counts(&groups, "old_rows", -1);
        let jobs_literal = jobs.replace('\'', "''");
        let failed_literal = failed.replace('\'', "''");
        let ddl = format!(
            "CREATE TABLE IF NOT EXISTS {counts} (
                 queue     text NOT NULL,
                 due_s     int8 NOT NULL,
                 unclaimed int8 NOT NULL DEFAULT 0,
                 claimed   int8 NOT NULL DEFAULT 0,
                 failed    int8 NOT NULL DEFAULT 0,
                 PRIMARY KEY (queue, due_s));
             CREATE TABLE IF NOT EXISTS {deltas} (
                 queue     text NOT NULL,
                 due_s     int8 NOT NULL,
                 unclaimed int8 NOT NULL,
                 claimed   int8 NOT NULL,
                 failed    int8 NOT NULL);
             CREATE TABLE IF NOT EXISTS {queues} (
                 queue  text PRIMARY KEY,
                 paused boolean NOT NULL DEFAULT false);
             CREATE TABLE IF NOT EXISTS {signals} (
                 name  text PRIMARY KEY,
                 at_ms int8 NOT NULL);
             CREATE TABLE IF NOT EXISTS {workers} (
                 id           text PRIMARY KEY,
                 last_beat_ms int8 NOT NULL,
                 beat         text NOT NULL);
             CREATE TABLE IF NOT EXISTS {tallies} (
                 resolution text NOT NULL,
                 start_ms   int8 NOT NULL,
                 queue      text NOT NULL,
                 job        text NOT NULL{figure_ddl},
                 PRIMARY KEY (resolution, start_ms, queue, job));
             CREATE INDEX IF NOT EXISTS event_jobs_ready ON {jobs} (queue, available_at) WHERE token IS NULL;
             CREATE OR REPLACE FUNCTION {s}.event_jobs_count() RETURNS trigger LANGUAGE plpgsql AS $fn$
             DECLARE now_s int8 := floor(extract(epoch FROM clock_timestamp()))::int8;
             BEGIN
                 IF TG_OP = 'INSERT' THEN
                     INSERT INTO {deltas} ({delta_cols})
                     SELECT queue, due_s, sum(unclaimed), sum(claimed), 0 FROM ({new_rows}) d
                     GROUP BY queue, due_s;
                 ELSIF TG_OP = 'DELETE' THEN
                     INSERT INTO {deltas} ({delta_cols})
                     SELECT queue, due_s, sum(unclaimed), sum(claimed), 0 FROM ({old_rows}) d
                     GROUP BY queue, due_s;
                 ELSE
                     INSERT INTO {deltas} ({delta_cols})
                     SELECT queue, due_s, sum(unclaimed), sum(claimed), 0
                     FROM ({new_rows} UNION ALL {old_rows}) d
                     GROUP BY queue, due_s HAVING sum(unclaimed) <> 0 OR sum(claimed) <> 0;
                 END IF;
                 RETURN NULL;
             END $fn$;
             CREATE OR REPLACE FUNCTION {s}.event_failed_count() RETURNS trigger LANGUAGE plpgsql AS $fn$
             BEGIN
                 IF TG_OP = 'INSERT' THEN
                     INSERT INTO {deltas} ({delta_cols})
                     SELECT queue, 0, 0, 0, count(*) FROM new_rows GROUP BY queue;
                     {groups_in}
                 ELSIF TG_OP = 'DELETE' THEN
                     INSERT INTO {deltas} ({delta_cols})
                     SELECT queue, 0, 0, 0, -count(*) FROM old_rows GROUP BY queue;
                     {groups_out}
                 ELSE
                     INSERT INTO {deltas} ({delta_cols})
                     SELECT queue, 0, 0, 0, sum(n) FROM (
                         SELECT queue, 1 AS n FROM new_rows UNION ALL SELECT queue, -1 FROM old_rows) d
                     GROUP BY queue HAVING sum(n) <> 0;
                     {groups_out}
                     {groups_in}
                 END IF;
                 RETURN NULL;
             END $fn$;
             DO $do$
             DECLARE now_s int8 := floor(extract(epoch FROM clock_timestamp()))::int8;
             BEGIN
                 IF NOT EXISTS (SELECT 1 FROM pg_trigger
                                WHERE tgrelid = '{jobs_literal}'::regclass AND tgname = 'event_jobs_count_insert') THEN
                     {jobs_triggers}
                     DELETE FROM {counts} WHERE due_s > 0;
                     UPDATE {counts} SET unclaimed = 0, claimed = 0;
                     DELETE FROM {deltas} WHERE failed = 0;
                     INSERT INTO {deltas} ({delta_cols})
                     SELECT queue, due_s, sum(unclaimed), sum(claimed), 0 FROM ({existing}) d
                     GROUP BY queue, due_s;
                 END IF;
                 IF NOT EXISTS (SELECT 1 FROM pg_trigger
                                WHERE tgrelid = '{failed_literal}'::regclass AND tgname = 'event_failed_count_insert') THEN
                     {failed_triggers}
                     UPDATE {counts} SET failed = 0;
                     DELETE FROM {deltas} WHERE unclaimed = 0 AND claimed = 0;
                     INSERT INTO {deltas} ({delta_cols})
                     SELECT queue, 0, 0, 0, count(*) FROM {failed} GROUP BY queue;
                 END IF;
             END $do$;"
        );
        let set_figures = figures
            .iter()
            .map(|c| format!("{c} = t.{c} + excluded.{c}"))
            .collect::<Vec<_>>()
            .join(", ");
        let unnest_args = (5..5 + figures.len())
            .map(|i| format!(", ${i}::int8[]"))
            .collect::<String>();
        let figure_list = figures.join(", ");
        Self {
            ddl,
            // Moves the deltas into the counts; one process at a time (the
            // others skip: the reads add the deltas anyway).
            fold: format!(
                "WITH lock AS (SELECT pg_try_advisory_xact_lock(hashtext('event-core queue counts ' || $1::text)) AS got),
                 moved AS (DELETE FROM {deltas} WHERE (SELECT got FROM lock) RETURNING {delta_cols})
                 INSERT INTO {counts} AS c ({delta_cols})
                 SELECT queue, due_s, sum(unclaimed), sum(claimed), sum(failed) FROM moved
                 GROUP BY queue, due_s ORDER BY queue, due_s
                 ON CONFLICT (queue, due_s) DO UPDATE SET unclaimed = c.unclaimed + excluded.unclaimed,
                     claimed = c.claimed + excluded.claimed, failed = c.failed + excluded.failed"
            ),
            // $1: the second now. Counts and deltas are a few rows per
            // queue; the oldest ready job is one probe of `event_jobs_ready`.
            gauges: format!(
                "WITH c AS (
                     SELECT {delta_cols} FROM {counts} WHERE due_s = 0 OR due_s > $1
                     UNION ALL
                     SELECT {delta_cols} FROM {deltas} WHERE due_s = 0 OR due_s > $1),
                 t AS (
                     SELECT queue,
                            coalesce(sum(unclaimed) FILTER (WHERE due_s = 0), 0)::int8 AS unclaimed,
                            coalesce(sum(unclaimed) FILTER (WHERE due_s > 0), 0)::int8 AS delayed,
                            coalesce(sum(claimed) FILTER (WHERE due_s = 0), 0)::int8 AS claimed,
                            coalesce(sum(failed) FILTER (WHERE due_s = 0), 0)::int8 AS failed
                     FROM c GROUP BY queue),
                 n AS (SELECT queue FROM t UNION SELECT queue FROM {queues})
                 SELECT n.queue, coalesce(t.unclaimed, 0), coalesce(t.delayed, 0),
                        coalesce(t.claimed, 0), coalesce(t.failed, 0), coalesce(q.paused, false),
                        (SELECT min(j.available_at) FROM {jobs} AS j
                         WHERE j.queue = n.queue AND j.token IS NULL)
                 FROM n LEFT JOIN t ON t.queue = n.queue LEFT JOIN {queues} AS q ON q.queue = n.queue
                 ORDER BY n.queue"
            ),
            prune_due: format!("DELETE FROM {counts} WHERE due_s > 0 AND due_s <= $1"),
            record: format!(
                "INSERT INTO {tallies} AS t (resolution, start_ms, queue, job, {figure_list})
                 SELECT * FROM unnest($1::text[], $2::int8[], $3::text[], $4::text[]{unnest_args})
                 ON CONFLICT (resolution, start_ms, queue, job) DO UPDATE SET {set_figures}"
            ),
            tallies: format!(
                "SELECT start_ms, queue, job, {figure_list} FROM {tallies}
                 WHERE resolution = $1 AND start_ms >= $2 ORDER BY start_ms, queue, job"
            ),
            prune_tallies: format!("DELETE FROM {tallies} WHERE resolution = $1 AND start_ms < $2"),
            // Each tells the listening workers (`$3`/`$2`: the channel) in
            // the same transaction: they read the signals again.
            set_paused: format!(
                "WITH up AS (
                     INSERT INTO {queues} (queue, paused) VALUES ($1, $2)
                     ON CONFLICT (queue) DO UPDATE SET paused = excluded.paused RETURNING 1)
                 SELECT pg_notify($3, '{SIGNALS}') FROM up"
            ),
            signals: format!(
                "SELECT (SELECT array_agg(queue ORDER BY queue) FROM {queues} WHERE paused),
                        (SELECT at_ms FROM {signals} WHERE name = 'restart')"
            ),
            restart: format!(
                "WITH up AS (
                     INSERT INTO {signals} (name, at_ms) VALUES ('restart', $1)
                     ON CONFLICT (name) DO UPDATE SET at_ms = excluded.at_ms RETURNING 1)
                 SELECT pg_notify($2, '{SIGNALS}') FROM up"
            ),
            beat: format!(
                "INSERT INTO {workers} (id, last_beat_ms, beat) VALUES ($1, $2, $3)
                 ON CONFLICT (id) DO UPDATE SET last_beat_ms = excluded.last_beat_ms, beat = excluded.beat"
            ),
            unregister: format!("DELETE FROM {workers} WHERE id = $1"),
            workers: format!("SELECT id, beat FROM {workers}"),
            drop_workers: format!("DELETE FROM {workers} WHERE id = ANY($1)"),
            clear_queue: format!("DELETE FROM {jobs} WHERE queue = $1 AND token IS NULL"),
        }
    }
}
