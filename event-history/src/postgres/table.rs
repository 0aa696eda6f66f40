//! The event table of the PostgreSQL backend: created if missing (with its
//! indexes and the checkpoints table), its shape checked, under an
//! advisory lock so processes starting together do not race.

use super::PostgresStore;
use crate::error::StoreError;
use crate::hops::ADDED_HOP_COLUMNS;
use crate::schema::{self, Dialect};

impl PostgresStore {
    /// Creates the table if missing (under an advisory lock, so two
    /// processes starting together do not race), checks its shape, and
    /// returns the name of its position sequence.
    pub(super) async fn create_or_check(&self) -> Result<String, StoreError> {
        let t = &self.table;
        let what = format!("creating table `{t}`");
        let err = self.err(&what);
        let mut client = self.client().await?;
        let tx = client.transaction().await.map_err(&err)?;
        tx.execute("SELECT pg_advisory_xact_lock(hashtext($1))", &[t])
            .await
            .map_err(&err)?;
        let found: Vec<(String, String)> = tx
            .query(
                "SELECT column_name::text, data_type::text FROM information_schema.columns
                 WHERE table_schema = current_schema() AND table_name = $1",
                &[t],
            )
            .await
            .map_err(&err)?
            .iter()
            .map(|r| (r.get(0), r.get(1)))
            .collect();
        if found.is_empty() {
            tx.batch_execute(&format!(
                "CREATE TABLE {t} (
                    position       bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
                    id             text NOT NULL UNIQUE,
                    name           text NOT NULL,
                    payload        jsonb NOT NULL,
                    metadata       jsonb NOT NULL,
                    tags           jsonb NOT NULL,
                    stream         text,
                    stream_version bigint,
                    correlation_id text NOT NULL,
                    causation_id   text,
                    replay_of      text,
                    dispatched_at  timestamptz NOT NULL,
                    recorded_at    timestamptz NOT NULL DEFAULT now()
                );"
            ))
            .await
            .map_err(&err)?;
        } else {
            let problems = schema::shape_problems(&found, Dialect::Postgres);
            if !problems.is_empty() {
                return Err(StoreError::WrongShape {
                    url: self.url.clone(),
                    table: t.clone(),
                    problems,
                });
            }
        }
        // Only what is missing: CREATE INDEX locks the table against
        // writers even when the index exists, and a process starting while
        // a long transaction writes must not wait for it.
        let wanted = [
            (
                format!("{t}_stream"),
                format!("CREATE UNIQUE INDEX {t}_stream ON {t} (stream, stream_version)"),
            ),
            (
                format!("{t}_name"),
                format!("CREATE INDEX {t}_name ON {t} (name, position)"),
            ),
            (
                format!("{t}_correlation"),
                format!("CREATE INDEX {t}_correlation ON {t} (correlation_id, position)"),
            ),
            (
                format!("{t}_checkpoints"),
                format!(
                    "CREATE TABLE {t}_checkpoints (
                         name       text PRIMARY KEY,
                         cursor     jsonb NOT NULL,
                         updated_at timestamptz NOT NULL DEFAULT now()
                     )"
                ),
            ),
            (
                format!("{t}_hops"),
                format!(
                    "CREATE TABLE {t}_hops (
                         position    bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
                         event_id    text NOT NULL,
                         kind        text NOT NULL,
                         name        text NOT NULL,
                         channels    jsonb NOT NULL,
                         queue       text,
                         error       text,
                         started_at  timestamptz NOT NULL,
                         duration_us bigint NOT NULL,
                         worker      text,
                         waited_us   bigint,
                         attempt     bigint,
                         outcome     text,
                         receivers   bigint,
                         status      bigint
                     )"
                ),
            ),
            (
                format!("{t}_hops_event"),
                format!("CREATE INDEX {t}_hops_event ON {t}_hops (event_id, position)"),
            ),
        ];
        for (name, create) in wanted {
            let exists: bool = tx
                .query_one("SELECT to_regclass($1) IS NOT NULL", &[&name])
                .await
                .map_err(&err)?
                .get(0);
            if !exists {
                tx.batch_execute(&create).await.map_err(&err)?;
            }
        }
        // Columns added to the hops table after its first release: a table
        // an older version created gets them (NULL in its old rows). Looked
        // up first: ALTER TABLE locks the table even when there is nothing
        // to add.
        for (column, _, kind) in ADDED_HOP_COLUMNS {
            let exists: bool = tx
                .query_one(
                    "SELECT EXISTS (SELECT 1 FROM information_schema.columns
                     WHERE table_schema = current_schema() AND table_name = $1
                       AND column_name = $2)",
                    &[&format!("{t}_hops"), &column],
                )
                .await
                .map_err(&err)?
                .get(0);
            if !exists {
                tx.batch_execute(&format!("ALTER TABLE {t}_hops ADD COLUMN {column} {kind}"))
                    .await
                    .map_err(&err)?;
            }
        }
        let sequence: Option<String> = tx
            .query_one("SELECT pg_get_serial_sequence($1, 'position')", &[t])
            .await
            .map_err(&err)?
            .get(0);
        tx.commit().await.map_err(&err)?;
        sequence.ok_or_else(|| StoreError::WrongShape {
            url: self.url.clone(),
            table: t.clone(),
            problems: vec![
                "column `position` has no sequence (it must be an identity or serial column)"
                    .into(),
            ],
        })
    }
}
