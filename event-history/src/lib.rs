//! The event store: a durable, queryable history of every dispatched
//! event, with correlation chains, subscriptions and replay, in SQLite
//! (embedded, the default) or PostgreSQL (shared by several machines).
//!
//! ```no_run
//! # async fn demo() -> anyhow::Result<()> {
//! use event_history as store;
//! // EVENTS_STORE_ENABLED=true, EVENTS_STORE_URL=sqlite://events.db, EVENTS_STORE_TABLE=events
//! let events = store::connect(&event_history::StoreConfig::from_env()?).await?;
//! events.install(event_kernel::Dispatcher::global()).await;
//! // ... dispatch as usual; every event is appended in the background.
//! events.flush().await?;
//! for record in events.query().name("OrderProcessed").limit(50).fetch().await? {
//!     println!("{} {} caused by {:?}", record.position, record.name, record.causation_id);
//! }
//! # Ok(()) }
//! ```
//!
//! | `EVENTS_STORE_URL` | what it is |
//! |---|---|
//! | `sqlite://events.db` (default), `sqlite:///abs/events.db` | embedded; one writer at a time, position order is commit order |
//! | `postgres://user@host:5432/db` | shared; concurrent writers, read by transaction id (needs the `postgres` feature) |

// With neither backend compiled in, the SQL and row plumbing has no user.
#![cfg_attr(not(any(feature = "sqlite", feature = "postgres")), allow(dead_code))]

mod backend;
mod config;
mod error;
mod hops;
#[cfg(feature = "postgres")]
mod postgres;
mod query;
mod record;
mod replay;
mod replayer;
mod schema;
#[cfg(feature = "sqlite")]
mod sqlite;
mod subscription;
mod writer;

use std::sync::Arc;
use std::time::Duration;

use event_kernel::scope;
use event_kernel::{Dispatcher, Event};

pub use backend::Cursor;
pub use config::StoreConfig;
pub use error::StoreError;
/// What a recorder is handed beside an event (the kernel's model of a hop).
pub use event_kernel::hop::{Hop, HopKind, JobAttempt};
pub use event_kernel::replay_job::{ReplayListener, ReplayRequested, Replayer};
pub use event_kernel::scope::{Causation, current, is_replaying, within};
pub use hops::HopRecord;
pub use query::{Filter, Page, Query};
pub use record::{Appended, EventRecord, ExpectedVersion, NewEvent};
pub use replay::{Replay, ReplayFailure, ReplayReport, Skipped, replay_choice};
pub use subscription::Subscription;
pub use writer::{WriterOptions, WriterStats};

use backend::Backend;
use record::Pending;
use writer::Writer;

/// A connection to the event store. Cheap to clone.
#[derive(Clone)]
pub struct EventStore {
    inner: Arc<Inner>,
}

struct Inner {
    /// `None` when `EVENTS_STORE_ENABLED=false`.
    backend: Option<Arc<dyn Backend>>,
    writer: Option<Arc<Writer>>,
    table: String,
    url: String,
}

impl std::fmt::Debug for EventStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EventStore")
            .field("url", &self.inner.url)
            .field("table", &self.inner.table)
            .field("enabled", &self.is_enabled())
            .finish()
    }
}

/// Opens the store `EVENTS_STORE_URL` names, with table `EVENTS_STORE_TABLE`
/// (created if missing; an existing table of the wrong shape is an error
/// naming each missing or mismatched column). With
/// `EVENTS_STORE_ENABLED=false` nothing is opened and nothing is recorded.
pub async fn connect(config: impl Into<StoreConfig>) -> Result<EventStore, StoreError> {
    let config = config.into();
    if !config.enabled {
        schema::check_table(&config.table)?;
        return Ok(EventStore {
            inner: Arc::new(Inner {
                backend: None,
                writer: None,
                table: config.table.clone(),
                url: event_kernel::config::redact(&config.url),
            }),
        });
    }
    EventStore::open(&config.url, &config.table).await
}

struct StoreRecorder {
    writer: Arc<Writer>,
}

impl scope::Recorder for StoreRecorder {
    fn record(&self, event: &Arc<dyn Event>) -> Causation {
        let parent = scope::current();
        let id = ulid::Ulid::new();
        if let Some(parent) = parent
            && parent.replay_of.is_some()
        {
            // Dispatched by a listener during a replay: the original chain
            // already holds it.
            return Causation {
                event_id: id,
                ..parent
            };
        }
        let correlation_id = parent.map_or(id, |p| p.correlation_id);
        // Dispatch goes on whatever the writer says: a dropped event is
        // counted in `stats().dropped` (and the buffer-full case logged).
        let _ = self.writer.push(Pending::Dispatched {
            event: event.clone(),
            id,
            correlation_id,
            causation_id: parent.map(|p| p.event_id),
        });
        Causation {
            event_id: id,
            correlation_id,
            replay_of: None,
        }
    }

