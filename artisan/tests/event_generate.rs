//! `event:generate`: the wiring rebuilt from a scan of the files, never patched.

mod common;

use common::Pkg;

#[test]
fn event_generate_twice_changes_no_byte() {
    let pkg = Pkg::new();
    pkg.artisan(&[
        "make:listener",
        "SendWelcomeEmail",
        "--event",
        "UserRegistered",
    ])
    .ok();
    pkg.artisan(&["make:event", "OrderShipped", "--queued"])
        .ok();
    pkg.artisan(&["event:generate"]).ok();
    let once = pkg.snapshot();
    let mtime = std::fs::metadata(pkg.file("src/event_registry.rs"))
        .and_then(|m| m.modified())
        .expect("mtime");
    let run = pkg.artisan(&["event:generate"]).ok();
    assert!(
        run.stdout
            .contains("Registry [src/event_registry.rs] is up to date."),
        "{}",
        run.stdout
    );
    assert_eq!(pkg.snapshot(), once);
    let again = std::fs::metadata(pkg.file("src/event_registry.rs"))
        .and_then(|m| m.modified())
        .expect("mtime");
    assert_eq!(mtime, again, "an unchanged registry was rewritten");
}

#[test]
fn renamed_deleted_and_hand_edited_files_are_picked_up() {
    let pkg = Pkg::new();
    pkg.artisan(&[
        "make:listener",
        "SendWelcomeEmail",
        "--event",
        "UserRegistered",
    ])
    .ok();
    pkg.artisan(&["make:event", "OrderShipped"]).ok();

    // Rename a listener file and point it at another event by hand.
    let text = pkg
        .read("src/listeners/send_welcome_email.rs")
        .replace("UserRegisteredEvent", "OrderShippedEvent");
    std::fs::remove_file(pkg.file("src/listeners/send_welcome_email.rs")).expect("rm");
    pkg.write("src/listeners/notify_customer.rs", &text);
    // Delete an event.
    std::fs::remove_file(pkg.file("src/events/user_registered.rs")).expect("rm");

    pkg.artisan(&["event:generate"]).ok();
    let events = pkg.read("src/events/mod.rs");
    assert!(!events.contains("user_registered"), "{events}");
    let listeners = pkg.read("src/listeners/mod.rs");
    assert!(
        listeners.contains("pub mod notify_customer;"),
        "{listeners}"
    );
    assert!(!listeners.contains("send_welcome_email;"), "{listeners}");
    let registry = pkg.read("src/event_registry.rs");
    assert!(!registry.contains("UserRegisteredEvent"), "{registry}");
    assert!(registry.contains(
        "event_core::listen_once::<crate::events::order_shipped::OrderShippedEvent>(dispatcher, event_core::as_listener!(Arc::new(crate::listeners::notify_customer::SendWelcomeEmailListener))).await;"
    ), "{registry}");
}

#[test]
fn a_file_that_does_not_parse_is_reported_with_its_line_and_nothing_changes() {
    let pkg = Pkg::new();
    pkg.artisan(&["make:event", "UserRegistered"]).ok();
    pkg.write(
        "src/events/broken.rs",
        "pub struct Fine;\n\npub struct Broken {\n    x: ,\n}\n",
    );
    let before = pkg.snapshot();
    for args in [
        &["event:generate"][..],
        &["make:event", "OrderShipped"][..],
        &["event:list"][..],
    ] {
        let run = pkg.artisan(args);
        assert_eq!(run.code, 1, "{args:?}: {}", run.all());
        assert!(
            run.stderr.contains("src/events/broken.rs:4:"),
            "{args:?}: {}",
            run.stderr
        );
        assert_eq!(pkg.snapshot(), before, "{args:?} changed files");
    }
}

#[test]
fn hand_written_items_in_mod_rs_are_kept() {
    let pkg = Pkg::new();
    pkg.artisan(&["make:event", "UserRegistered"]).ok();
    // A user adds a helper and their own module, outside the markers.
    let module = pkg.read("src/events/mod.rs");
    pkg.write(
        "src/events/mod.rs",
        &format!("{module}\npub fn all_names() -> Vec<&'static str> {{\n    vec![\"UserRegistered\"]\n}}\n\npub mod legacy;\n"),
    );
    pkg.write("src/events/legacy.rs", "pub struct Legacy;\n");
    pkg.artisan(&["make:event", "OrderShipped"]).ok();
    let module = pkg.read("src/events/mod.rs");
    assert!(module.contains("pub fn all_names()"), "{module}");
    assert!(module.contains("pub mod order_shipped;"), "{module}");
    assert_eq!(module.matches("mod legacy;").count(), 1, "{module}");
    let once = pkg.snapshot();
    pkg.artisan(&["event:generate"]).ok();
    assert_eq!(pkg.snapshot(), once);
}

