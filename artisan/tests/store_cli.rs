//! `artisan event:history` and `event:replay` against a real SQLite event
//! store filled by real dispatches.

use std::path::Path;
use std::process::{Command, Output};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use event_core::queue::JobRegistry;
use event_core::store::EventStore;
use event_core::{Dispatcher, Event, EventListener, async_trait};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Serialize, Deserialize, Event)]
#[event(tags("order"))]
pub struct OrderPlacedEvent {
    pub order: u64,
}

#[derive(Debug, Clone, Serialize, Deserialize, Event)]
pub struct InvoiceSentEvent {
    pub order: u64,
}

/// Sends the invoice event for each order (so chains have two links).
struct SendInvoice {
    dispatcher: Dispatcher,
    calls: Arc<AtomicUsize>,
}

#[async_trait]
impl EventListener for SendInvoice {
    async fn handle(&self, event: Arc<dyn Event>) -> anyhow::Result<()> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        let order = event
            .downcast_ref::<OrderPlacedEvent>()
            .map_or(0, |e| e.order);
        if !event_core::store::is_replaying() {
            self.dispatcher.dispatch(InvoiceSentEvent { order }).await?;
        }
        Ok(())
    }
    fn listener_name(&self) -> &str {
        "shop::SendInvoice"
    }
}

fn artisan(args: &[&str], cwd: &Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_artisan"))
        .args(args)
        .current_dir(cwd)
        .env_remove("EVENTS_STORE_URL")
        .env_remove("EVENTS_STORE_TABLE")
        .env("NO_COLOR", "1")
        .output()
        .expect("run artisan")
}

