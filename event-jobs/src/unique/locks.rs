//! Taking and freeing a unique job's lock where the connection keeps its
//! locks.

use super::UniqueLock;
use crate::backend::Backend;
use crate::error::QueueError;
use crate::memory::MemoryBackend;
use crate::middleware::store::LocalStore;

impl UniqueLock {
    /// On `sync` (no backend): takes the lock in this process.
    pub(crate) fn take_inline(&self, owner: &str) -> bool {
        LocalStore::global().try_lock(&self.inline_key(), owner, self.ttl())
    }

    /// Frees a lock [`UniqueLock::take_inline`] took.
    pub(crate) fn free_inline(&self, owner: &str) {
        LocalStore::global().unlock(&self.inline_key(), owner);
    }

    fn inline_key(&self) -> String {
        format!("sync:{}", self.store_key())
    }

    /// Takes the lock for the job `owner` (its id); false when another
    /// job holds it.
    pub(crate) async fn take(
        &self,
        backend: &dyn Backend,
        owner: &str,
    ) -> Result<bool, QueueError> {
        match backend.middleware_store() {
            Some(store) => store.try_lock(&self.store_key(), owner, self.ttl()).await,
            None => Ok(LocalStore::global().try_lock(&local_key(backend, self), owner, self.ttl())),
        }
    }

    /// Frees the lock if the job `owner` holds it; a failure is logged
    /// (the lock then frees itself after `lock_for`).
    pub(crate) async fn free(&self, backend: &dyn Backend, owner: &str) {
        let result = match backend.middleware_store() {
            Some(store) => store.unlock(&self.store_key(), owner).await,
            None => {
                LocalStore::global().unlock(&local_key(backend, self), owner);
                Ok(())
            }
        };
        if let Err(e) = result {
            tracing::warn!(lock = %self.key, job = owner, error = %e, "cannot free a unique job's lock; it frees itself after its unique_for");
        }
    }
}

/// The process-wide store keeps one connection's locks apart from
/// another's (a memory connection's clones share its store).
fn local_key(backend: &dyn Backend, lock: &UniqueLock) -> String {
    let any: &dyn std::any::Any = backend;
    let namespace = match any.downcast_ref::<MemoryBackend>() {
        Some(memory) => memory.namespace(),
        None => backend as *const dyn Backend as *const () as usize,
    };
    format!("{namespace}:unique:{}", lock.key)
}
