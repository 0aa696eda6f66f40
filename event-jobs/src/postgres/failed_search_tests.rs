//! Failed-job search on the `postgres` connection against a real
//! PostgreSQL (`EVENTS_TEST_POSTGRES_URL`; skipped without it).

use super::monitoring_tests::{backend, drop_schema, open, sql};
use crate::backend::{FailedSearch, FailedStore};
use crate::job::{FailedJob, JobEnvelope};

#[tokio::test]
async fn failed_jobs_are_found_by_every_filter() {
    let Some((b, _)) = backend().await else {
        return;
    };
    crate::failed::scenarios::search_filters_follow_the_store(&b).await;
    drop_schema(&b).await;
}

#[tokio::test]
async fn failed_rows_from_before_search_are_indexed_once() {
    let Some((b, schema)) = backend().await else {
        return;
    };
    let mut e = JobEnvelope::unreadable("old1".into(), "q".into(), "{}");
    e.settings.tags = vec!["t".into()];
    b.failed_restore(FailedJob::new(e, "boom 1".into(), 1))
        .await
        .unwrap();
    // As a table written before search: no derived columns, no groups.
    sql(
        &b,
        &format!(
            "ALTER TABLE \"{schema}\".event_failed_jobs DROP COLUMN name, DROP COLUMN short_name,
                 DROP COLUMN event_id, DROP COLUMN correlation_id, DROP COLUMN fingerprint,
                 DROP COLUMN kind, DROP COLUMN message, DROP COLUMN tags, DROP COLUMN words;
             DELETE FROM \"{schema}\".event_failed_groups;"
        ),
    )
    .await;
    let again = open(&schema).await;
    let query = crate::failed::query::FailedQuery {
        tag: Some("t".into()),
        ..Default::default()
    };
    assert_eq!(again.failed_search(&query).await.unwrap().jobs.len(), 1);
    let _ = open(&schema).await;
    let groups = again.failed_groups().await.unwrap();
    assert_eq!(groups.iter().map(|g| g.count).sum::<u64>(), 1, "{groups:?}");
    drop_schema(&b).await;
}

/// Each search walks an index of the failed table (a B-tree newest first,
/// or GIN for tags and words), never the whole table.
#[tokio::test]
async fn searches_do_not_scan_the_failed_table() {
    use crate::failed::query::FailedQuery;
    let Some((b, schema)) = backend().await else {
        return;
    };
    sql(
        &b,
        &format!(
            "INSERT INTO \"{schema}\".event_failed_jobs
                 (id, queue, payload, reason, attempts, failed_at, name, short_name, event_id,
                  correlation_id, fingerprint, kind, message, tags, words)
             SELECT 'f' || i, 'q' || (i % 10), '{{}}', 'card declined ' || i, 1, 1000000 + i,
                    'app::L' || (i % 50), 'L' || (i % 50), 'e' || i, 'c' || (i % 1000),
                    'fp' || (i % 100), 'error', 'card declined #', ARRAY['t' || (i % 20)],
                    ARRAY['card', 'declined', i::text]
             FROM generate_series(1, 20000) AS i;
             ANALYZE \"{schema}\".event_failed_jobs;"
        ),
    )
    .await;
    let queries = [
        FailedQuery::default(),
        FailedQuery {
            queue: Some("q3".into()),
            ..FailedQuery::default()
        },
        FailedQuery {
            name: Some("L7".into()),
            ..FailedQuery::default()
        },
        FailedQuery {
            tag: Some("t3".into()),
            ..FailedQuery::default()
        },
        FailedQuery {
            text: Some("declined 1234".into()),
            ..FailedQuery::default()
        },
        FailedQuery {
            event_id: Some("e42".into()),
            ..FailedQuery::default()
        },
        FailedQuery {
            fingerprint: Some("fp5".into()),
            after: Some(crate::failed::query::FailedCursor {
                failed_at: 1_010_000,
                id: "f10000".into(),
            }),
            ..FailedQuery::default()
        },
    ];
    let client = b.inner.client().await.unwrap();
    for query in &queries {
        let (statement, values) = b.search_statement(query);
        let params: Vec<&(dyn tokio_postgres::types::ToSql + Sync)> = values
            .iter()
            .map(|v| &**v as &(dyn tokio_postgres::types::ToSql + Sync))
            .collect();
        let plan: Vec<String> = client
            .query(&format!("EXPLAIN {statement}"), &params)
            .await
            .unwrap()
            .iter()
            .map(|r| r.get(0))
            .collect();
        let plan = plan.join("\n");
        assert!(
            !plan.contains("Seq Scan"),
            "{query:?} scans the failed table:\n{plan}"
        );
        assert!(
            !b.failed_search(query).await.unwrap().jobs.is_empty(),
            "{query:?}"
        );
    }
    drop_schema(&b).await;
}
