//! The two connection pools of the `postgres` connection (dispatches, and
//! a worker's claims with `synchronous_commit = off`) and the statements
//! run through them, with their errors.

use std::time::Duration;

use deadpool_postgres::{Manager, ManagerConfig, Pool, PoolError, RecyclingMethod, Runtime};

use super::options::DriverConfig;
use super::{Inner, PostgresOptions};
use crate::QueueError;

/// A pool of connections opened as they are needed.
pub(super) fn build_pool(
    config: DriverConfig,
    options: &PostgresOptions,
    url: &str,
) -> Result<Pool, QueueError> {
    let manager = Manager::from_config(
        config.settings,
        config.tls,
        ManagerConfig {
            recycling_method: RecyclingMethod::Fast,
        },
    );
    Pool::builder(manager)
        .max_size(options.pool_size)
        .runtime(Runtime::Tokio1)
        .wait_timeout(Some(Duration::from_secs(30)))
        .build()
        .map_err(|e| QueueError::InvalidUrl {
            url: url.to_string(),
            reason: format!("cannot build the connection pool: {e}"),
        })
}

/// Which pool a statement goes through.
#[derive(Clone, Copy)]
pub(super) enum Via {
    Dispatch,
    Worker,
}

impl Inner {
    pub(super) fn pg(&self, action: &str, source: tokio_postgres::Error) -> QueueError {
        QueueError::Postgres {
            url: self.url.clone(),
            action: action.to_string(),
            source,
        }
    }

    /// A job or record that could not be turned into JSON.
    pub(super) fn json(&self, action: &'static str, source: serde_json::Error) -> QueueError {
        QueueError::Json {
            url: self.url.clone(),
            action,
            source,
        }
    }

    pub(super) fn backend_error(&self, reason: String) -> QueueError {
        QueueError::Backend {
            url: self.url.clone(),
            reason,
        }
    }

    pub(super) async fn client(&self) -> Result<deadpool_postgres::Object, QueueError> {
        self.client_via(Via::Dispatch).await
    }

    pub(super) async fn client_via(
        &self,
        via: Via,
    ) -> Result<deadpool_postgres::Object, QueueError> {
        let pool = match via {
            Via::Dispatch => &self.pool,
            Via::Worker => &self.worker_pool,
        };
        pool.get().await.map_err(|e| match e {
            PoolError::Backend(source) => self.pg("cannot connect", source),
            other => QueueError::Unreachable {
                url: self.url.clone(),
                reason: other.to_string(),
            },
        })
    }

    /// Runs one statement; returns the rows it changed.
    pub(super) async fn execute(
        &self,
        via: Via,
        action: &str,
        sql: &str,
        params: &[&(dyn tokio_postgres::types::ToSql + Sync)],
    ) -> Result<u64, QueueError> {
        let client = self.client_via(via).await?;
        let statement = client
            .prepare_cached(sql)
            .await
            .map_err(|e| self.pg(action, e))?;
        client
            .execute(&statement, params)
            .await
            .map_err(|e| self.pg(action, e))
    }

    pub(super) async fn query(
        &self,
        via: Via,
        action: &str,
        sql: &str,
        params: &[&(dyn tokio_postgres::types::ToSql + Sync)],
    ) -> Result<Vec<tokio_postgres::Row>, QueueError> {
        let client = self.client_via(via).await?;
        let statement = client
            .prepare_cached(sql)
            .await
            .map_err(|e| self.pg(action, e))?;
        client
            .query(&statement, params)
            .await
            .map_err(|e| self.pg(action, e))
    }
}
