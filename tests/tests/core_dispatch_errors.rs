//! A dispatch error says what failed: a listener, the queue, or the
//! broadcast, as a typed context the caller can downcast, with the cause
//! (the listener's error, the queue's `QueueError` and its library error).

use std::sync::Arc;

use anyhow::{Result, anyhow};
use async_trait::async_trait;
use event_core::broadcasting::{BroadcastMessage, Broadcaster};
use event_core::prelude::*;
use event_core::queue::{Queue, QueueError};
use event_core::{BroadcastFailed, ListenerFailed, QueueFailed};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Serialize, Deserialize, Event)]
#[event(broadcast = "invoices.{id}")]
struct InvoicePaidEvent {
    id: u32,
}

#[derive(Debug, thiserror::Error)]
#[error("the ledger is closed")]
struct LedgerClosed;

struct Failing;

#[async_trait]
impl EventListener for Failing {
    async fn handle(&self, _event: Arc<dyn Event>) -> Result<()> {
        Err(LedgerClosed.into())
    }
    fn listener_name(&self) -> &str {
        "RecordPayment"
    }
}

struct Queued;

#[async_trait]
impl EventListener for Queued {
    async fn handle(&self, _event: Arc<dyn Event>) -> Result<()> {
        Ok(())
    }
    fn should_queue(&self) -> bool {
        true
    }
    fn listener_name(&self) -> &str {
        "SendReceipt"
    }
}

fn queue_error(error: &anyhow::Error) -> &QueueError {
    error
        .chain()
        .find_map(|e| e.downcast_ref::<QueueError>())
        .unwrap_or_else(|| panic!("no QueueError in {error:?}"))
}

#[tokio::test]
async fn a_listener_failure_is_a_listener_failed_with_the_listeners_error() {
    let d = Dispatcher::new();
    d.listen::<InvoicePaidEvent>(Arc::new(Failing)).await;
    let error = d.dispatch(InvoicePaidEvent { id: 1 }).await.unwrap_err();
    let failed = error
        .downcast_ref::<ListenerFailed>()
        .expect("ListenerFailed");
    assert_eq!(failed.listener, "RecordPayment");
    assert_eq!(failed.event, "InvoicePaid");
    assert!(error.downcast_ref::<QueueFailed>().is_none());
    assert!(error.root_cause().downcast_ref::<LedgerClosed>().is_some());
    assert_eq!(
        format!("{error:#}"),
        "listener `RecordPayment` failed handling event `InvoicePaid`: the ledger is closed"
    );
}

#[tokio::test]
async fn a_broadcast_failure_is_a_broadcast_failed_and_listeners_still_run() {
    struct Down;
    #[async_trait]
    impl Broadcaster for Down {
        async fn broadcast(&self, _message: &BroadcastMessage) -> Result<()> {
            Err(anyhow!("connection refused"))
        }
    }
    let d = Dispatcher::new();
    d.set_broadcaster(Arc::new(Down)).await;
    let ran = Arc::new(std::sync::atomic::AtomicBool::new(false));
    struct Flag(Arc<std::sync::atomic::AtomicBool>);
    #[async_trait]
    impl EventListener for Flag {
        async fn handle(&self, _event: Arc<dyn Event>) -> Result<()> {
            self.0.store(true, std::sync::atomic::Ordering::SeqCst);
            Ok(())
        }
    }
    d.listen::<InvoicePaidEvent>(Arc::new(Flag(ran.clone())))
        .await;
    let error = d.dispatch(InvoicePaidEvent { id: 2 }).await.unwrap_err();
    let failed = error
        .downcast_ref::<BroadcastFailed>()
        .expect("BroadcastFailed");
    assert_eq!(failed.event, "InvoicePaid");
    assert!(error.downcast_ref::<ListenerFailed>().is_none());
    assert!(ran.load(std::sync::atomic::Ordering::SeqCst));
}

/// SQLite refusing the write (its table is gone) is a `QueueFailed` whose
/// cause is `QueueError::Sqlite` carrying the `rusqlite::Error`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_sqlite_write_is_a_queue_failed_carrying_the_rusqlite_error() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("jobs.db");
    let queue = Queue::open(&format!("sqlite://{}", path.display()))
        .await
        .expect("open");
    let d = Dispatcher::new();
    queue.install(&d).await;
    d.listen::<InvoicePaidEvent>(Arc::new(Queued)).await;
    rusqlite::Connection::open(&path)
        .expect("open")
        .execute_batch("DROP TABLE event_jobs")
        .expect("drop");
    let error = d.dispatch(InvoicePaidEvent { id: 3 }).await.unwrap_err();
    let failed = error.downcast_ref::<QueueFailed>().expect("QueueFailed");
    assert_eq!(failed.listener.as_deref(), Some("SendReceipt"));
    assert_eq!(failed.event, "InvoicePaid");
    assert!(error.downcast_ref::<ListenerFailed>().is_none());
    match queue_error(&error) {
        QueueError::Sqlite { source, .. } => {
            assert!(source.to_string().contains("no such table"), "{source}");
        }
        other => panic!("expected QueueError::Sqlite, got {other:?}"),
    }
    let rusqlite_error = error
        .chain()
        .find_map(|e| e.downcast_ref::<rusqlite::Error>())
        .expect("the rusqlite error is in the chain");
    assert!(rusqlite_error.sqlite_error_code().is_some());
}

/// A Redis that went away is a `QueueFailed` whose `QueueError::Redis`
/// says it is unreachable.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_redis_that_is_down_is_a_queue_failed_that_says_unreachable() {
    if test_support::redis_url().is_none() {
        return;
    }
    let mut server = test_support::PrivateRedis::start();
    let url = server.url();
    let queue = Queue::open(&url)
        .await
        .expect("the private redis-server answers");
    let d = Dispatcher::new();
    queue.install(&d).await;
    d.listen::<InvoicePaidEvent>(Arc::new(Queued)).await;
    d.dispatch(InvoicePaidEvent { id: 4 })
        .await
        .expect("queued while up");
    server.stop();

    let error = d.dispatch(InvoicePaidEvent { id: 5 }).await.unwrap_err();
    assert!(error.downcast_ref::<QueueFailed>().is_some(), "{error:?}");
    let cause = queue_error(&error);
    assert!(matches!(cause, QueueError::Redis { .. }), "{cause:?}");
    assert!(cause.is_unreachable(), "{cause:?}");
    assert_eq!(cause.url(), Some(url.as_str()));
}
