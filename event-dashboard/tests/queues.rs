//! The JSON endpoints over a real sqlite queue and a real worker: failed
//! jobs are listed, grouped, counted, retried and forgotten; pause stops
//! claims; every action says what it touched.

mod common;

use std::time::Duration;

use common::{App, eventually, get, make_payable, post};
use event_dashboard::{DashboardState, router};

const LIMIT: Duration = Duration::from_secs(15);

/// Each scenario on sqlite, and on redis and postgres when they are set
/// (`EVENTS_TEST_REDIS_URL`, `EVENTS_TEST_POSTGRES_URL`; skipped otherwise).
macro_rules! on_every_connection {
    ($($scenario:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $scenario() {
                    super::$scenario(super::App::new().await).await;
                }
            )*
        }
        mod redis {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $scenario() {
                    let Some(base) = test_support::redis_url() else { return };
                    let url = test_support::with_query(&base, "prefix", &test_support::unique("dash"));
                    let app = super::App::open(tempfile::tempdir().unwrap(), url).await;
                    let (monitor, failed) = (app.queue.monitor().unwrap(), app.queue.failed().unwrap());
                    super::$scenario(app).await;
                    monitor.clear("payments").await.expect("clear");
                    failed.purge().await.expect("purge");
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $scenario() {
                    let Some(schema) = test_support::Schema::tagged("dash") else { return };
                    super::$scenario(super::App::open(tempfile::tempdir().unwrap(), schema.url.clone()).await).await;
                }
            )*
        }
    };
}

on_every_connection!(
    failed_jobs_are_listed_counted_retried_and_forgotten,
    pause_stops_claims_and_resume_lets_them_go,
    workers_and_bad_parameters,
);

async fn failed_jobs_are_listed_counted_retried_and_forgotten(app: App) {
    let dashboard = router(DashboardState::new(app.queue.clone()).unwrap());
    let connection = get(&dashboard, "/api/meta").await.json["connection"].clone();
    let worker = app.worker();
    let [a, b, c] = common::orders();
    for order in [a, b, c] {
        app.charge(order).await;
    }
    assert!(
        eventually(LIMIT, async || {
            get(&dashboard, "/api/failed").await.json["jobs"]
                .as_array()
                .is_some_and(|j| j.len() == 3)
        })
        .await,
        "{connection}: three declined cards are listed: {}",
        get(&dashboard, "/api/failed").await.text
    );
    let page = get(&dashboard, &format!("/api/failed?search=declined%20{b}")).await;
    let jobs = page.json["jobs"].as_array().unwrap();
    assert_eq!(jobs.len(), 1, "{}", page.text);
    let job = &jobs[0];
    assert_eq!(job["queue"], "payments");
    assert!(
        job["reason"]
            .as_str()
            .unwrap()
            .ends_with(&format!("card declined for order {b}")),
        "{job}"
    );
    assert!(
        job["name"]
            .as_str()
            .unwrap()
            .ends_with("ChargeCardListener"),
        "{job}"
    );

    // One job by its key, with its payload.
    let key = job["key"].as_str().unwrap().to_string();
    let one = get(&dashboard, &format!("/api/failed/{key}")).await;
    assert_eq!(one.status, 200, "{}", one.text);
    assert_eq!(one.json["payload"]["payload"]["order"], b, "{}", one.text);

    // The queue's counter and the group say three.
    let queues = get(&dashboard, "/api/queues?window=5m").await;
    let payments = queues.json["queues"]
        .as_array()
        .unwrap()
        .iter()
        .find(|q| q["queue"] == "payments")
        .expect("the payments queue")
        .clone();
    assert_eq!(payments["failed"], 3, "{payments}");
    let groups = get(&dashboard, "/api/failed/groups").await;
    assert_eq!(groups.json["groups"][0]["count"], 3, "{}", groups.text);
    let message = groups.json["groups"][0]["message"].as_str().unwrap();
    assert!(message.ends_with("card declined for order #"), "{message}");

    // Retry one whose card now goes through: it runs again and completes.
    make_payable(b);
    let retried = post(&dashboard, &format!("/api/failed/{key}/retry")).await;
    assert_eq!(retried.status, 200, "{}", retried.text);
    assert_eq!(retried.json["action"], "retry");
    assert_eq!(retried.json["touched"], 1);
    assert!(
        eventually(LIMIT, async || get(&dashboard, "/api/completed").await.json
            ["jobs"]
            .as_array()
            .is_some_and(|j| j.len() == 1))
        .await,
        "the retried job completed on the worker"
    );
    // The chart's points add up to what ran: three failed, one processed,
    // in the current minute's step of the last hour.
    let sums = async || {
        let s = get(&dashboard, "/api/series?window=1h&queue=payments")
            .await
            .json;
        let points = s["points"].as_array().cloned().unwrap_or_default();
        let sum = |k: &str| points.iter().map(|p| p[k].as_u64().unwrap()).sum::<u64>();
        (
            points.len(),
            sum("processed"),
            sum("failed"),
            s["step_s"].clone(),
        )
    };
    assert!(
        eventually(LIMIT, async || sums().await == (60, 1, 3, 60.into())).await,
        "the series counts the jobs: {:?}",
        sums().await
    );
    let other = get(&dashboard, "/api/series?window=1h&queue=elsewhere").await;
    let other_sum: u64 = other.json["points"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["processed"].as_u64().unwrap() + p["failed"].as_u64().unwrap())
        .sum();
    assert_eq!(other_sum, 0, "another queue counts none of them");
    let again = get(&dashboard, &format!("/api/failed/{key}")).await;
    assert_eq!(again.status, 404, "a retried job leaves the failed store");

    // Bulk: the count first, then forget what the filter matches.
    let count = get(&dashboard, "/api/failed/count?name=ChargeCardListener").await;
    assert_eq!(count.json["count"], 2, "{}", count.text);
    let forgot = post(&dashboard, "/api/failed/forget?search=declined").await;
    assert_eq!(forgot.json["touched"], 2, "{}", forgot.text);
    assert_eq!(forgot.json["action"], "forget");
    assert_eq!(
        get(&dashboard, "/api/failed").await.json["jobs"]
            .as_array()
            .unwrap()
            .len(),
        0
    );
    worker.stop().await;
}

