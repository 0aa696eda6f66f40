//! `make:listener`: typed, queued and unwired listeners; refusals.

mod common;

use common::{Pkg, assert_refused};

#[test]
fn make_listener_creates_a_missing_event_and_says_so() {
    let pkg = Pkg::new();
    let run = pkg
        .artisan(&[
            "make:listener",
            "SendWelcomeEmail",
            "--event",
            "UserRegistered",
            "--queued",
        ])
        .ok();
    assert!(
        run.stdout
            .contains("Event [src/events/user_registered.rs] created successfully"),
        "{}",
        run.stdout
    );
    assert!(run.stdout.contains("did not exist yet"), "{}", run.stdout);
    assert!(
        run.stdout
            .contains("Listener [src/listeners/send_welcome_email.rs] created successfully."),
        "{}",
        run.stdout
    );
    let listener = pkg.read("src/listeners/send_welcome_email.rs");
    assert!(
        listener.contains("#[listener(event = UserRegisteredEvent, queued)]"),
        "{listener}"
    );
    assert!(listener.contains(
        "pub async fn send_welcome_email(event: &UserRegisteredEvent) -> anyhow::Result<()>"
    ));
    let registry = pkg.read("src/event_registry.rs");
    assert!(registry.contains(
        "event_core::listen_once::<crate::events::user_registered::UserRegisteredEvent>(dispatcher, event_core::as_listener!(Arc::new(crate::listeners::send_welcome_email::SendWelcomeEmailListener))).await;"
    ), "{registry}");
}

#[test]
fn make_listener_refuses_an_existing_listener_and_changes_nothing() {
    let pkg = Pkg::new();
    pkg.artisan(&[
        "make:listener",
        "SendWelcomeEmail",
        "--event",
        "UserRegistered",
    ])
    .ok();
    let before = pkg.snapshot();
    let run = pkg.artisan(&[
        "make:listener",
        "send_welcome_email",
        "--event",
        "OrderShipped",
    ]);
    assert_eq!(run.code, 1);
    assert!(
        run.stderr
            .contains("Listener [src/listeners/send_welcome_email.rs] already exists"),
        "{}",
        run.stderr
    );
    assert_eq!(pkg.snapshot(), before);
    assert!(!pkg.exists("src/events/order_shipped.rs"));
}

#[test]
fn make_listener_without_an_event_writes_an_unwired_listener_and_warns() {
    let pkg = Pkg::new();
    let run = pkg.artisan(&["make:listener", "AuditLog"]).ok();
    assert!(
        run.stdout.contains("not wired to an event"),
        "{}",
        run.stdout
    );
    let listener = pkg.read("src/listeners/audit_log.rs");
    assert!(
        listener.contains("impl EventListener for AuditLogListener"),
        "{listener}"
    );
    assert!(
        !pkg.read("src/event_registry.rs")
            .contains("AuditLogListener")
    );
    // Said once by make:listener, not as a warning on every command after.
    let run = pkg.artisan(&["event:generate"]).ok();
    assert!(!run.stdout.contains("WARN"), "{}", run.stdout);
    let list = pkg.artisan(&["event:list"]).ok().stdout;
    assert!(list.contains("Listeners without an event"), "{list}");
    assert!(
        list.contains("⇂ AuditLogListener (src/listeners/audit_log.rs:"),
        "{list}"
    );
}

#[test]
fn impl_block_listeners_are_wired_only_when_artisan_can_build_them() {
    let pkg = Pkg::new();
    pkg.artisan(&["make:event", "OrderPlaced"]).ok();
    pkg.write(
        "src/listeners/billing.rs",
        "use event_core::prelude::*;\nuse crate::events::OrderPlacedEvent;\n\n\
         pub struct ChargeCard;\n\
         #[listener(event = OrderPlacedEvent, queued, queue = \"payments\")]\n\
         impl ChargeCard {\n    async fn handle(&self, _e: &OrderPlacedEvent) -> anyhow::Result<()> { Ok(()) }\n}\n\n\
         #[derive(Default)]\npub struct SendInvoice { pub copies: u32 }\n\
         #[listener(event = OrderPlacedEvent)]\n\
         impl SendInvoice {\n    async fn handle(&self, _e: &OrderPlacedEvent) -> anyhow::Result<()> { Ok(()) }\n}\n\n\
         pub struct Gateway { pub url: String }\n\
         #[listener(event = OrderPlacedEvent)]\n\
         impl Gateway {\n    async fn handle(&self, _e: &OrderPlacedEvent) -> anyhow::Result<()> { Ok(()) }\n}\n",
    );
    let run = pkg.artisan(&["event:generate"]).ok();
    let registry = pkg.read("src/event_registry.rs");
    assert!(
        registry.contains("Arc::new(crate::listeners::billing::ChargeCard)"),
        "{registry}"
    );
    assert!(
        registry.contains("Arc::new(crate::listeners::billing::SendInvoice::default())"),
        "{registry}"
    );
    assert!(!registry.contains("Gateway"), "{registry}");
    assert!(
        run.stdout.contains("Gateway is not wired"),
        "{}",
        run.stdout
    );
    let list = pkg.artisan(&["event:list"]).ok().stdout;
    assert!(
        list.contains("⇂ ChargeCard (queued: sync/payments)"),
        "{list}"
    );
    assert!(list.contains("⇂ Gateway (not wired)"), "{list}");
}

