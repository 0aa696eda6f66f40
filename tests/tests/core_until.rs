//! `until` is `dispatch` in halting mode: fakes, broadcasting, queueing and
//! the `failed` hook behave as they do for `dispatch`.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use anyhow::{Result, anyhow};
use async_trait::async_trait;
use event_core::broadcasting::MemoryBroadcaster;
use event_core::prelude::*;
use event_core::queue::Queue;
use event_core::testing::{BroadcastFake, EventFake, QueueFake};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Serialize, Deserialize, Event)]
#[event(broadcast = "orders.{order_id}")]
struct OrderShippedEvent {
    order_id: u32,
}

#[derive(Debug, Clone, Serialize, Deserialize, Event)]
#[event(queued, queue = "reports")]
struct ReportRequestedEvent {
    id: u32,
}

/// Counts its calls and its `failed` hook's calls; fails when told to.
#[derive(Default)]
struct Counting {
    fail: bool,
    queued: bool,
    handled: AtomicUsize,
    failed: AtomicUsize,
    seen: Mutex<Vec<String>>,
}

#[async_trait]
impl EventListener for Counting {
    async fn handle(&self, event: Arc<dyn Event>) -> Result<()> {
        self.handled.fetch_add(1, Ordering::SeqCst);
        self.seen
            .lock()
            .unwrap()
            .push(event.event_name().to_string());
        if self.fail {
            return Err(anyhow!("card declined"));
        }
        Ok(())
    }

    async fn failed(&self, _event: Arc<dyn Event>, error: &anyhow::Error) -> Result<()> {
        assert_eq!(error.to_string(), "card declined");
        self.failed.fetch_add(1, Ordering::SeqCst);
        Ok(())
    }

    fn should_queue(&self) -> bool {
        self.queued
    }

    fn listener_name(&self) -> &str {
        if self.queued { "queued" } else { "counting" }
    }
}

fn counting() -> Arc<Counting> {
    Arc::new(Counting::default())
}

#[tokio::test]
async fn until_calls_the_failing_listeners_failed_hook() {
    let d = Dispatcher::new();
    let failing = Arc::new(Counting {
        fail: true,
        ..Counting::default()
    });
    let next = counting();
    d.listen::<OrderShippedEvent>(failing.clone()).await;
    d.listen::<OrderShippedEvent>(next.clone()).await;
    let mut results = Vec::new();
    let answer = d
        .until(OrderShippedEvent { order_id: 1 }, |result| {
            results.push(result.as_ref().map_err(|e| format!("{e:#}")).cloned());
            result.as_ref().ok().map(|_| "answered")
        })
        .await;
    assert_eq!(answer, Some("answered"));
    assert_eq!(failing.failed.load(Ordering::SeqCst), 1, "failed hook ran");
    assert_eq!(next.handled.load(Ordering::SeqCst), 1);
    assert_eq!(
        results,
        vec![
            Err("listener `counting` failed handling event `OrderShipped`: card declined".into()),
            Ok(())
        ]
    );
}

#[tokio::test]
async fn until_broadcasts_like_dispatch() {
    let d = Dispatcher::new();
    let broadcaster = Arc::new(MemoryBroadcaster::new());
    d.set_broadcaster(broadcaster.clone()).await;
    d.listen::<OrderShippedEvent>(counting()).await;
    let answer = d
        .until(OrderShippedEvent { order_id: 7 }, |r| {
            r.as_ref().ok().map(|_| 1)
        })
        .await;
    assert_eq!(answer, Some(1));
    assert_eq!(broadcaster.on_channel("orders.7").len(), 1);

    // And through the broadcast fake.
    let fake = BroadcastFake::new();
    d.until(OrderShippedEvent { order_id: 8 }, |_| None::<()>)
        .await;
    fake.assert_broadcast_on("orders.8");
    assert!(broadcaster.on_channel("orders.8").is_empty());
}

#[tokio::test]
async fn until_is_faked_like_dispatch() {
    let d = Dispatcher::new();
    let listener = counting();
    d.listen::<OrderShippedEvent>(listener.clone()).await;
    let events = EventFake::new();
    let answer = d
        .until(OrderShippedEvent { order_id: 2 }, |_| Some("ran"))
        .await;
    assert_eq!(answer, None, "a faked event reaches no listener");
    events.assert_dispatched_with::<OrderShippedEvent>(|e| e.order_id == 2);
    assert_eq!(listener.handled.load(Ordering::SeqCst), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn until_queues_a_queued_event_instead_of_running_it() {
    let d = Dispatcher::new();
    let queue = Queue::memory();
    queue.install(&d).await;
    let listener = counting();
    d.listen::<ReportRequestedEvent>(listener.clone()).await;
    let answer = d
        .until(ReportRequestedEvent { id: 1 }, |_| Some("ran inline"))
        .await;
    assert_eq!(answer, None, "no listener ran in the caller");
    assert_eq!(listener.handled.load(Ordering::SeqCst), 0);
    assert_eq!(queue.size().await.expect("size"), 1, "the event is a job");
}

#[tokio::test]
async fn until_queues_queued_listeners_and_records_them_in_the_queue_fake() {
    let d = Dispatcher::new();
    let queued = Arc::new(Counting {
        queued: true,
        ..Counting::default()
    });
    let sync = counting();
    d.listen::<OrderShippedEvent>(queued.clone()).await;
    d.listen::<OrderShippedEvent>(sync.clone()).await;
    let queue = QueueFake::for_dispatcher(&d);
    let mut calls = 0;
    let answer = d
        .until(OrderShippedEvent { order_id: 3 }, |r| {
            calls += 1;
            r.as_ref().ok().map(|_| calls)
        })
        .await;
    assert_eq!(answer, Some(1), "only the sync listener gave a result");
    assert_eq!(queued.handled.load(Ordering::SeqCst), 0);
    assert_eq!(sync.handled.load(Ordering::SeqCst), 1);
    assert_eq!(queue.jobs().len(), 1);
}
