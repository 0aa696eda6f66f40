//! The page in headless Chromium (tests/js/dashboard*.mjs over the DevTools
//! protocol), with the app's worker in a separate OS process
//! (`common::worker_process`), as `queue:work` runs beside the dashboard:
//!
//! - on sqlite, redis and postgres (one scenario, run per connection):
//!   opened with the printed token, it shows the failed count; a job that
//!   then fails on the worker process appears in the counter and the failed
//!   list within the polling interval, without reload; retry and pause from
//!   the page act on the worker; Replay on a stored event's timeline is run
//!   by the worker process and the timeline shows it under the original;
//!   the accessibility scan passes; screenshots of the page and the
//!   timeline at 375 and 1440 px, light and dark, go to
//!   target/dashboard-screenshots/<connection>/;
//! - live by push: a failure on the worker process shows within 1 s; with
//!   the broadcast server stopped, within the polling interval, and the
//!   page says it polls;
//! - a request's chain (`common::shop`): the timeline shows every event
//!   with its parent and every hop under it (target/dashboard-screenshots/timeline/).
//!
//! Skipped with a `skipped:` line without node, /usr/bin/chromium or
//! `npm ci` in tests/js; a failure when EVENTS_TEST_REQUIRE_BROWSER=1.
//! Redis and postgres are skipped without their `EVENTS_TEST_*_URL`.

mod common;

use std::path::Path;
use std::time::Duration;

use common::browser::{drive, skip, workspace};
use common::standalone::serve;
use common::worker_process::{self, WorkerProcess};
use common::{App, eventually, pusher};
use event_core::queue::monitor::StatsQuery;
use event_dashboard::{DashboardState, ServeOptions, router};
use serde_json::json;

/// Not a test: the worker process the browser tests start (this executable
/// again, running only this); without their environment it returns.
#[test]
#[ignore = "the browser tests' worker process: they start it themselves"]
fn separate_worker_process() {
    worker_process::run_from_env();
}

/// Every screenshot `names` in `folder`, each a real image.
fn assert_screenshots(folder: &Path, names: &[&str]) {
    for name in names {
        let file = folder.join(format!("{name}.png"));
        assert!(
            std::fs::metadata(&file).is_ok_and(|m| m.len() > 1_000),
            "no screenshot {}",
            file.display()
        );
    }
}

/// The scenario every connection passes: the standalone dashboard over
/// `app`'s connection and a sqlite event store, the worker in its own
/// process, the page.
async fn a_failure_retry_pause_and_replay_in_the_open_page(app: App, connection: &str) {
    let store = app.store().await;
    store.install(&app.dispatcher).await;
    let mut worker = WorkerProcess::start(&app.url, &app.store_url()).await;
    let [first, second, third] = common::orders();
    app.charge(first).await;
    app.wait_failed(1, "the seeded job failed on the worker process")
        .await;
    store.flush().await.expect("flush the store");

    let served = serve(ServeOptions {
        queue_url: Some(app.url.clone()),
        store_url: Some(app.store_url()),
        ..ServeOptions::default()
    })
    .await;
    assert!(
        served.url.starts_with("http://127.0.0.1:") && served.url.contains("/?token="),
        "{}",
        served.url
    );
    let shots = workspace()
        .join("target/dashboard-screenshots")
        .join(connection);
    let monitor = app.queue.monitor().unwrap();
    let reader = router(
        DashboardState::new(app.queue.clone())
            .unwrap()
            .store(store.clone()),
    );
    let args = [
        served.url.clone().into(),
        shots.clone().into(),
        second.to_string().into(),
    ];
    drive("dashboard.mjs", &args, async |line| {
        if let Some(origin) = line.strip_prefix("REPLAYED ") {
            // The replay job ran the listener on the worker process, and
            // went through (the card was fixed).
            replayed_on_the_worker(&app, &reader, origin).await;
            return true;
        }
        match line {
            // The open page is polling: one more job fails on the worker;
            // the page is told once it has.
            "READY 1" => {
                app.charge(second).await;
                app.wait_failed(2, "the second job failed on the worker process")
                    .await;
            }
            // The page shows it: let its card go through before the retry.
            "SHOWN 2" => worker.make_payable(second).await,
            // Paused from the page: a new job stays waiting.
            "PAUSED" => {
                // Workers read a pause within a second.
                tokio::time::sleep(Duration::from_millis(1_200)).await;
                worker.make_payable(third).await;
                app.charge(third).await;
                tokio::time::sleep(Duration::from_millis(1_500)).await;
                let payments = StatsQuery {
                    queue: Some("payments".into()),
                    ..StatsQuery::default()
                };
                let q = monitor.stats(&payments).await.unwrap().queues.remove(0);
                assert!(q.paused, "the page paused the queue: {q:?}");
                assert_eq!(q.pending, 1, "no worker claims from a paused queue: {q:?}");
            }
            // The first order's card is fixed: its replay will go through.
            "REPLAY" => worker.make_payable(first).await,
            _ => return false,
        }
        true
    })
    .await;
    served.stop().await;
    worker.kill().await;
    assert_screenshots(
        &shots,
        &[
            "dashboard-375-light",
            "dashboard-1440-light",
            "dashboard-375-dark",
            "dashboard-1440-dark",
            "timeline-375-light",
            "timeline-1440-light",
            "timeline-375-dark",
            "timeline-1440-dark",
        ],
    );
}

