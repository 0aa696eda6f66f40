//! A broadcast's receivers on the timeline: an event recorded by the store
//! is broadcast through the `pusher` broadcaster to a real
//! event-broadcast-server with N sockets subscribed to its channel; the
//! chain (`/api/chains/{correlation}`) shows `receivers == N` under the
//! broadcast. A server that does not answer Pusher's `info` (`{}`) gives
//! `null` (unknown), not 0. On sqlite, and on PostgreSQL when
//! EVENTS_TEST_POSTGRES_URL is set.

mod common;

use std::sync::Arc;

use common::pusher::{credentials, subscribed};
use common::{App, get};
use event_broadcast_server::{Server, ServerConfig};
use event_core::broadcasting::{Broadcaster, PusherBroadcaster, ShouldBroadcast};
use event_core::prelude::*;
use event_core::store::EventStore;
use event_dashboard::{DashboardState, router};
use serde_json::{Value, json};

#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
struct ScoreChanged {
    game: u64,
}

impl Event for ScoreChanged {
    fn event_name(&self) -> &'static str {
        "ScoreChanged"
    }
    fn to_json(&self) -> Value {
        json!(self)
    }
    fn as_should_broadcast(&self) -> Option<&dyn ShouldBroadcast> {
        Some(self)
    }
}

impl ShouldBroadcast for ScoreChanged {
    fn broadcast_on(&self) -> Vec<String> {
        vec![format!("game.{}", self.game)]
    }
    fn should_queue_broadcast(&self) -> bool {
        false
    }
}

/// Dispatches one `ScoreChanged` for `game` with `store` recording and
/// `broadcaster` installed; returns the broadcast hop as the chain API
/// shows it.
async fn broadcast_hop(store: EventStore, broadcaster: PusherBroadcaster, game: u64) -> Value {
    let app = App::new().await;
    let events = Dispatcher::new();
    store.install(&events).await;
    events
        .set_broadcaster(Arc::new(broadcaster) as Arc<dyn Broadcaster>)
        .await;
    events.dispatch(ScoreChanged { game }).await.unwrap();
    store.flush().await.expect("flush");

    let dashboard = router(DashboardState::new(app.queue.clone()).unwrap().store(store));
    let listed = get(&dashboard, "/api/events?name=ScoreChanged").await;
    let event = listed.json["events"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["payload"]["game"] == game)
        .unwrap_or_else(|| panic!("the event is listed: {}", listed.text))
        .clone();
    let chain = get(
        &dashboard,
        &format!("/api/chains/{}", event["correlation_id"].as_str().unwrap()),
    )
    .await;
    assert_eq!(chain.status, 200, "{}", chain.text);
    let broadcasts = &chain.json["events"][0]["broadcasts"];
    assert_eq!(
        broadcasts.as_array().map(Vec::len),
        Some(1),
        "{}",
        chain.text
    );
    broadcasts[0].clone()
}

async fn the_timeline_shows_how_many_connections_received_it(store: EventStore) {
    let app_id = test_support::unique("receivers");
    let mut config = ServerConfig::new(credentials(&app_id));
    config.port = 0;
    let server = Server::bind(config).await.expect("bind the server");
    let port = server.local_addr().port();
    let [game] = common::orders();
    let channel = format!("game.{game}");
    let mut watchers = Vec::new();
    for _ in 0..3 {
        watchers.push(subscribed(&app_id, port, &channel, None).await);
    }
    let _elsewhere = subscribed(&app_id, port, "game.other", None).await;
    let broadcaster =
        PusherBroadcaster::with_base(credentials(&app_id), format!("http://127.0.0.1:{port}"));

    let hop = broadcast_hop(store, broadcaster, game).await;
    assert_eq!(
        (
            hop["event"].as_str(),
            hop["channels"].clone(),
            hop["ok"].as_bool(),
            hop["receivers"].as_u64()
        ),
        (Some("ScoreChanged"), json!([channel]), Some(true), Some(3)),
        "{hop}"
    );
    for watcher in &mut watchers {
        let frame = common::pusher::frame(watcher, "ScoreChanged").await;
        assert_eq!(frame["channel"], channel.as_str());
    }
}

#[tokio::test]
async fn the_timeline_shows_how_many_connections_received_it_on_sqlite() {
    let dir = tempfile::tempdir().expect("tempdir");
    let url = format!("sqlite://{}", dir.path().join("events.db").display());
    let store = EventStore::open(&url, "events").await.expect("open");
    the_timeline_shows_how_many_connections_received_it(store).await;
}

#[tokio::test]
async fn the_timeline_shows_how_many_connections_received_it_on_postgres() {
    let Some(url) = test_support::postgres_url() else {
        println!("skipped: set EVENTS_TEST_POSTGRES_URL");
        return;
    };
    let table = test_support::unique("dash_receivers").replace('-', "_");
    let store = EventStore::open(&url, &table).await.expect("open");
    the_timeline_shows_how_many_connections_received_it(store.clone()).await;
    store.drop_table().await.expect("drop the table");
}

/// A Pusher-compatible server that takes the event but ignores `info`
/// (answers `{}`), as an older soketi would: the count is unknown.
#[tokio::test]
async fn a_server_that_ignores_info_leaves_the_receivers_unknown() {
    let posted: Arc<std::sync::Mutex<Vec<Value>>> = Arc::default();
    let seen = posted.clone();
    let fake = axum::Router::new().route(
        "/apps/{app}/events",
        axum::routing::post(move |body: String| {
            let seen = seen.clone();
            async move {
                seen.lock()
                    .unwrap()
                    .push(serde_json::from_str(&body).unwrap());
                axum::Json(json!({}))
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, fake).await });

    let dir = tempfile::tempdir().expect("tempdir");
    let url = format!("sqlite://{}", dir.path().join("events.db").display());
    let store = EventStore::open(&url, "events").await.expect("open");
    let broadcaster = PusherBroadcaster::with_base(credentials("quiet"), format!("http://{addr}"));
    let [game] = common::orders();
    let hop = broadcast_hop(store, broadcaster, game).await;
    assert_eq!(hop["ok"], true, "{hop}");
    assert!(
        hop.get("receivers").is_some_and(Value::is_null),
        "unknown, not 0: {hop}"
    );
    // It was asked for, as Pusher's "POST event" takes it.
    let posted = posted.lock().unwrap();
    assert_eq!(posted.len(), 1);
    assert_eq!(posted[0]["info"], "subscription_count", "{}", posted[0]);
}
