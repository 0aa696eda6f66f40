//! `queue:work --tries N --timeout S --backoff S` through the app's own artisan (the
//! library's `App` with the app's job registry, as `src/bin/artisan.rs`
//! runs it), on a real SQLite queue configured by the package's `.env`:
//! the worker's flags apply to listeners that declare no tries / timeout /
//! backoff,
//! and what failed is in `queue:failed`.

use std::path::Path;
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};

use event_core::queue::JobRegistry;
use event_core::queue::Queue;
use event_core::{Dispatcher, Event, listener};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Serialize, Deserialize, Event)]
pub struct InvoiceDueEvent {
    pub order: u64,
    #[serde(default)]
    pub sleep_ms: u64,
}

static ATTEMPTS: AtomicU32 = AtomicU32::new(0);

/// Declares neither tries nor timeout: the worker's flags decide.
#[listener(event = InvoiceDueEvent, queued)]
async fn send_invoice(event: &InvoiceDueEvent) -> anyhow::Result<()> {
    ATTEMPTS.fetch_add(1, Ordering::SeqCst);
    if event.sleep_ms > 0 {
        tokio::time::sleep(std::time::Duration::from_millis(event.sleep_ms)).await;
        return Ok(());
    }
    anyhow::bail!("mail server refused invoice {}", event.order)
}

fn registry() -> JobRegistry {
    JobRegistry::new().listener::<InvoiceDueEvent>(Arc::new(SendInvoiceListener))
}

/// The app's artisan, in this process: exit code.
fn app_artisan(pkg: &Path, args: &[&str]) -> i32 {
    let manifest = pkg.join("Cargo.toml");
    let mut argv = vec![
        "artisan",
        "--manifest-path",
        manifest.to_str().expect("utf-8"),
    ];
    argv.extend_from_slice(args);
    event_artisan::App::new().jobs(registry).run_with(argv)
}

/// The installed artisan's `queue:failed --json`.
fn failed_json(url: &str, pkg: &Path) -> serde_json::Value {
    let out = Command::new(env!("CARGO_BIN_EXE_artisan"))
        .args(["queue:failed", "--url", url, "--json"])
        .current_dir(pkg)
        .env("NO_COLOR", "1")
        .output()
        .expect("run artisan");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("JSON")
}

/// Dispatches as the app would (the retry delay is the worker's: its
/// `--backoff`, else the package's `.env`).
fn dispatch(url: &str, event: InvoiceDueEvent) {
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    rt.block_on(async {
        // The default settings (a 60 s retry delay): the worker's decide.
        let queue = Queue::open(url).await.expect("open the queue");
        let dispatcher = Dispatcher::new();
        queue.install(&dispatcher).await;
        dispatcher
            .listen::<InvoiceDueEvent>(Arc::new(SendInvoiceListener))
            .await;
        dispatcher
            .dispatch(event)
            .await
            .expect("dispatch writes the job");
    });
}

fn flush(url: &str) {
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    rt.block_on(async {
        let queue = Queue::open(url).await.expect("open the queue");
        queue.clear().await.expect("clear");
        queue.failed().expect("store").purge().await.expect("purge");
    });
}

