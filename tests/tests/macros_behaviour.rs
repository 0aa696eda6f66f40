//! `#[derive(Event)]` and `#[listener]` at work: derived events and macro
//! listeners dispatched through a `Dispatcher`, typed bodies seeing the
//! values, and every knob readable through the traits.

use std::sync::{Arc, Mutex};

use anyhow::{Result, bail};
use event_core::broadcasting::{BroadcastMessage, Broadcastable, MemoryBroadcaster};
use event_core::prelude::*;
use event_core::{ListenerOptions, ShouldQueue};
use serde::{Deserialize, Serialize};

// ----- events ---------------------------------------------------------------

#[derive(Debug, Clone, Serialize, Deserialize, Event)]
pub struct UserRegisteredEvent {
    pub user_id: u64,
    pub email: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, Event)]
pub struct EventScheduled;

#[derive(Debug, Clone, Serialize, Deserialize, Event)]
#[event(name = "order.shipped", queued, queue = "orders", connection = "redis")]
#[event(priority = -3, tags("order", "shipping"))]
pub struct OrderShippedEvent(pub u64, pub String);

#[derive(Debug, Clone, Serialize, Deserialize, Event)]
#[event(broadcast = "orders.{order_id}.{{live}}", private)]
pub struct OrderUpdatedEvent {
    pub order_id: u32,
    pub status: String,
}

#[derive(Debug, Clone, Serialize, Event)]
#[event(broadcast = "room.{0}", presence)]
pub struct RoomJoined(pub String);

#[derive(Debug, Clone, Serialize, Event)]
#[event(broadcast = "announcements")]
pub struct Announcement;

#[derive(Debug, Clone, Serialize, Deserialize, Event)]
#[event(queue = "bulk")]
pub struct ImportRequestedEvent {
    pub rows: u32,
}

#[derive(Debug, Clone, Serialize, Deserialize, Event)]
pub struct Wrapped<T> {
    pub inner: T,
}

// ----- listeners -------------------------------------------------------------

type Log = Mutex<Vec<String>>;

static WELCOMED: Log = Mutex::new(Vec::new());

fn take(log: &Log) -> Vec<String> {
    std::mem::take(&mut *log.lock().unwrap_or_else(|e| e.into_inner()))
}

/// Takes only the lines containing `needle`: tests running in parallel
/// share a log, and each must leave the others' lines alone.
fn take_with(log: &Log, needle: &str) -> Vec<String> {
    let mut lines = log.lock().unwrap_or_else(|e| e.into_inner());
    let (mine, others) = std::mem::take(&mut *lines)
        .into_iter()
        .partition(|l| l.contains(needle));
    *lines = others;
    mine
}

fn push(log: &Log, line: String) {
    log.lock().unwrap_or_else(|e| e.into_inner()).push(line);
}

#[listener(event = UserRegisteredEvent)]
async fn send_welcome_email(event: &UserRegisteredEvent) -> anyhow::Result<()> {
    push(
        &WELCOMED,
        format!("welcome {} ({})", event.email, event.user_id),
    );
    Ok(())
}

static SHIPPED: Log = Mutex::new(Vec::new());

#[listener(
    event = OrderShippedEvent,
    queued,
    queue = "mail",
    connection = "redis",
    tries = 5,
    backoff = [5, 15, 30],
    timeout = 120,
    delay = 10,
    max_exceptions = 2,
    after_commit,
)]
pub async fn notify_shipment(event: &OrderShippedEvent) -> Result<()> {
    push(&SHIPPED, format!("shipped {} via {}", event.0, event.1));
    Ok(())
}

#[listener(event = UserRegisteredEvent)]
async fn reject_spam(event: &UserRegisteredEvent) -> Result<()> {
    if event.email.ends_with("@spam.test") {
        bail!("spam address {}", event.email);
    }
    Ok(())
}

/// A user error type: `Result<(), E>` works for any `E: Into<anyhow::Error>`.
#[derive(Debug)]
pub struct Refused;

