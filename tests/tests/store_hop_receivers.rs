//! A broadcast hop's `receivers` and a request hop's `status` in the hops
//! table, on SQLite and PostgreSQL: written and read back (a count, or
//! unknown), and a hops table an older version created (without the
//! columns) gets them when the store opens, its old rows reading as unknown.

mod postgres_common;

use std::time::Duration;

use event_core::store::{EventStore, Hop, HopKind};

/// The hops table as the first release created it: no `receivers`.
const OLD_SQLITE_HOPS: &str = "CREATE TABLE events_hops (
    position    INTEGER PRIMARY KEY AUTOINCREMENT,
    event_id    TEXT NOT NULL,
    kind        TEXT NOT NULL,
    name        TEXT NOT NULL,
    channels    TEXT NOT NULL,
    queue       TEXT,
    error       TEXT,
    started_at  TEXT NOT NULL,
    duration_us INTEGER NOT NULL,
    worker      TEXT,
    waited_us   INTEGER,
    attempt     INTEGER,
    outcome     TEXT
)";

fn broadcast(receivers: Option<u64>) -> Hop {
    Hop {
        kind: HopKind::Broadcast,
        name: "ScoreChanged".into(),
        channels: vec!["game.1".into()],
        receivers,
        status: None,
        queue: None,
        error: None,
        started_at: chrono::Utc::now(),
        duration: Duration::from_millis(2),
        job: None,
    }
}

/// Writes a counted and an unknown broadcast; with `old_event`, the row
/// the old table held reads back too, as unknown.
async fn receivers_round_trip(store: &EventStore, old_event: Option<&str>) {
    let recorder = store.recorder().expect("an enabled store");
    let (counted, unknown) = (ulid::Ulid::new(), ulid::Ulid::new());
    recorder.hop(counted, broadcast(Some(4)));
    recorder.hop(unknown, broadcast(None));
    let request = ulid::Ulid::new();
    recorder.hop(
        request,
        Hop {
            kind: HopKind::Request,
            name: "POST /orders/{order}".into(),
            channels: Vec::new(),
            status: Some(201),
            ..broadcast(None)
        },
    );
    store.flush().await.expect("flush");
    let mut ids = vec![
        counted.to_string(),
        unknown.to_string(),
        request.to_string(),
    ];
    ids.extend(old_event.map(str::to_string));
    let hops = store.hops(&ids).await.expect("read the hops");
    let of = |id: &str| {
        hops.iter()
            .find(|h| h.event_id == id)
            .unwrap_or_else(|| panic!("the hop of {id}: {hops:?}"))
    };
    assert_eq!(of(&counted.to_string()).receivers, Some(4));
    assert_eq!(of(&unknown.to_string()).receivers, None);
    assert_eq!(of(&counted.to_string()).channels, ["game.1"]);
    let request = of(&request.to_string());
    assert_eq!(
        (request.kind.as_str(), request.status, request.receivers),
        ("request", Some(201), None)
    );
    if let Some(old) = old_event {
        let old = of(old);
        assert_eq!(
            (old.kind.as_str(), old.receivers, old.status),
            ("broadcast", None, None)
        );
    }
}

#[tokio::test]
async fn sqlite_keeps_the_receivers_and_adds_the_column_to_an_old_table() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("events.db");
    {
        let conn = rusqlite::Connection::open(&path).unwrap();
        conn.execute_batch(OLD_SQLITE_HOPS).unwrap();
        conn.execute(
            "INSERT INTO events_hops (event_id, kind, name, channels, started_at, duration_us)
             VALUES ('old-event', 'broadcast', 'Old', '[\"news\"]', '2026-01-01T00:00:00.000Z', 5)",
            [],
        )
        .unwrap();
    }
    let url = format!("sqlite://{}", path.display());
    let store = EventStore::open(&url, "events").await.expect("opens");
    receivers_round_trip(&store, Some("old-event")).await;
    store.shutdown().await.ok();
    // Opening again finds the column there and adds nothing.
    let again = EventStore::open(&url, "events").await.expect("opens again");
    receivers_round_trip(&again, Some("old-event")).await;
}

#[tokio::test]
async fn postgres_keeps_the_receivers_and_adds_the_column_to_an_old_table() {
    let Some(url) = postgres_common::base_url() else {
        println!("skipped: set EVENTS_TEST_POSTGRES_URL");
        return;
    };
    let table = test_support::unique("hop_receivers").replace('-', "_");
    let sql = postgres_common::sql(&url).await;
    sql.batch_execute(&format!(
        "CREATE TABLE {table}_hops (
             position    bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
             event_id    text NOT NULL,
             kind        text NOT NULL,
             name        text NOT NULL,
             channels    jsonb NOT NULL,
             queue       text,
             error       text,
             started_at  timestamptz NOT NULL,
             duration_us bigint NOT NULL,
             worker      text,
             waited_us   bigint,
             attempt     bigint,
             outcome     text
         );
         INSERT INTO {table}_hops (event_id, kind, name, channels, started_at, duration_us)
         VALUES ('old-event', 'broadcast', 'Old', '[\"news\"]', now(), 5);"
    ))
    .await
    .unwrap();
    let store = EventStore::open(&url, &table).await.expect("opens");
    receivers_round_trip(&store, Some("old-event")).await;
    let again = EventStore::open(&url, &table).await.expect("opens again");
    receivers_round_trip(&again, Some("old-event")).await;
    store.drop_table().await.expect("drop the table");
}
