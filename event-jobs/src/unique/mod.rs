//! Unique queued listeners (Laravel's `ShouldBeUnique` /
//! `ShouldBeUniqueUntilProcessing`): a lock per (listener, unique id),
//! taken at dispatch by the job that gets queued and freed by the worker
//! when the job is done or failed for good (or when it starts, for the
//! "until processing" form), or when its `lock_for` runs out.
//!
//! The lock lives where job middleware keep theirs
//! ([`Backend::middleware_store`]: a table in the sqlite file or the
//! postgres schema, a key with a TTL in redis), so it holds across
//! processes and machines; `memory` keeps it in the process.

mod locks;

use std::time::Duration;

use serde::{Deserialize, Serialize};

use event_kernel::{Event, EventListener, UniqueJob};

/// A lock with no `lock_for` lasts until the job frees it; this bounds it
/// anyway (Laravel's `uniqueFor = 0` is "forever").
const FOREVER: Duration = Duration::from_secs(10 * 365 * 24 * 3600);

/// The unique lock a job holds, stored with its settings.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UniqueLock {
    /// `<listener name>:<unique id>`.
    pub key: String,
    /// The lock frees itself after this many ms; `None`: when the job ends.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub for_ms: Option<u64>,
    /// Freed when the job starts running, not when it ends.
    #[serde(default)]
    pub until_processing: bool,
}

impl UniqueLock {
    /// The lock of the job `listener` makes for `event`, when it declares
    /// one and its id function gives an id for this event.
    pub(crate) fn of(
        declared: Option<UniqueJob>,
        listener: &dyn EventListener,
        event: &dyn Event,
    ) -> Option<Self> {
        let unique = declared?;
        let id = (unique.id)(event)?;
        Some(Self {
            key: format!("{}:{id}", listener.listener_name()),
            for_ms: unique.lock_for.map(|d| d.num_milliseconds().max(1) as u64),
            until_processing: unique.until_processing,
        })
    }

    pub(crate) fn ttl(&self) -> Duration {
        self.for_ms.map_or(FOREVER, Duration::from_millis)
    }

    pub(crate) fn store_key(&self) -> String {
        format!("unique:{}", self.key)
    }
}
