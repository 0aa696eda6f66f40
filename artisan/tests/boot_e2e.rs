//! One boot, end to end, on the user's road: a fresh package, `artisan init`,
//! a queued listener that dispatches a second event with a sync listener.
//! Plain `cargo run` runs the app (default-run) from anywhere (the package's
//! `.env`); `cargo run --bin artisan -- queue:work` boots the app, so the
//! second listener runs in the worker, the second event is broadcast from
//! the worker to a pusher-js client of `artisan broadcast:serve`, and the
//! store records both events in one correlation chain: on sqlite, then on
//! redis (queue) + postgres (store). Also: a listener the worker queues
//! itself retries with its reason and fails under the app's name; the
//! lean in-app binary refuses broadcast:serve; event:replay lists what it
//! runs and skips, and --dry-run runs nothing.
//!
//! The package builds in the shared end-to-end target dir (see `common`).

mod common;

use std::process::Command;

use common::{Pkg, app_artisan, must, run_built, run_in, target_dir, workspace};

/// The chain's two events in the store, oldest first, as `event:history --json` gives them.
fn history(pkg: &Pkg, url_args: &[&str]) -> Vec<serde_json::Value> {
    let mut args = vec!["event:history", "--json"];
    args.extend_from_slice(url_args);
    let run = run_in(pkg.path(), &args, &[]).ok();
    let value: serde_json::Value = serde_json::from_str(&run.stdout).expect("JSON");
    let mut rows = value.as_array().expect("an array").clone();
    rows.sort_by_key(|r| r["position"].as_i64());
    rows
}

fn assert_one_chain(rows: &[serde_json::Value]) {
    let names: Vec<&str> = rows.iter().filter_map(|r| r["name"].as_str()).collect();
    assert_eq!(names, ["OrderPlaced", "PaymentTaken"], "{rows:#?}");
    let (placed, taken) = (&rows[0], &rows[1]);
    assert_eq!(placed["correlation_id"], placed["id"], "{rows:#?}");
    assert_eq!(taken["correlation_id"], placed["id"], "{rows:#?}");
    assert_eq!(taken["causation_id"], placed["id"], "{rows:#?}");
}

/// The worker's run: until the queue is empty, two tries, no backoff.
const WORK: [&str; 6] = [
    "queue:work",
    "--stop-when-empty",
    "--tries",
    "2",
    "--backoff",
    "0",
];

