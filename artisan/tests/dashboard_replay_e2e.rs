//! Replay from the standalone dashboard, on the user's road: a fresh app
//! (`artisan init`, an event with a sync listener) records an event on
//! sqlite; `artisan dashboard` (the installed CLI, no listeners of the app)
//! hands a replay to the app's workers; the app's own
//! `artisan queue:work`, a separate process, runs it: the listener runs
//! again and the chain shows the replay under the original. A listener the
//! event does not have, and a worker whose process has no event store,
//! fail the job with a reason that says so.
//!
//! The package builds in the shared end-to-end target dir (see `common`).

mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use common::{Pkg, must, run_built, run_in};

const TOKEN: &str = "replay-e2e";

/// One request to the dashboard with its token (and, for a POST, the
/// same-origin header a page sends); the status code and the JSON body.
fn call(addr: &str, method: &str, path: &str) -> (u16, serde_json::Value) {
    let mut stream = TcpStream::connect(addr).expect("connect to the dashboard");
    stream
        .set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    write!(
        stream,
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {TOKEN}\r\n\
         Origin: http://{addr}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut answer = String::new();
    stream.read_to_string(&mut answer).unwrap();
    let status = answer
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let body = answer.split_once("\r\n\r\n").map(|(_, b)| b).unwrap_or("");
    (status, serde_json::from_str(body).unwrap_or_default())
}

/// The app's own artisan (built by `cargo build`): `queue:work` until the
/// queue is empty, in the package folder, with `env` added.
fn work(pkg: &Path, env: &[(&str, &str)]) -> String {
    run_built("artisan", pkg, &["queue:work", "--stop-when-empty"], env)
}

struct Dashboard(Child);

impl Drop for Dashboard {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn a_replay_from_the_standalone_dashboard_runs_on_the_app_s_worker() {
    let pkg = Pkg::with_workspace_lock();
    pkg.artisan(&["init"]).ok();
    pkg.artisan(&["make:event", "OrderPlaced"]).ok();
    pkg.artisan(&["make:listener", "Ledger", "--event", "OrderPlaced"])
        .ok();
    // The sync listener writes a line per run: `live` or `replay`.
    pkg.listener_body(
        "src/listeners/ledger.rs",
        "    let _ = event;\n    \
         let line = if event_core::store::is_replaying() { \"replay\\n\" } else { \"live\\n\" };\n    \
         let path = format!(\"{}/ledger.txt\", env!(\"CARGO_MANIFEST_DIR\"));\n    \
         let mut file = std::fs::OpenOptions::new().create(true).append(true).open(path)?;\n    \
         std::io::Write::write_all(&mut file, line.as_bytes())?;\n",
    );
    pkg.main_runs("    event_core::dispatch(events::OrderPlacedEvent::new()).await?;\n");
    pkg.write(
        ".env",
        "EVENTS_QUEUE_CONNECTION=sqlite\nEVENTS_QUEUE_URL=sqlite://jobs.db\n\
         EVENTS_STORE_URL=sqlite://events.db\n",
    );
    must(&pkg, &["build", "-q"]);
    run_built("shop", pkg.path(), &[], &[]);
    assert_eq!(pkg.read("ledger.txt"), "live\n");

    // The standalone dashboard over the app's queue and store.
    let jobs = format!("sqlite://{}", pkg.file("jobs.db").display());
    let events = format!("sqlite://{}", pkg.file("events.db").display());
    let mut child = Command::new(env!("CARGO_BIN_EXE_artisan"))
        .args(["dashboard", "--port", "0", "--token", TOKEN])
        .args(["--url", &jobs, "--store-url", &events])
        .current_dir(pkg.path())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("start artisan dashboard");
    let stdout = child.stdout.take().expect("stdout");
    let _dashboard = Dashboard(child);
    let mut lines = BufReader::new(stdout).lines();
    let shown = lines
        .by_ref()
        .map_while(Result::ok)
        .find(|l| l.contains("The dashboard is at"))
        .expect("it prints where it is");
    // Keep reading what it prints: a closed pipe would stop it.
    std::thread::spawn(move || lines.for_each(drop));
    let addr = shown
        .split("http://")
        .nth(1)
        .and_then(|a| a.split('/').next())
        .expect("host:port")
        .to_string();

    let (status, listed) = call(&addr, "GET", "/api/events?name=OrderPlaced");
    assert_eq!(status, 200, "{listed}");
    let id = listed["events"][0]["id"]
        .as_str()
        .expect("an event")
        .to_string();
    let correlation = listed["events"][0]["correlation_id"]
        .as_str()
        .unwrap()
        .to_string();

    // Handed to the workers, run by the app's worker process.
    let (status, handed) = call(&addr, "POST", &format!("/api/events/{id}/replay"));
    assert_eq!(status, 202, "{handed}");
    assert_eq!(handed["handed_to"], "workers", "{handed}");
    let worked = work(pkg.path(), &[]);
    assert!(worked.contains("1 done, 0 retried, 0 failed"), "{worked}");
    assert_eq!(pkg.read("ledger.txt"), "live\nreplay\n", "{worked}");
    let (status, chain) = call(&addr, "GET", &format!("/api/chains/{correlation}"));
    assert_eq!(status, 200, "{chain}");
    let replays: Vec<_> = chain["events"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["replay_of"] == id.as_str())
        .collect();
    assert_eq!(replays.len(), 1, "the chain shows the new link: {chain:#}");

    // A listener the event does not have; a worker without a store.
    call(
        &addr,
        "POST",
        &format!("/api/events/{id}/replay?listener=Nope"),
    );
    let worked = work(pkg.path(), &[]);
    assert!(worked.contains("0 done, 0 retried, 1 failed"), "{worked}");
    call(&addr, "POST", &format!("/api/events/{id}/replay"));
    let worked = work(pkg.path(), &[("EVENTS_STORE_ENABLED", "false")]);
    assert!(worked.contains("0 done, 0 retried, 1 failed"), "{worked}");
    assert_eq!(pkg.read("ledger.txt"), "live\nreplay\n", "{worked}");
    let failed = run_in(pkg.path(), &["queue:failed", "--json"], &[]).ok();
    assert!(
        failed
            .stdout
            .contains("event `OrderPlaced` has no listener `Nope` to replay"),
        "{}",
        failed.stdout
    );
    assert!(
        failed
            .stdout
            .contains("this worker's process has no event store"),
        "{}",
        failed.stdout
    );
}
