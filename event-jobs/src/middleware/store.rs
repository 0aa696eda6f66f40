//! Where middleware keep their counters and locks: the connection's
//! storage ([`MiddlewareStore`]), or this process for backends without one.

use std::collections::HashMap;
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

use async_trait::async_trait;

use crate::error::QueueError;

/// Counters and locks job middleware keep in a connection's storage, so
/// every worker of it agrees ([`Backend::middleware_store`](crate::Backend::middleware_store)).
#[async_trait]
pub trait MiddlewareStore: Send + Sync {
    /// Counts a hit on `key`, whose window of `window` starts at its first
    /// hit: the hits so far in the window and the time left of it.
    async fn hit(&self, key: &str, window: Duration) -> Result<(u64, Duration), QueueError>;
    /// The hits on `key` in its current window and the time left of it.
    async fn hits(&self, key: &str) -> Result<(u64, Duration), QueueError>;
    /// Forgets the hits on `key`.
    async fn clear_hits(&self, key: &str) -> Result<(), QueueError>;
    /// Takes the lock `key` for `owner` unless someone holds it; it frees
    /// itself after `ttl`.
    async fn try_lock(&self, key: &str, owner: &str, ttl: Duration) -> Result<bool, QueueError>;
    /// Frees the lock `key` if `owner` holds it.
    async fn unlock(&self, key: &str, owner: &str) -> Result<(), QueueError>;
}

/// Counters and locks in this process, for backends that keep none of
/// their own (`memory`): shared by the workers of the process.
#[derive(Default)]
pub(crate) struct LocalStore {
    counters: Mutex<HashMap<String, (u64, Instant)>>,
    locks: Mutex<HashMap<String, (String, Instant)>>,
}

impl LocalStore {
    pub(crate) fn global() -> &'static LocalStore {
        static STORE: OnceLock<LocalStore> = OnceLock::new();
        STORE.get_or_init(LocalStore::default)
    }

    pub(crate) fn hit(&self, key: &str, window: Duration) -> (u64, Duration) {
        let now = Instant::now();
        let mut counters = self.counters.lock().unwrap_or_else(|e| e.into_inner());
        let entry = counters.entry(key.to_string()).or_insert((0, now + window));
        if entry.1 <= now {
            *entry = (0, now + window);
        }
        entry.0 += 1;
        (entry.0, entry.1 - now)
    }

    pub(crate) fn hits(&self, key: &str) -> (u64, Duration) {
        let now = Instant::now();
        let counters = self.counters.lock().unwrap_or_else(|e| e.into_inner());
        match counters.get(key) {
            Some(&(count, until)) if until > now => (count, until - now),
            _ => (0, Duration::ZERO),
        }
    }

    pub(crate) fn clear(&self, key: &str) {
        self.counters
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(key);
    }

    pub(crate) fn try_lock(&self, key: &str, owner: &str, ttl: Duration) -> bool {
        let now = Instant::now();
        let mut locks = self.locks.lock().unwrap_or_else(|e| e.into_inner());
        match locks.get(key) {
            Some((_, until)) if *until > now => false,
            _ => {
                locks.insert(key.to_string(), (owner.to_string(), now + ttl));
                true
            }
        }
    }

    pub(crate) fn unlock(&self, key: &str, owner: &str) {
        let mut locks = self.locks.lock().unwrap_or_else(|e| e.into_inner());
        if locks.get(key).is_some_and(|(o, _)| o == owner) {
            locks.remove(key);
        }
    }
}
