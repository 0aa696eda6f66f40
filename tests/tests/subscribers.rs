//! Event subscribers (`#[subscriber]` / `#[listen]`), stopping propagation
//! (`Result<Propagation>`, `stop_propagation()`) and conditional queueing
//! (`queue_if`, `EventListener::queue_if`), through the public API; queued
//! ones with a real worker on memory, sqlite, and redis and postgres when
//! their test URLs are set.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use event_core::ListenerOptions;
use event_core::prelude::*;
use event_core::queue::{Queue, Worker};
use event_core::testing::{QueueFake, assert_listening_named};
use serde::{Deserialize, Serialize};

// ----- events ---------------------------------------------------------------

#[derive(Debug, Clone, Serialize, Deserialize, Event)]
pub struct Login {
    pub user: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, Event)]
pub struct Logout {
    pub user: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, Event)]
pub struct OrderPlaced {
    pub total: u32,
}

// ----- a subscriber -----------------------------------------------------------

#[derive(Default, Clone)]
pub struct Log(Arc<Mutex<Vec<String>>>);

impl Log {
    fn push(&self, line: impl Into<String>) {
        self.0.lock().unwrap().push(line.into());
    }
    fn lines(&self) -> Vec<String> {
        self.0.lock().unwrap().clone()
    }
}

pub struct UserEventSubscriber {
    log: Log,
}

#[subscriber]
impl UserEventSubscriber {
    #[listen]
    async fn on_login(&self, event: &Login) -> anyhow::Result<()> {
        self.log.push(format!("login {}", event.user));
        Ok(())
    }

    #[listen(queued, tries = 3, queue = "auth", backoff = [1, 5], timeout = 30)]
    async fn on_logout(&self, event: &Logout) -> anyhow::Result<()> {
        self.log.push(format!("logout {}", event.user));
        Ok(())
    }

    /// `event = ...` may be written; a plain helper method stays a method.
    #[listen(event = Login, name = "audit-login")]
    async fn audit(&self, event: &Login) -> anyhow::Result<()> {
        self.log.push(self.describe(event));
        Ok(())
    }

    fn describe(&self, event: &Login) -> String {
        format!("audit {}", event.user)
    }
}

#[tokio::test]
async fn a_subscriber_registers_each_method_as_a_listener_of_its_own() {
    let log = Log::default();
    let events = Dispatcher::new();
    events
        .subscribe(UserEventSubscriber { log: log.clone() })
        .await;

    let names: Vec<String> = events
        .listeners_for("Login")
        .iter()
        .map(|l| l.listener_name().to_string())
        .collect();
    assert_eq!(
        names,
        [
            "tests::UserEventSubscriber::on_login".to_string(),
            "audit-login".to_string()
        ]
    );
    assert_listening_named::<Login>(&events, "UserEventSubscriber::on_login");
    assert_listening_named::<Logout>(&events, "UserEventSubscriber::on_logout");

    events.dispatch(Login { user: "ada".into() }).await.unwrap();
    // No queue installed: the queued method runs inline.
    events
        .dispatch(Logout { user: "ada".into() })
        .await
        .unwrap();
    assert_eq!(log.lines(), ["login ada", "audit ada", "logout ada"]);
}

#[tokio::test]
async fn a_listen_method_takes_every_listener_key() {
    let events = Dispatcher::new();
    events
        .subscribe(UserEventSubscriber {
            log: Log::default(),
        })
        .await;
    let logout = events.listeners_for("Logout");
    let options: ListenerOptions = logout[0].options();
    assert!(options.queued);
    assert_eq!(options.queue.as_deref(), Some("auth"));
    assert_eq!(options.tries, Some(3));
    assert_eq!(
        options.backoff,
        [chrono::Duration::seconds(1), chrono::Duration::seconds(5)]
    );
    assert_eq!(options.timeout, Some(chrono::Duration::seconds(30)));
    assert!(!events.listeners_for("Login")[0].options().queued);
}