impl std::fmt::Display for Refused {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("refused by policy")
    }
}

impl std::error::Error for Refused {}

#[listener(event = EventScheduled)]
async fn refuse(_event: &EventScheduled) -> Result<(), Refused> {
    Err(Refused)
}

/// A stateful listener: the state is what a DB pool or client would be.
pub struct AuditTrail {
    pub prefix: &'static str,
    pub seen: Arc<Log>,
    pub failures: Arc<Log>,
}

#[listener(event = UserRegisteredEvent, queue = "audit", tries = 3)]
impl AuditTrail {
    async fn handle(&self, event: &UserRegisteredEvent) -> Result<()> {
        push(&self.seen, format!("{}{}", self.prefix, event.email));
        if event.user_id == 0 {
            bail!("user id 0 is reserved");
        }
        Ok(())
    }

    async fn failed(&self, event: &UserRegisteredEvent, error: &anyhow::Error) -> Result<()> {
        push(&self.failures, format!("{} failed: {error}", event.email));
        Ok(())
    }

    /// Other methods in the block stay as they are.
    pub fn prefix(&self) -> &str {
        self.prefix
    }
}

pub struct Counter {
    pub failures: Arc<Log>,
}

#[listener(event = EventScheduled)]
impl Counter {
    async fn handle(&self, _event: &EventScheduled) -> Result<()> {
        bail!("always fails")
    }

    /// A `failed` hook that returns nothing is accepted.
    async fn failed(&self, _event: &EventScheduled, error: &anyhow::Error) {
        push(&self.failures, format!("unit hook: {error}"));
    }
}

// ----- derived events ----------------------------------------------------------

#[test]
fn default_name_drops_a_trailing_event_only() {
    let user = UserRegisteredEvent {
        user_id: 1,
        email: "a@b.c".into(),
    };
    assert_eq!(user.event_name(), "UserRegistered");
    assert_eq!(EventScheduled.event_name(), "EventScheduled");
    assert_eq!(UserRegisteredEvent::static_event_name(), "UserRegistered");
    assert_eq!(EventScheduled::static_event_name(), "EventScheduled");
    assert_eq!(OrderShippedEvent::static_event_name(), "order.shipped");
}

#[test]
fn to_json_is_serdes() {
    let user = UserRegisteredEvent {
        user_id: 7,
        email: "ada@example.com".into(),
    };
    assert_eq!(
        user.to_json(),
        serde_json::json!({"user_id": 7, "email": "ada@example.com"})
    );
    let shipped = OrderShippedEvent(9, "dhl".into());
    assert_eq!(shipped.to_json(), serde_json::json!([9, "dhl"]));
    assert_eq!(EventScheduled.to_json(), serde_json::Value::Null);
}

#[test]
fn unqueued_event_keeps_the_defaults() {
    let user = UserRegisteredEvent {
        user_id: 1,
        email: "a@b.c".into(),
    };
    assert!(!user.should_queue());
    assert!(user.is_synchronous());
    assert_eq!(user.queue_name(), None);
    assert_eq!(user.priority(), 0);
    assert!(user.tags().is_empty());
    assert!(user.as_should_queue().is_none());
    assert!(user.as_broadcastable().is_none());
}

#[test]
fn queue_keys_reach_event_and_should_queue() {
    let shipped = OrderShippedEvent(9, "dhl".into());
    assert!(shipped.should_queue());
    assert_eq!(shipped.queue_name(), Some("orders"));
    assert_eq!(shipped.priority(), -3);
    assert_eq!(shipped.tags(), vec!["order", "shipping"]);
    let queued = shipped
        .as_should_queue()
        .expect("a queued event offers ShouldQueue");
    assert_eq!(queued.queue_connection(), Some("redis"));
    assert_eq!(queued.queue(), Some("orders"));
    assert_eq!(ShouldQueue::queue_connection(&shipped), Some("redis"));

    // `queue = ...` alone means queued.
    let import = ImportRequestedEvent { rows: 3 };
    assert!(import.should_queue());
    assert_eq!(import.queue_name(), Some("bulk"));
    assert_eq!(
        import.as_should_queue().and_then(|q| q.queue_connection()),
        None
    );
}