#[test]
fn the_worker_boots_the_app_so_a_job_s_event_reaches_its_listeners_and_the_store() {
    let pkg = Pkg::with_workspace_lock();
    pkg.artisan(&["init"]).ok();
    // The app's own artisan is lean: no PostgreSQL, no broadcasting server,
    // unless the app turns them on. This app keeps its store on postgres.
    let manifest = pkg.read("Cargo.toml");
    assert!(
        manifest.contains("default-features = false }"),
        "{manifest}"
    );
    pkg.write(
        "Cargo.toml",
        &manifest.replacen(
            "event-core = { path = ",
            "event-core = { features = [\"postgres\"], path = ",
            1,
        ),
    );
    pkg.artisan(&["make:event", "OrderPlaced"]).ok();
    pkg.artisan(&["make:event", "PaymentTaken", "--broadcast", "receipts"])
        .ok();
    pkg.artisan(&[
        "make:listener",
        "ChargeCard",
        "--event",
        "OrderPlaced",
        "--queued",
    ])
    .ok();
    pkg.artisan(&["make:listener", "SendReceipt", "--event", "PaymentTaken"])
        .ok();
    // Queued by the worker itself (the event its job dispatched), and failing.
    pkg.artisan(&[
        "make:listener",
        "AuditPayment",
        "--event",
        "PaymentTaken",
        "--queued",
    ])
    .ok();
    pkg.listener_body(
        "src/listeners/charge_card.rs",
        "    let _ = event;\n    \
         event_core::dispatch(crate::events::PaymentTakenEvent::new()).await?;\n",
    );
    // Where the package is, from the binary's build: the worker may run anywhere.
    pkg.listener_body(
        "src/listeners/send_receipt.rs",
        "    let dir = env!(\"CARGO_MANIFEST_DIR\");\n    \
         std::fs::write(format!(\"{dir}/receipt.txt\"), &event.id)?;\n",
    );
    pkg.replace(
        "src/listeners/audit_payment.rs",
        "queued)]",
        "queued, replayable = false)]",
    );
    pkg.listener_body(
        "src/listeners/audit_payment.rs",
        "    if !event.id.is_empty() {\n        \
         anyhow::bail!(\"the audit service is busy\");\n    }\n",
    );
    pkg.main_runs("    event_core::dispatch(events::OrderPlacedEvent::new()).await?;\n");

    // --- sqlite: the queue and the store in the package folder ----------
    pkg.write(
        ".env",
        "EVENTS_QUEUE_CONNECTION=sqlite\nEVENTS_QUEUE_URL=sqlite://jobs.db\n",
    );
    // `cargo run` runs the app (default-run), not its artisan.
    let (stdout, stderr) = must(&pkg, &["run", "-q"]);
    let started = format!("{stdout}{stderr}");
    let env_file = pkg.file(".env");
    assert!(
        started.contains(&format!("settings from {}", env_file.display())),
        "the startup line does not say which .env:\n{started}"
    );
    assert!(started.contains("; queue sqlite (sqlite://"), "{started}");
    assert!(!pkg.exists("receipt.txt"), "the listener was not queued");

    // The docs' fake pattern, in the app's own tests, twice in parallel:
    // registering on the global dispatcher in each test queues one job.
    pkg.write(
        "src/fake_tests.rs",
        "use event_core::prelude::*;\n\
         use event_core::testing::QueueFake;\n\n\
         async fn placing_an_order_queues_the_charge_once() -> anyhow::Result<()> {\n    \
         crate::event_registry::register_on(event_core::event_dispatcher().await).await;\n    \
         let queue = QueueFake::new();\n    \
         crate::events::OrderPlacedEvent::new().dispatch().await?;\n    \
         queue.assert_listener_queued_times::<crate::listeners::charge_card::ChargeCardListener>(1);\n    \
         Ok(())\n}\n\n\
         #[tokio::test]\nasync fn first() -> anyhow::Result<()> {\n    \
         placing_an_order_queues_the_charge_once().await\n}\n\n\
         #[tokio::test]\nasync fn second() -> anyhow::Result<()> {\n    \
         placing_an_order_queues_the_charge_once().await\n}\n",
    );
    let main = pkg.read("src/main.rs");
    pkg.write(
        "src/main.rs",
        &format!("{main}\n#[cfg(test)]\nmod fake_tests;\n"),
    );
    let (tested, _) = must(&pkg, &["test", "-q", "--bin", "shop", "fake_tests"]);
    assert!(tested.contains("2 passed"), "{tested}");

    // Started from another folder, the app still reads the package's .env
    // and keeps its files in the package folder.
    let elsewhere = tempfile::tempdir().expect("temp dir");
    must(&pkg, &["build", "-q"]);
    run_built("shop", elsewhere.path(), &[], &[]);
    assert_eq!(
        std::fs::read_dir(elsewhere.path()).expect("list").count(),
        0,
        "the app wrote files where it was started"
    );

    // The broadcast server and a pusher-js client subscribed to `receipts`
    // (when node and tests/js's packages are there), started once the
    // package is built, so the client does not wait out the cold builds.
    let listening = Listening::start();
    if let Some(l) = &listening {
        let env = pkg.read(".env") + &l.env();
        pkg.write(".env", &env);
    }
    let (worked, _) = app_artisan(&pkg, &WORK);
    assert!(worked.contains("2 done, 2 retried, 2 failed"), "{worked}");
    // The event the job dispatched was broadcast from the worker to the browser client.
    if let Some(l) = listening {
        let got = l.received();
        assert!(
            got.contains("GOT PaymentTaken on receipts"),
            "{got}\n{worked}"
        );
    }
    // A RETRY line says why, at once.
    let retry = worked
        .lines()
        .position(|l| l.trim_end().ends_with("RETRY"))
        .expect("a RETRY line");
    let reason = worked.lines().nth(retry + 1).unwrap_or_default();
    assert!(
        reason.contains("the audit service is busy") && reason.contains("next attempt in"),
        "{worked}"
    );
    assert!(
        !worked.contains('\u{1b}'),
        "colour codes in piped output:\n{worked}"
    );
    // The failed job names the listener as the app does, not as the
    // artisan binary's crate would.
    let failed = run_in(pkg.path(), &["queue:failed", "--json"], &[]).ok();
    assert!(
        failed
            .stdout
            .contains("\"shop::listeners::audit_payment::AuditPaymentListener\""),
        "{}",
        failed.stdout
    );
    assert!(
        pkg.exists("receipt.txt"),
        "the event the job dispatched reached no listener:\n{worked}"
    );
    let rows = history(&pkg, &[]);
    // Two orders were placed (from the package and from elsewhere): two chains.
    assert_eq!(rows.len(), 4, "{rows:#?}");
    let first: Vec<_> = rows
        .iter()
        .filter(|r| r["correlation_id"] == rows[0]["id"])
        .cloned()
        .collect();
    assert_one_chain(&first);

    // The lean in-app binary has no broadcasting server, and says so.
    let serve = Command::new(target_dir().join("debug/artisan"))
        .arg("broadcast:serve")
        .current_dir(pkg.path())
        .env("NO_COLOR", "1")
        .output()
        .expect("run the app's artisan");
    let said = String::from_utf8_lossy(&serve.stderr);
    assert_eq!(serve.status.code(), Some(2), "{said}");
    assert!(
        said.contains("broadcast:serve is not in this build"),
        "{said}"
    );

    // event:replay says what it runs and skips; --dry-run runs nothing.
    std::fs::remove_file(pkg.file("receipt.txt")).expect("remove receipt");
    let replay = |extra: &[&str]| {
        let mut args = vec!["event:replay", "--from", "0", "--name", "PaymentTaken"];
        args.extend_from_slice(extra);
        let (stdout, _) = app_artisan(&pkg, &args);
        stdout
    };
    let planned = replay(&["--dry-run"]);
    assert!(
        planned.contains("run   shop::listeners::send_receipt::SendReceiptListener"),
        "{planned}"
    );
    assert!(
        planned.contains(
            "skip  shop::listeners::audit_payment::AuditPaymentListener (replayable = false)"
        ),
        "{planned}"
    );
    assert!(planned.contains("nothing was replayed"), "{planned}");
    assert!(!pkg.exists("receipt.txt"), "--dry-run ran a listener");
    let replayed = replay(&[]);
    assert!(
        replayed.contains("skip  shop::listeners::audit_payment"),
        "{replayed}"
    );
    assert!(
        replayed.contains("Replayed 2 event(s): 2 listener call(s), 2 skipped"),
        "{replayed}"
    );
    assert!(
        pkg.exists("receipt.txt"),
        "the replay did not run SendReceipt"
    );

    // --- redis (queue) + postgres (store): the same binaries, a new .env --
    let (Some(redis), Some(postgres)) = (test_support::redis_url(), test_support::postgres_url())
    else {
        return;
    };
    let table = test_support::unique("boot_e2e").replace('-', "_");
    let _drop = DropTable(postgres.clone(), table.clone());
    let prefix = test_support::unique("boot-e2e");
    std::fs::remove_file(pkg.file("receipt.txt")).expect("remove receipt");
    pkg.write(
        ".env",
        &format!(
            "EVENTS_QUEUE_CONNECTION=redis\nEVENTS_QUEUE_URL={}\n\
             EVENTS_STORE_URL={postgres}\nEVENTS_STORE_TABLE={table}\n",
            test_support::with_query(&redis, "prefix", &prefix),
        ),
    );
    let started = run_built("shop", pkg.path(), &[], &[]);
    assert!(started.contains("; queue redis ("), "{started}");
    assert!(!pkg.exists("receipt.txt"), "the listener was not queued");
    let worked = run_built("artisan", elsewhere.path(), &WORK, &[]);
    assert!(worked.contains("1 done, 1 retried, 1 failed"), "{worked}");
    assert!(pkg.exists("receipt.txt"), "{worked}");
    assert_one_chain(&history(&pkg, &[]));
}

