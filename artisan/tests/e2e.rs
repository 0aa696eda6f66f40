//! End to end: a fresh package whose only dependencies are event-core, serde,
//! tokio and anyhow; artisan scaffolds into it; the package builds without a
//! warning, passes rustfmt and clippy, runs, and its listeners fire.
//!
//! Every scaffolded package builds in one shared target dir
//! (`$CARGO_TARGET_DIR/e2e`, else `<workspace>/target/e2e`), so only the
//! first run compiles event-core's dependencies.

mod common;

use std::process::Command;

use common::{Pkg, app_artisan, must, own_warnings, target_dir};

#[test]
fn scaffolded_package_builds_cleanly_runs_and_its_listeners_fire() {
    // The workspace's lock file pins the same versions the workspace tests use.
    let pkg = Pkg::with_workspace_lock();

    // A package with no events at all still builds without warnings.
    pkg.artisan(&["event:generate"]).ok();
    let (_, stderr) = must(&pkg, &["build"]);
    assert!(own_warnings(&stderr).is_empty(), "warnings:\n{stderr}");

    pkg.artisan(&["make:event", "UserRegistered"]).ok();
    pkg.artisan(&[
        "make:listener",
        "SendWelcomeEmail",
        "--event",
        "UserRegistered",
        "--test",
    ])
    .ok();
    let run = pkg
        .artisan(&[
            "make:listener",
            "ChargeCard",
            "--event",
            "order-placed",
            "--queue",
            "payments",
        ])
        .ok();
    assert!(run.stdout.contains("did not exist yet"), "{}", run.stdout);
    pkg.artisan(&[
        "make:event",
        "MessagePosted",
        "--queued",
        "--broadcast",
        "chat.{id}",
    ])
    .ok();
    pkg.artisan(&["make:event", "Type"]).ok();
    pkg.artisan(&["make:listener", "Match", "--event", "Type"])
        .ok();
    pkg.artisan(&["make:listener", "AuditLog"]).ok();
    pkg.artisan(&["make:event", "HTTPRequestFailed"]).ok();
    // Names long enough to push template lines past rustfmt's width.
    pkg.artisan(&[
        "make:listener",
        "SendOrderConfirmationEmailToCustomer",
        "--event",
        "OrderConfirmationRequestedByCustomer",
        "--queue",
        "transactional-emails",
        "--test",
    ])
    .ok();

    // Hand-written listeners on a type: a unit struct and one deriving
    // Default are wired; an event without Deserialize stays out of the job registry.
    pkg.write(
        "src/listeners/billing.rs",
        "use event_core::prelude::*;

use crate::events::OrderPlacedEvent;

pub struct Refund;

#[listener(event = OrderPlacedEvent)]
impl Refund {
    async fn handle(&self, event: &OrderPlacedEvent) -> anyhow::Result<()> {
        println!(\"fired: refund checked for {}\", event.id);
        Ok(())
    }
}

#[derive(Default)]
pub struct SendInvoice {
    pub copies: u32,
}

#[listener(event = OrderPlacedEvent)]
impl SendInvoice {
    async fn handle(&self, event: &OrderPlacedEvent) -> anyhow::Result<()> {
        println!(\"fired: {} invoice(s) for {}\", self.copies, event.id);
        Ok(())
    }
}
",
    );
    pkg.write(
        "src/events/ping.rs",
        "use event_core::prelude::*;

#[derive(Debug, Clone, serde::Serialize, Event)]
pub struct PingEvent;
",
    );
    let run = pkg.artisan(&["event:generate"]).ok();
    assert!(
        run.stdout.contains("PingEvent is not in job_registry()"),
        "{}",
        run.stdout
    );

    // The user gives an event a field and its constructor an argument: the
    // generated `--test` stub still compiles (it builds the event with Default).
    let file = "src/events/user_registered.rs";
    let event = pkg
        .read(file)
        .replace(
            "    pub id: String,\n",
            "    pub id: String,\n    pub email: String,\n",
        )
        .replace(
            "pub fn new() -> Self {",
            "pub fn new(email: String) -> Self {",
        )
        .replace(
            "            id: event_core::ulid::Ulid::new().to_string(),\n",
            "            id: event_core::ulid::Ulid::new().to_string(),\n            email,\n",
        );
    assert!(event.contains("new(email: String)"), "{event}");
    pkg.write(file, &event);

    // The user fills in the listeners.
    for (file, what) in [
        ("src/listeners/send_welcome_email.rs", "welcome email"),
        ("src/listeners/charge_card.rs", "card charged"),
        ("src/listeners/r#match.rs", "matched"),
    ] {
        let file = file.replace("r#", "");
        let text = pkg.read(&file).replace(
            "    let _ = event;\n",
            &format!("    println!(\"fired: {what} for {{}}\", event.id);\n"),
        );
        pkg.write(&file, &text);
    }
    let main = pkg.read("src/main.rs");
    let mods: String = main
        .lines()
        .filter(|l| l.starts_with("mod "))
        .map(|l| format!("{l}\n"))
        .collect();
    assert_eq!(mods, "mod event_registry;\nmod events;\nmod listeners;\n");
    pkg.write(
        "src/main.rs",
        &format!(
            "{mods}\n\
use events::{{OrderPlacedEvent, TypeEvent, UserRegisteredEvent}};

#[tokio::main]
async fn main() -> anyhow::Result<()> {{
    let events = event_registry::boot(&event_registry::config()?).await?;
    event_core::dispatch(UserRegisteredEvent::new(\"ada@example.com\".into())).await?;
    event_core::dispatch(TypeEvent::new()).await?;

    // What a queue worker does: rebuild the event from JSON, run its listeners.
    let jobs = event_registry::job_registry();
    let payload = event_core::serde_json::to_value(OrderPlacedEvent::new())?;
    let event = jobs.decode(\"OrderPlaced\", payload)?;
    for listener in jobs.listeners_of(\"OrderPlaced\") {{
        listener.handle(event.clone()).await?;
    }}
    let mut names: Vec<&str> = jobs.event_names().collect();
    names.sort();
    println!(\"jobs: {{}}\", names.join(\", \"));
    events.shutdown().await?;
    Ok(())
}}
"
        ),
    );
    // Regenerating after the edits changes no byte.
    let before = pkg.snapshot();
    pkg.artisan(&["event:generate"]).ok();
    assert_eq!(pkg.snapshot(), before);

    let (_, stderr) = must(&pkg, &["build"]);
    assert!(own_warnings(&stderr).is_empty(), "warnings:\n{stderr}");

    let (stdout, _) = must(&pkg, &["run", "-q"]);
    assert!(stdout.contains("fired: welcome email for "), "{stdout}");
    assert!(stdout.contains("fired: matched for "), "{stdout}");
    assert!(stdout.contains("fired: card charged for "), "{stdout}");
    assert!(stdout.contains("fired: refund checked for "), "{stdout}");
    assert!(stdout.contains("fired: 0 invoice(s) for "), "{stdout}");
    assert!(
        stdout.contains(
            "jobs: HttpRequestFailed, MessagePosted, OrderConfirmationRequestedByCustomer, \
             OrderPlaced, Type, UserRegistered"
        ),
        "{stdout}"
    );

    // The tests make:listener --test wrote pass.
    let (stdout, stderr) = must(&pkg, &["test", "-q"]);
    let all = format!("{stdout}{stderr}");
    assert!(all.contains("4 passed"), "{all}");

    // Generated code is formatted and clippy-clean.
    must(&pkg, &["fmt", "--check"]);
    let (_, stderr) = must(
        &pkg,
        &["clippy", "-q", "--all-targets", "--", "-D", "warnings"],
    );
    assert!(own_warnings(&stderr).is_empty(), "clippy:\n{stderr}");

    // event:list agrees with what was wired.
    let list = pkg.artisan(&["event:list"]).ok().stdout;
    assert!(
        list.contains("⇂ ChargeCardListener (queued: sync/payments)"),
        "{list}"
    );
    assert!(list.contains("⇂ MatchListener"), "{list}");
}

/// A new user's road, from a fresh package: `artisan init`, the app's own
/// `cargo run --bin artisan -- make:*`, a dispatch onto the embedded sqlite
/// queue, `queue:work --stop-when-empty` running the listener, and
/// `event:list --json` saying where it ran.
#[test]
fn a_new_app_gets_its_own_artisan_and_its_queued_listener_runs_on_queue_work() {
    let pkg = Pkg::with_workspace_lock();
    pkg.write(
        "src/main.rs",
        "#[tokio::main]\nasync fn main() -> anyhow::Result<()> {\n    println!(\"Hello, world!\");\n    Ok(())\n}\n",
    );
    let run = pkg.artisan(&["init"]).ok();
    assert!(run.stdout.contains("src/bin/artisan.rs"), "{}", run.stdout);
    assert!(pkg.read("src/main.rs").contains(
        "async fn main() -> anyhow::Result<()> {\n    \
         let events = event_registry::boot(&event_registry::config()?).await?;\n"
    ));
    assert!(
        pkg.read(".env.example")
            .contains("EVENTS_QUEUE_CONNECTION=sync\n")
    );
    // Idempotent.
    let before = pkg.snapshot();
    pkg.artisan(&["init"]).ok();
    assert_eq!(pkg.snapshot(), before, "a second init changed files");

    // The seed's exact commands, through the app's own binary.
    app_artisan(&pkg, &["make:event", "UserRegistered"]);
    app_artisan(
        &pkg,
        &[
            "make:listener",
            "SendWelcomeEmail",
            "--event",
            "UserRegistered",
            "--queued",
        ],
    );
    let file = "src/listeners/send_welcome_email.rs";
    let listener = pkg.read(file).replace(
        "    let _ = event;\n",
        "    std::fs::write(\"ran.txt\", &event.id)?;\n",
    );
    pkg.write(file, &listener);
    pkg.write(
        "src/main.rs",
        &pkg.read("src/main.rs").replace(
            "    println!(\"Hello, world!\");\n",
            "    event_core::dispatch(events::UserRegisteredEvent::new()).await?;\n",
        ),
    );
    pkg.write(
        ".env",
        "EVENTS_QUEUE_CONNECTION=sqlite\nEVENTS_QUEUE_URL=sqlite://jobs.db\n",
    );
    must(&pkg, &["run", "-q", "--bin", "shop"]);
    assert!(
        !pkg.exists("ran.txt"),
        "the listener ran inline, not queued"
    );

    let (stdout, _) = app_artisan(&pkg, &["queue:work", "--stop-when-empty"]);
    assert!(
        pkg.exists("ran.txt"),
        "the worker did not run the listener\n{stdout}"
    );
    let lines: Vec<&str> = stdout
        .lines()
        .filter(|l| l.contains("SendWelcomeEmailListener"))
        .collect();
    assert_eq!(lines.len(), 2, "{stdout}");
    assert!(lines[0].trim_end().ends_with("RUNNING"), "{stdout}");
    assert!(lines[1].trim_end().ends_with("ms DONE"), "{stdout}");
    assert!(stdout.contains("1 done, 0 retried, 0 failed"), "{stdout}");

    // --max-jobs: two jobs wait, the worker runs one and stops.
    must(&pkg, &["run", "-q", "--bin", "shop"]);
    must(&pkg, &["run", "-q", "--bin", "shop"]);
    let artisan = target_dir().join("debug/artisan");
    let worker = |args: &[&str]| {
        Command::new(&artisan)
            .args(args)
            .current_dir(pkg.path())
            .env("NO_COLOR", "1")
            .output()
            .expect("run the app's artisan")
    };
    let out = worker(&["queue:work", "--max-jobs", "1"]);
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(out.status.success(), "{text}");
    assert!(text.contains("Worker stopped: 1 done"), "{text}");
    // --max-time: the other job runs, then the worker stops on its own.
    let out = worker(&["queue:work", "--max-time", "1"]);
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(out.status.success(), "{text}");
    assert!(text.contains("Worker stopped: 1 done"), "{text}");

    // SIGTERM stops a waiting worker gracefully, exit 0.
    let child = Command::new(&artisan)
        .args(["queue:work"])
        .current_dir(pkg.path())
        .env("NO_COLOR", "1")
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("start the worker");
    std::thread::sleep(std::time::Duration::from_secs(2));
    let killed = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .expect("kill");
    assert!(killed.success());
    let out = child.wait_with_output().expect("worker exits");
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(out.status.success(), "{:?}\n{text}", out.status);
    assert!(text.contains("Worker stopped: 0 done"), "{text}");

    let (json, _) = app_artisan(&pkg, &["event:list", "--json"]);
    let value: serde_json::Value = serde_json::from_str(&json).expect("JSON");
    let listener = &value["events"][0]["listeners"][0];
    assert_eq!(listener["listener"], "SendWelcomeEmailListener");
    assert_eq!(listener["queued"], true);
    assert_eq!(listener["connection"], "sqlite");
    assert_eq!(listener["queue"], "events");
    assert!(
        stdout.contains("[events] queue(s) on [sqlite]"),
        "the worker worked another queue:\n{stdout}"
    );
}
