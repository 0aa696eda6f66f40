//! Failed-job search on the `redis` connection against a real Redis
//! (`EVENTS_TEST_REDIS_URL`; skipped without it).

use super::monitoring_tests::{backend, cleanup};
use super::{RedisBackend, RedisOptions};
use crate::backend::{FailedSearch, FailedStore};
use crate::job::{FailedJob, JobEnvelope};

#[tokio::test]
async fn failed_jobs_are_found_by_every_filter() {
    let Some((b, _)) = backend().await else {
        return;
    };
    crate::failed::scenarios::search_filters_follow_the_store(&b).await;
    cleanup(&b).await;
}

#[tokio::test]
async fn failed_records_from_before_search_are_indexed_once() {
    let Some((b, prefix)) = backend().await else {
        return;
    };
    let mut e = JobEnvelope::unreadable("old1".into(), "q".into(), "{}");
    e.settings.tags = vec!["t".into()];
    b.failed_restore(FailedJob::new(e, "boom 1".into(), 1))
        .await
        .unwrap();
    // As a store written before search: no index.
    b.purge_index().await.unwrap();
    let mut conn = b.conn.clone();
    let _: i64 = redis::AsyncCommands::del(&mut conn, b.key("fi:v1"))
        .await
        .unwrap();
    let url = std::env::var("EVENTS_TEST_REDIS_URL").unwrap();
    let options = RedisOptions {
        prefix,
        ..RedisOptions::default()
    };
    let again = RedisBackend::connect(&url, options.clone()).await.unwrap();
    let query = crate::failed::query::FailedQuery {
        tag: Some("t".into()),
        ..Default::default()
    };
    assert_eq!(again.failed_search(&query).await.unwrap().jobs.len(), 1);
    let _ = RedisBackend::connect(&url, options).await.unwrap();
    let groups = again.failed_groups().await.unwrap();
    assert_eq!(groups.iter().map(|g| g.count).sum::<u64>(), 1, "{groups:?}");
    cleanup(&b).await;
}