#[test]
fn a_hand_written_mod_rs_without_markers_is_kept_and_extended() {
    let pkg = Pkg::new();
    let original = "//! Domain events.\n\npub mod user_registered;\npub use user_registered::UserRegisteredEvent;\n\npub const VERSION: u32 = 1;\n";
    pkg.write("src/events/mod.rs", original);
    pkg.write(
        "src/events/user_registered.rs",
        "use event_core::prelude::*;\n\n#[derive(Debug, Clone, serde::Serialize, serde::Deserialize, Event)]\npub struct UserRegisteredEvent;\n",
    );
    let run = pkg.artisan(&["make:event", "OrderShipped"]).ok();
    let module = pkg.read("src/events/mod.rs");
    assert!(module.starts_with(original), "{module}");
    assert!(module.contains("// artisan:begin\n"), "{module}");
    assert!(module.contains("pub mod order_shipped;"), "{module}");
    assert_eq!(
        module.matches("pub mod user_registered;").count(),
        1,
        "{module}"
    );
    assert!(
        run.stdout.contains("Module [src/events/mod.rs] updated."),
        "{}",
        run.stdout
    );
}

#[test]
fn broken_markers_are_refused_and_nothing_changes() {
    let pkg = Pkg::new();
    pkg.artisan(&["make:event", "UserRegistered"]).ok();
    let module = pkg
        .read("src/events/mod.rs")
        .replace("// artisan:end\n", "");
    pkg.write("src/events/mod.rs", &module);
    let before = pkg.snapshot();
    let run = pkg.artisan(&["make:event", "OrderShipped"]);
    assert_eq!(run.code, 1);
    assert!(
        run.stderr
            .contains("src/events/mod.rs has 1 `// artisan:begin` and 0 `// artisan:end`"),
        "{}",
        run.stderr
    );
    assert!(run.stderr.contains("nothing was written"), "{}", run.stderr);
    assert_eq!(pkg.snapshot(), before);
}

#[test]
fn a_private_hand_written_module_is_reported_not_wired() {
    let pkg = Pkg::new();
    pkg.artisan(&[
        "make:listener",
        "SendWelcomeEmail",
        "--event",
        "UserRegistered",
    ])
    .ok();
    let module = pkg.read("src/events/mod.rs");
    let module = module.replace("#[allow(dead_code)]\npub mod user_registered;\n", "");
    pkg.write(
        "src/events/mod.rs",
        &format!("mod user_registered;\n{module}"),
    );
    let run = pkg.artisan(&["event:generate"]).ok();
    assert!(run.stdout.contains("without `pub`"), "{}", run.stdout);
    assert!(
        !pkg.read("src/event_registry.rs")
            .contains("UserRegisteredEvent")
    );
}

#[test]
fn events_without_deserialize_stay_out_of_the_job_registry() {
    let pkg = Pkg::new();
    pkg.write(
        "src/events/ping.rs",
        "use event_core::prelude::*;\n\n#[derive(Debug, Clone, serde::Serialize, Event)]\npub struct PingEvent;\n",
    );
    let run = pkg.artisan(&["event:generate"]).ok();
    assert!(
        run.stdout
            .contains("PingEvent is not in job_registry(): it does not derive Deserialize"),
        "{}",
        run.stdout
    );
    let registry = pkg.read("src/event_registry.rs");
    assert!(
        !registry.contains(".event::<crate::events::ping::PingEvent>()"),
        "{registry}"
    );
}

