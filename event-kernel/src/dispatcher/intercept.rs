//! The interception seam: code that sees every dispatch before delivery,
//! without the dispatcher knowing what it is.
//!
//! Laravel's `EventFake` is a decorator swapped in for the dispatcher; in
//! Rust the dispatcher is a concrete type that callers hold, so the
//! decorator is turned inside out: interceptors register here, and every
//! dispatch on every dispatcher offers them the event first. Each decides
//! for itself whether the dispatch is in its scope (the test fakes look at
//! the thread, the task and the dispatcher), and may take the event
//! (record it instead of delivering), send queued work or broadcasts
//! elsewhere, or wrap the delivery (a task-local scope around the listener
//! calls). With none registered, a dispatch pays one atomic load.

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use arc_swap::ArcSwap;

use crate::broadcasting::Broadcaster;
use crate::dispatcher::Dispatcher;
use crate::event::Event;
use crate::handler::QueueableHandler;

/// A boxed delivery: the listeners, queueing and broadcasting of one dispatch.
pub type Delivery<'a> = Pin<Box<dyn Future<Output = ()> + Send + 'a>>;

/// What an interceptor says about one dispatch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flow {
    /// Deliver (with whatever routing the interceptors set).
    Deliver,
    /// The interceptor took the event: nothing is delivered, the dispatch succeeds.
    Taken,
}

/// One dispatch, as interceptors see it before delivery.
pub struct Interception<'a> {
    /// The dispatcher the event was dispatched on.
    pub dispatcher: &'a Dispatcher,
    /// The event.
    pub event: &'a Arc<dyn Event>,
    handler: Option<Arc<dyn QueueableHandler>>,
    broadcaster: Option<Arc<dyn Broadcaster>>,
    /// False once an interceptor replaced the broadcaster.
    installed_broadcaster: bool,
}

impl std::fmt::Debug for Interception<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Interception")
            .field("dispatcher", self.dispatcher)
            .field("event", &self.event.event_name())
            .field("handler", &self.handler.is_some())
            .field("broadcaster", &self.broadcaster.is_some())
            .finish()
    }
}

impl<'a> Interception<'a> {
    pub(super) fn new(
        dispatcher: &'a Dispatcher,
        event: &'a Arc<dyn Event>,
        handler: Option<Arc<dyn QueueableHandler>>,
        broadcaster: Option<Arc<dyn Broadcaster>>,
    ) -> Self {
        Self {
            dispatcher,
            event,
            handler,
            broadcaster,
            installed_broadcaster: true,
        }
    }

    /// Where queued listeners and events go.
    pub fn handler(&self) -> Option<&Arc<dyn QueueableHandler>> {
        self.handler.as_ref()
    }

    /// Sends this dispatch's queued listeners and events to `handler` instead.
    pub fn set_handler(&mut self, handler: Arc<dyn QueueableHandler>) {
        self.handler = Some(handler);
    }

    /// Where broadcasts go.
    pub fn broadcaster(&self) -> Option<&Arc<dyn Broadcaster>> {
        self.broadcaster.as_ref()
    }

    /// Sends this dispatch's broadcasts to `broadcaster` instead, now (a
    /// replaced broadcaster is never reached through the queue).
    pub fn set_broadcaster(&mut self, broadcaster: Arc<dyn Broadcaster>) {
        self.broadcaster = Some(broadcaster);
        self.installed_broadcaster = false;
    }

    pub(super) fn into_route(self) -> super::Route {
        (self.handler, self.broadcaster, self.installed_broadcaster)
    }
}

/// Sees dispatches before delivery: the test fakes are one; an event
/// recorder or a correlation scope around listener calls is another.
pub trait Interceptor: Send + Sync + 'static {
    /// Called for every dispatch, in registration order; the first that
    /// returns [`Flow::Taken`] ends the dispatch (later ones are not asked).
    fn before(&self, dispatch: &mut Interception<'_>) -> Flow;

    /// True when [`Interceptor::around`] wraps deliveries (boxing them);
    /// read once when the interceptor is registered.
    fn wraps_delivery(&self) -> bool {
        false
    }

    /// Wraps the delivery of one dispatch this interceptor let through, e.g.
    /// in a task-local scope that listeners read.
    fn around<'a>(&'a self, _event: &'a Arc<dyn Event>, delivery: Delivery<'a>) -> Delivery<'a> {
        delivery
    }
}

/// Identifies a registration, to remove it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct InterceptorId(u64);

struct Registered {
    id: InterceptorId,
    interceptor: Arc<dyn Interceptor>,
}

static ANY: AtomicBool = AtomicBool::new(false);
static WRAPS: AtomicBool = AtomicBool::new(false);
static NEXT_ID: AtomicU64 = AtomicU64::new(1);
static EDIT: Mutex<()> = Mutex::new(());
static LIST: std::sync::LazyLock<ArcSwap<Vec<Registered>>> =
    std::sync::LazyLock::new(|| ArcSwap::from_pointee(Vec::new()));