#[test]
fn queued_event_round_trips_through_the_job_registry() -> Result<()> {
    let jobs = JobRegistry::new().event::<OrderShippedEvent>();
    let original = OrderShippedEvent(42, "ups".into());
    let rebuilt = jobs.decode("order.shipped", original.to_json())?;
    let rebuilt = rebuilt
        .downcast_ref::<OrderShippedEvent>()
        .expect("the registry rebuilds the same type");
    assert_eq!(rebuilt.0, 42);
    assert_eq!(rebuilt.1, "ups");
    Ok(())
}

#[test]
fn broadcast_channels_interpolate_fields() {
    let updated = OrderUpdatedEvent {
        order_id: 17,
        status: "packed".into(),
    };
    let b = updated
        .as_broadcastable()
        .expect("broadcast = ... offers Broadcastable");
    assert_eq!(b.broadcast_channel(), "orders.17.{live}");
    assert!(b.is_private());
    assert!(!b.is_presence());
    assert_eq!(b.broadcast_data(), updated.to_json());

    let joined = RoomJoined("lobby".into());
    assert_eq!(joined.broadcast_channel(), "room.lobby");
    assert!(joined.is_presence());

    let message = BroadcastMessage::for_event(&joined).expect("broadcasts");
    assert_eq!(message.channels, vec!["presence-room.lobby"]);
    assert_eq!(message.event, "RoomJoined");

    let public = BroadcastMessage::for_event(&Announcement).expect("broadcasts");
    assert_eq!(public.channels, vec!["announcements"]);
}

#[test]
fn generic_events_work_with_their_bounds() {
    let wrapped = Wrapped { inner: 5u8 };
    assert_eq!(wrapped.event_name(), "Wrapped");
    assert_eq!(wrapped.to_json(), serde_json::json!({"inner": 5}));
    assert_eq!(Wrapped::<String>::static_event_name(), "Wrapped");
}

#[tokio::test]
async fn a_broadcast_event_reaches_the_broadcaster() -> Result<()> {
    let events = Dispatcher::new();
    let broadcaster = MemoryBroadcaster::new();
    events.set_broadcaster(Arc::new(broadcaster.clone())).await;
    events
        .dispatch(OrderUpdatedEvent {
            order_id: 3,
            status: "sent".into(),
        })
        .await?;
    let sent = broadcaster.on_channel("private-orders.3.{live}");
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].event, "OrderUpdated");
    assert_eq!(sent[0].data["status"], "sent");
    Ok(())
}

// ----- fn listeners ------------------------------------------------------------

#[tokio::test]
async fn fn_listener_gets_the_typed_event() -> Result<()> {
    let events = Dispatcher::new();
    events
        .listen::<UserRegisteredEvent>(Arc::new(SendWelcomeEmailListener))
        .await;
    assert!(events.has_listeners("UserRegistered").await);
    events
        .dispatch(UserRegisteredEvent {
            user_id: 12,
            email: "grace@example.com".into(),
        })
        .await?;
    let seen = take_with(&WELCOMED, "grace");
    assert_eq!(seen, vec!["welcome grace@example.com (12)"]);
    Ok(())
}

#[tokio::test]
async fn register_listener_macro_wires_the_global_dispatcher() -> Result<()> {
    register_listener!(UserRegisteredEvent, Arc::new(SendWelcomeEmailListener));
    event_dispatcher()
        .await
        .dispatch(UserRegisteredEvent {
            user_id: 99,
            email: "global@example.com".into(),
        })
        .await?;
    let seen = take_with(&WELCOMED, "global@example.com");
    assert!(
        seen.iter().any(|l| l == "welcome global@example.com (99)"),
        "{seen:?}"
    );
    Ok(())
}