#[test]
fn the_scan_cache_never_hides_an_edit() {
    let pkg = Pkg::new();
    pkg.artisan(&[
        "make:listener",
        "SendWelcomeEmail",
        "--event",
        "UserRegistered",
    ])
    .ok();
    pkg.artisan(&["make:event", "OrderShipped"]).ok();
    // Files from an hour ago are cached by the next run.
    let age = |rel: &str, secs: u64| {
        let file = std::fs::File::options()
            .write(true)
            .open(pkg.file(rel))
            .expect("open");
        file.set_modified(std::time::SystemTime::now() - std::time::Duration::from_secs(secs))
            .expect("set mtime");
    };
    for rel in [
        "src/events/user_registered.rs",
        "src/events/order_shipped.rs",
        "src/listeners/send_welcome_email.rs",
    ] {
        age(rel, 3600);
    }
    pkg.artisan(&["event:generate"]).ok();
    let cache: Vec<_> = std::fs::read_dir(pkg.file("target/artisan"))
        .expect("a scan cache in target/artisan")
        .collect();
    assert_eq!(cache.len(), 1);

    // The user points the listener at the other event; the file's mtime moves.
    let text = pkg
        .read("src/listeners/send_welcome_email.rs")
        .replace("UserRegisteredEvent", "OrderShippedEvent");
    pkg.write("src/listeners/send_welcome_email.rs", &text);
    age("src/listeners/send_welcome_email.rs", 1800);
    pkg.artisan(&["event:generate"]).ok();
    let registry = pkg.read("src/event_registry.rs");
    assert!(
        registry.contains(
            "event_core::listen_once::<crate::events::order_shipped::OrderShippedEvent>("
        ),
        "{registry}"
    );
    assert!(
        !registry.contains("listen_once::<crate::events::user_registered"),
        "{registry}"
    );

    // A corrupt cache is ignored.
    let entry = std::fs::read_dir(pkg.file("target/artisan"))
        .expect("ls")
        .next()
        .expect("file");
    std::fs::write(entry.expect("entry").path(), "{not json").expect("corrupt");
    let before = pkg.snapshot();
    pkg.artisan(&["event:generate"]).ok();
    assert_eq!(pkg.snapshot(), before);
}

#[test]
fn subfolders_and_generic_events_are_reported_not_wired() {
    let pkg = Pkg::new();
    pkg.artisan(&["make:event", "UserRegistered"]).ok();
    pkg.write("src/events/admin/mod.rs", "pub struct Nothing;\n");
    pkg.write(
        "src/events/envelope.rs",
        "use event_core::prelude::*;\n\n#[derive(Debug, Clone, serde::Serialize, serde::Deserialize, Event)]\npub struct Envelope<T> {\n    pub inner: T,\n}\n",
    );
    let run = pkg.artisan(&["event:generate"]).ok();
    assert!(
        run.stdout.contains("src/events/admin/ is not scanned"),
        "{}",
        run.stdout
    );
    assert!(run.stdout.contains("Envelope is generic"), "{}", run.stdout);
    let registry = pkg.read("src/event_registry.rs");
    assert!(!registry.contains("Envelope"), "{registry}");
    assert!(registry.contains("UserRegisteredEvent"), "{registry}");
}

#[test]
fn mod_lines_go_after_inner_attributes_and_nothing_else_in_the_root_changes() {
    let pkg = Pkg::new();
    let original = "//! My shop.\n#![allow(clippy::all)]\n\n// Modules first.\nmod config;\n\nuse std::io;\n\n/// Starts the shop.\n#[tokio::main]\nasync fn main() {\n    let _ = io::stdout();\n}\n";
    pkg.write("src/main.rs", original);
    pkg.write("src/config.rs", "pub const PORT: u16 = 8080;\n");
    pkg.artisan(&["make:event", "UserRegistered"]).ok();
    let root = pkg.read("src/main.rs");
    assert_eq!(
        root,
        "//! My shop.\n#![allow(clippy::all)]\n\n// Modules first.\nmod event_registry;\nmod events;\nmod listeners;\n\nmod config;\n\nuse std::io;\n\n/// Starts the shop.\n#[tokio::main]\nasync fn main() {\n    let _ = io::stdout();\n}\n"
    );
    // rustfmt follows the `mod` lines into every generated file.
    let status = std::process::Command::new("rustfmt")
        .args(["--edition", "2024", "--check"])
        .arg(pkg.file("src/main.rs"))
        .arg(pkg.file("src/events/mod.rs"))
        .arg(pkg.file("src/event_registry.rs"))
        .status()
        .expect("rustfmt runs");
    assert!(
        status.success(),
        "rustfmt --check failed on generated files"
    );
    // Already there: the root is left alone, even if the user reorders the lines.
    let reordered = root.replace(
        "mod event_registry;\nmod events;\n",
        "mod events;\nmod event_registry;\n",
    );
    pkg.write("src/main.rs", &reordered);
    pkg.artisan(&["make:event", "OrderShipped"]).ok();
    assert_eq!(pkg.read("src/main.rs"), reordered);
}

#[test]
fn a_crate_root_that_does_not_parse_is_reported_and_nothing_changes() {
    let pkg = Pkg::new();
    pkg.write("src/main.rs", "fn main() {\n    let x = ;\n}\n");
    let before = pkg.snapshot();
    let run = pkg.artisan(&["make:event", "UserRegistered"]);
    assert_eq!(run.code, 1);
    assert!(run.stderr.contains("src/main.rs:2:"), "{}", run.stderr);
    assert!(run.stderr.contains("nothing was written"), "{}", run.stderr);
    assert_eq!(pkg.snapshot(), before);
}
