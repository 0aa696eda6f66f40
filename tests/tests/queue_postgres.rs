//! The `postgres` connection against a real PostgreSQL
//! (`EVENTS_TEST_POSTGRES_URL`), each test in its own schema, dropped after:
//! every scenario the other connections pass, plus crashes, two worker
//! processes, LISTEN/NOTIFY wake-ups and the tables' shape.

mod postgres_common;
mod queue_common;

use std::time::{Duration, Instant};

use event_core::config::EventsConfig;
use event_core::queue::postgres::tokio_postgres;
use event_core::queue::{self, Job, Queue};
use postgres_common::{Schema, sql};
use queue_common as common;
use queue_common::fixtures::{Sink, TestListener};

macro_rules! on_postgres {
    ($($scenario:ident),* $(,)?) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $scenario() {
                let Some(schema) = Schema::new() else { return };
                common::$scenario(Queue::open(&schema.url).await.expect("open postgres queue")).await;
            }
        )*
    };
}

common::every_scenario!(on_postgres);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_sigkill_mid_job_loses_nothing() {
    let Some(schema) = Schema::new() else { return };
    let dir = tempfile::tempdir().expect("temp dir");
    common::sigkill_mid_job(schema.url.clone(), dir.path().join("record.log")).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_pause_holds_two_worker_processes() {
    let Some(schema) = Schema::new() else { return };
    let dir = tempfile::tempdir().expect("temp dir");
    common::pause_holds_two_worker_processes(schema.url.clone(), dir.path().join("record.log"))
        .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_a_killed_worker_is_shown_stalled() {
    let Some(schema) = Schema::new() else { return };
    let dir = tempfile::tempdir().expect("temp dir");
    common::a_killed_worker_is_shown_stalled(schema.url.clone(), dir.path().join("record.log"))
        .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_two_worker_processes_alert_once() {
    let Some(schema) = Schema::new() else { return };
    let dir = tempfile::tempdir().expect("temp dir");
    common::two_worker_processes_alert_once(schema.url.clone(), dir.path().join("record.log"))
        .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_ten_thousand_jobs_two_processes() {
    let Some(schema) = Schema::new() else { return };
    let dir = tempfile::tempdir().expect("temp dir");
    common::ten_thousand_two_processes(schema.url.clone(), dir.path().join("record.log")).await;
}

/// `EVENTS_QUEUE_CONNECTION=postgres` with `EVENTS_QUEUE_URL` opens it, in
/// the URL's schema, with the config's defaults.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_connection_comes_from_config() {
    let Some(schema) = Schema::new() else { return };
    let config = EventsConfig::from_vars([
        ("EVENTS_QUEUE_CONNECTION", "postgres".to_string()),
        ("EVENTS_QUEUE_URL", schema.url.clone()),
        ("EVENTS_DEFAULT_QUEUE", "orders".to_string()),
    ])
    .expect("config");
    let queue = queue::connect(&config).await.expect("connect");
    assert_eq!(queue.connection_name(), "postgres");
    assert_eq!(queue.defaults().queue.as_deref(), Some("orders"));
    let sink = Sink::memory();
    let (dispatcher, _) = common::setup(&queue, TestListener::new("cfg", sink)).await;
    dispatcher.dispatch(common::job(1)).await.expect("dispatch");
    let client = sql(&schema.base).await;
    let row = client
        .query_one(
            &format!("SELECT queue, payload FROM {}", schema.table("event_jobs")),
            &[],
        )
        .await
        .expect("the job is in the URL's schema");
    assert_eq!(row.get::<_, String>(0), "orders");
    assert!(row.get::<_, String>(1).contains("\"event\":\"TestJob\""));

    let mismatch = queue::connect(
        &EventsConfig::from_vars([
            ("EVENTS_QUEUE_CONNECTION", "redis".to_string()),
            ("EVENTS_QUEUE_URL", schema.url.clone()),
        ])
        .expect("config"),
    )
    .await
    .expect_err("a postgres URL for the redis connection");
    assert!(mismatch.to_string().contains("postgres URL"), "{mismatch}");
}

/// A listener's `connection = "postgres"` sends its jobs there.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn listener_connection_postgres_routes_there() {
    let Some(schema) = Schema::new() else { return };
    let postgres = Queue::open(&schema.url).await.expect("open");
    let memory = Queue::memory().with_connection("postgres", postgres.clone());
    let sink = Sink::memory();
    let (dispatcher, registry) = common::setup(
        &memory,
        TestListener::new("to-postgres", sink.clone())
            .with(|o| o.connection = Some("postgres".into())),
    )
    .await;
    dispatcher.dispatch(common::job(1)).await.expect("dispatch");
    assert_eq!(postgres.size().await.expect("size"), 1);
    assert_eq!(memory.size().await.expect("size"), 0);
    let running = common::start(common::worker(&postgres, registry));
    assert!(
        common::eventually(Duration::from_secs(20), async || sink.of("success")
            == vec![1])
        .await
    );
    running.stop().await;
}

/// Bad URLs and options are errors naming the URL (without its password).
#[tokio::test]
async fn bad_postgres_urls_are_errors_naming_them() {
    for (url, needle) in [
        ("postgres://app@127.0.0.1:1/db", "127.0.0.1:1"),
        (
            "postgres://app@127.0.0.1/db?schema=no-dashes",
            "schema `no-dashes`",
        ),
        (
            "postgres://app@127.0.0.1/db?pool_size=lots",
            "pool_size `lots`",
        ),
        ("postgres://app@127.0.0.1/db?sslmod=require", "sslmod"),
    ] {
        let error = Queue::open(url).await.expect_err(url);
        let text = format!("{error:#}");
        assert!(text.contains(needle), "`{text}` should name `{needle}`");
    }
    let error = Queue::open("postgres://app:hunter2@127.0.0.1:1/db")
        .await
        .expect_err("unreachable");
    let text = format!("{error:#}");
    assert!(!text.contains("hunter2"), "{text}");
    assert!(text.contains("postgres://app:***@127.0.0.1:1/db"), "{text}");
}

/// The tables are created if missing; a table of the wrong shape is an
/// error naming its columns, and is left as it was.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_table_shape_is_an_error_naming_the_columns() {
    let Some(schema) = Schema::new() else { return };
    let client = sql(&schema.base).await;
    client
        .batch_execute(&format!(
            "CREATE SCHEMA \"{0}\";
             CREATE TABLE {1} (seq bigint PRIMARY KEY, id text, queue text, priority text,
                               available_at bigint, reserved_until bigint, attempts integer,
                               payload text);
             INSERT INTO {1} VALUES (1, 'a', 'events', 'high', 0, 0, 0, 'kept');",
            schema.name,
            schema.table("event_jobs")
        ))
        .await
        .expect("a table of another shape");
    let error = Queue::open(&schema.url).await.expect_err("wrong shape");
    let text = format!("{error:#}");
    assert!(text.contains("event_jobs"), "{text}");
    assert!(
        text.contains("`token` (text)"),
        "names the missing column: {text}"
    );
    assert!(
        text.contains("`priority` is text, expected integer"),
        "names the mistyped column: {text}"
    );
    let kept: i64 = client
        .query_one(
            &format!("SELECT count(*) FROM {}", schema.table("event_jobs")),
            &[],
        )
        .await
        .expect("count")
        .get(0);
    assert_eq!(kept, 1, "the table is left alone");

    // A schema with nothing in it gets the jobs and failed tables (and the
    // monitoring's), and opening again is fine.
    let Some(fresh) = Schema::new() else { return };
    Queue::open(&fresh.url).await.expect("creates the tables");
    Queue::open(&fresh.url)
        .await
        .expect("opens existing tables");
    let tables: Vec<String> = client
        .query(
            "SELECT table_name::text FROM information_schema.tables WHERE table_schema = $1",
            &[&fresh.name],
        )
        .await
        .expect("list tables")
        .iter()
        .map(|r| r.get(0))
        .collect();
    for table in ["event_jobs", "event_failed_jobs"] {
        assert!(
            tables.iter().any(|t| t == table),
            "{table} missing: {tables:?}"
        );
    }
}

/// One NOTIFY per enqueue transaction, not per row.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_notify_per_enqueue() {
    use futures::StreamExt;
    let Some(schema) = Schema::new() else { return };
    let queue = Queue::open(&schema.url).await.expect("open");
    let (client, mut connection) = tokio_postgres::connect(&schema.base, tokio_postgres::NoTls)
        .await
        .expect("connect");
    let (notes, mut heard) = tokio::sync::mpsc::unbounded_channel();
    tokio::spawn(async move {
        let mut messages = futures::stream::poll_fn(move |cx| connection.poll_message(cx));
        while let Some(Ok(message)) = messages.next().await {
            if let tokio_postgres::AsyncMessage::Notification(n) = message {
                let _ = notes.send(n.channel().to_string());
            }
        }
    });
    client
        .batch_execute(&format!("LISTEN \"{}.event_jobs\"", schema.name))
        .await
        .expect("LISTEN");
    let jobs: Vec<Job> = (0..100)
        .map(|n| Job::from_envelope(envelope(n, serde_json::json!({ "n": n }))))
        .collect();
    queue.push(jobs).await.expect("push 100 jobs");
    let first = tokio::time::timeout(Duration::from_secs(5), heard.recv())
        .await
        .expect("a notification");
    assert_eq!(
        first.as_deref(),
        Some(format!("{}.event_jobs", schema.name).as_str())
    );
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(heard.try_recv().is_err(), "one notification for 100 jobs");
    assert_eq!(queue.size().await.expect("size"), 100);
}