/// `artisan broadcast:serve` (the installed CLI) on a spare port and a
/// pusher-js client in Node subscribed to `receipts`, ready.
struct Listening {
    port: u16,
    server: std::process::Child,
    client: std::process::Child,
    script: std::path::PathBuf,
}

const APP: [(&str, &str); 3] = [
    ("EVENTS_BROADCAST_APP_ID", "boot-e2e"),
    ("EVENTS_BROADCAST_APP_KEY", "boot-e2e-key"),
    ("EVENTS_BROADCAST_APP_SECRET", "boot-e2e-secret"),
];

impl Listening {
    fn start() -> Option<Listening> {
        let js = workspace().join("tests/js");
        let node = Command::new("node").arg("--version").output();
        if !node.is_ok_and(|o| o.status.success()) || !js.join("node_modules/pusher-js").exists() {
            println!("skipped: the broadcast leg needs node and `npm ci` in tests/js");
            return None;
        }
        let port = test_support::spare_port();
        let mut server = Command::new(env!("CARGO_BIN_EXE_artisan"));
        server
            .args(["broadcast:serve", "--port", &port.to_string()])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null());
        for (k, v) in APP {
            server.env(k, v);
        }
        let server = server.spawn().expect("start broadcast:serve");
        let script = js.join(format!("boot-e2e-{}.mjs", std::process::id()));
        std::fs::write(
            &script,
            format!(
                "import Pusher from 'pusher-js';\n\
                 const pusher = new Pusher('{key}', {{ wsHost: '127.0.0.1', wsPort: {port}, \
                 forceTLS: false, enabledTransports: ['ws'], cluster: 'mt1', disableStats: true }});\n\
                 const channel = pusher.subscribe('receipts');\n\
                 channel.bind('pusher:subscription_succeeded', () => console.log('READY'));\n\
                 channel.bind_global((name) => {{ if (!name.startsWith('pusher')) {{ \
                 console.log(`GOT ${{name}} on receipts`); process.exit(0); }} }});\n\
                 setTimeout(() => {{ console.log('TIMEOUT'); process.exit(1); }}, 1200000);\n",
                key = APP[1].1,
            ),
        )
        .expect("write the client");
        let mut client = Command::new("node")
            .arg(&script)
            .current_dir(&js)
            .stdout(std::process::Stdio::piped())
            .spawn()
            .expect("start node");
        // Wait for READY (the server may take a moment to listen: node retries).
        // The client waits up to 20 min for the event: the package's first
        // (cold) builds come before the worker sends it. Dropping
        // `Listening` stops it.
        let stdout = client.stdout.take().expect("stdout");
        let mut lines = std::io::BufRead::lines(std::io::BufReader::new(stdout));
        let ready = lines.next().and_then(Result::ok);
        assert_eq!(
            ready.as_deref(),
            Some("READY"),
            "the pusher-js client did not subscribe"
        );
        client.stdout = None;
        let listening = Listening {
            port,
            server,
            client,
            script,
        };
        // Keep reading in the background: what it prints after READY.
        std::thread::spawn(move || {
            for line in lines.map_while(Result::ok) {
                let _ = std::fs::write(received_file(), line + "\n");
            }
        });
        Some(listening)
    }

    /// The `.env` lines of the `pusher` broadcaster pointing at the server.
    fn env(&self) -> String {
        let mut out = format!(
            "EVENTS_BROADCAST_CONNECTION=pusher\nEVENTS_BROADCAST_HOST=127.0.0.1\n\
             EVENTS_BROADCAST_PORT={}\n",
            self.port
        );
        for (k, v) in APP {
            out.push_str(&format!("{k}={v}\n"));
        }
        out
    }

    /// What the client printed after READY (waits for it to exit, at most 20 s).
    fn received(mut self) -> String {
        for _ in 0..200 {
            if let Ok(Some(_)) = self.client.try_wait() {
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
        std::thread::sleep(std::time::Duration::from_millis(200));
        std::fs::read_to_string(received_file()).unwrap_or_default()
    }
}

fn received_file() -> std::path::PathBuf {
    std::env::temp_dir().join(format!("boot-e2e-received-{}", std::process::id()))
}

impl Drop for Listening {
    fn drop(&mut self) {
        let _ = self.client.kill();
        let _ = self.server.kill();
        let _ = self.client.wait();
        let _ = self.server.wait();
        let _ = std::fs::remove_file(&self.script);
        let _ = std::fs::remove_file(received_file());
    }
}

/// Drops the test's store table when the test ends, passed or not.
struct DropTable(String, String);

impl Drop for DropTable {
    fn drop(&mut self) {
        let Ok(rt) = tokio::runtime::Runtime::new() else {
            return;
        };
        rt.block_on(async {
            if let Ok(store) = event_core::store::EventStore::open(&self.0, &self.1).await {
                let _ = store.drop_table().await;
            }
        });
    }
}