/// The replay of `origin` the page asked for ran its listener on the
/// worker process (the store's replay record says which) and the job
/// completed on the default queue.
async fn replayed_on_the_worker(app: &App, reader: &axum::Router, origin: &str) {
    let event = common::get(reader, &format!("/api/events/{origin}")).await;
    let correlation = event.json["correlation_id"].as_str().unwrap();
    common::assert_replay_ran_the_listener(reader, correlation, origin).await;
    let monitor = app.queue.monitor().unwrap();
    let default = StatsQuery {
        queue: Some(app.queue.default_queue().into()),
        ..StatsQuery::default()
    };
    let mut last = None;
    let done = eventually(Duration::from_secs(10), async || {
        let q = monitor.stats(&default).await.unwrap().queues.remove(0);
        let done = q.pending + q.running == 0 && q.processed_in_window >= 1;
        last = Some(q);
        done
    })
    .await;
    let q = last.unwrap();
    assert!(done, "the replay job finished: {q:?}");
    assert_eq!(q.failed, 0, "the replay job went through: {q:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_sqlite_a_failure_retry_pause_and_replay_in_the_open_page() {
    if skip("the dashboard browser test on sqlite") {
        return;
    }
    a_failure_retry_pause_and_replay_in_the_open_page(App::new().await, "sqlite").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_redis_a_failure_retry_pause_and_replay_in_the_open_page() {
    if skip("the dashboard browser test on redis") {
        return;
    }
    let Some(base) = test_support::redis_url() else {
        return;
    };
    let url = test_support::with_query(&base, "prefix", &test_support::unique("dash-browser"));
    let app = App::open(tempfile::tempdir().unwrap(), url).await;
    let monitor = app.queue.monitor().unwrap();
    let failed = app.queue.failed().unwrap();
    let default = app.queue.default_queue().to_string();
    a_failure_retry_pause_and_replay_in_the_open_page(app, "redis").await;
    monitor.clear("payments").await.expect("clear");
    monitor.clear(&default).await.expect("clear");
    failed.purge().await.expect("purge");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_postgres_a_failure_retry_pause_and_replay_in_the_open_page() {
    if skip("the dashboard browser test on postgres") {
        return;
    }
    let Some(schema) = test_support::Schema::tagged("dashbrowser") else {
        return;
    };
    let app = App::open(tempfile::tempdir().unwrap(), schema.url.clone()).await;
    a_failure_retry_pause_and_replay_in_the_open_page(app, "postgres").await;
}

/// Live by push (tests/js/dashboard_push.mjs): the standalone dashboard
/// given the broadcast server's settings, the worker in its own process;
/// the page subscribes, fetches nothing while nothing changes, shows a
/// failure on the worker process within 1 s, lists the server's node and
/// channels (a presence channel's member among them) in the Broadcasting
/// part; once the server is gone it says it polls, and shows the next
/// failure within the polling interval.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_page_is_live_by_push_and_polls_without_the_server() {
    if skip("the dashboard push browser test") {
        return;
    }
    let (broadcast_server, broadcast) = pusher::server("dash").await;
    let port = broadcast.port;
    // A member of a presence channel, for the Broadcasting part to list.
    let _alice = pusher::subscribed("dash", port, "presence-room", Some("alice")).await;
    let app = App::new().await;
    let worker = WorkerProcess::start(&app.url, &app.store_url()).await;
    let served = serve(ServeOptions {
        queue_url: Some(app.url.clone()),
        store_url: Some(app.store_url()),
        broadcast: Some(broadcast),
        ..ServeOptions::default()
    })
    .await;
    let shots = workspace().join("target/dashboard-screenshots/push");
    let mut broadcast_server = Some(broadcast_server);
    let [pushed, polled] = common::orders();
    let args = [
        served.url.clone().into(),
        shots.into(),
        pushed.to_string().into(),
        polled.to_string().into(),
    ];
    drive("dashboard_push.mjs", &args, async |line| {
        match line {
            // The page is told once the job has failed on the worker.
            "READY" => {
                app.charge(pushed).await;
                app.wait_failed(1, "the job failed on the worker process")
                    .await;
            }
            "SERVER" => {
                if let Some(s) = broadcast_server.take() {
                    s.shutdown().await.expect("stop the broadcast server");
                }
            }
            "POLLING" => {
                app.charge(polled).await;
                app.wait_failed(2, "the next job failed on the worker process")
                    .await;
            }
            _ => return false,
        }
        true
    })
    .await;
    served.stop().await;
    worker.kill().await;
}

/// A request's chain (`common::shop`: the HTTP request, its event, a sync
/// listener, a queued listener that dispatches a second event on the
/// worker, that event's broadcast), as the user reads it on the timeline
/// (tests/js/dashboard_timeline.mjs): every node with its parent, every
/// hop under its node; scanned by axe and photographed at 375 and 1440 px.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_timeline_shows_every_hop_of_a_request_s_chain() {
    if skip("the dashboard timeline browser test") {
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let store_url = format!("sqlite://{}", dir.path().join("events.db").display());
    let store = event_core::store::EventStore::open(&store_url, "events")
        .await
        .expect("open the store");
    let ordered = common::shop::order(&store).await;
    let queue = ordered.queue.default_queue().to_string();
    let served = serve(ServeOptions {
        queue_url: Some(ordered.url.clone()),
        store_url: Some(store_url),
        ..ServeOptions::default()
    })
    .await;
    // The chain's nodes in order, each with its parent node (by name; a
    // root has none) and the hops the user reads under it: what a hop is
    // called and what it says. A node for the request itself would go
    // first, as the parent of OrderPlaced.
    let expected = json!([
        {"node": "OrderPlaced", "parent": null, "hops": [
            {"hop": "listener ReserveStock", "says": "ran in"},
            {"hop": "queued ChargeCard", "says": format!("on {queue}")},
            {"hop": "job ChargeCard · attempt 1", "says": format!("done on {queue} by worker")},
        ]},
        {"node": "PaymentTaken", "parent": "OrderPlaced", "hops": [
            {"hop": "broadcast PaymentTaken", "says": "sent on receipts"},
        ]},
    ]);
    let shots = workspace().join("target/dashboard-screenshots/timeline");
    let args = [
        served.url.clone().into(),
        shots.clone().into(),
        expected.to_string().into(),
    ];
    drive("dashboard_timeline.mjs", &args, async |_| false).await;
    served.stop().await;
    assert_screenshots(
        &shots,
        &[
            "timeline-375-light",
            "timeline-1440-light",
            "timeline-375-dark",
            "timeline-1440-dark",
        ],
    );
}
