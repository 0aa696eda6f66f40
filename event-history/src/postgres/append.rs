//! One append with an expected version on the PostgreSQL backend: a
//! conditional INSERT that takes the stream's next version, in a
//! transaction that takes its id before its position.

use tokio_postgres::types::ToSql;

use super::{PostgresStore, TAKE_XACT_ID, is_unique_violation};
use crate::error::StoreError;
use crate::record::{Appended, ExpectedVersion, NewEvent};
use crate::schema::INSERT;

/// One expected-version append attempt, before it becomes an error.
pub(super) enum Attempt {
    Done(Appended),
    /// No row: the id is stored already, or the stream is elsewhere.
    Nothing,
    /// Another writer took the version (the unique index said so).
    Taken,
}

impl PostgresStore {
    pub(super) async fn append_attempt(
        &self,
        row: &NewEvent,
        expected: ExpectedVersion,
    ) -> Result<Attempt, StoreError> {
        let t = &self.table;
        let err = self.err("appending an event");
        let condition = match expected {
            ExpectedVersion::Any => "TRUE".to_string(),
            ExpectedVersion::NoStream => "current = 0".to_string(),
            ExpectedVersion::Exact(n) => format!("current = {n}"),
        };
        let sql = format!(
            "INSERT INTO {t} {INSERT}
             SELECT $1, $2, $3, $4, $5, $6::text,
                    CASE WHEN $6::text IS NULL THEN NULL ELSE current + 1 END,
                    $7, $8, $9, $10
             FROM (SELECT COALESCE(MAX(stream_version), 0) AS current FROM {t} WHERE stream = $6::text) c
             WHERE {condition}
             ON CONFLICT (id) DO NOTHING
             RETURNING position, stream_version"
        );
        let tags = serde_json::to_value(&row.tags).unwrap_or_default();
        let mut client = self.client().await?;
        let take_xact_id = client.prepare_cached(TAKE_XACT_ID).await.map_err(&err)?;
        let tx = client.transaction().await.map_err(&err)?;
        // The transaction id first, then the position (see the module docs).
        tx.query_one(&take_xact_id, &[]).await.map_err(&err)?;
        let params: [&(dyn ToSql + Sync); 10] = [
            &row.id,
            &row.name,
            &row.payload,
            &row.metadata,
            &tags,
            &row.stream,
            &row.correlation_id,
            &row.causation_id,
            &row.replay_of,
            &row.dispatched_at,
        ];
        let inserted = match tx.query_opt(&sql, &params).await {
            Ok(inserted) => inserted,
            Err(e) if is_unique_violation(&e) => return Ok(Attempt::Taken),
            Err(e) => return Err(err(e)),
        };
        let Some(inserted) = inserted else {
            return Ok(Attempt::Nothing);
        };
        tx.execute("SELECT pg_notify($1, '')", &[&self.channel()])
            .await
            .map_err(&err)?;
        tx.commit().await.map_err(&err)?;
        Ok(Attempt::Done(Appended {
            position: inserted.get(0),
            stream_version: inserted.get(1),
            duplicate: false,
        }))
    }

    pub(super) async fn stream_version(
        &self,
        stream: Option<&str>,
    ) -> Result<Option<i64>, StoreError> {
        let client = self.client().await?;
        let row = client
            .query_one(
                &format!(
                    "SELECT MAX(stream_version) FROM {} WHERE stream = $1",
                    self.table
                ),
                &[&stream],
            )
            .await
            .map_err(self.err("reading a stream's version"))?;
        Ok(row.get(0))
    }
}
