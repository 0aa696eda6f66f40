//! The user's road for a queued listener's own controls and the new
//! `#[listener]` keys: a fresh package scaffolded by artisan, a listener
//! declared `unique_id`, `retry_until`, exponential `backoff` and `jitter`
//! that fails its job with `CurrentJob::fail`, dispatched twice onto the
//! embedded sqlite queue, and the app's `queue:work` in its own process.

mod common;

use common::{Pkg, app_artisan, must};

#[test]
fn a_unique_listener_that_fails_its_job_runs_once_on_queue_work() {
    let pkg = Pkg::with_workspace_lock();
    pkg.write(
        "src/main.rs",
        "#[tokio::main]\nasync fn main() -> anyhow::Result<()> {\n    println!(\"Hello, world!\");\n    Ok(())\n}\n",
    );
    pkg.artisan(&["init"]).ok();
    pkg.artisan(&["make:event", "OrderPlaced"]).ok();
    pkg.artisan(&[
        "make:listener",
        "ChargeCard",
        "--event",
        "OrderPlaced",
        "--queued",
    ])
    .ok();
    let file = "src/listeners/charge_card.rs";
    let source = pkg.read(file);
    let declared = "#[listener(event = OrderPlacedEvent, queued)]";
    assert!(source.contains(declared), "{source}");
    let source = source
        .replace(
            declared,
            "#[listener(\n    event = OrderPlacedEvent,\n    queued,\n    \
             unique_id = |e: &OrderPlacedEvent| e.id.clone(),\n    \
             retry_until = 3600,\n    backoff = \"exponential:1,60\",\n    jitter\n)]",
        )
        .replace(
            "    let _ = event;\n",
            "    let _ = event;\n    \
             let job = event_core::queue::CurrentJob::get()?;\n    \
             std::fs::write(format!(\"ran-{}.txt\", job.attempts()), job.id())?;\n    \
             job.fail(\"card_declined\")?;\n",
        );
    pkg.write(file, &source);
    pkg.write(
        "src/main.rs",
        &pkg.read("src/main.rs").replace(
            "    println!(\"Hello, world!\");\n",
            "    let order = events::OrderPlacedEvent::new();\n    \
             event_core::dispatch(order.clone()).await?;\n    \
             event_core::dispatch(order).await?;\n",
        ),
    );
    pkg.write(
        ".env",
        "EVENTS_QUEUE_CONNECTION=sqlite\nEVENTS_QUEUE_URL=sqlite://jobs.db\n",
    );
    must(&pkg, &["run", "-q", "--bin", "shop"]);
    assert!(
        !pkg.exists("ran-1.txt"),
        "the listener ran inline, not queued"
    );

    let (stdout, _) = app_artisan(&pkg, &["queue:work", "--stop-when-empty"]);
    assert!(
        pkg.exists("ran-1.txt"),
        "the worker did not run it\n{stdout}"
    );
    assert!(!pkg.exists("ran-2.txt"), "fail() retried the job\n{stdout}");
    assert!(
        stdout.contains("0 done, 0 retried, 1 failed"),
        "one job: the second dispatch was not queued\n{stdout}"
    );

    let (json, _) = app_artisan(&pkg, &["queue:failed", "--json"]);
    let failed: serde_json::Value = serde_json::from_str(&json).expect("JSON");
    let failed = failed.as_array().expect("a list");
    assert_eq!(failed.len(), 1, "{json}");
    assert_eq!(failed[0]["reason"], "card_declined", "{json}");
    assert_eq!(failed[0]["attempts"], 1, "{json}");
    assert_eq!(
        failed[0]["id"].as_str(),
        Some(pkg.read("ran-1.txt").as_str()),
        "CurrentJob::id is the failed job's id"
    );
}