#[tokio::test]
async fn a_queued_method_is_queued_under_its_own_name() {
    let events = Dispatcher::new();
    let queue = QueueFake::for_dispatcher(&events);
    let log = Log::default();
    events
        .subscribe(UserEventSubscriber { log: log.clone() })
        .await;
    events
        .dispatch(Logout { user: "bob".into() })
        .await
        .unwrap();
    events.dispatch(Login { user: "bob".into() }).await.unwrap();
    queue.assert_listener_queued_named("UserEventSubscriber::on_logout", 1);
    queue.assert_listener_queued_named("UserEventSubscriber::on_login", 0);
    assert_eq!(log.lines(), ["login bob", "audit bob"]);
}

#[tokio::test]
async fn subscribe_once_adds_nothing_the_second_time() {
    let events = Dispatcher::new();
    let log = Log::default();
    let subscriber = Arc::new(UserEventSubscriber { log: log.clone() });
    assert_eq!(
        event_core::subscribe_once(&events, subscriber.clone()).await,
        3
    );
    assert_eq!(event_core::subscribe_once(&events, subscriber).await, 0);
    events.dispatch(Login { user: "cy".into() }).await.unwrap();
    assert_eq!(log.lines(), ["login cy", "audit cy"]);
}

/// A subscriber written by hand: `Subscriber` with the visitor.
struct HandSubscriber(Log);

struct HandLogin(Log);

#[async_trait]
impl EventListener for HandLogin {
    async fn handle(&self, _: Arc<dyn Event>) -> anyhow::Result<()> {
        self.0.push("hand login");
        Ok(())
    }
    fn listener_name(&self) -> &str {
        "HandSubscriber::login"
    }
}

impl Subscriber for HandSubscriber {
    fn subscribe<T: event_core::Subscriptions>(self: Arc<Self>, to: &mut T) {
        to.listen::<Login>(Arc::new(HandLogin(self.0.clone())));
    }
}

#[tokio::test]
async fn a_hand_written_subscriber_registers_through_the_same_call() {
    let log = Log::default();
    let events = Dispatcher::new();
    events.subscribe(HandSubscriber(log.clone())).await;
    assert_listening_named::<Login>(&events, "HandSubscriber::login");
    events.dispatch(Login { user: "fay".into() }).await.unwrap();
    assert_eq!(log.lines(), ["hand login"]);
}

fn subscribed() -> Dispatcher {
    let events = Dispatcher::new();
    tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap()
        .block_on(events.subscribe(UserEventSubscriber {
            log: Log::default(),
        }));
    events
}

#[test]
fn assert_listening_named_takes_the_whole_name_or_its_last_segments() {
    let events = subscribed();
    assert_listening_named::<Login>(&events, "tests::UserEventSubscriber::on_login");
    assert_listening_named::<Login>(&events, "UserEventSubscriber::on_login");
    assert_listening_named::<Login>(&events, "on_login");
}

#[test]
#[should_panic(
    expected = "expected listener `n_login` to listen to `Login`; its listeners are: \
                           tests::UserEventSubscriber::on_login, audit-login"
)]
fn assert_listening_named_does_not_match_inside_a_segment() {
    assert_listening_named::<Login>(&subscribed(), "n_login");
}

// ----- stopping propagation -----------------------------------------------------

static RAN: Mutex<Vec<&'static str>> = Mutex::new(Vec::new());
static RAN_LOCK: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

fn ran() -> Vec<&'static str> {
    std::mem::take(&mut *RAN.lock().unwrap())
}

#[listener(event = OrderPlaced)]
async fn first(_: &OrderPlaced) -> anyhow::Result<()> {
    RAN.lock().unwrap().push("first");
    Ok(())
}

#[listener(event = OrderPlaced)]
async fn gate(event: &OrderPlaced) -> anyhow::Result<Propagation> {
    RAN.lock().unwrap().push("gate");
    Ok(if event.total == 0 {
        Propagation::Stop
    } else {
        Propagation::Continue
    })
}

#[listener(event = OrderPlaced)]
async fn last(_: &OrderPlaced) -> anyhow::Result<()> {
    RAN.lock().unwrap().push("last");
    Ok(())
}

/// A hand-written listener that stops, with a `failed` hook that must not run.
struct HandStop;