    fn records_hops(&self) -> bool {
        true
    }

    fn hop(&self, event_id: ulid::Ulid, hop: event_kernel::hop::Hop) {
        // Like an event: dropped and counted when the buffer is full.
        let _ = self
            .writer
            .push(Pending::Hop(hops::NewHop::new(event_id, hop)));
    }
}

impl EventStore {
    /// Opens an enabled store at `url` with `table`, with the default writer options.
    pub async fn open(url: &str, table: &str) -> Result<Self, StoreError> {
        Self::open_with(url, table, WriterOptions::default()).await
    }

    /// [`EventStore::open`] with a writer buffer and batch size of your own.
    pub async fn open_with(
        url: &str,
        table: &str,
        options: WriterOptions,
    ) -> Result<Self, StoreError> {
        schema::check_table(table)?;
        let url = url.trim();
        let backend = open_backend(url, table).await?;
        let writer = Writer::start(backend.clone(), options);
        Ok(Self {
            inner: Arc::new(Inner {
                backend: Some(backend),
                writer: Some(writer),
                table: table.to_string(),
                url: event_kernel::config::redact(url),
            }),
        })
    }

    /// False with `EVENTS_STORE_ENABLED=false`: nothing is recorded, and
    /// reading returns [`StoreError::NotEnabled`].
    pub fn is_enabled(&self) -> bool {
        self.inner.backend.is_some()
    }

    /// The store's URL (password hidden).
    pub fn location(&self) -> &str {
        &self.inner.url
    }

    /// The events table (`EVENTS_STORE_TABLE`); checkpoints live in
    /// `<table>_checkpoints`.
    pub fn table(&self) -> &str {
        &self.inner.table
    }

    pub(crate) fn backend(&self) -> Arc<dyn Backend> {
        match &self.inner.backend {
            Some(backend) => backend.clone(),
            None => Arc::new(Disabled),
        }
    }

    /// Records every dispatch of `dispatcher` from now on (for a disabled
    /// store: stops recording).
    pub async fn install(&self, dispatcher: &Dispatcher) {
        dispatcher.set_recorder(self.recorder());
    }

    /// This store as a [`Recorder`](scope::Recorder) (`None` when
    /// disabled): what [`install`](Self::install) sets on a dispatcher,
    /// and where a worker sends its jobs' attempts (`Worker::hops_to`).
    pub fn recorder(&self) -> Option<Arc<dyn scope::Recorder>> {
        self.inner
            .writer
            .clone()
            .map(|writer| Arc::new(StoreRecorder { writer }) as Arc<dyn scope::Recorder>)
    }

    /// Appends one event now (not through the writer), with its own id and
    /// the version its stream must be at. Appending an id that is already
    /// stored is a no-op (`duplicate: true`); a stream elsewhere than
    /// `expected` is [`StoreError::VersionConflict`].
    pub async fn append(
        &self,
        event: NewEvent,
        expected: ExpectedVersion,
    ) -> Result<Appended, StoreError> {
        if event.stream.is_none() && expected != ExpectedVersion::Any {
            return Err(StoreError::NoStream(expected));
        }
        self.enabled()?.append(&event, expected).await
    }

    /// Hands a row of your own (with its own id) to the writer, like a
    /// dispatch: it is written with the next batch, and
    /// [`EventStore::flush`] waits for it. A full buffer drops it (counted)
    /// and says so. Rows with a stream go through [`EventStore::append`],
    /// which checks the stream's version.
    pub fn record(&self, event: NewEvent) -> Result<(), StoreError> {
        if event.stream.is_some() {
            return Err(StoreError::StreamNeedsAppend(
                event.stream.unwrap_or_default(),
            ));
        }
        let writer = self.inner.writer.as_ref().ok_or(StoreError::NotEnabled)?;
        writer.push(Pending::Ready(event))
    }

    /// Appends events in one transaction, without stream versions; ids
    /// already stored are skipped.
    pub async fn append_batch(&self, events: &[NewEvent]) -> Result<(), StoreError> {
        self.enabled()?.append_batch(events).await
    }

