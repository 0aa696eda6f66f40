//! Reading the history as it grows, from a position, with a checkpoint.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;

use super::backend::{Backend, Cursor};
use super::error::StoreError;
use super::record::EventRecord;

/// Follows the events table: every event after the starting position,
/// once each, in an order that never skips one that commits late (see
/// [`Cursor`]). Delivery is at least once across a crash: save the
/// checkpoint after handling a batch ([`Subscription::commit`]); a batch
/// handled but not committed is delivered again on resume.
pub struct Subscription {
    backend: Arc<dyn Backend>,
    cursor: Cursor,
    name: Option<String>,
    batch: usize,
    poll: Duration,
    appended: watch::Receiver<u64>,
}

impl std::fmt::Debug for Subscription {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Subscription")
            .field("name", &self.name)
            .field("cursor", &self.cursor)
            .finish_non_exhaustive()
    }
}

impl Subscription {
    pub(crate) fn new(backend: Arc<dyn Backend>, cursor: Cursor, name: Option<String>) -> Self {
        let appended = backend.appended();
        Self {
            backend,
            cursor,
            name,
            batch: 500,
            poll: Duration::from_millis(250),
            appended,
        }
    }

    /// Events per batch at most (default 500).
    pub fn batch_size(mut self, n: usize) -> Self {
        self.batch = n.max(1);
        self
    }

    /// How often to look without a wake-up (default 250 ms): SQLite
    /// appends from another process, a lost NOTIFY.
    pub fn poll_interval(mut self, every: Duration) -> Self {
        self.poll = every;
        self
    }

    /// Where the subscription is.
    pub fn cursor(&self) -> Cursor {
        self.cursor
    }

    /// The next events, waiting until there is at least one. While the
    /// store is unreachable it waits and tries again (logged once), then
    /// catches up from where it was.
    pub async fn next_batch(&mut self) -> Result<Vec<EventRecord>, StoreError> {
        let mut down = false;
        loop {
            self.appended.borrow_and_update();
            match self.try_next_batch().await {
                Ok(records) if !records.is_empty() => {
                    if down {
                        tracing::info!(
                            url = self.backend.location(),
                            "event store reachable again; subscription catching up"
                        );
                    }
                    return Ok(records);
                }
                Ok(_) => {
                    if down {
                        tracing::info!(
                            url = self.backend.location(),
                            "event store reachable again; subscription catching up"
                        );
                        down = false;
                    }
                }
                Err(e) if e.is_unreachable() => {
                    if !down {
                        tracing::warn!(url = self.backend.location(), error = %e, "event store unreachable; subscription waiting");
                        down = true;
                    }
                }
                Err(e) => return Err(e),
            }
            let _ = tokio::time::timeout(self.poll, self.appended.changed()).await;
        }
    }

    /// The next events now (possibly none).
    pub async fn try_next_batch(&mut self) -> Result<Vec<EventRecord>, StoreError> {
        let (records, next) = self.backend.read(self.cursor, self.batch).await?;
        self.cursor = next;
        Ok(records)
    }

    /// Saves the cursor under the subscription's name, so
    /// [`EventStore::subscription`](super::EventStore::subscription) resumes here.
    pub async fn commit(&self) -> Result<(), StoreError> {
        match &self.name {
            Some(name) => self.backend.save_checkpoint(name, self.cursor).await,
            None => Err(StoreError::UnnamedSubscription),
        }
    }
}
