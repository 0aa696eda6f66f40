//! The event store on SQLite (the embedded default), each test in its own
//! database file and table.

mod store_common;

use std::time::Duration;

use event_core::Dispatcher;
use event_core::store::{EventStore, StoreError};
use store_common as common;

fn url(dir: &tempfile::TempDir) -> String {
    format!("sqlite://{}/events.db", dir.path().display())
}

macro_rules! on_sqlite {
    ($($scenario:ident),* $(,)?) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $scenario() {
                let dir = tempfile::tempdir().unwrap();
                common::$scenario(&url(&dir)).await;
            }
        )*
    };
}

common::every_scenario!(on_sqlite);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_writer_processes_and_a_late_transaction() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("events.db");
    let url = url(&dir);
    common::two_writers_and_a_subscriber(&url, 20_000, |table| async move {
        // SQLite has one writer at a time: a transaction that takes long
        // holds the others back, so position order stays commit order.
        let conn = rusqlite::Connection::open(&path).unwrap();
        conn.busy_timeout(Duration::from_secs(30)).unwrap();
        tokio::time::sleep(Duration::from_millis(300)).await;
        conn.execute_batch("BEGIN IMMEDIATE").unwrap();
        conn.execute(
            &format!(
                "INSERT INTO {table} (id, name, payload, metadata, tags, correlation_id, dispatched_at)
                 VALUES ('late-1', 'Late', '{{}}', '{{}}', '[]', 'late-1', '2026-01-01T00:00:00.000Z')"
            ),
            [],
        )
        .unwrap();
        tokio::time::sleep(Duration::from_millis(500)).await;
        conn.execute_batch("COMMIT").unwrap();
    })
    .await;
}

#[tokio::test]
async fn a_disabled_store_records_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let url = url(&dir);
    let config = event_core::config::EventsConfig::from_vars([
        ("EVENTS_STORE_ENABLED", "false"),
        ("EVENTS_STORE_URL", url.as_str()),
    ])
    .unwrap();
    let store = event_core::store::connect(&config).await.unwrap();
    assert!(!store.is_enabled());
    let dispatcher = Dispatcher::new();
    store.install(&dispatcher).await;
    dispatcher
        .dispatch(common::OrderPlacedEvent { order_id: 1 })
        .await
        .unwrap();
    store.flush().await.unwrap();
    assert!(matches!(
        store.query().fetch().await,
        Err(StoreError::NotEnabled)
    ));
    assert!(!dir.path().join("events.db").exists(), "nothing was opened");
}

#[tokio::test]
async fn a_wrong_shaped_table_is_refused_with_its_columns_named() {
    let dir = tempfile::tempdir().unwrap();
    let conn = rusqlite::Connection::open(dir.path().join("events.db")).unwrap();
    conn.execute_batch(
        "CREATE TABLE events (position INTEGER PRIMARY KEY, id TEXT, name TEXT, payload BLOB,
                              metadata TEXT, stream TEXT, stream_version INTEGER,
                              correlation_id TEXT, dispatched_at TEXT, recorded_at TEXT);
         INSERT INTO events (id, name) VALUES ('keep', 'me');",
    )
    .unwrap();
    let err = EventStore::open(&url(&dir), "events").await.unwrap_err();
    let text = err.to_string();
    for named in [
        "column `payload` is BLOB, expected TEXT",
        "missing column `tags`",
        "missing column `causation_id`",
        "missing column `replay_of`",
    ] {
        assert!(text.contains(named), "{text}");
    }
    assert!(matches!(err, StoreError::WrongShape { ref problems, .. } if problems.len() == 4));
    let kept: i64 = conn
        .query_row("SELECT COUNT(*) FROM events", [], |r| r.get(0))
        .unwrap();
    assert_eq!(kept, 1, "the table is left alone");
}

#[tokio::test]
async fn a_bad_url_or_table_is_an_error_naming_it() {
    let err = EventStore::open("mysql://x", "events").await.unwrap_err();
    assert!(err.to_string().contains("mysql://x"), "{err}");
    let dir = tempfile::tempdir().unwrap();
    let err = EventStore::open(&url(&dir), "events; drop")
        .await
        .unwrap_err();
    assert!(err.to_string().contains("EVENTS_STORE_TABLE"), "{err}");
    let err = event_core::config::EventsConfig::from_vars([("EVENTS_STORE_URL", " ")]).unwrap_err();
    assert!(err.to_string().contains("EVENTS_STORE_URL"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_buffer_drops_and_counts() {
    let dir = tempfile::tempdir().unwrap();
    let store = EventStore::open_with(
        &url(&dir),
        "events",
        event_core::store::WriterOptions {
            buffer: 10,
            batch: 5,
        },
    )
    .await
    .unwrap();
    let dispatcher = Dispatcher::new();
    store.install(&dispatcher).await;
    // Dispatch faster than one writer can commit: some are dropped, none
    // holds the dispatch up, and the counts add up.
    for order_id in 0..5_000 {
        dispatcher
            .dispatch(common::OrderPlacedEvent { order_id })
            .await
            .unwrap();
    }
    let stats = store.flush().await.unwrap();
    let stored = store.query().limit(10_000).fetch().await.unwrap().len() as u64;
    assert_eq!(stats.written, stored);
    assert_eq!(stats.written + stats.dropped, 5_000);
    assert!(stats.dropped > 0, "{stats:?}");
    assert_eq!(stats.pending, 0);
}
