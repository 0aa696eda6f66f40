//! [`EventFake`]: records dispatched events instead of delivering them.

use std::future::Future;
use std::sync::Arc;

use super::recorder::{EventMatcher, Filter, Recorder};
use super::scope::{Fakes, Scope, TASK_FAKES};
use super::{summarize, type_label};
use event_kernel::Dispatcher;
use event_kernel::Event;

// ----- EventFake -----------------------------------------------------------------

/// Records dispatched events instead of delivering them, for one test.
///
/// Typed assertions panic with a message listing what was dispatched.
pub struct EventFake {
    assertions: EventAssertions,
    _scope: Scope,
}

impl std::fmt::Debug for EventFake {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EventFake").finish_non_exhaustive()
    }
}

impl EventFake {
    /// Fakes every event dispatched on this thread until the fake is dropped.
    pub fn new() -> Self {
        Self::on_thread(Filter::All)
    }

    /// Fakes only the listed events (by name, or `EventMatcher::of::<E>()`);
    /// the rest are delivered.
    pub fn only<M: Into<EventMatcher>>(events: impl IntoIterator<Item = M>) -> Self {
        Self::on_thread(Filter::Only(events.into_iter().map(Into::into).collect()))
    }

    /// Fakes every event except the listed ones, which are delivered.
    pub fn except<M: Into<EventMatcher>>(events: impl IntoIterator<Item = M>) -> Self {
        Self::on_thread(Filter::Except(events.into_iter().map(Into::into).collect()))
    }

    /// Fakes every event dispatched on `dispatcher`, from any thread or task.
    pub fn for_dispatcher(dispatcher: &Dispatcher) -> Self {
        Self::install(Some(dispatcher), Filter::All)
    }

    fn on_thread(filter: Filter) -> Self {
        Self::install(None, filter)
    }

    fn install(dispatcher: Option<&Dispatcher>, filter: Filter) -> Self {
        let recorder = Recorder::new(filter);
        let scope = Scope::install(
            dispatcher,
            Fakes {
                events: Some(recorder.clone()),
                ..Fakes::default()
            },
        );
        Self {
            assertions: EventAssertions { recorder },
            _scope: scope,
        }
    }
}

impl Default for EventFake {
    fn default() -> Self {
        Self::new()
    }
}

impl std::ops::Deref for EventFake {
    type Target = EventAssertions;

    fn deref(&self) -> &EventAssertions {
        &self.assertions
    }
}

/// Assertions over the events a fake recorded. [`EventFake`] derefs to it and
/// [`fake_scope`] hands one to its body.
pub struct EventAssertions {
    recorder: Arc<Recorder>,
}

impl std::fmt::Debug for EventAssertions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EventAssertions").finish_non_exhaustive()
    }
}

impl EventAssertions {
    /// Every recorded event, oldest first.
    pub fn events(&self) -> Vec<Arc<dyn Event>> {
        self.recorder.events()
    }

    /// The recorded events of type `E`, oldest first.
    pub fn dispatched<E: Event>(&self) -> Vec<Arc<E>> {
        self.events()
            .into_iter()
            .filter_map(|e| e.downcast_arc::<E>().ok())
            .collect()
    }

    fn summary(&self) -> String {
        summarize(self.events().iter().map(|e| e.event_name().to_string()))
    }

    /// Panics unless an `E` was dispatched.
    #[track_caller]
    pub fn assert_dispatched<E: Event>(&self) {
        if self.dispatched::<E>().is_empty() {
            panic!(
                "expected `{}` to be dispatched, but it was not. {}",
                type_label::<E>(),
                self.summary()
            );
        }
    }

    /// Panics unless an `E` for which `check` is true was dispatched.
    #[track_caller]
    pub fn assert_dispatched_with<E: Event>(&self, check: impl Fn(&E) -> bool) {
        let of_type = self.dispatched::<E>();
        if !of_type.iter().any(|e| check(e)) {
            panic!(
                "expected `{}` to be dispatched matching the given check; {} of that type were dispatched, none matched: {:?}. {}",
                type_label::<E>(),
                of_type.len(),
                of_type,
                self.summary()
            );
        }
    }

    /// Panics unless exactly `times` events of type `E` were dispatched.
    #[track_caller]
    pub fn assert_dispatched_times<E: Event>(&self, times: usize) {
        let count = self.dispatched::<E>().len();
        if count != times {
            panic!(
                "expected `{}` to be dispatched {times} time(s), but it was dispatched {count} time(s). {}",
                type_label::<E>(),
                self.summary()
            );
        }
    }

    /// Panics unless exactly one `E` was dispatched.
    #[track_caller]
    pub fn assert_dispatched_once<E: Event>(&self) {
        self.assert_dispatched_times::<E>(1);
    }

    /// Panics if an `E` was dispatched.
    #[track_caller]
    pub fn assert_not_dispatched<E: Event>(&self) {
        let count = self.dispatched::<E>().len();
        if count > 0 {
            panic!(
                "expected `{}` not to be dispatched, but it was dispatched {count} time(s). {}",
                type_label::<E>(),
                self.summary()
            );
        }
    }

    /// Panics if any event was dispatched.
    #[track_caller]
    pub fn assert_nothing_dispatched(&self) {
        if !self.events().is_empty() {
            panic!("expected no events to be dispatched. {}", self.summary());
        }
    }

    /// Panics unless an event called `name` was dispatched (for events known by name only).
    #[track_caller]
    pub fn assert_dispatched_named(&self, name: &str) {
        if self.recorder.count(name) == 0 {
            panic!(
                "expected `{name}` to be dispatched, but it was not. {}",
                self.summary()
            );
        }
    }
}

/// [`EventFake::only`] as a free function.
pub fn fake_only<M: Into<EventMatcher>>(events: impl IntoIterator<Item = M>) -> EventFake {
    EventFake::only(events)
}

/// [`EventFake::except`] as a free function.
pub fn fake_except<M: Into<EventMatcher>>(events: impl IntoIterator<Item = M>) -> EventFake {
    EventFake::except(events)
}

/// Runs `body` with every event dispatched by its task faked, and returns
/// what it returns. The fake ends with the future, whether it completes,
/// returns an error or panics. Tasks spawned inside are not covered.
///
/// ```
/// # use event_core::prelude::*;
/// # #[derive(Debug, Clone, serde::Serialize, serde::Deserialize, Event)]
/// # struct PingEvent;
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// event_core::testing::fake_scope(|events| async move {
///     PingEvent.dispatch().await.unwrap();
///     events.assert_dispatched_once::<PingEvent>();
/// })
/// .await;
/// # }
/// ```
pub async fn fake_scope<F, Fut, T>(body: F) -> T
where
    F: FnOnce(EventAssertions) -> Fut,
    Fut: Future<Output = T>,
{
    let recorder = Recorder::new(Filter::All);
    let fakes = Fakes {
        events: Some(recorder.clone()),
        ..Fakes::default()
    };
    let events = EventAssertions { recorder };
    let _scope = Scope::task();
    TASK_FAKES.scope(fakes, body(events)).await
}