#[test]
fn queue_work_tries_timeout_and_backoff_apply_to_undeclared_listeners() {
    let pkg = tempfile::tempdir().expect("temp dir");
    let url = format!("sqlite://{}/jobs.db", pkg.path().display());
    std::fs::write(
        pkg.path().join("Cargo.toml"),
        "[package]\nname = \"shop\"\nversion = \"0.1.0\"\nedition = \"2024\"\n",
    )
    .expect("manifest");
    std::fs::create_dir(pkg.path().join("src")).expect("src");
    std::fs::write(pkg.path().join("src/main.rs"), "fn main() {}\n").expect("main");
    // One try by default, and a retry at once.
    std::fs::write(
        pkg.path().join(".env"),
        format!(
            "EVENTS_QUEUE_CONNECTION=sqlite\nEVENTS_QUEUE_URL={url}\n\
             EVENTS_RETRY_ATTEMPTS=1\nEVENTS_RETRY_DELAY_SECONDS=0\n"
        ),
    )
    .expect(".env");
    let invoice = |order, sleep_ms| InvoiceDueEvent { order, sleep_ms };

    // --tries 2: attempted twice, then failed for good.
    dispatch(&url, invoice(1, 0));
    let code = app_artisan(
        pkg.path(),
        &["queue:work", "--tries", "2", "--stop-when-empty"],
    );
    assert_eq!(code, 0);
    assert_eq!(ATTEMPTS.swap(0, Ordering::SeqCst), 2, "--tries 2");
    let failed = failed_json(&url, pkg.path());
    assert_eq!(failed.as_array().map(Vec::len), Some(1), "{failed}");
    assert_eq!(failed[0]["attempts"], 2);
    // Named under its package (event-artisan), as in every binary of it.
    assert_eq!(failed[0]["listener"], "event_artisan::SendInvoiceListener");
    assert!(
        failed[0]["reason"]
            .as_str()
            .is_some_and(|r| r.contains("mail server refused invoice 1")),
        "{failed}"
    );

    // Without --tries: EVENTS_RETRY_ATTEMPTS (1).
    flush(&url);
    dispatch(&url, invoice(2, 0));
    assert_eq!(
        app_artisan(pkg.path(), &["queue:work", "--stop-when-empty"]),
        0
    );
    assert_eq!(ATTEMPTS.swap(0, Ordering::SeqCst), 1, "the .env's default");
    assert_eq!(failed_json(&url, pkg.path())[0]["attempts"], 1);

    // --timeout 1: a 3 s attempt is cancelled after 1 s and fails.
    flush(&url);
    dispatch(&url, invoice(3, 3_000));
    let began = std::time::Instant::now();
    let code = app_artisan(
        pkg.path(),
        &["queue:work", "--timeout", "1", "--stop-when-empty"],
    );
    assert_eq!(code, 0);
    assert!(began.elapsed() < std::time::Duration::from_millis(2_900));
    let failed = failed_json(&url, pkg.path());
    assert!(
        failed[0]["reason"]
            .as_str()
            .is_some_and(|r| r.contains("timed out after 1000 ms")),
        "{failed}"
    );

    // --backoff 2: the failed first attempt's retry waits 2 s (the .env
    // says 0), so a worker that stops when nothing is due has run it once
    // and the job still waits; 2 s later the next worker retries it.
    flush(&url);
    ATTEMPTS.store(0, Ordering::SeqCst); // the cancelled attempt above counted
    dispatch(&url, invoice(4, 0));
    let failed_first = std::time::Instant::now();
    let code = app_artisan(
        pkg.path(),
        &[
            "queue:work",
            "--tries",
            "2",
            "--backoff",
            "2",
            "--stop-when-empty",
        ],
    );
    assert_eq!(code, 0);
    assert_eq!(
        ATTEMPTS.swap(0, Ordering::SeqCst),
        1,
        "the retry is held back"
    );
    assert_eq!(
        failed_json(&url, pkg.path()).as_array().map(Vec::len),
        Some(0)
    );
    std::thread::sleep(
        std::time::Duration::from_millis(2_100).saturating_sub(failed_first.elapsed()),
    );
    let code = app_artisan(
        pkg.path(),
        &["queue:work", "--tries", "2", "--stop-when-empty"],
    );
    assert_eq!(code, 0);
    assert_eq!(ATTEMPTS.swap(0, Ordering::SeqCst), 1, "the retry, once due");
    assert_eq!(failed_json(&url, pkg.path())[0]["attempts"], 2);

    // --tries 0 is Laravel's "no limit": a job that always fails is
    // retried (the .env retries at once) until --max-time stops the worker,
    // and nothing reaches the failed store.
    flush(&url);
    ATTEMPTS.store(0, Ordering::SeqCst);
    dispatch(&url, invoice(5, 0));
    let code = app_artisan(
        pkg.path(),
        &["queue:work", "--tries", "0", "--max-time", "1"],
    );
    assert_eq!(code, 0);
    let attempts = ATTEMPTS.swap(0, Ordering::SeqCst);
    assert!(
        attempts > 3,
        "retried past any default: {attempts} attempts"
    );
    assert_eq!(
        failed_json(&url, pkg.path()).as_array().map(Vec::len),
        Some(0)
    );

    // --timeout 0 is no timeout: a 1.5 s attempt runs to the end and the
    // job is done.
    flush(&url);
    ATTEMPTS.store(0, Ordering::SeqCst);
    dispatch(&url, invoice(6, 1_500));
    let began = std::time::Instant::now();
    let code = app_artisan(
        pkg.path(),
        &["queue:work", "--timeout", "0", "--stop-when-empty"],
    );
    assert_eq!(code, 0);
    assert!(began.elapsed() >= std::time::Duration::from_millis(1_500));
    assert_eq!(ATTEMPTS.swap(0, Ordering::SeqCst), 1, "one attempt, done");
    assert_eq!(
        failed_json(&url, pkg.path()).as_array().map(Vec::len),
        Some(0)
    );

    // A value that is not a number is refused by the parser (exit 2),
    // before any job is touched.
    assert_eq!(
        app_artisan(pkg.path(), &["queue:work", "--tries", "three"]),
        2
    );
}
