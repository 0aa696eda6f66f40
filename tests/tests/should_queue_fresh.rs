//! A hand-written `impl ShouldQueue` on an event is honoured by the first
//! `.dispatch()` of a fresh process, through `Event::as_should_queue`, the
//! one mechanism every dispatch path uses; and what a job gets never
//! depends on what ran earlier in the process (there is no process-global
//! memory of types the seed macros saw).

use std::process::Command;

use serde_json::Value;

/// Runs `first_dispatch` in a fresh process; returns each stored job as
/// (event name, queue column, settings).
fn run(order: &str) -> Vec<(String, String, Value)> {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("jobs.db");
    let out = Command::new(env!("CARGO_BIN_EXE_first_dispatch"))
        .arg(&path)
        .arg(order)
        .output()
        .expect("run first_dispatch");
    assert!(
        out.status.success(),
        "first_dispatch {order} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let db = rusqlite::Connection::open(&path).expect("open the queue's file");
    let mut rows = db
        .prepare("SELECT queue, payload FROM event_jobs ORDER BY seq")
        .expect("query");
    rows.query_map([], |row| {
        let queue: String = row.get(0)?;
        let payload: String = row.get(1)?;
        Ok((queue, payload))
    })
    .expect("rows")
    .map(|row| {
        let (queue, payload) = row.expect("row");
        let envelope: Value = serde_json::from_str(&payload).expect("envelope JSON");
        let name = envelope["event"].as_str().unwrap_or_default().to_string();
        (name, queue, envelope["limits"].clone())
    })
    .collect()
}

#[test]
fn the_first_dispatch_of_a_fresh_process_honours_a_hand_written_should_queue() {
    let jobs = run("seen-first");
    let (name, queue, settings) = &jobs[0];
    assert_eq!(name, "OrderShipped", "{jobs:?}");
    assert_eq!(queue, "orders");
    assert_eq!(settings["tries"], 5, "{settings}");
    assert_eq!(settings["delay_ms"], 30_000, "{settings}");
    assert_eq!(settings["timeout_ms"], 40_000, "{settings}");
}

#[test]
fn what_a_job_gets_does_not_depend_on_what_ran_before() {
    let first = run("seen-first");
    let second = run("macro-first");
    let settings_of = |jobs: &[(String, String, Value)], name: &str| -> Vec<(String, Value)> {
        jobs.iter()
            .filter(|(n, _, _)| n == name)
            .map(|(_, q, s)| (q.clone(), s.clone()))
            .collect()
    };
    // The opted-in event: the same settings in both orders.
    assert_eq!(
        settings_of(&first, "OrderShipped"),
        settings_of(&second, "OrderShipped")
    );
    // The event that did not opt in: `dispatch_event!` and `.dispatch()`
    // give its jobs the same settings, whichever ran first (before, a
    // `dispatch_event!` made later `.dispatch()` calls see the impl).
    let invoices = settings_of(&first, "InvoicePaid");
    assert_eq!(invoices.len(), 2, "{first:?}");
    assert_eq!(invoices[0], invoices[1]);
    assert_eq!(invoices, settings_of(&second, "InvoicePaid"));
    assert_ne!(
        invoices[0].0, "invoices",
        "not seen without as_should_queue"
    );
}
