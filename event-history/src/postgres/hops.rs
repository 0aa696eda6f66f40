//! The hops table on PostgreSQL: `<table>_hops`, indexed by event id.

use chrono::{DateTime, Utc};

use super::PostgresStore;
use crate::error::StoreError;
use crate::hops::{HOP_COLUMNS, HopRecord, NewHop, receivers_of, status_of};

impl PostgresStore {
    pub(super) async fn insert_hops(&self, hops: &[NewHop]) -> Result<(), StoreError> {
        if hops.is_empty() {
            return Ok(());
        }
        let t = &self.table;
        let err = self.err("appending hops");
        let ids: Vec<&str> = hops.iter().map(|h| h.event_id.as_str()).collect();
        let kinds: Vec<&str> = hops.iter().map(|h| h.kind).collect();
        let names: Vec<&str> = hops.iter().map(|h| h.name.as_str()).collect();
        let channels: Vec<serde_json::Value> = hops
            .iter()
            .map(|h| serde_json::from_str(&h.channels).unwrap_or_default())
            .collect();
        let queues: Vec<Option<&str>> = hops.iter().map(|h| h.queue.as_deref()).collect();
        let errors: Vec<Option<&str>> = hops.iter().map(|h| h.error.as_deref()).collect();
        let times: Vec<DateTime<Utc>> = hops.iter().map(|h| h.started_at).collect();
        let durations: Vec<i64> = hops.iter().map(|h| h.duration_us).collect();
        let workers: Vec<Option<&str>> = hops.iter().map(|h| h.worker.as_deref()).collect();
        let waits: Vec<Option<i64>> = hops.iter().map(|h| h.waited_us).collect();
        let attempts: Vec<Option<i64>> = hops.iter().map(|h| h.attempt).collect();
        let outcomes: Vec<Option<&str>> = hops.iter().map(|h| h.outcome).collect();
        let receivers: Vec<Option<i64>> = hops.iter().map(|h| h.receivers).collect();
        let statuses: Vec<Option<i64>> = hops.iter().map(|h| h.status).collect();
        let client = self.client().await?;
        let insert = client
            .prepare_cached(&format!(
                "INSERT INTO {t}_hops (event_id, kind, name, channels, queue, error, started_at,
                     duration_us, worker, waited_us, attempt, outcome, receivers, status)
                 SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::jsonb[], $5::text[],
                                      $6::text[], $7::timestamptz[], $8::bigint[], $9::text[],
                                      $10::bigint[], $11::bigint[], $12::text[], $13::bigint[],
                                      $14::bigint[])"
            ))
            .await
            .map_err(&err)?;
        client
            .execute(
                &insert,
                &[
                    &ids, &kinds, &names, &channels, &queues, &errors, &times, &durations,
                    &workers, &waits, &attempts, &outcomes, &receivers, &statuses,
                ],
            )
            .await
            .map_err(&err)?;
        Ok(())
    }

    pub(super) async fn select_hops(&self, ids: &[String]) -> Result<Vec<HopRecord>, StoreError> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let t = &self.table;
        let err = self.err("reading hops");
        let client = self.client().await?;
        let rows = client
            .query(
                &format!(
                    "SELECT {HOP_COLUMNS} FROM {t}_hops WHERE event_id = ANY($1) ORDER BY position"
                ),
                &[&ids],
            )
            .await
            .map_err(&err)?;
        Ok(rows
            .iter()
            .map(|r| HopRecord {
                position: r.get(0),
                event_id: r.get(1),
                kind: r.get(2),
                name: r.get(3),
                channels: serde_json::from_value(r.get::<_, serde_json::Value>(4))
                    .unwrap_or_default(),
                queue: r.get(5),
                error: r.get(6),
                started_at: r.get(7),
                duration_us: r.get(8),
                worker: r.get(9),
                waited_us: r.get(10),
                attempt: r.get(11),
                outcome: r.get(12),
                receivers: receivers_of(r.get(13)),
                status: status_of(r.get(14)),
            })
            .collect())
    }
}
