//! The page in headless Chromium (tests/js/dashboard.mjs over the DevTools
//! protocol), on sqlite, redis and postgres (one scenario, run per
//! connection): opened with the printed token, it shows the failed count,
//! then a job that fails on a running worker appears within the polling
//! interval without reload; retry and pause from the page act on the
//! worker; the accessibility scan passes; screenshots at 375 and 1440 px,
//! light and dark, go to target/dashboard-screenshots/<connection>/.
//!
//! Skipped with a `skipped:` line without node, /usr/bin/chromium or
//! `npm ci` in tests/js; a failure when EVENTS_TEST_REQUIRE_BROWSER=1.
//! Redis and postgres are skipped without their `EVENTS_TEST_*_URL`.

mod common;

use std::time::Duration;

use common::browser::{drive, skip, workspace};
use common::pusher;
use common::{App, eventually};
use event_core::queue::monitor::StatsQuery;
use event_dashboard::{ServeOptions, bind};

/// The scenario every connection passes: the standalone dashboard over
/// `app`'s connection (and a sqlite event store), a worker, the page.
async fn a_failure_retry_and_pause_in_the_open_page(app: App, connection: &str) {
    let worker = app.worker();
    let [first, second, third] = common::orders();
    app.charge(first).await;
    let failed = app.queue.failed().unwrap();
    assert!(
        eventually(Duration::from_secs(15), async || failed
            .count(&Default::default())
            .await
            .unwrap()
            == 1)
        .await,
        "the seeded job failed"
    );

    let standalone = bind(ServeOptions {
        port: 0,
        queue_url: Some(app.url.clone()),
        store_url: Some(format!(
            "sqlite://{}",
            app.dir.path().join("events.db").display()
        )),
        ..ServeOptions::default()
    })
    .await
    .expect("bind the dashboard");
    let url = standalone.url().to_string();
    assert!(
        url.starts_with("http://127.0.0.1:") && url.contains("/?token="),
        "{url}"
    );
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(standalone.run_until(async move {
        let _ = stopped.await;
    }));

    let shots = workspace()
        .join("target/dashboard-screenshots")
        .join(connection);
    let monitor = app.queue.monitor().unwrap();
    let payments = StatsQuery {
        queue: Some("payments".into()),
        ..StatsQuery::default()
    };
    let args = [url.into(), shots.clone().into(), second.to_string().into()];
    drive("dashboard.mjs", &args, async |line| {
        match line {
            // The open page is polling: fail one more job on the worker.
            "READY 1" => app.charge(second).await,
            // The page shows it: let its card go through before the retry.
            "SHOWN 2" => common::make_payable(second),
            // Paused from the page: a new job stays waiting.
            "PAUSED" => {
                // Workers read a pause within a second.
                tokio::time::sleep(Duration::from_millis(1_200)).await;
                common::make_payable(third);
                app.charge(third).await;
                tokio::time::sleep(Duration::from_millis(1_500)).await;
                let q = monitor.stats(&payments).await.unwrap().queues.remove(0);
                assert!(q.paused, "the page paused the queue: {q:?}");
                assert_eq!(q.pending, 1, "no worker claims from a paused queue: {q:?}");
            }
            _ => return false,
        }
        true
    })
    .await;
    let _ = stop.send(());
    server.await.unwrap().expect("the dashboard served");
    worker.stop().await;
    for name in [
        "dashboard-375-light",
        "dashboard-1440-light",
        "dashboard-375-dark",
        "dashboard-1440-dark",
    ] {
        let file = shots.join(format!("{name}.png"));
        assert!(
            std::fs::metadata(&file).is_ok_and(|m| m.len() > 1_000),
            "no screenshot {}",
            file.display()
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_sqlite_a_failure_retry_and_pause_in_the_open_page() {
    if skip("the dashboard browser test on sqlite") {
        return;
    }
    a_failure_retry_and_pause_in_the_open_page(App::new().await, "sqlite").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_redis_a_failure_retry_and_pause_in_the_open_page() {
    if skip("the dashboard browser test on redis") {
        return;
    }
    let Some(base) = test_support::redis_url() else {
        return;
    };
    let url = test_support::with_query(&base, "prefix", &test_support::unique("dash-browser"));
    let app = App::open(tempfile::tempdir().unwrap(), url).await;
    let (monitor, failed) = (app.queue.monitor().unwrap(), app.queue.failed().unwrap());
    a_failure_retry_and_pause_in_the_open_page(app, "redis").await;
    monitor.clear("payments").await.expect("clear");
    failed.purge().await.expect("purge");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_postgres_a_failure_retry_and_pause_in_the_open_page() {
    if skip("the dashboard browser test on postgres") {
        return;
    }
    let Some(schema) = test_support::Schema::tagged("dashbrowser") else {
        return;
    };
    let app = App::open(tempfile::tempdir().unwrap(), schema.url.clone()).await;
    a_failure_retry_and_pause_in_the_open_page(app, "postgres").await;
}

/// Live by push (tests/js/dashboard_push.mjs): the standalone dashboard
/// given the broadcast server's settings; the page subscribes, fetches
/// nothing while nothing changes, shows a failure the worker produced,
/// lists the server's node and channels (a presence channel's member among
/// them) in the Broadcasting part, and polls (saying why) once the server
/// is gone.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_page_is_live_by_push_and_polls_without_the_server() {
    if skip("the dashboard push browser test") {
        return;
    }
    let mut config = event_broadcast_server::ServerConfig::new(pusher::credentials("dash"));
    config.port = 0;
    let broadcast_server = event_broadcast_server::Server::bind(config)
        .await
        .expect("bind the broadcast server");
    let port = broadcast_server.local_addr().port();
    let broadcast = pusher::settings("dash", port);
    // A member of a presence channel, for the Broadcasting part to list.
    let _alice = pusher::subscribed("dash", port, "presence-room", Some("alice")).await;
    let app = App::new().await;
    let worker = app.worker();
    let standalone = bind(ServeOptions {
        port: 0,
        queue_url: Some(app.url.clone()),
        store_url: Some(format!(
            "sqlite://{}",
            app.dir.path().join("events.db").display()
        )),
        broadcast: Some(broadcast),
        ..ServeOptions::default()
    })
    .await
    .expect("bind the dashboard");
    let url = standalone.url().to_string();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(standalone.run_until(async move {
        let _ = stopped.await;
    }));
    let shots = workspace().join("target/dashboard-screenshots/push");
    let mut broadcast_server = Some(broadcast_server);
    let args = [url.into(), shots.into()];
    drive("dashboard_push.mjs", &args, async |line| {
        match line {
            "READY" => app.charge(common::orders::<1>()[0]).await,
            "SERVER" => {
                if let Some(s) = broadcast_server.take() {
                    s.shutdown().await.expect("stop the broadcast server");
                }
            }
            _ => return false,
        }
        true
    })
    .await;
    let _ = stop.send(());
    server.await.unwrap().expect("the dashboard served");
    worker.stop().await;
}