fn envelope(n: u64, payload: serde_json::Value) -> event_core::queue::JobEnvelope {
    let now = chrono::Utc::now().timestamp_millis();
    event_core::queue::JobEnvelope {
        id: event_core::ulid::Ulid::new().to_string(),
        event: "TestJob".to_string(),
        payload,
        listener: Some("idle".to_string()),
        queue: "events".to_string(),
        attempts: 0,
        exceptions: 0,
        settings: event_core::queue::JobSettings {
            tries: Some(1),
            ..Default::default()
        },
        priority: (n % 3) as i32,
        available_at: now,
        created_at: now,
        event_id: None,
        correlation_id: None,
        retried_at: None,
        traceparent: None,
        sealed: None,
        history: Vec::new(),
    }
}

/// The latest time any connection of `application_name` ran a statement.
async fn last_statement(client: &tokio_postgres::Client, app: &str) -> (i64, Option<String>) {
    let row = client
        .query_one(
            "SELECT count(*), max(query_start)::text FROM pg_stat_activity WHERE application_name = $1",
            &[&app],
        )
        .await
        .expect("pg_stat_activity");
    (row.get(0), row.get(1))
}

/// An idle worker sends no queries (it LISTENs), and a job dispatched to it
/// starts within milliseconds.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_worker_makes_no_queries_and_wakes_at_once() {
    let Some(schema) = Schema::new() else { return };
    let app = format!("idle-{}", schema.name);
    let url = format!("{}&application_name={app}", schema.url);
    let queue = Queue::open(&url).await.expect("open");
    let sink = Sink::memory();
    let (dispatcher, registry) =
        common::setup(&queue, TestListener::new("idle", sink.clone())).await;
    let running = common::start(common::worker(&queue, registry).concurrency(2));
    let client = sql(&schema.base).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let before = last_statement(&client, &app).await;
    assert!(
        before.0 >= 2,
        "the pool and the LISTEN connection: {before:?}"
    );
    tokio::time::sleep(Duration::from_secs(2)).await;
    let after = last_statement(&client, &app).await;
    assert_eq!(before, after, "no statement in 2 s of idling");

    for round in 0..3u64 {
        let sent = Instant::now();
        dispatcher
            .dispatch(common::job(round))
            .await
            .expect("dispatch");
        assert!(
            common::eventually(Duration::from_secs(10), async || sink.of("start").len()
                as u64
                > round)
            .await
        );
        let started = sink.times("start")[round as usize];
        let latency = started - sent;
        // The fallback poll is 30 s: only a notification wakes it this soon.
        assert!(
            latency < Duration::from_secs(2),
            "started after {latency:?}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    running.stop().await;
}

/// A row that is not a job envelope goes to the failed store; the rest run.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unreadable_row_goes_to_the_failed_store() {
    let Some(schema) = Schema::new() else { return };
    let queue = Queue::open(&schema.url).await.expect("open");
    let sink = Sink::memory();
    let (dispatcher, registry) =
        common::setup(&queue, TestListener::new("rest", sink.clone())).await;
    dispatcher.dispatch(common::job(1)).await.expect("dispatch");
    let client = sql(&schema.base).await;
    client
        .execute(
            &format!(
                "INSERT INTO {} (id, queue, priority, available_at, payload)
                 VALUES ('garbled', 'events', 0, 0, 'not json at all')",
                schema.table("event_jobs")
            ),
            &[],
        )
        .await
        .expect("insert a broken row");
    dispatcher.dispatch(common::job(2)).await.expect("dispatch");
    let store = queue.failed().expect("store");
    let running = common::start(common::worker(&queue, registry).concurrency(1));
    assert!(
        common::eventually(Duration::from_secs(20), async || sink.of("success").len()
            == 2)
        .await
    );
    assert!(
        common::eventually(Duration::from_secs(20), async || store
            .list()
            .await
            .unwrap_or_default()
            .len()
            == 1)
        .await
    );
    running.stop().await;
    let failed = store.list().await.expect("list");
    assert!(
        failed[0].reason.contains("is not a job envelope"),
        "{}",
        failed[0].reason
    );
    assert_eq!(
        failed[0].payload.payload,
        serde_json::json!("not json at all")
    );
    assert_eq!(queue.size().await.expect("size"), 0);
}