/// Registers `interceptor` for every dispatcher, until [`remove`].
pub fn register(interceptor: Arc<dyn Interceptor>) -> InterceptorId {
    let _edit = EDIT.lock().unwrap_or_else(|e| e.into_inner());
    let id = InterceptorId(NEXT_ID.fetch_add(1, Ordering::Relaxed));
    let mut list: Vec<Registered> = LIST
        .load()
        .iter()
        .map(|r| Registered {
            id: r.id,
            interceptor: r.interceptor.clone(),
        })
        .collect();
    list.push(Registered { id, interceptor });
    publish(list);
    id
}

/// Removes a registration; unknown ids are ignored.
pub fn remove(id: InterceptorId) {
    let _edit = EDIT.lock().unwrap_or_else(|e| e.into_inner());
    let list: Vec<Registered> = LIST
        .load()
        .iter()
        .filter(|r| r.id != id)
        .map(|r| Registered {
            id: r.id,
            interceptor: r.interceptor.clone(),
        })
        .collect();
    publish(list);
}

fn publish(list: Vec<Registered>) {
    let any = !list.is_empty();
    let wraps = list.iter().any(|r| r.interceptor.wraps_delivery());
    LIST.store(Arc::new(list));
    WRAPS.store(wraps, Ordering::Release);
    ANY.store(any, Ordering::Release);
}

/// True when no interceptor is registered: the dispatch skips the seam.
#[inline]
pub(crate) fn idle() -> bool {
    !ANY.load(Ordering::Acquire)
}

/// Offers the dispatch to every interceptor, in order.
#[inline(never)]
pub(crate) fn before(dispatch: &mut Interception<'_>) -> Flow {
    for registered in LIST.load().iter() {
        if registered.interceptor.before(dispatch) == Flow::Taken {
            return Flow::Taken;
        }
    }
    Flow::Deliver
}

/// True when some interceptor wraps deliveries.
#[inline]
pub(crate) fn wraps() -> bool {
    WRAPS.load(Ordering::Acquire)
}

/// Runs `delivery` inside every wrapping interceptor (the first registered outermost).
pub(crate) async fn around(event: &Arc<dyn Event>, delivery: Delivery<'_>) {
    let list = LIST.load_full();
    let mut delivery = delivery;
    for registered in list.iter().rev() {
        if registered.interceptor.wraps_delivery() {
            delivery = registered.interceptor.around(event, delivery);
        }
    }
    delivery.await;
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use super::*;
    use crate::fixtures::Ping;
    use crate::listener::EventListener;

    tokio::task_local! {
        static CORRELATION: u32;
    }

    /// What an event recorder with a correlation scope looks like on the
    /// seam: it sees each dispatch of its dispatcher and wraps the delivery.
    struct Recorder {
        dispatcher: Dispatcher,
        seen: Mutex<Vec<&'static str>>,
    }

    impl Interceptor for Recorder {
        fn before(&self, dispatch: &mut Interception<'_>) -> Flow {
            if dispatch.dispatcher.same_as(&self.dispatcher) {
                self.seen.lock().unwrap().push(dispatch.event.event_name());
            }
            Flow::Deliver
        }

        fn wraps_delivery(&self) -> bool {
            true
        }

        fn around<'a>(
            &'a self,
            _event: &'a Arc<dyn Event>,
            delivery: Delivery<'a>,
        ) -> Delivery<'a> {
            Box::pin(CORRELATION.scope(7, delivery))
        }
    }

    struct ReadsScope(Arc<Mutex<Vec<Option<u32>>>>);

    #[async_trait::async_trait]
    impl EventListener for ReadsScope {
        async fn handle(&self, _event: Arc<dyn Event>) -> anyhow::Result<()> {
            self.0
                .lock()
                .unwrap()
                .push(CORRELATION.try_with(|c| *c).ok());
            Ok(())
        }
    }

    #[tokio::test]
    async fn an_interceptor_sees_dispatches_and_scopes_their_listeners_until_removed() {
        let d = Dispatcher::new();
        let read = Arc::new(Mutex::new(Vec::new()));
        d.listen_name("Ping", Arc::new(ReadsScope(read.clone())));
        let recorder = Arc::new(Recorder {
            dispatcher: d.clone(),
            seen: Mutex::new(Vec::new()),
        });
        let id = register(recorder.clone());
        d.dispatch(Ping).await.unwrap();
        assert!(d.until(Ping, |_| None::<()>).await.is_none());
        remove(id);
        d.dispatch(Ping).await.unwrap();
        assert_eq!(*recorder.seen.lock().unwrap(), vec!["Ping", "Ping"]);
        assert_eq!(*read.lock().unwrap(), vec![Some(7), Some(7), None]);
    }
}
