//! The page in headless Chromium (tests/js/dashboard.mjs over the DevTools
//! protocol): opened with the printed token, it shows the failed count,
//! then a job that fails on a running worker appears within the polling
//! interval without reload; screenshots at 375 and 1440 px, light and
//! dark, go to target/dashboard-screenshots/.
//!
//! Skipped with a `skipped:` line without node, /usr/bin/chromium or
//! `npm ci` in tests/js; a failure when EVENTS_TEST_REQUIRE_BROWSER=1.

mod common;

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use common::{App, eventually};
use event_core::queue::monitor::StatsQuery;
use event_dashboard::{ServeOptions, bind};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

/// Why the browser test cannot run here, if it cannot.
fn missing() -> Option<String> {
    let js = workspace().join("tests/js");
    if std::process::Command::new("node")
        .arg("--version")
        .output()
        .is_err()
    {
        return Some("node is not installed".into());
    }
    if !Path::new("/usr/bin/chromium").exists() {
        return Some("/usr/bin/chromium is not installed (apt-get install chromium)".into());
    }
    if !js.join("node_modules/ws").exists() || !js.join("node_modules/axe-core").exists() {
        return Some("the npm packages are missing: `npm ci` in tests/js".into());
    }
    None
}

#[tokio::test]
async fn a_failure_on_the_worker_appears_in_the_open_page() {
    if let Some(why) = missing() {
        if std::env::var("EVENTS_TEST_REQUIRE_BROWSER").is_ok_and(|v| v == "1") {
            panic!("EVENTS_TEST_REQUIRE_BROWSER=1 but {why}");
        }
        println!("skipped: the dashboard browser test: {why}");
        return;
    }
    let app = App::new().await;
    let worker = app.worker();
    app.charge(1).await;
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

    let shots = workspace().join("target/dashboard-screenshots");
    let mut node = tokio::process::Command::new("node")
        .arg(workspace().join("tests/js/dashboard.mjs"))
        .arg(&url)
        .arg(&shots)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("start node");
    let mut lines = BufReader::new(node.stdout.take().unwrap()).lines();
    let mut stdin = node.stdin.take().unwrap();
    let monitor = app.queue.monitor().unwrap();
    let payments = StatsQuery {
        queue: Some("payments".into()),
        ..StatsQuery::default()
    };
    let mut seen = Vec::new();
    while let Ok(Ok(Some(line))) =
        tokio::time::timeout(Duration::from_secs(90), lines.next_line()).await
    {
        println!("node: {line}");
        match line.as_str() {
            // The open page is polling: fail one more job on the worker.
            "READY 1" => app.charge(2).await,
            // The page shows it: let its card go through before the retry.
            "SHOWN 2" => common::make_payable(2),
            // Paused from the page: a new job stays waiting.
            "PAUSED" => {
                // Workers read a pause within a second.
                tokio::time::sleep(Duration::from_millis(1_200)).await;
                common::make_payable(3);
                app.charge(3).await;
                tokio::time::sleep(Duration::from_millis(1_500)).await;
                let q = monitor.stats(&payments).await.unwrap().queues.remove(0);
                assert!(q.paused, "the page paused the queue: {q:?}");
                assert_eq!(q.pending, 1, "no worker claims from a paused queue: {q:?}");
            }
            _ => {}
        }
        if matches!(line.as_str(), "READY 1" | "SHOWN 2" | "PAUSED") {
            stdin.write_all(b"go\n").await.expect("answer node");
        }
        let done = line == "PASS" || line.starts_with("FAIL");
        seen.push(line);
        if done {
            break;
        }
    }
    let status = node.wait().await.expect("node exits");
    let _ = stop.send(());
    server.await.unwrap().expect("the dashboard served");
    worker.stop().await;
    assert!(
        status.success() && seen.iter().any(|l| l == "PASS"),
        "the browser run failed: {seen:#?}"
    );
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

/// Live by push (tests/js/dashboard_push.mjs): the standalone dashboard
/// given the broadcast server's settings; the page subscribes, fetches
/// nothing while nothing changes, shows a failure the worker produced, and
/// polls (saying why) once the server is gone.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_page_is_live_by_push_and_polls_without_the_server() {
    if let Some(why) = missing() {
        if std::env::var("EVENTS_TEST_REQUIRE_BROWSER").is_ok_and(|v| v == "1") {
            panic!("EVENTS_TEST_REQUIRE_BROWSER=1 but {why}");
        }
        println!("skipped: the dashboard push browser test: {why}");
        return;
    }
    let credentials = event_core::broadcasting::Credentials {
        app_id: "dash".into(),
        key: "dash-key".into(),
        secret: "dash-secret".into(),
    };
    let mut config = event_broadcast_server::ServerConfig::new(credentials);
    config.port = 0;
    let broadcast_server = event_broadcast_server::Server::bind(config)
        .await
        .expect("bind the broadcast server");
    let broadcast = event_core::broadcasting::BroadcastConfig {
        connection: event_core::broadcasting::BroadcastConnection::Pusher,
        host: "127.0.0.1".into(),
        port: broadcast_server.local_addr().port(),
        app_id: Some("dash".into()),
        app_key: Some("dash-key".into()),
        app_secret: Some("dash-secret".into()),
        ..Default::default()
    };
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
    let shots = workspace().join("target/dashboard-screenshots");
    let mut node = tokio::process::Command::new("node")
        .arg(workspace().join("tests/js/dashboard_push.mjs"))
        .arg(&url)
        .arg(&shots)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("start node");
    let mut lines = BufReader::new(node.stdout.take().unwrap()).lines();
    let mut stdin = node.stdin.take().unwrap();
    let mut broadcast_server = Some(broadcast_server);
    let mut seen = Vec::new();
    while let Ok(Ok(Some(line))) =
        tokio::time::timeout(Duration::from_secs(90), lines.next_line()).await
    {
        println!("node: {line}");
        match line.as_str() {
            "READY" => app.charge(common::orders::<1>()[0]).await,
            "SERVER" => {
                if let Some(s) = broadcast_server.take() {
                    s.shutdown().await.expect("stop the broadcast server");
                }
            }
            _ => {}
        }
        if matches!(line.as_str(), "READY" | "SERVER") {
            stdin.write_all(b"go\n").await.expect("answer node");
        }
        let done = line == "PASS" || line.starts_with("FAIL");
        seen.push(line);
        if done {
            break;
        }
    }
    let status = node.wait().await.expect("node exits");
    let _ = stop.send(());
    server.await.unwrap().expect("the dashboard served");
    worker.stop().await;
    assert!(
        status.success() && seen.iter().any(|l| l == "PASS"),
        "the browser run failed: {seen:#?}"
    );
}