/// Jobs dispatched inside `in_transaction` exist if and only if the
/// caller's transaction commits; an idle worker starts them at the commit.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn transactional_enqueue_commits_or_vanishes_with_the_data() {
    use event_core::queue::postgres::in_transaction;
    let Some(schema) = Schema::new() else { return };
    let queue = Queue::open(&schema.url).await.expect("open");
    let sink = Sink::memory();
    let (dispatcher, registry) = common::setup(&queue, TestListener::new("tx", sink.clone())).await;
    let mut client = sql(&schema.base).await;
    let orders = schema.table("orders");
    client
        .batch_execute(&format!("CREATE TABLE {orders} (id bigint PRIMARY KEY)"))
        .await
        .expect("orders table");
    let running = common::start(common::worker(&queue, registry));
    tokio::time::sleep(Duration::from_millis(300)).await;

    // Rolled back: neither the order nor its job.
    let tx = client.transaction().await.expect("begin");
    tx.execute(&format!("INSERT INTO {orders} VALUES (1)"), &[])
        .await
        .expect("insert order");
    in_transaction(&tx, async { dispatcher.dispatch(common::job(1)).await })
        .await
        .expect("dispatch in the transaction");
    assert_eq!(
        queue.size().await.expect("size"),
        0,
        "not visible before commit"
    );
    tx.rollback().await.expect("rollback");
    assert_eq!(
        queue.size().await.expect("size"),
        0,
        "gone with the rollback"
    );

    // The work fails: its jobs are dropped, its error returned.
    let tx = client.transaction().await.expect("begin");
    let failed: anyhow::Result<()> = in_transaction(&tx, async {
        dispatcher.dispatch(common::job(2)).await?;
        anyhow::bail!("payment declined")
    })
    .await;
    assert!(format!("{:#}", failed.expect_err("fails")).contains("payment declined"));
    tx.commit().await.expect("commit");
    assert_eq!(
        queue.size().await.expect("size"),
        0,
        "the failed work's job was dropped"
    );

    // Committed: the order and its job, and the idle worker runs it at once.
    let tx = client.transaction().await.expect("begin");
    tx.execute(&format!("INSERT INTO {orders} VALUES (3)"), &[])
        .await
        .expect("insert order");
    in_transaction(&tx, async {
        dispatcher.dispatch(common::job(3)).await?;
        dispatcher.dispatch(common::job(4)).await
    })
    .await
    .expect("dispatch in the transaction");
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(
        sink.of("start").is_empty(),
        "nothing runs before the commit"
    );
    let committed = Instant::now();
    tx.commit().await.expect("commit");
    assert!(
        common::eventually(Duration::from_secs(10), async || sink.of("success").len()
            == 2)
        .await
    );
    let latency = sink.times("start")[0] - committed;
    assert!(
        latency < Duration::from_secs(2),
        "started {latency:?} after the commit"
    );
    running.stop().await;
    assert_eq!(sink.of("success"), vec![3, 4]);
    assert!(
        sink.of("start").iter().all(|n| *n >= 3),
        "jobs 1 and 2 never ran"
    );

    // Outside `in_transaction`, dispatch writes at once as usual.
    dispatcher.dispatch(common::job(5)).await.expect("dispatch");
    assert_eq!(queue.size().await.expect("size"), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_job_controls_in_a_worker_process() {
    let Some(schema) = Schema::new() else { return };
    let dir = tempfile::tempdir().expect("temp dir");
    common::job_controls_in_a_worker_process(schema.url.clone(), &dir.path().join("record.log"))
        .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_encrypted_job_across_processes() {
    let Some(schema) = Schema::new() else { return };
    let dir = tempfile::tempdir().expect("temp dir");
    common::encrypted_job_across_processes(schema.url.clone(), &dir.path().join("record.log"))
        .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_after_commit_and_a_queued_event_across_processes() {
    let Some(schema) = Schema::new() else { return };
    let dir = tempfile::tempdir().expect("temp dir");
    common::after_commit_and_a_queued_event_across_processes(
        schema.url.clone(),
        &dir.path().join("record.log"),
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_unique_job_across_processes() {
    let Some(schema) = Schema::new() else { return };
    let dir = tempfile::tempdir().expect("temp dir");
    common::unique_job_across_processes(schema.url.clone(), &dir.path().join("record.log")).await;
}
