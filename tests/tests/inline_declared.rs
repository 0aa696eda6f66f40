//! What a queued listener declares still holds when it runs inline
//! (nothing declared is ignored): on a queue's `sync` connection, an
//! `after_commit` listener waits for the unit of work; with no queue at
//! all, a `unique_id` that nothing could enforce is refused by name.

use std::sync::{Arc, Mutex};

use event_core::prelude::*;
use event_core::queue::{self, Queue};
use event_core::{ListenerOptions, UniqueJob};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Event)]
pub struct NoteAdded {
    pub n: u64,
}

type Log = Arc<Mutex<Vec<String>>>;

/// A queued listener with the options it is given; writes `ran:<n>`.
struct Declared {
    log: Log,
    options: ListenerOptions,
}

#[async_trait]
impl EventListener for Declared {
    async fn handle(&self, event: Arc<dyn Event>) -> anyhow::Result<()> {
        let n = event.to_json()["n"].as_u64().unwrap_or_default();
        self.log.lock().unwrap().push(format!("ran:{n}"));
        Ok(())
    }
    fn should_queue(&self) -> bool {
        true
    }
    fn listener_name(&self) -> &str {
        "Declared"
    }
    fn options(&self) -> ListenerOptions {
        self.options.clone()
    }
}

#[tokio::test]
async fn an_after_commit_listener_on_the_sync_connection_waits_for_the_commit() {
    let dir = tempfile::tempdir().unwrap();
    let queue = Queue::open(&format!("sqlite://{}/jobs.db", dir.path().display()))
        .await
        .expect("open sqlite queue");
    let events = Dispatcher::new();
    queue.install(&events).await;
    let log = Log::default();
    events
        .listen::<NoteAdded>(Arc::new(Declared {
            log: log.clone(),
            options: ListenerOptions {
                queued: true,
                connection: Some("sync".into()),
                after_commit: true,
                ..ListenerOptions::default()
            },
        }))
        .await;

    let rolled_back: anyhow::Result<()> = queue::defer(async {
        events.dispatch(NoteAdded { n: 1 }).await?;
        anyhow::bail!("the note could not be saved")
    })
    .await;
    assert!(rolled_back.is_err());
    assert!(log.lock().unwrap().is_empty(), "rolled back: never ran");

    queue::defer(async {
        events.dispatch(NoteAdded { n: 2 }).await?;
        log.lock().unwrap().push("committing".into());
        Ok::<_, anyhow::Error>(())
    })
    .await
    .expect("commit");
    assert_eq!(
        *log.lock().unwrap(),
        ["committing", "ran:2"],
        "after the commit, once"
    );
    assert_eq!(queue.size().await.unwrap(), 0, "sync: no job written");

    // Outside a unit: at once.
    events.dispatch(NoteAdded { n: 3 }).await.unwrap();
    assert_eq!(log.lock().unwrap().last().unwrap(), "ran:3");
}

#[tokio::test]
async fn unique_id_without_a_queue_is_refused_by_name() {
    let events = Dispatcher::new();
    let log = Log::default();
    events
        .listen::<NoteAdded>(Arc::new(Declared {
            log: log.clone(),
            options: ListenerOptions {
                queued: true,
                unique: Some(UniqueJob {
                    id: |e| Some(e.to_json()["n"].to_string()),
                    lock_for: None,
                    until_processing: false,
                }),
                ..ListenerOptions::default()
            },
        }))
        .await;
    let err = events
        .dispatch(NoteAdded { n: 1 })
        .await
        .expect_err("nothing could keep it unique");
    let text = format!("{err:#}");
    assert!(
        text.contains("unique_id") && text.contains("no queue is installed"),
        "{text}"
    );
    assert!(log.lock().unwrap().is_empty(), "refused, not run");
}
