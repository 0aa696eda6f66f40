//! The `redis` connection's monitoring against a real Redis
//! (`EVENTS_TEST_REDIS_URL`; skipped without it), each test under its own
//! prefix.

use super::{RedisBackend, RedisOptions};
use crate::backend::{Backend, FailedSearch, FailedStore};
use crate::job::{FailedJob, now_ms};
use crate::monitor::scenarios::{self, figures, gauge, job};
use crate::monitor::{Monitoring, Resolution};

pub(super) async fn backend() -> Option<(RedisBackend, String)> {
    let url = std::env::var("EVENTS_TEST_REDIS_URL").ok()?;
    let prefix = format!("montest-{}", ulid::Ulid::new());
    let options = RedisOptions {
        prefix: prefix.clone(),
        ..RedisOptions::default()
    };
    Some((
        RedisBackend::connect(&url, options).await.expect("connect"),
        prefix,
    ))
}

pub(super) async fn cleanup(b: &RedisBackend) {
    let keys = b.scan("*").await.expect("scan");
    if !keys.is_empty() {
        let mut conn = b.conn.clone();
        let _: i64 = redis::AsyncCommands::del(&mut conn, keys)
            .await
            .expect("del");
    }
}

#[tokio::test]
async fn gauges_follow_every_write() {
    let Some((b, _)) = backend().await else {
        return;
    };
    scenarios::gauges_follow_every_write(&b).await;
    cleanup(&b).await;
}

#[tokio::test]
async fn clear_queue_removes_waiting_jobs_only() {
    let Some((b, _)) = backend().await else {
        return;
    };
    scenarios::clear_queue_removes_waiting_jobs_only(&b).await;
    cleanup(&b).await;
}

#[tokio::test]
async fn tallies_from_two_writers_add_up_at_both_resolutions() {
    let Some((b, prefix)) = backend().await else {
        return;
    };
    let url = std::env::var("EVENTS_TEST_REDIS_URL").unwrap();
    let other = RedisBackend::connect(
        &url,
        RedisOptions {
            prefix,
            ..RedisOptions::default()
        },
    )
    .await
    .unwrap();
    let minute = scenarios::tallies_from_two_writers_add_up(&b, &other).await;
    let mut conn = b.conn.clone();
    let ttl: i64 = redis::cmd("PTTL")
        .arg(b.tally_key(Resolution::Minute, minute))
        .query_async(&mut conn)
        .await
        .unwrap();
    assert!(
        ttl > 47 * 3_600_000 && ttl <= 48 * 3_600_000 + 60_000,
        "{ttl}"
    );
    cleanup(&b).await;
}

#[tokio::test]
async fn pause_restart_and_workers_round_trip() {
    let Some((b, _)) = backend().await else {
        return;
    };
    scenarios::pause_restart_and_workers_round_trip(&b).await;
    let mut conn = b.conn.clone();
    let left: i64 = redis::AsyncCommands::hlen(&mut conn, b.key("workers"))
        .await
        .unwrap();
    assert_eq!(left, 2, "the gone worker is deleted");
    cleanup(&b).await;
}

#[tokio::test]
async fn a_prefix_with_jobs_from_before_is_counted_once() {
    let Some((b, prefix)) = backend().await else {
        return;
    };
    let now = now_ms();
    b.push(vec![
        job("old", 0),
        job("old", now + 60_000),
        job("old", now + 60_000),
    ])
    .await
    .unwrap();
    // As a prefix written before monitoring: no counters, no queue list.
    let mut conn = b.conn.clone();
    let _: i64 = redis::AsyncCommands::del(
        &mut conn,
        &[b.key("counted"), b.key("delayed:n"), b.key("queues")],
    )
    .await
    .unwrap();
    let url = std::env::var("EVENTS_TEST_REDIS_URL").unwrap();
    let again = RedisBackend::connect(
        &url,
        RedisOptions {
            prefix,
            ..RedisOptions::default()
        },
    )
    .await
    .unwrap();
    assert_eq!(
        figures(gauge(&again.gauges().await.unwrap(), "old")),
        (1, 2, 0, 0, false)
    );
    // A second connect does not count again.
    b.count_once().await.unwrap();
    assert_eq!(gauge(&again.gauges().await.unwrap(), "old").delayed, 2);
    cleanup(&b).await;
}

/// Every read through a Redis user that may not run KEYS or SCAN (nor
/// their hash, set and sorted-set forms): any listing would be refused.
#[tokio::test]
async fn reads_list_no_keys() {
    use crate::failed::query::FailedQuery;
    use crate::monitor::{AlertLedger, CompletedLog};
    let Some((b, prefix)) = backend().await else {
        return;
    };
    b.push(vec![job("a", 0), job("a", now_ms() + 60_000)])
        .await
        .unwrap();
    let failed = FailedJob::new(job("a", 0).envelope, "card declined 4".into(), 1);
    b.failed_restore(failed).await.unwrap();
    let user = format!("noscan-{}", ulid::Ulid::new()).to_lowercase();
    let mut conn = b.conn.clone();
    let _: () = redis::cmd("ACL")
        .arg(&["SETUSER", &user, "on", ">pw", "~*", "&*", "+@all"][..])
        .arg(&["-keys", "-scan", "-hscan", "-sscan", "-zscan"][..])
        .query_async(&mut conn)
        .await
        .unwrap();
    let base = std::env::var("EVENTS_TEST_REDIS_URL").unwrap();
    let url = base.replacen("redis://", &format!("redis://{user}:pw@"), 1);
    let options = RedisOptions {
        prefix,
        ..RedisOptions::default()
    };
    let reader = RedisBackend::connect(&url, options).await.expect("connect");
    assert!(reader.scan("*").await.is_err(), "the user may not SCAN");
    let g = reader.gauges().await.expect("gauges");
    assert_eq!(figures(gauge(&g, "a")), (1, 1, 0, 1, false));
    reader
        .tallies(Resolution::Minute, 0)
        .await
        .expect("tallies");
    reader.tallies(Resolution::Hour, 0).await.expect("tallies");
    reader.signals().await.expect("signals");
    reader.workers().await.expect("workers");
    reader.raised().await.expect("raised");
    reader.completed(10, None).await.expect("completed");
    let words = FailedQuery {
        text: Some("card declined".into()),
        queue: Some("a".into()),
        ..FailedQuery::default()
    };
    assert_eq!(
        reader
            .failed_search(&words)
            .await
            .expect("search")
            .jobs
            .len(),
        1
    );
    assert_eq!(reader.failed_count(&words).await.expect("count"), 1);
    assert_eq!(reader.failed_groups().await.expect("groups").len(), 1);
    let _: () = redis::cmd("ACL")
        .arg(&["DELUSER", &user][..])
        .query_async(&mut conn)
        .await
        .unwrap();
    cleanup(&b).await;
}

#[test]
fn read_scripts_name_their_keys() {
    for script in [
        super::monitor_scripts::GAUGES,
        super::monitor_scripts::CLEAR_QUEUE,
    ] {
        for banned in ["'KEYS'", "'SCAN'", "'ZSCAN'", "'HSCAN'", "'SSCAN'"] {
            assert!(!script.contains(banned), "{banned}");
        }
    }
}

#[tokio::test]
async fn leases_alerts_and_the_completed_log() {
    let Some((b, _)) = backend().await else {
        return;
    };
    scenarios::leases_alerts_and_the_completed_log(&b).await;
    cleanup(&b).await;
}
