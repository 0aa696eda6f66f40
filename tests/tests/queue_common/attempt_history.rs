//! A failed job keeps every attempt (when it ended, which worker, how
//! long, how it ended) and its error's source chain, on every connection.

use event_core::queue::Queue;

use super::fixtures::{Sink, TestJobEvent, TestListener};
use super::{LIMIT, chrono_ms, eventually, job, setup, start, worker};

/// Three attempts that fail: the failed job's envelope lists them in
/// order, the first two retried and the last failed, each by the worker
/// that ran it, with the error and its causes outermost first.
pub async fn failed_job_keeps_every_attempt(queue: Queue) {
    let sink = Sink::memory();
    let listener = TestListener::new("attempts", sink.clone()).with(|o| {
        o.tries = Some(3);
        o.backoff = vec![chrono_ms(10)];
    });
    let (dispatcher, registry) = setup(&queue, listener).await;
    dispatcher
        .dispatch(TestJobEvent {
            fail_times: 1_000,
            ..job(7)
        })
        .await
        .expect("dispatch");
    let store = queue.failed().expect("store");
    let running = start(worker(&queue, registry));
    assert!(
        eventually(LIMIT, async || store.list().await.expect("list").len() == 1).await,
        "the job fails for good"
    );
    running.stop().await;
    let failed = store.list().await.expect("list").remove(0);
    let history = &failed.payload.history;
    let seen: Vec<(u32, &str)> = history
        .iter()
        .map(|a| (a.attempt, a.outcome.as_str()))
        .collect();
    assert_eq!(
        seen,
        [(1, "retried"), (2, "retried"), (3, "failed")],
        "{history:#?}"
    );
    for (n, attempt) in history.iter().enumerate() {
        assert!(!attempt.worker.is_empty(), "{attempt:?}");
        assert_eq!(attempt.worker, history[0].worker, "one worker ran them");
        assert!(attempt.ended_at_ms > 0, "{attempt:?}");
        let chain = &attempt.error_chain;
        assert!(
            chain.len() >= 2 && chain[0].contains("failed handling event"),
            "the listener's context first, then its cause: {chain:?}"
        );
        assert!(
            chain
                .last()
                .unwrap()
                .contains(&format!("job 7 fails attempt {} on purpose", n + 1)),
            "{chain:?}"
        );
    }
    assert!(
        history
            .windows(2)
            .all(|w| w[0].ended_at_ms <= w[1].ended_at_ms),
        "{history:#?}"
    );
}
