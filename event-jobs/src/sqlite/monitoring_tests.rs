//! The `sqlite` connection's monitoring on a real SQLite file: the
//! scenarios every connection must pass.

use super::SqliteBackend;
use crate::monitor::scenarios;

fn open(dir: &tempfile::TempDir) -> SqliteBackend {
    let path = dir.path().join("jobs.db");
    SqliteBackend::open("sqlite://jobs.db", path.to_str().unwrap()).unwrap()
}

#[tokio::test]
async fn gauges_follow_every_write() {
    let dir = tempfile::tempdir().unwrap();
    scenarios::gauges_follow_every_write(&open(&dir)).await;
}

#[tokio::test]
async fn clear_queue_removes_waiting_jobs_only() {
    let dir = tempfile::tempdir().unwrap();
    scenarios::clear_queue_removes_waiting_jobs_only(&open(&dir)).await;
}

#[tokio::test]
async fn tallies_from_two_writers_add_up_at_both_resolutions() {
    let dir = tempfile::tempdir().unwrap();
    let (b, other) = (open(&dir), open(&dir));
    scenarios::tallies_from_two_writers_add_up(&b, &other).await;
}

#[tokio::test]
async fn pause_restart_and_workers_round_trip() {
    let dir = tempfile::tempdir().unwrap();
    scenarios::pause_restart_and_workers_round_trip(&open(&dir)).await;
}

#[tokio::test]
async fn leases_alerts_and_the_completed_log() {
    let dir = tempfile::tempdir().unwrap();
    scenarios::leases_alerts_and_the_completed_log(&open(&dir)).await;
}
