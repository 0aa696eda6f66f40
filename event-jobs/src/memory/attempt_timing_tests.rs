//! The memory connection's quick path times an attempt that does not
//! complete (on the coarse clock, from the start it already took), so a
//! failed job's history says how long each attempt ran.

use std::sync::Arc;
use std::time::Duration;

use crate::fixtures::Ping;
use crate::{JobRegistry, Queue, Worker};
use event_kernel::{Event, EventListener};

/// Fails after a slow call, each try, retried at once.
struct SlowFailure;

#[async_trait::async_trait]
impl EventListener for SlowFailure {
    async fn handle(&self, _event: Arc<dyn Event>) -> anyhow::Result<()> {
        tokio::time::sleep(Duration::from_millis(60)).await;
        anyhow::bail!("declined after a slow call")
    }
    fn should_queue(&self) -> bool {
        true
    }
    fn backoff(&self) -> Vec<chrono::Duration> {
        vec![chrono::Duration::zero()]
    }
}

#[tokio::test]
async fn a_failing_attempt_on_the_quick_path_is_timed() {
    let queue = Queue::memory();
    let listener: Arc<dyn EventListener> = Arc::new(SlowFailure);
    let event: Arc<dyn Event> = Arc::new(Ping);
    // A live job with no settings of its own: the quick path runs it.
    let pushed = queue.queue_listener_now_on(&listener, &event);
    assert!(matches!(pushed, Some(Ok(()))));
    Worker::new(queue.clone(), JobRegistry::new())
        .tries(2)
        .stop_when_empty(true)
        .run_until(std::future::pending())
        .await
        .expect("the worker runs");
    let failed = queue.failed().expect("store").list().await.expect("list");
    assert_eq!(failed.len(), 1, "{failed:?}");
    let history = &failed[0].payload.history;
    let outcomes: Vec<&str> = history.iter().map(|a| a.outcome.as_str()).collect();
    assert_eq!(outcomes, ["retried", "failed"], "{history:?}");
    for attempt in history {
        let ran = attempt.duration_ms.expect("the attempt is timed");
        // The coarse clock is within a few ms; each attempt took 60 or more.
        assert!((50..10_000).contains(&ran), "{ran} ms: {attempt:?}");
    }
}
