//! What the fakes record into: one generic [`Recorded`] list, and the three
//! recorders the dispatcher reaches through its seams (the event fake's,
//! a queue handler, a broadcaster). The fakes' assertions read them; the
//! scopes decide which recorder a dispatch uses.

use std::any::TypeId;
use std::sync::{Arc, Mutex, MutexGuard};

use anyhow::Result;
use async_trait::async_trait;
use event_kernel::broadcasting::{BroadcastMessage, Broadcaster};
use event_kernel::{Event, EventListener, QueueableHandler};

/// What one fake has recorded, in order.
#[derive(Debug)]
pub(crate) struct Recorded<T> {
    items: Mutex<Vec<T>>,
}

impl<T> Default for Recorded<T> {
    fn default() -> Self {
        Self {
            items: Mutex::new(Vec::new()),
        }
    }
}

impl<T: Clone> Recorded<T> {
    pub(crate) fn push(&self, item: T) {
        self.lock().push(item);
    }

    /// A copy of everything recorded so far.
    pub(crate) fn all(&self) -> Vec<T> {
        self.lock().clone()
    }

    pub(crate) fn lock(&self) -> MutexGuard<'_, Vec<T>> {
        // A panicking assertion never leaves the list half-edited.
        self.items.lock().unwrap_or_else(|e| e.into_inner())
    }
}

// ----- the event fake's --------------------------------------------------------

/// An event named by its name or by its type, for
/// [`fake_only`](super::fake_only) / [`fake_except`](super::fake_except).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EventMatcher {
    /// Events whose `event_name()` is this (what `&str` / `String` convert to).
    Name(String),
    /// Events of one type, with its type name (shown by `Debug`); build it
    /// with [`EventMatcher::of`].
    Type(TypeId, &'static str),
}

impl EventMatcher {
    /// Matches events of type `E`.
    pub fn of<E: Event>() -> Self {
        Self::Type(TypeId::of::<E>(), std::any::type_name::<E>())
    }

    pub(crate) fn matches(&self, event: &dyn Event) -> bool {
        match self {
            Self::Name(name) => name == event.event_name(),
            Self::Type(type_id, _) => *type_id == (event as &dyn std::any::Any).type_id(),
        }
    }
}

impl From<&str> for EventMatcher {
    fn from(name: &str) -> Self {
        Self::Name(name.to_string())
    }
}

impl From<String> for EventMatcher {
    fn from(name: String) -> Self {
        Self::Name(name)
    }
}

#[derive(Debug, Clone)]
pub(crate) enum Filter {
    All,
    Only(Vec<EventMatcher>),
    Except(Vec<EventMatcher>),
}

/// The events a fake has swallowed.
#[derive(Debug)]
pub(crate) struct Recorder {
    filter: Filter,
    pub(crate) events: Recorded<Arc<dyn Event>>,
}

impl Recorder {
    pub(crate) fn new(filter: Filter) -> Arc<Self> {
        Arc::new(Self {
            filter,
            events: Recorded::default(),
        })
    }

    pub(crate) fn intercepts(&self, event: &dyn Event) -> bool {
        match &self.filter {
            Filter::All => true,
            Filter::Only(m) => m.iter().any(|m| m.matches(event)),
            Filter::Except(m) => !m.iter().any(|m| m.matches(event)),
        }
    }

    pub(crate) fn events(&self) -> Vec<Arc<dyn Event>> {
        self.events.all()
    }

    pub(crate) fn count(&self, name: &str) -> usize {
        self.events
            .lock()
            .iter()
            .filter(|e| e.event_name() == name)
            .count()
    }
}

// ----- the queue fake's --------------------------------------------------------

/// A job a [`QueueFake`](super::QueueFake) recorded instead of queueing it.
#[derive(Clone)]
pub struct QueuedJob {
    /// The queued listener; `None` for a queued event.
    pub listener: Option<Arc<dyn EventListener>>,
    /// The event it was for.
    pub event: Arc<dyn Event>,
    /// The queue it would go to, resolved as the queue resolves it: the
    /// listener's (for a queued event, the event's) `queue`, else
    /// `EVENTS_DEFAULT_QUEUE` (`default` also means that one). Always set.
    pub queue: Option<String>,
    /// The connection it was meant for (listener's or event's setting), if any.
    pub connection: Option<String>,
}

impl std::fmt::Debug for QueuedJob {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("QueuedJob")
            .field(
                "listener",
                &self.listener.as_ref().map(|l| l.listener_name()),
            )
            .field("event", &self.event.event_name())
            .field("queue", &self.queue)
            .field("connection", &self.connection)
            .finish()
    }
}

impl QueuedJob {
    pub(crate) fn describe(&self) -> String {
        let what = match &self.listener {
            Some(l) => format!("{} for {}", l.listener_name(), self.event.event_name()),
            None => format!("event {}", self.event.event_name()),
        };
        match &self.queue {
            Some(q) => format!("{what} on queue `{q}`"),
            None => what,
        }
    }
}

/// The jobs a [`QueueFake`](super::QueueFake) has recorded.
#[derive(Debug)]
pub(crate) struct QueueRecorder {
    pub(crate) jobs: Recorded<QueuedJob>,
    /// `EVENTS_DEFAULT_QUEUE` as the app reads it (`.env` and the
    /// environment), what an undeclared queue resolves to.
    default_queue: String,
}

impl Default for QueueRecorder {
    fn default() -> Self {
        let default_queue = event_jobs::QueueConfig::from_env()
            .unwrap_or_default()
            .default_queue;
        Self {
            jobs: Recorded::default(),
            default_queue,
        }
    }
}

impl QueueRecorder {
    /// The queue a job declaring `declared` goes to.
    fn resolve(&self, declared: Option<&str>) -> Option<String> {
        match declared {
            Some(queue) if queue != "default" => Some(queue.to_string()),
            _ => Some(self.default_queue.clone()),
        }
    }
}

#[async_trait]
impl QueueableHandler for QueueRecorder {
    async fn queue_event(&self, event: Arc<dyn Event>) -> Result<()> {
        let settings = event.as_should_queue();
        let queue = self.resolve(
            settings
                .and_then(|s| s.queue())
                .or_else(|| event.queue_name()),
        );
        let connection = settings
            .and_then(|s| s.queue_connection())
            .map(str::to_string);
        self.jobs.push(QueuedJob {
            listener: None,
            event,
            queue,
            connection,
        });
        Ok(())
    }

    async fn queue_listener(
        &self,
        listener: Arc<dyn EventListener>,
        event: Arc<dyn Event>,
    ) -> Result<()> {
        let options = listener.options();
        self.jobs.push(QueuedJob {
            listener: Some(listener),
            event,
            queue: self.resolve(options.queue.as_deref()),
            connection: options.connection,
        });
        Ok(())
    }
}

// ----- the broadcast fake's ----------------------------------------------------

/// The broadcasts a [`BroadcastFake`](super::BroadcastFake) has recorded.
#[derive(Debug, Default)]
pub(crate) struct BroadcastRecorder {
    pub(crate) messages: Recorded<BroadcastMessage>,
}

#[async_trait]
impl Broadcaster for BroadcastRecorder {
    async fn broadcast(&self, message: &BroadcastMessage) -> Result<()> {
        self.messages.push(message.clone());
        Ok(())
    }
}