#[tokio::test]
async fn the_user_fn_stays_callable_for_unit_tests() -> Result<()> {
    let event = UserRegisteredEvent {
        user_id: 5,
        email: "direct@example.com".into(),
    };
    send_welcome_email(&event).await?;
    assert!(
        take_with(&WELCOMED, "direct@example.com")
            .contains(&"welcome direct@example.com (5)".to_string())
    );
    Ok(())
}

#[tokio::test]
async fn listener_errors_reach_the_caller() {
    let events = Dispatcher::new();
    events
        .listen::<UserRegisteredEvent>(Arc::new(RejectSpamListener))
        .await;
    let error = events
        .dispatch(UserRegisteredEvent {
            user_id: 1,
            email: "x@spam.test".into(),
        })
        .await
        .expect_err("the listener refuses spam");
    assert!(
        format!("{error:#}").contains("spam address x@spam.test"),
        "{error:#}"
    );

    // A custom error type converts into anyhow::Error.
    let events = Dispatcher::new();
    events
        .listen::<EventScheduled>(Arc::new(RefuseListener))
        .await;
    let error = events.dispatch(EventScheduled).await.expect_err("refused");
    assert!(
        format!("{error:#}").contains("refused by policy"),
        "{error:#}"
    );
}

#[tokio::test]
async fn a_listener_given_another_event_says_which() {
    let events = Dispatcher::new();
    events
        .listen_pattern("EventScheduled", Arc::new(SendWelcomeEmailListener))
        .await;
    let error = events
        .dispatch(EventScheduled)
        .await
        .expect_err("wrong event type");
    let message = format!("{error:#}");
    assert!(message.contains("UserRegisteredEvent"), "{message}");
    assert!(message.contains("`EventScheduled`"), "{message}");
}

#[test]
fn fn_listener_knobs_are_readable() {
    let listener = NotifyShipmentListener;
    assert!(listener.should_queue());
    assert_eq!(listener.queue_name(), Some("mail"));
    assert_eq!(listener.max_exceptions(), Some(2));
    let secs = |s| chrono::Duration::seconds(s);
    assert_eq!(listener.backoff(), vec![secs(5), secs(15), secs(30)]);
    assert_eq!(
        listener.options(),
        ListenerOptions {
            queued: true,
            connection: Some("redis".into()),
            queue: Some("mail".into()),
            tries: Some(5),
            timeout: Some(secs(120)),
            delay: Some(secs(10)),
            backoff: vec![secs(5), secs(15), secs(30)],
            max_exceptions: Some(2),
            after_commit: true,
            retry: true,
            ..ListenerOptions::default()
        }
    );
    // The type's path under its package's name (`tests`), not this test
    // crate's: the same in every binary of the package.
    assert_eq!(
        std::any::type_name::<NotifyShipmentListener>(),
        "macros_behaviour::NotifyShipmentListener"
    );
    assert_eq!(listener.listener_name(), "tests::NotifyShipmentListener");
}

#[listener(
    event = OrderShippedEvent,
    queued,
    backoff = "exponential:2,60",
    jitter,
    retry_until = 3600
)]
async fn track_shipment(_event: &OrderShippedEvent) -> Result<()> {
    Ok(())
}

#[test]
fn retry_until_exponential_backoff_and_jitter_reach_the_options() {
    let secs = |s| chrono::Duration::seconds(s);
    assert_eq!(
        TrackShipmentListener.options(),
        ListenerOptions {
            queued: true,
            retry: true,
            retry_until: Some(secs(3600)),
            exponential_backoff: Some(event_core::ExponentialBackoff {
                base: secs(2),
                max: secs(60),
            }),
            jitter: true,
            ..ListenerOptions::default()
        }
    );
    // And from there the job's settings: tries give way to the deadline.
    let settings = event_core::queue::JobSettings::for_listener(
        &TrackShipmentListener,
        &OrderShippedEvent(1, "post".into()),
        &event_core::queue::JobSettings::default(),
    );
    assert_eq!(
        settings.declared_tries(),
        Some(event_core::queue::UNLIMITED_TRIES)
    );
    assert_eq!(settings.retry_deadline(0), Some(3_600_000));
    let none = event_core::queue::JobSettings::default();
    let third = settings.backoff_after(3, &none);
    assert!(
        third >= std::time::Duration::from_secs(4) && third <= std::time::Duration::from_secs(8),
        "2 s doubled twice, jittered into [4, 8] s: {third:?}"
    );
}

