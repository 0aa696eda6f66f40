//! The event store on PostgreSQL (`EVENTS_TEST_POSTGRES_URL`), each test
//! with its own table, dropped after: every scenario SQLite passes, plus
//! concurrent writer processes with a transaction committing late, and the
//! server going away and coming back (a private instance on a spare port).

mod store_common;

use std::time::Duration;

use event_core::Dispatcher;
use event_core::store::{EventStore, StoreError, WriterOptions};
use store_common as common;

use test_support::{PrivatePostgres, postgres_url as pg_url, spare_port};

macro_rules! on_postgres {
    ($($scenario:ident),* $(,)?) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $scenario() {
                let Some(url) = pg_url() else { return };
                common::$scenario(&url).await;
            }
        )*
    };
}

common::every_scenario!(on_postgres);

async fn client(url: &str) -> tokio_postgres::Client {
    let (client, connection) = tokio_postgres::connect(url, tokio_postgres::NoTls)
        .await
        .expect("connect to the test PostgreSQL");
    tokio::spawn(connection);
    client
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_writer_processes_and_a_late_transaction() {
    let Some(url) = pg_url() else { return };
    let pg = url.clone();
    common::two_writers_and_a_subscriber(&url, 20_000, |table| async move {
        // Takes a position before the writers' rows and commits after
        // thousands of them: a reader going by "last position seen" skips it.
        let mut late = client(&pg).await;
        let tx = late.transaction().await.unwrap();
        tx.query_one("SELECT pg_current_xact_id()::text", &[]).await.unwrap();
        tx.execute(
            &format!(
                "INSERT INTO {table} (id, name, payload, metadata, tags, correlation_id, dispatched_at)
                 VALUES ('late-1', 'Late', '{{}}', '{{}}', '[]', 'late-1', now())"
            ),
            &[],
        )
        .await
        .unwrap();
        tokio::time::sleep(Duration::from_millis(2500)).await;
        let committed_after: i64 = client(&pg)
            .await
            .query_one(&format!("SELECT COUNT(*) FROM {table}"), &[])
            .await
            .unwrap()
            .get(0);
        assert!(committed_after > 1000, "rows with higher positions committed first ({committed_after})");
        tx.commit().await.unwrap();
    })
    .await;
}

#[tokio::test]
async fn a_wrong_shaped_table_is_refused_with_its_columns_named() {
    let Some(url) = pg_url() else { return };
    let table = common::table();
    let db = client(&url).await;
    db.batch_execute(&format!(
        "CREATE TABLE {table} (position bigserial PRIMARY KEY, id text, name text, payload text,
                               metadata jsonb, stream text, stream_version integer,
                               correlation_id text, dispatched_at timestamptz, recorded_at timestamptz)"
    ))
    .await
    .unwrap();
    let err = EventStore::open(&url, &table).await.unwrap_err();
    let text = err.to_string();
    for named in [
        "column `payload` is text, expected jsonb",
        "missing column `tags`",
        "column `stream_version` is integer, expected bigint",
        "missing column `causation_id`",
        "missing column `replay_of`",
    ] {
        assert!(text.contains(named), "{text}");
    }
    assert!(matches!(err, StoreError::WrongShape { ref problems, .. } if problems.len() == 5));
    db.batch_execute(&format!("DROP TABLE {table}"))
        .await
        .unwrap();
}

#[tokio::test]
async fn an_unreachable_server_is_an_error_naming_it() {
    let port = spare_port();
    let url = format!("postgres://postgres:secret@127.0.0.1:{port}/test");
    let err = EventStore::open(&url, "events").await.unwrap_err();
    let text = err.to_string();
    assert!(text.contains(&format!("127.0.0.1:{port}")), "{text}");
    assert!(!text.contains("secret"), "the password is hidden: {text}");
    assert!(
        std::error::Error::source(&err).is_some(),
        "the cause is kept"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_store_going_away_and_coming_back() {
    if pg_url().is_none() {
        return;
    }
    let Some(mut server) = PrivatePostgres::start() else {
        panic!("EVENTS_TEST_POSTGRES_URL is set but initdb is not installed");
    };
    server.ready().await;
    let url = server.url();
    let store = EventStore::open_with(
        &url,
        "events",
        WriterOptions {
            buffer: 100,
            batch: 10,
        },
    )
    .await
    .unwrap();
    let dispatcher = Dispatcher::new();
    store.install(&dispatcher).await;
    let mut sub = store
        .subscribe(0)
        .unwrap()
        .poll_interval(Duration::from_millis(100));
    for order_id in 0..100 {
        dispatcher
            .dispatch(common::OrderPlacedEvent { order_id })
            .await
            .unwrap();
    }
    store.flush().await.unwrap();

    server.crash();
    // Dispatch goes on while the store is down, without waiting on it.
    let began = std::time::Instant::now();
    for order_id in 100..400 {
        dispatcher
            .dispatch(common::OrderPlacedEvent { order_id })
            .await
            .unwrap();
        if order_id == 100 {
            tokio::time::sleep(Duration::from_millis(300)).await;
        }
    }
    assert!(
        began.elapsed() < Duration::from_secs(2),
        "dispatch was held up"
    );
    let down = store.stats();
    assert!(down.down, "{down:?}");
    assert_eq!(down.outages, 1);
    // 300 offered: the batch being retried (10) and the buffer (100) are kept.
    assert!(down.dropped >= 190, "{down:?}");
    assert!(matches!(
        store.flush_timeout(Duration::from_millis(200)).await,
        Err(StoreError::FlushTimeout(_))
    ));

    server.up();
    server.ready().await;
    let up = store.flush_timeout(Duration::from_secs(30)).await.unwrap();
    assert!(!up.down);
    assert_eq!(up.written + up.dropped, 400, "{up:?}");
    let stored = store.query().limit(1000).fetch().await.unwrap();
    assert_eq!(stored.len() as u64, up.written);
    // The subscription reconnects and catches up: every row once.
    let mut seen = std::collections::HashSet::new();
    while seen.len() < stored.len() {
        let batch = tokio::time::timeout(Duration::from_secs(20), sub.next_batch())
            .await
            .expect("the subscription catches up")
            .unwrap();
        for record in batch {
            assert!(seen.insert(record.id), "delivered twice");
        }
    }
    store.shutdown().await.unwrap();
}