    /// A query over the history: add filters, then `fetch()` or `page()`.
    pub fn query(&self) -> Query {
        Query::new(self.clone())
    }

    /// The event with this id.
    pub async fn get(&self, id: &str) -> Result<Option<EventRecord>, StoreError> {
        self.enabled()?.get(id).await
    }

    /// Waits until every event recorded before the call is written (while
    /// the store is down, until it is back).
    pub async fn flush(&self) -> Result<WriterStats, StoreError> {
        match &self.inner.writer {
            Some(writer) => writer.flush(None).await,
            None => Ok(WriterStats::default()),
        }
    }

    /// [`EventStore::flush`], giving up after `limit`.
    pub async fn flush_timeout(&self, limit: Duration) -> Result<WriterStats, StoreError> {
        match &self.inner.writer {
            Some(writer) => writer.flush(Some(limit)).await,
            None => Ok(WriterStats::default()),
        }
    }

    /// Flushes and stops the writer; later dispatches on an installed
    /// dispatcher are dropped (counted in [`EventStore::stats`]), and a later
    /// [`EventStore::record`] is refused with [`StoreError::Closed`].
    pub async fn shutdown(&self) -> Result<WriterStats, StoreError> {
        let stats = self.flush().await?;
        if let Some(writer) = &self.inner.writer {
            writer.close();
        }
        Ok(stats)
    }

    /// Written, dropped and pending events, and outages.
    pub fn stats(&self) -> WriterStats {
        self.inner
            .writer
            .as_ref()
            .map(|w| w.stats())
            .unwrap_or_default()
    }

    /// Follows the history from just after `position` (0: from the start).
    pub fn subscribe(&self, position: i64) -> Result<Subscription, StoreError> {
        Ok(Subscription::new(
            self.enabled()?,
            Cursor::after(position),
            None,
        ))
    }

    /// A named subscription: resumes from its saved checkpoint (or the
    /// start); [`Subscription::commit`] saves it.
    pub async fn subscription(&self, name: &str) -> Result<Subscription, StoreError> {
        let backend = self.enabled()?;
        let cursor = backend.load_checkpoint(name).await?.unwrap_or_default();
        Ok(Subscription::new(backend, cursor, Some(name.to_string())))
    }

    /// Replays one stored event through `registry`'s listeners (the queue's
    /// `JobRegistry`, or any [`Rebuild`](event_kernel::Rebuild)).
    pub async fn replay(
        &self,
        id: &str,
        registry: &(impl event_kernel::Rebuild + ?Sized),
    ) -> Result<ReplayReport, StoreError> {
        self.replay_event(id, None, registry).await
    }

    /// Replays one stored event to its listeners, or only to `listener`
    /// (its name or the last `::` segment; one the event does not have is
    /// [`StoreError::UnknownListener`]): the one path `event:replay ID`,
    /// the dashboard and a replay job on the worker ([`EventStore::replayer`])
    /// take. The replay's record is written before it returns.
    pub async fn replay_event(
        &self,
        id: &str,
        listener: Option<&str>,
        registry: &(impl event_kernel::Rebuild + ?Sized),
    ) -> Result<ReplayReport, StoreError> {
        let record = self
            .get(id)
            .await?
            .ok_or_else(|| StoreError::NotFound(id.to_string()))?;
        let mut replay = Replay::new(self.clone(), record.position - 1);
        if let Some(wanted) = listener {
            let known: Vec<String> = registry
                .listeners_of(&record.name)
                .iter()
                .map(|l| l.listener_name().to_string())
                .collect();
            if !known
                .iter()
                .any(|n| n == wanted || n.rsplit("::").next() == Some(wanted))
            {
                return Err(StoreError::UnknownListener {
                    event: record.name,
                    listener: wanted.to_string(),
                    known,
                });
            }
            replay = replay.listener(wanted);
        }
        replay.run_record(record, registry).await
    }

    /// What a worker runs replay jobs with (`JobRegistry::replayer`): this
    /// store, replaying through `registry` (the app's, without the
    /// replayer itself).
    pub fn replayer<R>(&self, registry: Arc<R>) -> Arc<dyn event_kernel::replay_job::Replayer>
    where
        R: event_kernel::Rebuild + 'static,
    {
        Arc::new(replayer::StoreReplayer::new(self.clone(), registry))
    }

    /// Replays the events after `position`, in pages: add `.name(..)`,
    /// `.listener(..)`, then `.run(&registry)`.
    pub fn replay_from(&self, position: i64) -> Replay {
        Replay::new(self.clone(), position)
    }