#[async_trait]
impl EventListener for HandStop {
    async fn handle(&self, _: Arc<dyn Event>) -> anyhow::Result<()> {
        RAN.lock().unwrap().push("hand");
        stop_propagation()
    }
    async fn failed(&self, _: Arc<dyn Event>, _: &anyhow::Error) -> anyhow::Result<()> {
        RAN.lock().unwrap().push("failed hook");
        Ok(())
    }
}

#[tokio::test]
async fn a_listener_returning_stop_ends_the_dispatch_successfully() {
    let _turn = RAN_LOCK.lock().await;
    ran();
    let events = Dispatcher::new();
    events.listen::<OrderPlaced>(Arc::new(FirstListener)).await;
    events.listen::<OrderPlaced>(Arc::new(GateListener)).await;
    events.listen::<OrderPlaced>(Arc::new(LastListener)).await;

    events.dispatch(OrderPlaced { total: 0 }).await.unwrap();
    assert_eq!(ran(), ["first", "gate"]);

    events.dispatch(OrderPlaced { total: 5 }).await.unwrap();
    assert_eq!(ran(), ["first", "gate", "last"]);

    // `until` stops there too, with no answer.
    let answer = events.until(OrderPlaced { total: 0 }, |_| None::<()>).await;
    assert_eq!(answer, None);
    assert_eq!(ran(), ["first", "gate"]);
}

#[tokio::test]
async fn stop_propagation_stops_wildcards_and_calls_no_failed_hook() {
    let _turn = RAN_LOCK.lock().await;
    ran();
    let events = Dispatcher::new();
    events.listen::<OrderPlaced>(Arc::new(HandStop)).await;
    events.listen_wildcard(Arc::new(LastListener)).await;
    // With a queue installed the dispatch takes the longer path: same result.
    let queue = QueueFake::for_dispatcher(&events);
    events.dispatch(OrderPlaced { total: 1 }).await.unwrap();
    assert_eq!(ran(), ["hand"]);
    queue.assert_nothing_queued();
}

#[tokio::test]
async fn a_subscriber_method_can_stop_propagation() {
    struct Guard;
    #[subscriber]
    impl Guard {
        #[listen]
        async fn check(&self, event: &OrderPlaced) -> anyhow::Result<Propagation> {
            RAN.lock().unwrap().push("guard");
            Ok(if event.total > 100 {
                Propagation::Stop
            } else {
                Propagation::Continue
            })
        }
    }
    let _turn = RAN_LOCK.lock().await;
    ran();
    let events = Dispatcher::new();
    events.subscribe(Guard).await;
    events.listen::<OrderPlaced>(Arc::new(LastListener)).await;
    events.dispatch(OrderPlaced { total: 500 }).await.unwrap();
    assert_eq!(ran(), ["guard"]);
}

#[tokio::test]
async fn stop_propagation_outside_a_dispatch_is_an_error_saying_why() {
    let error = HandStop
        .handle(Arc::new(OrderPlaced { total: 1 }))
        .await
        .unwrap_err();
    assert!(
        error
            .to_string()
            .contains("a queued listener cannot stop propagation"),
        "{error}"
    );
    RAN.lock().unwrap().clear();
}

// ----- conditional queueing -------------------------------------------------------

pub struct ChargeLarge {
    log: Log,
}

#[listener(event = OrderPlaced, queued, queue_if = Self::is_large)]
impl ChargeLarge {
    async fn handle(&self, event: &OrderPlaced) -> anyhow::Result<()> {
        self.log.push(format!("charged {}", event.total));
        Ok(())
    }

    fn is_large(event: &OrderPlaced) -> bool {
        event.total >= 100
    }
}

pub struct Notifier {
    log: Log,
}

#[subscriber]
impl Notifier {
    #[listen(queued, queue_if = Self::worth_it)]
    async fn notify(&self, event: &OrderPlaced) -> anyhow::Result<()> {
        self.log.push(format!("notified {}", event.total));
        Ok(())
    }

    fn worth_it(event: &OrderPlaced) -> bool {
        event.total.is_multiple_of(2)
    }
}