#[test]
fn an_event_spelt_differently_by_hand_is_found_not_duplicated() {
    let pkg = Pkg::new();
    pkg.write(
        "src/events/http.rs",
        "use event_core::prelude::*;\n\n#[derive(Debug, Clone, serde::Serialize, serde::Deserialize, Event)]\npub struct HTTPRequestFailedEvent;\n",
    );
    let run = pkg
        .artisan(&[
            "make:listener",
            "PageOnCall",
            "--event",
            "http-request-failed",
        ])
        .ok();
    assert!(!run.stdout.contains("did not exist yet"), "{}", run.stdout);
    assert!(!pkg.exists("src/events/http_request_failed.rs"));
    let listener = pkg.read("src/listeners/page_on_call.rs");
    assert!(
        listener.contains("use crate::events::HTTPRequestFailedEvent;"),
        "{listener}"
    );
    assert!(pkg.read("src/event_registry.rs").contains(
        "event_core::listen_once::<crate::events::http::HTTPRequestFailedEvent>(dispatcher, event_core::as_listener!(Arc::new(crate::listeners::page_on_call::PageOnCallListener))).await;"
    ));
}

#[test]
fn a_queued_listener_goes_to_the_configured_default_queue() {
    let pkg = Pkg::new();
    pkg.artisan(&[
        "make:listener",
        "SendReceipt",
        "--event",
        "OrderPaid",
        "--queued",
    ])
    .ok();
    let listener = pkg.read("src/listeners/send_receipt.rs");
    assert!(
        listener.contains("#[listener(event = OrderPaidEvent, queued)]"),
        "{listener}"
    );
    pkg.write(".env", "EVENTS_DEFAULT_QUEUE=mail\n");
    let list = pkg.artisan(&["event:list"]).ok().stdout;
    assert!(
        list.contains("⇂ SendReceiptListener (queued: sync/mail)"),
        "{list}"
    );
}

#[test]
fn a_queued_listener_without_an_event_is_refused() {
    let pkg = Pkg::new();
    assert_refused(
        &pkg,
        &["make:listener", "AuditLog", "--queued"],
        2,
        "a queued listener needs its event",
    );
    assert_refused(
        &pkg,
        &["make:listener", "AuditLog", "--queue", "audit"],
        2,
        "Pass --event",
    );
}

#[test]
fn a_listener_the_macro_would_refuse_is_reported_with_the_macros_words() {
    let pkg = Pkg::new();
    pkg.artisan(&["make:event", "OrderPlaced"]).ok();
    pkg.write(
        "src/listeners/billing.rs",
        "use event_core::prelude::*;\nuse crate::events::OrderPlacedEvent;\n\n\
         #[listener(event = OrderPlacedEvent, qeue = \"payments\")]\n\
         async fn charge(_e: &OrderPlacedEvent) -> anyhow::Result<()> { Ok(()) }\n\n\
         // `connection` implies `queued`, as the macro says.\n\
         #[listener(event = OrderPlacedEvent, connection = \"redis\")]\n\
         async fn refund(_e: &OrderPlacedEvent) -> anyhow::Result<()> { Ok(()) }\n",
    );
    let run = pkg.artisan(&["event:list"]).ok();
    assert!(
        run.stdout.contains(
            "src/listeners/billing.rs:4: ChargeListener does not compile, so it is not wired: \
             unknown key `qeue` in `#[listener(...)]`; did you mean `queue`?"
        ),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout
            .contains("⇂ RefundListener (queued: redis/events)"),
        "{}",
        run.stdout
    );
}

#[cfg(unix)]
#[test]
fn files_are_written_with_the_users_umask() {
    use std::os::unix::fs::PermissionsExt;
    let pkg = Pkg::new();
    pkg.artisan(&[
        "make:listener",
        "SendWelcomeEmail",
        "--event",
        "UserRegistered",
    ])
    .ok();
    // The test process's umask (022 on CI and most machines) applies.
    let umask = {
        let probe = pkg.file("probe");
        std::fs::write(&probe, "").expect("probe");
        let mode = std::fs::metadata(&probe)
            .expect("meta")
            .permissions()
            .mode()
            & 0o777;
        std::fs::remove_file(&probe).expect("rm");
        mode
    };
    for file in [
        "src/listeners/send_welcome_email.rs",
        "src/events/user_registered.rs",
        "src/event_registry.rs",
    ] {
        let mode = std::fs::metadata(pkg.file(file))
            .expect("meta")
            .permissions()
            .mode()
            & 0o777;
        assert_eq!(mode, umask, "{file}: {mode:o}, a plain file gets {umask:o}");
    }
}