#[listener(
    event = OrderShippedEvent,
    queued,
    unique_id = |e: &OrderShippedEvent| e.0,
    unique_for = 60,
    unique_until_processing
)]
async fn label_shipment(_event: &OrderShippedEvent) -> Result<()> {
    Ok(())
}

#[test]
fn unique_id_reaches_the_options_and_names_the_jobs_lock() {
    let unique = LabelShipmentListener
        .options()
        .unique
        .expect("a unique listener");
    assert_eq!(unique.lock_for, Some(chrono::Duration::seconds(60)));
    assert!(unique.until_processing);
    let shipped = OrderShippedEvent(42, "post".into());
    assert_eq!((unique.id)(&shipped), Some("42".to_string()));
    let other = UserRegisteredEvent {
        user_id: 1,
        email: String::new(),
    };
    assert_eq!((unique.id)(&other), None);
    let settings = event_core::queue::JobSettings::for_listener(
        &LabelShipmentListener,
        &shipped,
        &event_core::queue::JobSettings::default(),
    );
    let lock = settings.unique.expect("the job's lock");
    assert_eq!(lock.key, "tests::LabelShipmentListener:42");
    assert_eq!(lock.for_ms, Some(60_000));
    assert!(lock.until_processing);
}

#[test]
fn a_plain_listener_keeps_the_defaults() {
    let listener = SendWelcomeEmailListener;
    assert!(!listener.should_queue());
    assert_eq!(
        listener.options(),
        ListenerOptions {
            retry: true,
            ..ListenerOptions::default()
        }
    );
}

#[tokio::test]
async fn queued_listener_runs_inline_without_a_queue_handler() -> Result<()> {
    let events = Dispatcher::new();
    events
        .listen::<OrderShippedEvent>(Arc::new(NotifyShipmentListener))
        .await;
    events
        .dispatch_now(OrderShippedEvent(8, "post".into()))
        .await?;
    assert_eq!(take(&SHIPPED), vec!["shipped 8 via post"]);
    Ok(())
}

// ----- impl listeners ----------------------------------------------------------

fn audit() -> (Arc<AuditTrail>, Arc<Log>, Arc<Log>) {
    let seen = Arc::new(Log::default());
    let failures = Arc::new(Log::default());
    let trail = Arc::new(AuditTrail {
        prefix: "audit:",
        seen: seen.clone(),
        failures: failures.clone(),
    });
    (trail, seen, failures)
}

#[tokio::test]
async fn impl_listener_uses_its_state() -> Result<()> {
    let (trail, seen, failures) = audit();
    assert_eq!(trail.prefix(), "audit:");
    let events = Dispatcher::new();
    events.listen::<UserRegisteredEvent>(trail.clone()).await;
    events
        .dispatch(UserRegisteredEvent {
            user_id: 3,
            email: "lin@example.com".into(),
        })
        .await?;
    assert_eq!(take(&seen), vec!["audit:lin@example.com"]);
    assert!(take(&failures).is_empty());
    Ok(())
}

#[tokio::test]
async fn impl_listener_failure_calls_its_failed_hook() {
    let (trail, seen, failures) = audit();
    let events = Dispatcher::new();
    events.listen::<UserRegisteredEvent>(trail).await;
    let error = events
        .dispatch(UserRegisteredEvent {
            user_id: 0,
            email: "root@example.com".into(),
        })
        .await
        .expect_err("user id 0 fails");
    assert!(format!("{error:#}").contains("user id 0 is reserved"));
    assert_eq!(take(&seen), vec!["audit:root@example.com"]);
    assert_eq!(
        take(&failures),
        vec!["root@example.com failed: user id 0 is reserved"]
    );
}