/// A hand-written listener deciding through the trait method.
struct HandConditional(Log);

#[async_trait]
impl EventListener for HandConditional {
    async fn handle(&self, event: Arc<dyn Event>) -> anyhow::Result<()> {
        let order = event.downcast_ref::<OrderPlaced>().unwrap();
        self.0.push(format!("hand {}", order.total));
        Ok(())
    }
    fn should_queue(&self) -> bool {
        true
    }
    fn queue_if(&self, event: &dyn Event) -> bool {
        event
            .downcast_ref::<OrderPlaced>()
            .is_some_and(|o| o.total != 7)
    }
}

async fn conditional(events: &Dispatcher, log: &Log) {
    events
        .listen::<OrderPlaced>(Arc::new(ChargeLarge { log: log.clone() }))
        .await;
    events.subscribe(Notifier { log: log.clone() }).await;
    events
        .listen::<OrderPlaced>(Arc::new(HandConditional(log.clone())))
        .await;
}

#[tokio::test]
async fn queue_if_false_means_not_queued_and_not_run() {
    let events = Dispatcher::new();
    let queue = QueueFake::for_dispatcher(&events);
    let log = Log::default();
    conditional(&events, &log).await;
    for total in [5, 7, 150] {
        events.dispatch(OrderPlaced { total }).await.unwrap();
    }
    queue.assert_listener_queued_times::<ChargeLarge>(1);
    queue.assert_listener_queued_named("Notifier::notify", 1);
    queue.assert_listener_queued_times::<HandConditional>(2);
    assert!(log.lines().is_empty(), "{:?}", log.lines());
}

#[tokio::test]
async fn queue_if_is_asked_when_queued_listeners_run_inline() {
    let events = Dispatcher::new();
    let log = Log::default();
    conditional(&events, &log).await;
    for total in [5, 7, 150] {
        events.dispatch(OrderPlaced { total }).await.unwrap();
    }
    assert_eq!(
        log.lines(),
        ["hand 5", "charged 150", "notified 150", "hand 150"]
    );
}

// ----- on real connections ----------------------------------------------------------

async fn until_lines(log: &Log, n: usize) -> Vec<String> {
    let deadline = Instant::now() + Duration::from_secs(20);
    while log.lines().len() < n && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // Anything more would show up now.
    tokio::time::sleep(Duration::from_millis(200)).await;
    let mut lines = log.lines();
    lines.sort();
    lines
}

/// Dispatches on `queue`, runs a worker on it, and checks what ran: the
/// queued subscriber method, and only the `queue_if` listeners that said yes.
async fn through_a_worker(queue: Queue) {
    let log = Log::default();
    let events = Dispatcher::new();
    queue.install(&events).await;
    events
        .subscribe(UserEventSubscriber { log: log.clone() })
        .await;
    conditional(&events, &log).await;

    // What the worker rebuilds jobs with: the generated registry's shape.
    let registry = JobRegistry::new()
        .event::<Login>()
        .event::<Logout>()
        .event::<OrderPlaced>()
        .listener::<OrderPlaced>(Arc::new(ChargeLarge { log: log.clone() }))
        .listener::<OrderPlaced>(Arc::new(HandConditional(log.clone())))
        .subscriber(Arc::new(UserEventSubscriber { log: log.clone() }))
        .subscriber(Arc::new(Notifier { log: log.clone() }));

    events
        .dispatch(Logout { user: "dee".into() })
        .await
        .unwrap();
    for total in [5, 7, 150] {
        events.dispatch(OrderPlaced { total }).await.unwrap();
    }
    // Nothing ran at dispatch; 1 logout + charge 150 + notify 150 + hand 5 and 150.
    assert!(log.lines().is_empty(), "{:?}", log.lines());
    assert_eq!(queue.size().await.unwrap(), 5);

    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let worker = Worker::new(queue.clone(), registry)
        .queues([queue.default_queue(), "auth"])
        .poll_interval(Duration::from_millis(20));
    let running = tokio::spawn(worker.run_until(async move {
        let _ = stopped.await;
    }));
    let lines = until_lines(&log, 5).await;
    let _ = stop.send(());
    running.await.unwrap().unwrap();
    assert_eq!(
        lines,
        [
            "charged 150",
            "hand 150",
            "hand 5",
            "logout dee",
            "notified 150"
        ]
    );
}

