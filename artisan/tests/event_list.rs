//! `event:list`: the table and --json.

mod common;

use common::Pkg;

#[test]
fn event_list_shows_events_listeners_and_queues() {
    let pkg = Pkg::new();
    pkg.artisan(&[
        "make:listener",
        "SendWelcomeEmail",
        "--event",
        "UserRegistered",
        "--queue",
        "emails",
    ])
    .ok();
    pkg.artisan(&["make:listener", "TrackSignup", "--event", "UserRegistered"])
        .ok();
    pkg.artisan(&["make:event", "OrderShipped"]).ok();
    let run = pkg.artisan(&["event:list"]).ok();
    let text = run.stdout;
    let user = text.find("UserRegisteredEvent").expect("event listed");
    let order = text.find("OrderShippedEvent").expect("event listed");
    assert!(order < user, "sorted by name:\n{text}");
    assert!(
        text.contains("⇂ SendWelcomeEmailListener (queued: sync/emails)"),
        "{text}"
    );
    assert!(text.contains("⇂ TrackSignupListener\n"), "{text}");
    assert!(
        !text.contains('\u{1b}'),
        "colour without a terminal:\n{text}"
    );

    let filtered = pkg.artisan(&["event:list", "--event", "order"]).ok().stdout;
    assert!(filtered.contains("OrderShippedEvent"), "{filtered}");
    assert!(!filtered.contains("UserRegisteredEvent"), "{filtered}");

    let json = pkg.artisan(&["event:list", "--json"]).ok().stdout;
    let value: serde_json::Value = serde_json::from_str(&json).expect("valid JSON");
    let value = &value["events"];
    assert_eq!(value[0]["event"], "OrderShippedEvent");
    assert_eq!(value[0]["listeners"], serde_json::json!([]));
    assert_eq!(value[1]["event"], "UserRegisteredEvent");
    assert_eq!(value[1]["name"], "UserRegistered");
    assert_eq!(
        value[1]["listeners"][0]["listener"],
        "SendWelcomeEmailListener"
    );
    assert_eq!(value[1]["listeners"][0]["queue"], "emails");
    assert_eq!(value[1]["listeners"][0]["connection"], "sync");
    assert_eq!(value[1]["listeners"][1]["queued"], false);
}

#[test]
fn event_list_says_when_the_registry_is_stale() {
    let pkg = Pkg::new();
    pkg.artisan(&["make:event", "UserRegistered"]).ok();
    pkg.write(
        "src/events/order_shipped.rs",
        "use event_core::prelude::*;\n\n#[derive(Debug, Clone, serde::Serialize, serde::Deserialize, Event)]\npub struct OrderShippedEvent;\n",
    );
    let run = pkg.artisan(&["event:list"]).ok();
    assert!(run.stdout.contains("out of date"), "{}", run.stdout);
    pkg.artisan(&["event:generate"]).ok();
    let run = pkg.artisan(&["event:list"]).ok();
    assert!(!run.stdout.contains("out of date"), "{}", run.stdout);
}

#[test]
fn an_empty_package_gets_no_warning_about_a_registry_never_generated() {
    let pkg = Pkg::new();
    let run = pkg.artisan(&["event:list"]).ok();
    assert!(!run.stdout.contains("WARN"), "{}", run.stdout);
    assert!(!run.stdout.contains("out of date"), "{}", run.stdout);
}

#[test]
fn json_has_every_listener_the_table_has() {
    let pkg = Pkg::new();
    pkg.artisan(&["make:listener", "AuditLog"]).ok();
    pkg.artisan(&[
        "make:listener",
        "SendWelcomeEmail",
        "--event",
        "UserRegistered",
    ])
    .ok();
    let json = pkg.artisan(&["event:list", "--json"]).ok().stdout;
    let value: serde_json::Value = serde_json::from_str(&json).expect("JSON");
    assert_eq!(
        value["events"][0]["listeners"][0]["listener"],
        "SendWelcomeEmailListener"
    );
    assert_eq!(
        value["listeners_without_event"][0]["listener"],
        "AuditLogListener"
    );
}

#[test]
fn unreachable_should_queue_listener_settings_are_marked() {
    let pkg = Pkg::new();
    pkg.write(
        "src/listeners/audit.rs",
        "use event_core::prelude::*;\n\n\
         pub struct Audit;\n\n\
         #[async_trait]\nimpl EventListener for Audit {\n    \
         async fn handle(&self, _e: Arc<dyn Event>) -> anyhow::Result<()> { Ok(()) }\n}\n\n\
         impl ShouldQueueListener for Audit {}\n",
    );
    let list = pkg.artisan(&["event:list"]).ok().stdout;
    assert!(
        list.contains("its ShouldQueueListener settings are unreachable"),
        "{list}"
    );
}

#[test]
fn a_file_that_does_not_tokenize_is_explained_in_plain_words() {
    let pkg = Pkg::new();
    pkg.write(
        "src/events/broken.rs",
        "pub struct BrokenEvent {\n    pub id: String,\n",
    );
    let run = common::assert_refused(&pkg, &["event:list"], 1, "src/events/broken.rs:");
    assert!(run.all().contains("is not closed"), "{}", run.all());
    assert!(
        !run.all().contains("cannot parse string into token stream"),
        "{}",
        run.all()
    );
}