#[tokio::test]
async fn a_unit_failed_hook_is_called_too() {
    let failures = Arc::new(Log::default());
    let events = Dispatcher::new();
    events
        .listen::<EventScheduled>(Arc::new(Counter {
            failures: failures.clone(),
        }))
        .await;
    assert!(events.dispatch(EventScheduled).await.is_err());
    assert_eq!(take(&failures), vec!["unit hook: always fails"]);
}

#[test]
fn impl_listener_knobs_are_readable() {
    let (trail, _, _) = audit();
    assert!(trail.should_queue(), "`queue = ...` implies queued");
    assert_eq!(trail.queue_name(), Some("audit"));
    let options = trail.options();
    assert_eq!(options.tries, Some(3));
    assert_eq!(options.queue.as_deref(), Some("audit"));
    assert!(options.queued);
}

// ----- the queue worker's view ---------------------------------------------------

#[tokio::test]
async fn a_worker_rebuilds_a_derived_event_and_runs_a_macro_listener() -> Result<()> {
    let jobs = JobRegistry::new().listener::<OrderShippedEvent>(Arc::new(NotifyShipmentListener));
    let sent = OrderShippedEvent(31, "fedex".into());
    // What a queue stores: the event name, its JSON and the listener name.
    let (name, payload) = (sent.event_name(), sent.to_json());
    let listener_name = NotifyShipmentListener.listener_name().to_string();

    let event = jobs.decode(name, payload)?;
    let listener = jobs.listener_named(&listener_name)?;
    listener.handle(event).await?;
    assert_eq!(take(&SHIPPED), vec!["shipped 31 via fedex"]);
    Ok(())
}

#[derive(Debug, Serialize, Event)]
pub struct GridUpdated {
    pub cells: std::collections::HashMap<(u32, u32), String>,
}

#[test]
fn a_payload_that_cannot_serialise_says_so() {
    let grid = GridUpdated {
        cells: [((1, 2), "x".to_string())].into_iter().collect(),
    };
    let json = grid.to_json();
    let error = json["$error"].as_str().unwrap_or_default();
    assert!(error.contains("GridUpdated"), "{json}");
    assert!(error.contains("could not be serialised"), "{json}");
}

/// Generated code names nothing a user's code could shadow: here a listener fn
/// called `event` whose struct is called `EventListener`, like the trait.
mod shadowing {
    use super::{Log, UserRegisteredEvent, push};
    use event_core::listener;

    pub static SEEN: Log = Log::new(Vec::new());

    #[listener(event = UserRegisteredEvent)]
    pub async fn event(event: &UserRegisteredEvent) -> anyhow::Result<()> {
        push(&SEEN, event.email.clone());
        Ok(())
    }
}

#[tokio::test]
async fn a_listener_fn_named_event_works() -> Result<()> {
    let events = Dispatcher::new();
    events
        .listen::<UserRegisteredEvent>(Arc::new(shadowing::EventListener))
        .await;
    events
        .dispatch(UserRegisteredEvent {
            user_id: 4,
            email: "shadow@example.com".into(),
        })
        .await?;
    assert_eq!(take(&shadowing::SEEN), vec!["shadow@example.com"]);
    Ok(())
}

/// A side effect that must not run twice (a card charged again).
#[listener(event = EventScheduled, replayable = false)]
async fn charge_card_once(_event: &EventScheduled) -> Result<()> {
    Ok(())
}

#[listener(event = EventScheduled)]
async fn update_stats(_event: &EventScheduled) -> Result<()> {
    Ok(())
}

#[test]
fn replayable_false_opts_a_listener_out_of_replays() {
    assert!(!ChargeCardOnceListener.replayable());
    assert!(UpdateStatsListener.replayable());
}
