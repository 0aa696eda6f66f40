//! The `memory` connection's monitoring: the scenarios every connection
//! must pass (its jobs and figures live in this process). Not the gauge
//! scenarios: they claim with a bare `fetch`, and memory's `running` is
//! its in-process workers' in-flight count (a memory queue's jobs only run
//! on its own workers); `tests/tests/queue_common/monitoring.rs` covers its gauges
//! through a real worker.

use super::MemoryBackend;
use crate::monitor::scenarios;

#[tokio::test]
async fn tallies_add_up_at_both_resolutions() {
    let b = MemoryBackend::new();
    scenarios::tallies_from_two_writers_add_up(&b, &b).await;
}

#[tokio::test]
async fn pause_restart_and_workers_round_trip() {
    scenarios::pause_restart_and_workers_round_trip(&MemoryBackend::new()).await;
}

#[tokio::test]
async fn leases_alerts_and_the_completed_log() {
    scenarios::leases_alerts_and_the_completed_log(&MemoryBackend::new()).await;
}
