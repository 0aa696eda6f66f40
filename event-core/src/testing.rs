//! Faking events, queued listeners and broadcasts in tests.
//!
//! Two families:
//!
//! - The seed's process-wide [`fake`] / [`restore`] / `EventFacade::assert_*`
//!   on the global dispatcher. Simple, but `cargo test` runs tests on parallel
//!   threads, and two tests faking the global dispatcher see each other's events.
//! - Scoped fakes that parallel tests can use safely: [`EventFake`],
//!   [`QueueFake`] and [`BroadcastFake`]. Each is bound to one of
//!   * the current thread (`::new()`), which is the test: `cargo test` gives
//!     every test its own thread and `#[tokio::test]` runs the test body on it.
//!     Ended when the value is dropped, also when the test panics;
//!   * an explicit dispatcher (`::for_dispatcher(&d)`), for code that dispatches
//!     from spawned tasks on other threads;
//!   * a tokio task ([`fake_scope`]), for a block of async code.
//!
//! ```
//! use event_core::prelude::*;
//! use event_core::testing::EventFake;
//!
//! #[derive(Debug, Clone, serde::Serialize, serde::Deserialize, Event)]
//! struct OrderShippedEvent { order_id: String }
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> anyhow::Result<()> {
//! let events = EventFake::new();
//! OrderShippedEvent { order_id: "1".into() }.dispatch().await?;
//! events.assert_dispatched_with::<OrderShippedEvent>(|e| e.order_id == "1");
//! # Ok(())
//! # }
//! ```

use std::any::TypeId;
use std::cell::RefCell;
use std::collections::BTreeMap;
use std::future::Future;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use anyhow::Result;
use arc_swap::ArcSwapOption;
use async_trait::async_trait;

use crate::broadcasting::{BroadcastMessage, Broadcaster};
use crate::dispatcher::Dispatcher;
use crate::event::{Event, downcast_arc};
use crate::listener::{EventListener, QueueableHandler};

/// How many fakes exist right now; dispatch skips every fake check at zero.
static ACTIVE: AtomicUsize = AtomicUsize::new(0);
static NEXT_SCOPE: AtomicU64 = AtomicU64::new(1);
static GLOBAL_FAKE: ArcSwapOption<Recorder> = ArcSwapOption::const_empty();

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

// ----- which events a fake keeps ---------------------------------------------

/// An event named by its name or by its type, for [`fake_only`] / [`fake_except`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EventMatcher {
    Name(String),
    Type(TypeId, &'static str),
}

impl EventMatcher {
    /// Matches events of type `E`.
    pub fn of<E: Event>() -> Self {
        Self::Type(TypeId::of::<E>(), std::any::type_name::<E>())
    }

    fn matches(&self, event: &dyn Event) -> bool {
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
enum Filter {
    All,
    Only(Vec<EventMatcher>),
    Except(Vec<EventMatcher>),
}

// ----- recorders ---------------------------------------------------------------

/// The events a fake has swallowed.
#[derive(Debug)]
pub(crate) struct Recorder {
    filter: Filter,
    events: Mutex<Vec<Arc<dyn Event>>>,
}

impl Recorder {
    fn new(filter: Filter) -> Arc<Self> {
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

    pub(crate) fn events(&self) -> Vec<Arc<dyn Event>> {
        lock(&self.events).clone()
    }

    pub(crate) fn count(&self, name: &str) -> usize {
        lock(&self.events)
            .iter()
            .filter(|e| e.event_name() == name)
            .count()
    }
}

/// A job a [`QueueFake`] recorded instead of queueing it.
#[derive(Clone)]
pub struct QueuedJob {
    /// The queued listener; `None` for a queued event.
    pub listener: Option<Arc<dyn EventListener>>,
    pub event: Arc<dyn Event>,
    /// The queue it was meant for (listener's or event's setting), if any.
    pub queue: Option<String>,
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
    fn describe(&self) -> String {
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

#[derive(Default)]
struct QueueRecorder {
    jobs: Mutex<Vec<QueuedJob>>,
}

#[async_trait]
impl QueueableHandler for QueueRecorder {
    async fn queue_event(&self, event: Arc<dyn Event>) -> Result<()> {
        let settings = event.as_should_queue();
        let queue = settings
            .and_then(|s| s.queue())
            .or_else(|| event.queue_name())
            .map(str::to_string);
        let connection = settings
            .and_then(|s| s.queue_connection())
            .map(str::to_string);
        lock(&self.jobs).push(QueuedJob {
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
        lock(&self.jobs).push(QueuedJob {
            listener: Some(listener),
            event,
            queue: options.queue,
            connection: options.connection,
        });
        Ok(())
    }
}

#[derive(Default)]
struct BroadcastRecorder {
    messages: Mutex<Vec<BroadcastMessage>>,
}

#[async_trait]
impl Broadcaster for BroadcastRecorder {
    async fn broadcast(&self, message: &BroadcastMessage) -> Result<()> {
        lock(&self.messages).push(message.clone());
        Ok(())
    }
}

// ----- scopes ------------------------------------------------------------------

/// The fakes that apply in one scope; each part is optional.
#[derive(Clone, Default)]
pub(crate) struct Fakes {
    events: Option<Arc<Recorder>>,
    queue: Option<Arc<QueueRecorder>>,
    broadcasts: Option<Arc<BroadcastRecorder>>,
}

impl Fakes {
    fn fill_from(&mut self, other: &Fakes) {
        if self.events.is_none() {
            self.events.clone_from(&other.events);
        }
        if self.queue.is_none() {
            self.queue.clone_from(&other.queue);
        }
        if self.broadcasts.is_none() {
            self.broadcasts.clone_from(&other.broadcasts);
        }
    }

    /// True when the event fake took the event (recorded, not delivered).
    pub(crate) fn intercept(&self, event: &Arc<dyn Event>) -> bool {
        match &self.events {
            Some(recorder) if recorder.intercepts(&**event) => {
                lock(&recorder.events).push(event.clone());
                true
            }
            _ => false,
        }
    }

    pub(crate) fn queue_handler(&self) -> Option<Arc<dyn QueueableHandler>> {
        self.queue.clone().map(|q| q as Arc<dyn QueueableHandler>)
    }

    pub(crate) fn broadcaster(&self) -> Option<Arc<dyn Broadcaster>> {
        self.broadcasts.clone().map(|b| b as Arc<dyn Broadcaster>)
    }
}

thread_local! {
    /// Fakes bound to this thread, innermost last.
    static THREAD_FAKES: RefCell<Vec<(u64, Fakes)>> = const { RefCell::new(Vec::new()) };
}

tokio::task_local! {
    static TASK_FAKES: Fakes;
}

/// Fakes bound to dispatcher instances, by dispatcher id.
static DISPATCHER_FAKES: Mutex<BTreeMap<u64, Vec<(u64, Fakes)>>> = Mutex::new(BTreeMap::new());

/// The fakes that apply to a dispatch on `dispatcher` here and now, innermost
/// scope first: task, thread, dispatcher, then the global fake (global
/// dispatcher only). `None`, cheaply, when no fake exists anywhere.
#[inline]
pub(crate) fn active(dispatcher: &Dispatcher) -> Option<Fakes> {
    if ACTIVE.load(Ordering::Relaxed) == 0 {
        return None;
    }
    active_slow(dispatcher)
}

#[inline(never)]
fn active_slow(dispatcher: &Dispatcher) -> Option<Fakes> {
    let mut fakes = TASK_FAKES.try_with(Fakes::clone).unwrap_or_default();
    THREAD_FAKES.with(|stack| {
        if let Ok(stack) = stack.try_borrow() {
            for (_, f) in stack.iter().rev() {
                fakes.fill_from(f);
            }
        }
    });
    if let Some(stack) = lock(&DISPATCHER_FAKES).get(&dispatcher.id()) {
        for (_, f) in stack.iter().rev() {
            fakes.fill_from(f);
        }
    }
    if fakes.events.is_none() && dispatcher.is_global() {
        fakes.events = GLOBAL_FAKE.load_full();
    }
    Some(fakes)
}

/// Where a scoped fake is installed; removing it happens on drop.
enum Binding {
    Thread(u64),
    Dispatcher(u64, u64),
    /// Task-local: the scope ends with the future, nothing to remove.
    Task,
}

struct Scope {
    binding: Binding,
}

impl Scope {
    /// Installs `fakes` on `dispatcher`, or on this thread when `None`.
    fn install(dispatcher: Option<&Dispatcher>, fakes: Fakes) -> Self {
        match dispatcher {
            Some(d) => Self::dispatcher(d, fakes),
            None => Self::thread(fakes),
        }
    }

    fn thread(fakes: Fakes) -> Self {
        let id = NEXT_SCOPE.fetch_add(1, Ordering::Relaxed);
        ACTIVE.fetch_add(1, Ordering::Relaxed);
        THREAD_FAKES.with(|stack| stack.borrow_mut().push((id, fakes)));
        Self {
            binding: Binding::Thread(id),
        }
    }

    fn dispatcher(dispatcher: &Dispatcher, fakes: Fakes) -> Self {
        let id = NEXT_SCOPE.fetch_add(1, Ordering::Relaxed);
        ACTIVE.fetch_add(1, Ordering::Relaxed);
        lock(&DISPATCHER_FAKES)
            .entry(dispatcher.id())
            .or_default()
            .push((id, fakes));
        Self {
            binding: Binding::Dispatcher(dispatcher.id(), id),
        }
    }

    fn task() -> Self {
        ACTIVE.fetch_add(1, Ordering::Relaxed);
        Self {
            binding: Binding::Task,
        }
    }
}

impl Drop for Scope {
    fn drop(&mut self) {
        match self.binding {
            Binding::Thread(id) => {
                // `try_with`: the thread may be shutting down its locals.
                let _ = THREAD_FAKES.try_with(|stack| {
                    if let Ok(mut stack) = stack.try_borrow_mut() {
                        stack.retain(|(i, _)| *i != id);
                    }
                });
            }
            Binding::Dispatcher(dispatcher, id) => {
                let mut all = lock(&DISPATCHER_FAKES);
                if let Some(stack) = all.get_mut(&dispatcher) {
                    stack.retain(|(i, _)| *i != id);
                    if stack.is_empty() {
                        all.remove(&dispatcher);
                    }
                }
            }
            Binding::Task => {}
        }
        ACTIVE.fetch_sub(1, Ordering::Relaxed);
    }
}

// ----- EventFake -----------------------------------------------------------------

/// Records dispatched events instead of delivering them, for one test.
///
/// Typed assertions panic with a message listing what was dispatched.
pub struct EventFake {
    assertions: EventAssertions,
    _scope: Scope,
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

impl EventAssertions {
    /// Every recorded event, oldest first.
    pub fn events(&self) -> Vec<Arc<dyn Event>> {
        self.recorder.events()
    }

    /// The recorded events of type `E`, oldest first.
    pub fn dispatched<E: Event>(&self) -> Vec<Arc<E>> {
        self.events()
            .into_iter()
            .filter_map(|e| downcast_arc::<E>(e).ok())
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

// ----- QueueFake -----------------------------------------------------------------

/// Records queued listeners and queued events instead of queueing (or running)
/// them, for one test. Sync listeners still run.
pub struct QueueFake {
    recorder: Arc<QueueRecorder>,
    _scope: Scope,
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
        lock(&self.recorder.jobs).clone()
    }

    /// Recorded jobs of listener `L`.
    pub fn queued<L: EventListener + 'static>(&self) -> Vec<QueuedJob> {
        let name = std::any::type_name::<L>();
        self.jobs()
            .into_iter()
            .filter(|j| {
                j.listener
                    .as_ref()
                    .is_some_and(|l| l.listener_name() == name)
            })
            .collect()
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
    /// `check(event, queue)` is true.
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
            panic!(
                "expected listener `{}` to be queued for a `{}` matching the given check; {} job(s) of that listener, none matched. {}",
                std::any::type_name::<L>(),
                type_label::<E>(),
                jobs.len(),
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

// ----- BroadcastFake -------------------------------------------------------------

/// Records broadcasts instead of sending them, for one test. Events are still
/// delivered to their listeners.
pub struct BroadcastFake {
    recorder: Arc<BroadcastRecorder>,
    _scope: Scope,
}

impl BroadcastFake {
    /// Fakes broadcasting for every dispatch on this thread until dropped.
    pub fn new() -> Self {
        Self::install(None)
    }

    /// Fakes broadcasting of `dispatcher`, from any thread or task.
    pub fn for_dispatcher(dispatcher: &Dispatcher) -> Self {
        Self::install(Some(dispatcher))
    }

    fn install(dispatcher: Option<&Dispatcher>) -> Self {
        let recorder = Arc::new(BroadcastRecorder::default());
        let scope = Scope::install(
            dispatcher,
            Fakes {
                broadcasts: Some(recorder.clone()),
                ..Fakes::default()
            },
        );
        Self {
            recorder,
            _scope: scope,
        }
    }

    /// Every recorded broadcast, oldest first.
    pub fn messages(&self) -> Vec<BroadcastMessage> {
        lock(&self.recorder.messages).clone()
    }

    /// Broadcasts sent on `channel`.
    pub fn on_channel(&self, channel: &str) -> Vec<BroadcastMessage> {
        self.messages()
            .into_iter()
            .filter(|m| m.channels.iter().any(|c| c == channel))
            .collect()
    }

    fn summary(&self) -> String {
        summarize(
            self.messages()
                .iter()
                .map(|m| format!("{} on {}", m.event, m.channels.join(", "))),
        )
    }

    /// Panics unless something was broadcast on `channel` (full name, with
    /// any `private-` / `presence-` prefix).
    #[track_caller]
    pub fn assert_broadcast_on(&self, channel: &str) {
        if self.on_channel(channel).is_empty() {
            panic!(
                "expected a broadcast on `{channel}`, but there was none. {}",
                self.summary()
            );
        }
    }

    /// Panics unless a broadcast on `channel` satisfies `check`.
    #[track_caller]
    pub fn assert_broadcast_on_with(
        &self,
        channel: &str,
        check: impl Fn(&BroadcastMessage) -> bool,
    ) {
        if !self.on_channel(channel).iter().any(check) {
            panic!(
                "expected a broadcast on `{channel}` matching the given check, but none matched. {}",
                self.summary()
            );
        }
    }

    /// Panics if anything was broadcast on `channel`.
    #[track_caller]
    pub fn assert_not_broadcast_on(&self, channel: &str) {
        let count = self.on_channel(channel).len();
        if count > 0 {
            panic!(
                "expected no broadcast on `{channel}`, but there were {count}. {}",
                self.summary()
            );
        }
    }

    /// Panics if anything was broadcast.
    #[track_caller]
    pub fn assert_nothing_broadcast(&self) {
        if !self.messages().is_empty() {
            panic!("expected nothing to be broadcast. {}", self.summary());
        }
    }
}

impl Default for BroadcastFake {
    fn default() -> Self {
        Self::new()
    }
}

// ----- registry assertions -------------------------------------------------------

/// Panics unless listener `L` is registered for event `E` on `dispatcher`
/// (Laravel's `Event::assertListening`). Pair it with the generated
/// `event_registry::register_on(&dispatcher)`.
#[track_caller]
pub fn assert_listening<E: Event, L: EventListener + 'static>(dispatcher: &Dispatcher) {
    let event = E::static_event_name();
    let wanted = std::any::type_name::<L>();
    let listeners = dispatcher.listeners_for(&event);
    if !listeners.iter().any(|l| l.listener_name() == wanted) {
        let names: Vec<&str> = listeners.iter().map(|l| l.listener_name()).collect();
        panic!(
            "expected listener `{wanted}` to listen to `{event}`; its listeners are: {}",
            if names.is_empty() {
                "none".to_string()
            } else {
                names.join(", ")
            }
        );
    }
}

fn type_label<E>() -> &'static str {
    let full = std::any::type_name::<E>();
    full.rsplit("::").next().unwrap_or(full)
}

/// "Dispatched: A (2), B (1)." or "Nothing was dispatched."
fn summarize(items: impl Iterator<Item = String>) -> String {
    let mut counts: Vec<(String, usize)> = Vec::new();
    for item in items {
        match counts.iter_mut().find(|(n, _)| *n == item) {
            Some((_, c)) => *c += 1,
            None => counts.push((item, 1)),
        }
    }
    if counts.is_empty() {
        return "Nothing was recorded.".to_string();
    }
    let list: Vec<String> = counts.iter().map(|(n, c)| format!("{n} ({c})")).collect();
    format!("Recorded: {}.", list.join(", "))
}

// ----- the seed's global fake ----------------------------------------------------

pub(crate) fn global_recorder() -> Option<Arc<Recorder>> {
    GLOBAL_FAKE.load_full()
}

/// Fakes the global dispatcher: dispatched events are recorded, not delivered.
/// Process-wide, like the seed's; parallel tests should use [`EventFake`].
pub async fn fake() {
    let previous = GLOBAL_FAKE.swap(Some(Recorder::new(Filter::All)));
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
