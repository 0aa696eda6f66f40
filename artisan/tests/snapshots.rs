//! Every template's output, and the wiring for a small tree, as insta
//! snapshots: a template change shows up as a reviewed diff.

mod common;

use common::Pkg;

#[test]
fn event_template() {
    let pkg = Pkg::new();
    pkg.artisan(&["make:event", "UserRegistered"]).ok();
    insta::assert_snapshot!("event", pkg.read("src/events/user_registered.rs"));
}

#[test]
fn event_template_queued_and_broadcast() {
    let pkg = Pkg::new();
    pkg.artisan(&[
        "make:event",
        "OrderShipped",
        "--queue",
        "orders",
        "--broadcast",
        "orders.{id}",
    ])
    .ok();
    insta::assert_snapshot!(
        "event_queued_broadcast",
        pkg.read("src/events/order_shipped.rs")
    );
}

#[test]
fn listener_template() {
    let pkg = Pkg::new();
    pkg.artisan(&[
        "make:listener",
        "SendWelcomeEmail",
        "--event",
        "UserRegistered",
    ])
    .ok();
    insta::assert_snapshot!("listener", pkg.read("src/listeners/send_welcome_email.rs"));
}

#[test]
fn listener_template_queued_with_test() {
    let pkg = Pkg::new();
    pkg.artisan(&[
        "make:listener",
        "ChargeCard",
        "--event",
        "OrderPlaced",
        "--queue",
        "payments",
        "--test",
    ])
    .ok();
    insta::assert_snapshot!(
        "listener_queued_test",
        pkg.read("src/listeners/charge_card.rs")
    );
}

#[test]
fn listener_template_without_event() {
    let pkg = Pkg::new();
    pkg.artisan(&["make:listener", "AuditLog"]).ok();
    insta::assert_snapshot!("listener_any", pkg.read("src/listeners/audit_log.rs"));
}

#[test]
fn subscriber_template() {
    let pkg = Pkg::new();
    pkg.artisan(&[
        "make:subscriber",
        "UserEvent",
        "--event",
        "UserLoggedIn",
        "--event",
        "UserLoggedOut",
        "--queued",
    ])
    .ok();
    insta::assert_snapshot!("subscriber", pkg.read("src/listeners/user_event.rs"));
}

#[test]
fn empty_package_wiring() {
    let pkg = Pkg::new();
    pkg.artisan(&["event:generate"]).ok();
    insta::assert_snapshot!("empty_registry", pkg.read("src/event_registry.rs"));
    insta::assert_snapshot!("empty_events_mod", pkg.read("src/events/mod.rs"));
}

/// Events: two scaffolded, one without Deserialize, one hand-written impl.
/// Listeners: a fn, a queued fn, unit and Default impl blocks, one artisan
/// cannot build, one on an unknown event.
#[test]
fn small_tree_wiring() {
    let pkg = Pkg::new();
    pkg.artisan(&[
        "make:listener",
        "SendWelcomeEmail",
        "--event",
        "UserRegistered",
    ])
    .ok();
    pkg.artisan(&[
        "make:listener",
        "ChargeCard",
        "--event",
        "OrderPlaced",
        "--queue",
        "payments",
    ])
    .ok();
    pkg.write(
        "src/events/ping.rs",
        "use event_core::prelude::*;\n\n\
         #[derive(Debug, Clone, serde::Serialize, Event)]\n\
         #[event(name = \"health.ping\")]\n\
         pub struct PingEvent;\n",
    );
    pkg.write(
        "src/events/legacy.rs",
        "#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]\n\
         pub struct LegacyThing;\n\n\
         impl event_core::Event for LegacyThing {\n    \
             fn event_name(&self) -> &'static str { \"legacy\" }\n}\n",
    );
    pkg.write(
        "src/listeners/billing.rs",
        "use event_core::prelude::*;\nuse crate::events::OrderPlacedEvent;\n\n\
         pub struct Refund;\n\
         #[listener(event = OrderPlacedEvent)]\n\
         impl Refund {\n    async fn handle(&self, _e: &OrderPlacedEvent) -> anyhow::Result<()> { Ok(()) }\n}\n\n\
         #[derive(Default)]\npub struct SendInvoice { pub copies: u32 }\n\
         #[listener(event = crate::events::OrderPlacedEvent, queued)]\n\
         impl SendInvoice {\n    async fn handle(&self, _e: &OrderPlacedEvent) -> anyhow::Result<()> { Ok(()) }\n}\n\n\
         pub struct Gateway { pub url: String }\n\
         #[listener(event = OrderPlacedEvent)]\n\
         impl Gateway {\n    async fn handle(&self, _e: &OrderPlacedEvent) -> anyhow::Result<()> { Ok(()) }\n}\n\n\
         #[listener(event = NoSuchEvent)]\n\
         pub async fn orphan(_e: &NoSuchEvent) -> anyhow::Result<()> { Ok(()) }\n",
    );
    let generate = pkg.artisan(&["event:generate"]).ok();
    insta::assert_snapshot!("small_tree_registry", pkg.read("src/event_registry.rs"));
    insta::assert_snapshot!("small_tree_events_mod", pkg.read("src/events/mod.rs"));
    insta::assert_snapshot!("small_tree_listeners_mod", pkg.read("src/listeners/mod.rs"));
    insta::assert_snapshot!("small_tree_generate_output", generate.stdout);
    let list = pkg.artisan(&["event:list"]).ok();
    insta::assert_snapshot!("small_tree_event_list", list.stdout);
    let json = pkg.artisan(&["event:list", "--json"]).ok();
    insta::assert_snapshot!("small_tree_event_list_json", json.stdout);
}
