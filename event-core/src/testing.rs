//! Faking events in tests.
//!
//! The seed's process-wide `fake()` / `restore()` live here; test-scoped
//! fakes that parallel tests can use safely are in [`EventFake`].

use std::any::TypeId;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use arc_swap::ArcSwapOption;

use crate::dispatcher::Dispatcher;
use crate::event::Event;

/// How many fakes exist right now; dispatch skips every fake check at zero.
static ACTIVE: AtomicUsize = AtomicUsize::new(0);
static GLOBAL_FAKE: ArcSwapOption<Recorder> = ArcSwapOption::const_empty();

/// Which events a fake keeps (the rest are delivered as usual).
#[derive(Debug, Clone)]
pub(crate) enum Filter {
    All,
    Only(Vec<EventMatcher>),
    Except(Vec<EventMatcher>),
}

/// An event named by its name or its type, for `fake_only` / `fake_except`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EventMatcher {
    Name(String),
    Type(TypeId),
}

impl EventMatcher {
    /// Matches events of type `E`.
    pub fn of<E: Event>() -> Self {
        Self::Type(TypeId::of::<E>())
    }

    fn matches(&self, event: &dyn Event) -> bool {
        match self {
            Self::Name(name) => name == event.event_name(),
            Self::Type(type_id) => *type_id == (event as &dyn std::any::Any).type_id(),
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

/// The events a fake has swallowed.
#[derive(Debug)]
pub(crate) struct Recorder {
    filter: Filter,
    events: Mutex<Vec<Arc<dyn Event>>>,
}

impl Recorder {
    pub(crate) fn new(filter: Filter) -> Arc<Self> {
        Arc::new(Self {
            filter,
            events: Mutex::new(Vec::new()),
        })
    }

    fn intercepts(&self, event: &dyn Event) -> bool {
        match &self.filter {
            Filter::All => true,
            Filter::Only(m) => m.iter().any(|m| m.matches(event)),
            Filter::Except(m) => !m.iter().any(|m| m.matches(event)),
        }
    }

    pub(crate) fn record(&self, event: Arc<dyn Event>) {
        self.events
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(event);
    }

    pub(crate) fn events(&self) -> Vec<Arc<dyn Event>> {
        self.events
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    pub(crate) fn count(&self, name: &str) -> usize {
        self.events
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
            .filter(|e| e.event_name() == name)
            .count()
    }
}

/// Called by every dispatch: true when a fake took the event.
pub(crate) fn intercept(dispatcher: &Dispatcher, event: &Arc<dyn Event>) -> bool {
    if ACTIVE.load(Ordering::Relaxed) == 0 {
        return false;
    }
    let recorder = if dispatcher.is_global() {
        GLOBAL_FAKE.load_full()
    } else {
        None
    };
    match recorder {
        Some(recorder) if recorder.intercepts(&**event) => {
            recorder.record(event.clone());
            true
        }
        _ => false,
    }
}

pub(crate) fn global_recorder() -> Option<Arc<Recorder>> {
    GLOBAL_FAKE.load_full()
}

/// Fakes the global dispatcher: dispatched events are recorded, not delivered.
/// Process-wide, like the seed's; parallel tests should use [`EventFake`].
pub async fn fake() {
    install_global(Filter::All);
}

pub(crate) fn install_global(filter: Filter) {
    let previous = GLOBAL_FAKE.swap(Some(Recorder::new(filter)));
    if previous.is_none() {
        ACTIVE.fetch_add(1, Ordering::Relaxed);
    }
}

/// Ends the global fake: events are delivered again and the record is dropped.
pub async fn restore() {
    if GLOBAL_FAKE.swap(None).is_some() {
        ACTIVE.fetch_sub(1, Ordering::Relaxed);
    }
}

/// True while the global dispatcher is faked.
pub async fn is_faking() -> bool {
    GLOBAL_FAKE.load().is_some()
}