async fn pause_stops_claims_and_resume_lets_them_go(app: App) {
    let dashboard = router(DashboardState::new(app.queue.clone()).unwrap());
    let [a, b, c] = common::orders();
    make_payable(a);
    let paused = post(&dashboard, "/api/queues/payments/pause").await;
    assert_eq!(paused.status, 200, "{}", paused.text);
    assert_eq!(paused.json["target"]["queue"], "payments");
    let worker = app.worker();
    app.charge(a).await;
    tokio::time::sleep(Duration::from_millis(1_500)).await;
    let queues = get(&dashboard, "/api/queues?queue=payments").await;
    let q = &queues.json["queues"][0];
    assert_eq!(q["paused"], true, "{q}");
    assert_eq!(q["pending"], 1, "a paused queue keeps its job: {q}");
    assert_eq!(
        get(&dashboard, "/api/completed").await.json["jobs"]
            .as_array()
            .unwrap()
            .len(),
        0
    );

    let resumed = post(&dashboard, "/api/queues/payments/resume").await;
    assert_eq!(resumed.json["action"], "resume");
    assert!(
        eventually(LIMIT, async || get(&dashboard, "/api/completed").await.json
            ["jobs"]
            .as_array()
            .is_some_and(|j| j.len() == 1))
        .await,
        "the job ran once the queue was resumed"
    );
    worker.stop().await;

    // Clear says how many waiting jobs it removed.
    app.charge(b).await;
    app.charge(c).await;
    let cleared = post(&dashboard, "/api/queues/payments/clear").await;
    assert_eq!(cleared.json["touched"], 2, "{}", cleared.text);
}

async fn workers_and_bad_parameters(app: App) {
    let dashboard = router(DashboardState::new(app.queue.clone()).unwrap());
    let worker = app.worker();
    assert!(
        eventually(LIMIT, async || {
            get(&dashboard, "/api/workers").await.json["workers"]
                .as_array()
                .is_some_and(|w| w.len() == 1)
        })
        .await,
        "the running worker is listed"
    );
    worker.stop().await;
    let unknown = get(&dashboard, "/api/failed?colour=red").await;
    assert_eq!(unknown.status, 400);
    assert!(
        unknown.json["error"].as_str().unwrap().contains("colour"),
        "{}",
        unknown.text
    );
    let points = get(&dashboard, "/api/series?points=0").await;
    assert_eq!(points.status, 400);
    assert!(points.text.contains("points"), "{}", points.text);
    let window = get(&dashboard, "/api/queues?window=5w").await;
    assert_eq!(window.status, 400);
    assert!(window.text.contains("window"), "{}", window.text);
    let no_store = get(&dashboard, "/api/events").await;
    assert_eq!(no_store.status, 404);
    assert!(
        no_store.text.contains("no event store"),
        "{}",
        no_store.text
    );
}