    /// The hops of these events (sync listener calls, queued listeners,
    /// broadcasts), in write order, read by the event-id index.
    pub async fn hops(&self, event_ids: &[String]) -> Result<Vec<HopRecord>, StoreError> {
        let backend = self.enabled()?;
        let mut found = Vec::new();
        for ids in event_ids.chunks(hops::HOP_IDS_PER_QUERY) {
            found.extend(backend.hops(ids).await?);
        }
        found.sort_by_key(|h| h.position);
        Ok(found)
    }

    /// Drops the table and its checkpoints (tests, tooling).
    pub async fn drop_table(&self) -> Result<(), StoreError> {
        self.enabled()?.drop_table().await
    }

    fn enabled(&self) -> Result<Arc<dyn Backend>, StoreError> {
        self.inner.backend.clone().ok_or(StoreError::NotEnabled)
    }
}

async fn open_backend(url: &str, table: &str) -> Result<Arc<dyn Backend>, StoreError> {
    if let Some(path) = url.strip_prefix("sqlite://") {
        let path = path.split('?').next().unwrap_or(path);
        if path.is_empty() {
            return Err(StoreError::InvalidUrl {
                url: url.to_string(),
                reason: "no database path after sqlite://".to_string(),
            });
        }
        return open_sqlite(url, path, table).await;
    }
    if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        return open_postgres(url, table).await;
    }
    Err(StoreError::InvalidUrl {
        url: event_kernel::config::redact(url),
        reason: "expected sqlite://<path> or postgres://user@host:5432/db (EVENTS_STORE_URL)"
            .to_string(),
    })
}

#[cfg(feature = "sqlite")]
async fn open_sqlite(url: &str, path: &str, table: &str) -> Result<Arc<dyn Backend>, StoreError> {
    Ok(Arc::new(sqlite::SqliteStore::open(url, path, table).await?))
}

#[cfg(not(feature = "sqlite"))]
async fn open_sqlite(_: &str, _: &str, _: &str) -> Result<Arc<dyn Backend>, StoreError> {
    Err(StoreError::Disabled("sqlite"))
}

#[cfg(feature = "postgres")]
async fn open_postgres(url: &str, table: &str) -> Result<Arc<dyn Backend>, StoreError> {
    Ok(Arc::new(postgres::PostgresStore::open(url, table).await?))
}

#[cfg(not(feature = "postgres"))]
async fn open_postgres(_: &str, _: &str) -> Result<Arc<dyn Backend>, StoreError> {
    Err(StoreError::Disabled("postgres"))
}

/// The backend of a disabled store: every call says so.
struct Disabled;

#[async_trait::async_trait]
impl Backend for Disabled {
    fn location(&self) -> &str {
        "disabled"
    }
    async fn append_batch(&self, _: &[NewEvent]) -> Result<(), StoreError> {
        Err(StoreError::NotEnabled)
    }
    async fn append_hops(&self, _: &[hops::NewHop]) -> Result<(), StoreError> {
        Err(StoreError::NotEnabled)
    }
    async fn hops(&self, _: &[String]) -> Result<Vec<HopRecord>, StoreError> {
        Err(StoreError::NotEnabled)
    }
    async fn append(&self, _: &NewEvent, _: ExpectedVersion) -> Result<Appended, StoreError> {
        Err(StoreError::NotEnabled)
    }
    async fn query(&self, _: &Filter) -> Result<Vec<EventRecord>, StoreError> {
        Err(StoreError::NotEnabled)
    }
    async fn get(&self, _: &str) -> Result<Option<EventRecord>, StoreError> {
        Err(StoreError::NotEnabled)
    }
    async fn read(&self, _: Cursor, _: usize) -> Result<(Vec<EventRecord>, Cursor), StoreError> {
        Err(StoreError::NotEnabled)
    }
    fn appended(&self) -> tokio::sync::watch::Receiver<u64> {
        tokio::sync::watch::channel(0).1
    }
    async fn load_checkpoint(&self, _: &str) -> Result<Option<Cursor>, StoreError> {
        Err(StoreError::NotEnabled)
    }
    async fn save_checkpoint(&self, _: &str, _: Cursor) -> Result<(), StoreError> {
        Err(StoreError::NotEnabled)
    }
    async fn drop_table(&self) -> Result<(), StoreError> {
        Err(StoreError::NotEnabled)
    }
}
