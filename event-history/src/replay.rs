//! Replay: stored events re-dispatched to their listeners through a
//! [`Rebuild`] (the queue's `JobRegistry`), a page at a time.
//!
//! Listeners see [`is_replaying`](super::is_replaying) true and can opt out
//! with [`EventListener::replayable`](event_kernel::EventListener::replayable)
//! (mail, payments). Each replay is recorded as a row with `replay_of` set
//! to the replayed event's id; it is never stored as a new event, and
//! events dispatched by listeners during a replay are not stored either
//! (the original chain already holds them).

use chrono::Utc;

use super::EventStore;
use super::error::StoreError;
use super::query::Filter;
use super::record::{EventRecord, NewEvent};
use event_kernel::scope::{self, Causation};
use event_kernel::{EventListener, Rebuild};

/// What a replay did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ReplayReport {
    /// Stored events replayed.
    pub events: u64,
    /// Listener calls made.
    pub listeners_run: u64,
    /// Listener calls skipped: opted out of replays, or not the `--listener` asked for.
    pub listeners_skipped: u64,
    /// What went wrong, per event and listener; the replay goes on past them.
    pub failures: Vec<ReplayFailure>,
}

/// One failed replay of one event (or one listener of it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReplayFailure {
    /// The stored event's id.
    pub event_id: String,
    /// The listener that failed; `None` when the event could not be rebuilt
    /// from its name and payload (no listener ran).
    pub listener: Option<String>,
    /// The error's message (a listener's with its causes).
    pub error: String,
}

/// A replay from a position: `store.replay_from(0).name("OrderPlaced").run(&registry).await?`.
pub struct Replay {
    store: EventStore,
    filter: Filter,
    listener: Option<String>,
}

impl std::fmt::Debug for Replay {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Replay").finish_non_exhaustive()
    }
}

impl Replay {
    pub(crate) fn new(store: EventStore, after: i64) -> Self {
        Self {
            store,
            filter: Filter {
                after: Some(after),
                limit: 200,
                ..Filter::default()
            },
            listener: None,
        }
    }

    /// Only events of this name.
    pub fn name(mut self, name: impl Into<String>) -> Self {
        self.filter.name = Some(name.into());
        self
    }

    /// Only this listener (its `listener_name()`, or the last `::` segment of it).
    pub fn listener(mut self, listener: impl Into<String>) -> Self {
        self.listener = Some(listener.into());
        self
    }

    /// Events read per page (default 200); a replay never holds more.
    pub fn page_size(mut self, n: usize) -> Self {
        self.filter.limit = n.max(1);
        self
    }

    /// Replays one stored event (with this replay's `listener` choice).
    pub async fn run_record(
        self,
        record: EventRecord,
        registry: &(impl Rebuild + ?Sized),
    ) -> Result<ReplayReport, StoreError> {
        let mut report = ReplayReport::default();
        let mark = replay_one(&record, registry, self.listener.as_deref(), &mut report).await;
        self.store.backend().append_batch(&[mark]).await?;
        Ok(report)
    }

    /// Replays every matching event, in position order.
    pub async fn run(self, registry: &(impl Rebuild + ?Sized)) -> Result<ReplayReport, StoreError> {
        let backend = self.store.backend();
        let mut report = ReplayReport::default();
        let mut filter = self.filter;
        loop {
            let page = backend.query(&filter).await?;
            let full = page.len() == filter.page_size();
            let Some(last) = page.last().map(|r| r.position) else {
                break;
            };
            let mut marks = Vec::with_capacity(page.len());
            for record in &page {
                marks.push(
                    replay_one(record, registry, self.listener.as_deref(), &mut report).await,
                );
            }
            backend.append_batch(&marks).await?;
            if !full {
                break;
            }
            filter.after = Some(last);
        }
        Ok(report)
    }
}

/// Why a replay skips a listener.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Skipped {
    /// It opted out: `replayable()` is false (`#[listener(replayable = false)]`).
    NotReplayable,
    /// A `--listener` was asked for and it is another one.
    NotChosen,
}

/// Whether a replay runs `listener` when only `wanted` is asked for (its
/// name, or the last `::` segment of it; `None`: every listener): the one
/// rule replays and `event:replay`'s list of what it will run both use.
pub fn replay_choice(listener: &dyn EventListener, wanted: Option<&str>) -> Result<(), Skipped> {
    if !listener.replayable() {
        return Err(Skipped::NotReplayable);
    }
    match wanted {
        None => Ok(()),
        Some(wanted) => {
            let name = listener.listener_name();
            if name == wanted || name.rsplit("::").next() == Some(wanted) {
                Ok(())
            } else {
                Err(Skipped::NotChosen)
            }
        }
    }
}

/// Runs the listeners of one stored event in a replay scope; returns the
/// replay record to store.
async fn replay_one(
    record: &EventRecord,
    registry: &(impl Rebuild + ?Sized),
    wanted: Option<&str>,
    report: &mut ReplayReport,
) -> NewEvent {
    report.events += 1;
    let mut ran = Vec::new();
    match registry.rebuild_event(&record.name, record.payload.clone()) {
        Err(e) => report.failures.push(ReplayFailure {
            event_id: record.id.clone(),
            listener: None,
            error: e.to_string(),
        }),
        Ok(event) => {
            let id = ulid::Ulid::from_string(&record.id).unwrap_or_default();
            let causation = Causation {
                event_id: id,
                correlation_id: ulid::Ulid::from_string(&record.correlation_id).unwrap_or(id),
                replay_of: Some(id),
            };
            for listener in registry.listeners_of(&record.name) {
                if replay_choice(listener.as_ref(), wanted).is_err() {
                    report.listeners_skipped += 1;
                    continue;
                }
                report.listeners_run += 1;
                let result =
                    scope::within(causation, event_kernel::call::invoke(&listener, &event)).await;
                ran.push(listener.listener_name().to_string());
                if let Err(e) = result {
                    report.failures.push(ReplayFailure {
                        event_id: record.id.clone(),
                        listener: Some(listener.listener_name().to_string()),
                        error: format!("{e:#}"),
                    });
                }
            }
        }
    }
    NewEvent {
        id: ulid::Ulid::new().to_string(),
        name: record.name.clone(),
        payload: record.payload.clone(),
        metadata: serde_json::json!({ "replayed_listeners": ran }),
        tags: record.tags.clone(),
        stream: None,
        correlation_id: record.correlation_id.clone(),
        causation_id: None,
        replay_of: Some(record.id.clone()),
        dispatched_at: Utc::now(),
    }
}