/// A queued event: its listeners run on the worker, where a queued
/// listener's `queue_if` still decides.
#[derive(Debug, Clone, Serialize, Deserialize, Event)]
#[event(queued)]
pub struct BatchImported {
    pub rows: u32,
}

pub struct Reindex {
    log: Log,
}

#[listener(event = BatchImported, queued, queue_if = Self::big)]
impl Reindex {
    async fn handle(&self, event: &BatchImported) -> anyhow::Result<()> {
        self.log.push(format!("reindexed {}", event.rows));
        Ok(())
    }

    fn big(event: &BatchImported) -> bool {
        event.rows > 10
    }
}

/// A hand-written queued listener that tries to stop propagation: the
/// compiler cannot see it, so its job fails with the reason.
struct QueuedStopper;

#[async_trait]
impl EventListener for QueuedStopper {
    async fn handle(&self, _: Arc<dyn Event>) -> anyhow::Result<()> {
        stop_propagation()
    }
    fn should_queue(&self) -> bool {
        true
    }
    fn can_retry(&self) -> bool {
        false
    }
}

/// Queued events with `queue_if` listeners, and a queued listener that
/// stops: what the worker ran, and the failed job's reason.
async fn on_the_worker(queue: Queue) {
    let log = Log::default();
    let events = Dispatcher::new();
    queue.install(&events).await;
    let reindex: Arc<dyn EventListener> = Arc::new(Reindex { log: log.clone() });
    events.listen::<BatchImported>(reindex.clone()).await;
    events.listen::<Login>(Arc::new(QueuedStopper)).await;
    let registry = JobRegistry::new()
        .listener::<BatchImported>(reindex)
        .listener::<Login>(Arc::new(QueuedStopper));

    events.dispatch(BatchImported { rows: 3 }).await.unwrap();
    events.dispatch(BatchImported { rows: 30 }).await.unwrap();
    events.dispatch(Login { user: "eve".into() }).await.unwrap();

    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let worker = Worker::new(queue.clone(), registry)
        .queues([queue.default_queue()])
        .poll_interval(Duration::from_millis(20));
    let running = tokio::spawn(worker.run_until(async move {
        let _ = stopped.await;
    }));
    let failed_store = queue.failed().unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    while failed_store.list().await.unwrap_or_default().is_empty() && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let lines = until_lines(&log, 1).await;
    let _ = stop.send(());
    running.await.unwrap().unwrap();
    assert_eq!(lines, ["reindexed 30"]);
    let failed = failed_store.list().await.unwrap();
    assert_eq!(failed.len(), 1, "{failed:?}");
    assert!(
        failed[0]
            .reason
            .contains("a queued listener cannot stop propagation"),
        "{}",
        failed[0].reason
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_memory() {
    through_a_worker(Queue::memory()).await;
    on_the_worker(Queue::memory()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}/jobs.db", dir.path().display());
    through_a_worker(Queue::open(&url).await.unwrap()).await;
    let url = format!("sqlite://{}/more.db", dir.path().display());
    on_the_worker(Queue::open(&url).await.unwrap()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_redis() {
    let Some(base) = test_support::redis_url() else {
        return;
    };
    // Each under a key prefix of its own, emptied after.
    for scenario in [0, 1] {
        let url = test_support::with_query(&base, "prefix", &test_support::unique("subs"));
        let queue = Queue::open(&url).await.unwrap();
        if scenario == 0 {
            through_a_worker(queue.clone()).await;
        } else {
            on_the_worker(queue.clone()).await;
        }
        queue.clear().await.unwrap();
        queue.failed().unwrap().purge().await.unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_postgres() {
    let Some(schema) = test_support::Schema::new() else {
        return;
    };
    through_a_worker(Queue::open(&schema.url).await.unwrap()).await;
    let Some(other) = test_support::Schema::new() else {
        return;
    };
    on_the_worker(Queue::open(&other.url).await.unwrap()).await;
}
