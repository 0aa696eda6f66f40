//! [`QueueFake`]: records queued listeners and events instead of queueing them.

use std::sync::Arc;

use super::recorder::{QueueRecorder, QueuedJob};
use super::scope::{Fakes, Scope};
use super::{is_named, names_listener, summarize, type_label};
use event_kernel::Dispatcher;
use event_kernel::Event;
use event_kernel::EventListener;

// ----- QueueFake -----------------------------------------------------------------

/// Records queued listeners and queued events instead of queueing (or running)
/// them, for one test. Sync listeners still run.
pub struct QueueFake {
    recorder: Arc<QueueRecorder>,
    _scope: Scope,
}

impl std::fmt::Debug for QueueFake {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("QueueFake").finish_non_exhaustive()
    }
}

impl QueueFake {
    /// Fakes the queue for every dispatch on this thread until dropped.
    pub fn new() -> Self {
        Self::install(None)
    }

    /// Fakes the queue of `dispatcher`, from any thread or task.
    pub fn for_dispatcher(dispatcher: &Dispatcher) -> Self {
        Self::install(Some(dispatcher))
    }

    fn install(dispatcher: Option<&Dispatcher>) -> Self {
        let recorder = Arc::new(QueueRecorder::default());
        let scope = Scope::install(
            dispatcher,
            Fakes {
                queue: Some(recorder.clone()),
                ..Fakes::default()
            },
        );
        Self {
            recorder,
            _scope: scope,
        }
    }

    /// Every recorded job, oldest first.
    pub fn jobs(&self) -> Vec<QueuedJob> {
        self.recorder.jobs.all()
    }

    /// Recorded jobs of listener `L`.
    pub fn queued<L: EventListener + 'static>(&self) -> Vec<QueuedJob> {
        self.jobs()
            .into_iter()
            .filter(|j| {
                j.listener
                    .as_ref()
                    .is_some_and(|l| names_listener::<L>(l.listener_name()))
            })
            .collect()
    }

    /// Recorded jobs of the listener named `name` (its whole name or its
    /// end, `"UserEventSubscriber::on_logout"`): how a `#[subscriber]`'s
    /// `#[listen]` methods are checked.
    pub fn queued_named(&self, name: &str) -> Vec<QueuedJob> {
        self.jobs()
            .into_iter()
            .filter(|j| {
                j.listener
                    .as_ref()
                    .is_some_and(|l| is_named(l.listener_name(), name))
            })
            .collect()
    }

    /// Panics unless the listener named `name` was queued exactly `times`
    /// times (see [`QueueFake::queued_named`]).
    #[track_caller]
    pub fn assert_listener_queued_named(&self, name: &str, times: usize) {
        let count = self.queued_named(name).len();
        if count != times {
            panic!(
                "expected listener `{name}` to be queued {times} time(s), but it was queued {count} time(s). {}",
                self.summary()
            );
        }
    }

    fn summary(&self) -> String {
        summarize(self.jobs().iter().map(QueuedJob::describe))
    }

    /// Panics unless listener `L` was queued.
    #[track_caller]
    pub fn assert_listener_queued<L: EventListener + 'static>(&self) {
        if self.queued::<L>().is_empty() {
            panic!(
                "expected listener `{}` to be queued, but it was not. {}",
                std::any::type_name::<L>(),
                self.summary()
            );
        }
    }

    /// Panics unless listener `L` was queued for an `E` on a queue for which
    /// `check(event, queue)` is true. `queue` is the one the job would go
    /// to: the listener's, else `EVENTS_DEFAULT_QUEUE`. The message lists
    /// each job of `L` with its queue.
    #[track_caller]
    pub fn assert_listener_queued_with<L, E>(&self, check: impl Fn(&E, Option<&str>) -> bool)
    where
        L: EventListener + 'static,
        E: Event,
    {
        let jobs = self.queued::<L>();
        let matched = jobs.iter().any(|j| {
            j.event
                .downcast_ref::<E>()
                .is_some_and(|e| check(e, j.queue.as_deref()))
        });
        if !matched {
            let listed: Vec<String> = jobs.iter().map(QueuedJob::describe).collect();
            panic!(
                "expected listener `{}` to be queued for a `{}` matching the given check; {} job(s) of that listener, none matched{}{}. {}",
                std::any::type_name::<L>(),
                type_label::<E>(),
                jobs.len(),
                if listed.is_empty() { "" } else { ": " },
                listed.join(", "),
                self.summary()
            );
        }
    }

    /// Panics unless listener `L` was queued exactly `times` times.
    #[track_caller]
    pub fn assert_listener_queued_times<L: EventListener + 'static>(&self, times: usize) {
        let count = self.queued::<L>().len();
        if count != times {
            panic!(
                "expected listener `{}` to be queued {times} time(s), but it was queued {count} time(s). {}",
                std::any::type_name::<L>(),
                self.summary()
            );
        }
    }

    /// Panics if listener `L` was queued.
    #[track_caller]
    pub fn assert_listener_not_queued<L: EventListener + 'static>(&self) {
        let count = self.queued::<L>().len();
        if count > 0 {
            panic!(
                "expected listener `{}` not to be queued, but it was queued {count} time(s). {}",
                std::any::type_name::<L>(),
                self.summary()
            );
        }
    }

    /// Panics unless a queued event of type `E` was pushed.
    #[track_caller]
    pub fn assert_event_queued<E: Event>(&self) {
        let found = self
            .jobs()
            .iter()
            .any(|j| j.listener.is_none() && j.event.is::<E>());
        if !found {
            panic!(
                "expected event `{}` to be queued, but it was not. {}",
                type_label::<E>(),
                self.summary()
            );
        }
    }

    /// Panics if anything was queued.
    #[track_caller]
    pub fn assert_nothing_queued(&self) {
        if !self.jobs().is_empty() {
            panic!("expected nothing to be queued. {}", self.summary());
        }
    }
}

impl Default for QueueFake {
    fn default() -> Self {
        Self::new()
    }
}
