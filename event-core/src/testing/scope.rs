//! Where fakes apply (a thread, a task, a dispatcher, the global
//! dispatcher), and the interceptor that applies them to each dispatch.

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock};

use arc_swap::ArcSwapOption;

use super::lock;
use super::recorder::{BroadcastRecorder, Filter, QueueRecorder, Recorder};
use event_kernel::Dispatcher;
use event_kernel::Event;
use event_kernel::QueueableHandler;
use event_kernel::broadcasting::Broadcaster;
use event_kernel::intercept::{self, Flow, Interception, Interceptor};

/// How many fakes exist right now; the interceptor does nothing at zero.
static ACTIVE: AtomicUsize = AtomicUsize::new(0);
static NEXT_SCOPE: AtomicU64 = AtomicU64::new(1);
static GLOBAL_FAKE: ArcSwapOption<Recorder> = ArcSwapOption::const_empty();

/// The fakes that apply in one scope; each part is optional.
#[derive(Clone, Default)]
pub(crate) struct Fakes {
    pub(crate) events: Option<Arc<Recorder>>,
    pub(crate) queue: Option<Arc<QueueRecorder>>,
    pub(crate) broadcasts: Option<Arc<BroadcastRecorder>>,
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
                recorder.events.push(event.clone());
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
    pub(crate) static TASK_FAKES: Fakes;
}

/// Fakes bound to dispatcher instances, by dispatcher id.
static DISPATCHER_FAKES: Mutex<BTreeMap<u64, Vec<(u64, Fakes)>>> = Mutex::new(BTreeMap::new());

/// The fakes that apply to a dispatch on `dispatcher` here and now, innermost
/// scope first: task, thread, dispatcher, then the global fake (global
/// dispatcher only).
fn active(dispatcher: &Dispatcher) -> Fakes {
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
    fakes
}

/// The fakes, as the dispatcher sees them: one interceptor among others,
/// registered the first time a fake is made and idle while none is active.
struct FakeInterceptor;

impl Interceptor for FakeInterceptor {
    fn before(&self, dispatch: &mut Interception<'_>) -> Flow {
        if ACTIVE.load(Ordering::Acquire) == 0 {
            return Flow::Deliver;
        }
        let fakes = active(dispatch.dispatcher);
        if fakes.intercept(dispatch.event) {
            return Flow::Taken;
        }
        if let Some(queue) = fakes.queue_handler() {
            dispatch.set_handler(queue);
        }
        if let Some(broadcaster) = fakes.broadcaster() {
            dispatch.set_broadcaster(broadcaster);
        }
        Flow::Deliver
    }
}

/// Counts one more active fake, registering the interceptor on first use.
fn activate() {
    static REGISTERED: OnceLock<()> = OnceLock::new();
    REGISTERED.get_or_init(|| {
        intercept::register(Arc::new(FakeInterceptor));
    });
    ACTIVE.fetch_add(1, Ordering::AcqRel);
}

fn deactivate() {
    ACTIVE.fetch_sub(1, Ordering::AcqRel);
}

/// Where a scoped fake is installed; removing it happens on drop.
enum Binding {
    Thread(u64),
    Dispatcher(u64, u64),
    /// Task-local: the scope ends with the future, nothing to remove.
    Task,
}

pub(crate) struct Scope {
    binding: Binding,
}

impl Scope {
    /// Installs `fakes` on `dispatcher`, or on this thread when `None`.
    pub(crate) fn install(dispatcher: Option<&Dispatcher>, fakes: Fakes) -> Self {
        match dispatcher {
            Some(d) => Self::dispatcher(d, fakes),
            None => Self::thread(fakes),
        }
    }

    fn thread(fakes: Fakes) -> Self {
        let id = NEXT_SCOPE.fetch_add(1, Ordering::Relaxed);
        activate();
        THREAD_FAKES.with(|stack| stack.borrow_mut().push((id, fakes)));
        Self {
            binding: Binding::Thread(id),
        }
    }

    fn dispatcher(dispatcher: &Dispatcher, fakes: Fakes) -> Self {
        let id = NEXT_SCOPE.fetch_add(1, Ordering::Relaxed);
        activate();
        lock(&DISPATCHER_FAKES)
            .entry(dispatcher.id())
            .or_default()
            .push((id, fakes));
        Self {
            binding: Binding::Dispatcher(dispatcher.id(), id),
        }
    }

    pub(crate) fn task() -> Self {
        activate();
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
        deactivate();
    }
}

// ----- the seed's global fake ----------------------------------------------------

pub(crate) fn global_recorder() -> Option<Arc<Recorder>> {
    GLOBAL_FAKE.load_full()
}

/// Starts (or restarts, with an empty record) the global dispatcher's fake.
pub(crate) fn fake_global() {
    let previous = GLOBAL_FAKE.swap(Some(Recorder::new(Filter::All)));
    if previous.is_none() {
        activate();
    }
}

/// Ends the global fake.
pub(crate) fn restore_global() {
    if GLOBAL_FAKE.swap(None).is_some() {
        deactivate();
    }
}

pub(crate) fn faking_global() -> bool {
    GLOBAL_FAKE.load().is_some()
}
