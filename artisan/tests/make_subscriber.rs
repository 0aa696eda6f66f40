//! `make:subscriber`: the file, its wiring into the generated registry,
//! `event:list` showing each method as a listener, and the road: a
//! scaffolded app builds, a dispatch runs the subscriber's method, and
//! `queue:work` (a separate process) runs its queued one.

mod common;

use common::{Pkg, app_artisan, assert_refused, must, own_warnings};

#[test]
fn make_subscriber_writes_the_type_and_wires_it_once() {
    let pkg = Pkg::new();
    pkg.artisan(&["make:event", "UserLoggedIn"]).ok();
    let run = pkg
        .artisan(&[
            "make:subscriber",
            "UserEvent",
            "--event",
            "UserLoggedIn",
            "--event",
            "user_logged_out",
        ])
        .ok();
    assert!(
        run.stdout
            .contains("Subscriber [src/listeners/user_event.rs] created successfully."),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout
            .contains("Event [src/events/user_logged_out.rs] created successfully"),
        "{}",
        run.stdout
    );
    let text = pkg.read("src/listeners/user_event.rs");
    assert!(text.contains("pub struct UserEventSubscriber;"), "{text}");
    assert!(
        text.contains("#[subscriber]\nimpl UserEventSubscriber {"),
        "{text}"
    );
    assert!(
        text.contains(
            "    #[listen]\n    async fn on_user_logged_in(&self, event: &UserLoggedInEvent)"
        ),
        "{text}"
    );
    assert!(
        text.contains("async fn on_user_logged_out(&self, event: &UserLoggedOutEvent)"),
        "{text}"
    );

    let registry = pkg.read("src/event_registry.rs");
    assert_eq!(
        registry
            .matches(
                "event_core::subscribe_once(dispatcher, \
                 Arc::new(crate::listeners::user_event::UserEventSubscriber)).await;"
            )
            .count(),
        1,
        "{registry}"
    );
    assert!(
        registry
            .contains(".subscriber(Arc::new(crate::listeners::user_event::UserEventSubscriber))"),
        "{registry}"
    );
    // Events first, so the worker can rebuild them for every method.
    let events = registry.rfind(".event::<").expect("events in job_registry");
    let subscriber = registry.find(".subscriber(").expect("subscriber");
    assert!(events < subscriber, "{registry}");

    let list = pkg.artisan(&["event:list"]).ok().stdout;
    assert!(
        list.contains("⇂ UserEventSubscriber::on_user_logged_in\n"),
        "{list}"
    );
    assert!(
        list.contains("⇂ UserEventSubscriber::on_user_logged_out\n"),
        "{list}"
    );
    let filtered = pkg
        .artisan(&["event:list", "--event", "LoggedOut"])
        .ok()
        .stdout;
    assert!(filtered.contains("on_user_logged_out"), "{filtered}");
    assert!(!filtered.contains("on_user_logged_in"), "{filtered}");
    let json = pkg.artisan(&["event:list", "--json"]).ok().stdout;
    assert!(!json.contains("not wired"), "{json}");
    let value: serde_json::Value = serde_json::from_str(&json).expect("JSON");
    let listener = &value["events"][0]["listeners"][0];
    assert_eq!(
        listener["listener"],
        "UserEventSubscriber::on_user_logged_in"
    );
    assert_eq!(listener["wired"], true);

    assert_refused(
        &pkg,
        &["make:subscriber", "UserEvent", "--event", "UserLoggedIn"],
        1,
        "already exists",
    );
}

#[test]
fn make_subscriber_needs_an_event() {
    let pkg = Pkg::new();
    let run = pkg.artisan(&["make:subscriber", "UserEvent"]);
    assert_eq!(run.code, 2, "{}", run.all());
    assert!(run.all().contains("--event"), "{}", run.all());
    assert!(!pkg.exists("src/listeners/user_event.rs"));
}

#[test]
fn a_subscriber_the_macro_refuses_is_reported_not_wired() {
    let pkg = Pkg::new();
    pkg.artisan(&["make:event", "UserLoggedIn"]).ok();
    pkg.artisan(&["make:subscriber", "Audit", "--event", "UserLoggedIn"])
        .ok();
    let file = "src/listeners/audit.rs";
    pkg.write(
        file,
        &pkg.read(file).replace("#[listen]", "#[listen(qeued)]"),
    );
    let run = pkg.artisan(&["event:generate"]).ok();
    assert!(
        run.all().contains(
            "src/listeners/audit.rs:18: AuditSubscriber does not compile, so it is not wired: \
             unknown key `qeued` in `#[listen(...)]`; did you mean `queued`?"
        ),
        "{}",
        run.all()
    );
    assert!(
        !pkg.read("src/event_registry.rs")
            .contains("AuditSubscriber")
    );
}

/// The road: `artisan init`, `make:subscriber`, build, dispatch: the
/// subscriber's method ran; its queued method ran on `queue:work` (sqlite),
/// under its own name.
#[test]
fn a_scaffolded_subscriber_runs_inline_and_on_queue_work() {
    let pkg = Pkg::with_workspace_lock();
    pkg.write(
        "src/main.rs",
        "#[tokio::main]\nasync fn main() -> anyhow::Result<()> {\n    println!(\"Hello, world!\");\n    Ok(())\n}\n",
    );
    pkg.artisan(&["init"]).ok();
    pkg.artisan(&[
        "make:subscriber",
        "UserEvent",
        "--event",
        "UserLoggedIn",
        "--event",
        "UserLoggedOut",
    ])
    .ok();
    let file = "src/listeners/user_event.rs";
    let text = pkg
        .read(file)
        .replacen(
            "    let _ = event;\n",
            "    std::fs::write(\"in.txt\", &event.id)?;\n",
            1,
        )
        .replacen(
            "    let _ = event;\n",
            "    std::fs::write(\"out.txt\", &event.id)?;\n",
            1,
        )
        .replace(
            "    #[listen]\n    async fn on_user_logged_out",
            "    #[listen(queued, tries = 2)]\n    async fn on_user_logged_out",
        );
    pkg.write(file, &text);
    pkg.artisan(&["event:generate"]).ok();
    pkg.write(
        "src/main.rs",
        &pkg.read("src/main.rs").replace(
            "    println!(\"Hello, world!\");\n",
            "    event_core::dispatch(events::UserLoggedInEvent::new()).await?;\n    \
             event_core::dispatch(events::UserLoggedOutEvent::new()).await?;\n",
        ),
    );
    pkg.write(
        ".env",
        "EVENTS_QUEUE_CONNECTION=sqlite\nEVENTS_QUEUE_URL=sqlite://jobs.db\n",
    );
    let (_, stderr) = must(&pkg, &["build", "--bins"]);
    assert!(own_warnings(&stderr).is_empty(), "{stderr}");
    must(&pkg, &["run", "-q", "--bin", "shop"]);
    assert!(pkg.exists("in.txt"), "on_user_logged_in did not run");
    assert!(
        !pkg.exists("out.txt"),
        "the queued method ran inline, not queued"
    );

    let (stdout, _) = app_artisan(&pkg, &["queue:work", "--stop-when-empty"]);
    assert!(
        pkg.exists("out.txt"),
        "the worker did not run the queued method\n{stdout}"
    );
    let lines: Vec<&str> = stdout
        .lines()
        .filter(|l| l.contains("UserEventSubscriber::on_user_logged_out"))
        .collect();
    assert_eq!(lines.len(), 2, "{stdout}");
    assert!(lines[1].trim_end().ends_with("ms DONE"), "{stdout}");
    assert!(stdout.contains("1 done, 0 retried, 0 failed"), "{stdout}");
}
