//! What each storage backend (SQLite, PostgreSQL) provides.

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

use super::error::StoreError;
use super::hops::{HopRecord, NewHop};
use super::query::Filter;
use super::record::{Appended, EventRecord, ExpectedVersion, NewEvent};

/// Where a subscription is: everything before it has been delivered.
///
/// SQLite has one writer at a time, so position order is commit order and
/// `position` alone says where a reader is. PostgreSQL commits concurrently:
/// a row with a lower position can become visible after a higher one, so a
/// reader goes by transaction id (`tx`, below the snapshot's xmin, where no
/// row can still appear) and position within it; `floor` is a position at
/// or below which everything has been delivered, to bound the scan.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Cursor {
    /// The subscription's starting point: only positions above it are delivered.
    pub start: i64,
    /// The last position delivered (SQLite), or the position of the last row
    /// delivered within transaction `tx` (PostgreSQL).
    pub position: i64,
    /// PostgreSQL: the 64-bit transaction id of the last row delivered.
    pub tx: i64,
    /// PostgreSQL: every row at or below this position has been delivered.
    pub floor: i64,
    /// PostgreSQL: (sequence value, a transaction id above the id of every
    /// transaction holding a position up to it); once a snapshot's xmin
    /// passes that id, the reader has caught up and every row up to that
    /// value the snapshot sees has been delivered, `floor` moves to it.
    #[serde(default)]
    pub pending: Option<(i64, i64)>,
}

impl Cursor {
    /// Deliver everything after `position`.
    pub fn after(position: i64) -> Self {
        Self {
            start: position,
            position,
            tx: 0,
            floor: position,
            pending: None,
        }
    }
}

/// One storage backend of the event store.
#[async_trait]
pub(crate) trait Backend: Send + Sync {
    /// The URL, for messages.
    fn location(&self) -> &str;
    /// Appends rows without stream versions in one transaction; an id
    /// already stored is skipped.
    async fn append_batch(&self, rows: &[NewEvent]) -> Result<(), StoreError>;
    /// Appends hops of recorded events in one transaction.
    async fn append_hops(&self, hops: &[NewHop]) -> Result<(), StoreError>;
    /// The hops of these events (at most [`HOP_IDS_PER_QUERY`](crate::hops::HOP_IDS_PER_QUERY)
    /// ids), in write order, by the event-id index.
    async fn hops(&self, event_ids: &[String]) -> Result<Vec<HopRecord>, StoreError>;
    /// Appends one row, checking `expected` against its stream through the
    /// unique (stream, stream_version) index.
    async fn append(
        &self,
        row: &NewEvent,
        expected: ExpectedVersion,
    ) -> Result<Appended, StoreError>;
    async fn query(&self, filter: &Filter) -> Result<Vec<EventRecord>, StoreError>;
    async fn get(&self, id: &str) -> Result<Option<EventRecord>, StoreError>;
    /// The next rows after `cursor`, in delivery order, and the cursor after them.
    async fn read(
        &self,
        cursor: Cursor,
        limit: usize,
    ) -> Result<(Vec<EventRecord>, Cursor), StoreError>;
    /// Changes when something may have been appended (a commit in this
    /// process, a NOTIFY, a reconnect after which a reader should catch up).
    fn appended(&self) -> tokio::sync::watch::Receiver<u64>;
    async fn load_checkpoint(&self, name: &str) -> Result<Option<Cursor>, StoreError>;
    async fn save_checkpoint(&self, name: &str, cursor: Cursor) -> Result<(), StoreError>;
    /// Drops the events table, its hops and its checkpoints (tests, `event:*` tooling).
    async fn drop_table(&self) -> Result<(), StoreError>;
}