fn text(output: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

/// A store in `dir` with two orders dispatched (4 events), and the registry.
async fn filled(dir: &Path) -> (EventStore, JobRegistry, Arc<AtomicUsize>) {
    let url = format!("sqlite://{}/events.db", dir.display());
    let store = EventStore::open(&url, "history").await.expect("open");
    let dispatcher = Dispatcher::new();
    store.install(&dispatcher).await;
    let calls = Arc::new(AtomicUsize::new(0));
    let listener = Arc::new(SendInvoice {
        dispatcher: dispatcher.clone(),
        calls: calls.clone(),
    });
    let registry = JobRegistry::new()
        .listener::<OrderPlacedEvent>(listener)
        .event::<InvoiceSentEvent>();
    registry.register_on(&dispatcher).await;
    for order in [1, 2] {
        dispatcher
            .dispatch(OrderPlacedEvent { order })
            .await
            .expect("dispatch");
    }
    store.flush().await.expect("flush");
    (store, registry, calls)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn history_lists_filters_and_shows_a_chain() {
    let dir = tempfile::tempdir().unwrap();
    let (store, _, _) = filled(dir.path()).await;
    let url = format!("sqlite://{}/events.db", dir.path().display());
    let base = ["--url", url.as_str(), "--table", "history"];
    let run = |extra: &[&str]| {
        let mut args = vec!["event:history"];
        args.extend(base);
        args.extend(extra);
        artisan(&args, dir.path())
    };

    let all = run(&[]);
    assert!(all.status.success(), "{}", text(&all));
    let out = text(&all);
    assert!(
        out.contains("POSITION") && out.contains("CAUSED BY"),
        "{out}"
    );
    assert_eq!(out.matches("OrderPlaced").count(), 2, "{out}");
    assert_eq!(out.matches("InvoiceSent").count(), 2, "{out}");

    let named = text(&run(&["--name", "InvoiceSent"]));
    assert_eq!(named.matches("InvoiceSent").count(), 2, "{named}");
    assert!(!named.contains("OrderPlaced"), "{named}");
    let tagged = text(&run(&["--tag", "order"]));
    assert_eq!(tagged.matches("OrderPlaced").count(), 2, "{tagged}");
    assert!(!tagged.contains("InvoiceSent"), "{tagged}");
    assert!(text(&run(&["--since", "1h"])).contains("OrderPlaced"));
    let paged = text(&run(&["--limit", "3"]));
    assert!(paged.contains("the next page: --after 3"), "{paged}");

    let first = store.query().name("OrderPlaced").fetch().await.unwrap();
    let chain = text(&run(&["--correlation", &first[0].id]));
    assert!(
        chain.contains(&format!("Chain {} (2 events)", first[0].id)),
        "{chain}"
    );
    let lines: Vec<&str> = chain.lines().collect();
    assert!(lines[1].trim_start().starts_with("OrderPlaced"), "{chain}");
    assert!(
        lines[2].trim_start().starts_with("└─ InvoiceSent"),
        "{chain}"
    );

    let json = run(&["--json", "--name", "OrderPlaced"]);
    let rows: serde_json::Value = serde_json::from_slice(&json.stdout).expect("JSON");
    assert_eq!(rows.as_array().unwrap().len(), 2);
    assert_eq!(rows[0]["payload"], serde_json::json!({"order": 1}));
    assert_eq!(rows[0]["correlation_id"], rows[0]["id"]);
}

#[tokio::test]
async fn history_refuses_bad_input_without_creating_anything() {
    let dir = tempfile::tempdir().unwrap();
    let missing = artisan(
        &["event:history", "--url", "sqlite://nope/events.db"],
        dir.path(),
    );
    assert_eq!(missing.status.code(), Some(2), "{}", text(&missing));
    assert!(text(&missing).contains("no event store at `nope/events.db` (from --url)"));
    assert!(!dir.path().join("nope").exists());
    let (_store, _, _) = filled(dir.path()).await;
    let url = format!("sqlite://{}/events.db", dir.path().display());
    let bad = artisan(
        &["event:history", "--url", &url, "--since", "yesterday"],
        dir.path(),
    );
    assert_eq!(bad.status.code(), Some(2));
    assert!(
        text(&bad).contains("invalid --since `yesterday`"),
        "{}",
        text(&bad)
    );
    let standalone = artisan(&["event:replay", "01J9Z3K6Q8V0C2M4N6P8R0T2V4"], dir.path());
    assert_eq!(standalone.status.code(), Some(2));
    assert!(
        text(&standalone).contains("artisan init"),
        "{}",
        text(&standalone)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replay_through_the_apps_registry() {
    let dir = tempfile::tempdir().unwrap();
    let (store, registry, calls) = filled(dir.path()).await;
    assert_eq!(calls.load(Ordering::SeqCst), 2);
    let url = format!("sqlite://{}/events.db", dir.path().display());
    let first = store.query().name("OrderPlaced").fetch().await.unwrap();
    let args = |extra: &[&str]| {
        let mut args = vec!["artisan", "event:replay"];
        args.extend(extra);
        args.extend(["--url", url.as_str(), "--table", "history"]);
        let cli = <event_artisan::cli::Cli as clap::Parser>::try_parse_from(&args).expect("parses");
        match cli.command {
            Some(event_artisan::cli::Command::EventReplay(replay)) => replay,
            other => panic!("parsed as {other:?}"),
        }
    };
    let (store2, registry2) = (store.clone(), registry.clone());
    let id = first[0].id.clone();
    let one = args(&[id.as_str()]);
    tokio::task::spawn_blocking(move || event_artisan::event_replay(None, one, &registry2))
        .await
        .unwrap()
        .expect("replay one");
    assert_eq!(calls.load(Ordering::SeqCst), 3);
    let from = args(&[
        "--from",
        "0",
        "--name",
        "OrderPlaced",
        "--listener",
        "SendInvoice",
    ]);
    let registry3 = registry.clone();
    tokio::task::spawn_blocking(move || event_artisan::event_replay(None, from, &registry3))
        .await
        .unwrap()
        .expect("replay from");
    assert_eq!(calls.load(Ordering::SeqCst), 5);
    let marks = store2
        .query()
        .include_replays()
        .fetch()
        .await
        .unwrap()
        .into_iter()
        .filter(|r| r.replay_of.is_some())
        .count();
    assert_eq!(marks, 3, "each replay is recorded with replay_of");
    assert_eq!(
        store2.query().fetch().await.unwrap().len(),
        4,
        "no new events"
    );
    let missing = args(&["01J9Z3K6Q8V0C2M4N6P8R0T2V4"]);
    let err =
        tokio::task::spawn_blocking(move || event_artisan::event_replay(None, missing, &registry))
            .await
            .unwrap()
            .unwrap_err();
    assert!(err.to_string().contains("no event with id"), "{err}");
}
