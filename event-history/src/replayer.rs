//! The store as a worker's [`Replayer`]: a replay job runs
//! [`EventStore::replay_event`], the replay `event:replay` and the
//! dashboard run, and fails when any listener did.

use std::sync::Arc;

use async_trait::async_trait;
use event_kernel::Rebuild;
use event_kernel::replay_job::{ReplayRequested, Replayer};

use super::EventStore;

/// Replays through a registry of the app's listeners.
pub(crate) struct StoreReplayer<R> {
    store: EventStore,
    registry: Arc<R>,
}

impl<R> StoreReplayer<R> {
    pub(crate) fn new(store: EventStore, registry: Arc<R>) -> Self {
        Self { store, registry }
    }
}

#[async_trait]
impl<R: Rebuild + 'static> Replayer for StoreReplayer<R> {
    async fn replay(&self, request: &ReplayRequested) -> anyhow::Result<u64> {
        let report = self
            .store
            .replay_event(
                &request.event_id,
                request.listener.as_deref(),
                self.registry.as_ref(),
            )
            .await?;
        if report.failures.is_empty() {
            return Ok(report.listeners_run);
        }
        let failures: Vec<String> = report
            .failures
            .iter()
            .map(|f| match &f.listener {
                Some(l) => format!("{l}: {}", f.error),
                None => f.error.clone(),
            })
            .collect();
        anyhow::bail!(
            "replaying event {}: {} of {} listener call(s) failed: {}",
            request.event_id,
            failures.len(),
            report.listeners_run,
            failures.join("; ")
        )
    }
}
