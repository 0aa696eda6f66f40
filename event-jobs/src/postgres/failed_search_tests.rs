//! Failed-job search on the `postgres` connection against a real
//! PostgreSQL (`EVENTS_TEST_POSTGRES_URL`; skipped without it).

use super::monitoring_tests::{backend, drop_schema, open, sql};
use crate::backend::{Backend, FailedSearch, FailedStore};
use crate::job::{FailedJob, JobEnvelope};

/// Failed jobs found by every filter, newest first, paged past ties,
/// grouped; the index follows takes, replacements and a purge.
async fn search_filters_follow_the_store(b: &impl Backend) {
    use crate::failed::query::FailedQuery;
    let record = |id: &str,
                  queue: &str,
                  name: &str,
                  tags: &[&str],
                  ids: (&str, &str),
                  reason: &str,
                  at: i64| {
        let mut e = JobEnvelope::unreadable(id.to_string(), queue.to_string(), "{}");
        e.event = "E".into();
        e.listener = Some(name.to_string());
        e.settings.tags = tags.iter().map(|t| t.to_string()).collect();
        e.event_id = (!ids.0.is_empty()).then(|| ids.0.to_string());
        e.correlation_id = (!ids.1.is_empty()).then(|| ids.1.to_string());
        let mut f = FailedJob::new(e, reason.to_string(), 1);
        f.failed_at = at;
        f
    };
    let r1 = record(
        "id1",
        "a",
        "app::Mail",
        &["vip"],
        ("e1", "c1"),
        "card declined 42",
        1_000,
    );
    let r2 = record(
        "id2",
        "a",
        "app::Mail",
        &[],
        ("e2", "c1"),
        "card declined 43",
        2_000,
    );
    let r3 = record(
        "id3",
        "b",
        "Other",
        &["vip"],
        ("", ""),
        "timeout talking to db",
        2_000,
    );
    let r4 = record("id4", "b", "Other", &[], ("", ""), "Card declined 7", 3_000);
    for r in [&r1, &r2, &r3, &r4] {
        b.failed_restore(r.clone()).await.unwrap();
    }
    let ids = |q: FailedQuery| async move {
        let page = b.failed_search(&q).await.unwrap();
        page.jobs.iter().map(|j| j.id.clone()).collect::<Vec<_>>()
    };
    let by = |change: &dyn Fn(&mut FailedQuery)| {
        let mut q = FailedQuery::default();
        change(&mut q);
        q
    };
    assert_eq!(
        ids(by(&|q| q.tag = Some("vip".into()))).await,
        ["id3", "id1"]
    );
    assert_eq!(ids(by(&|q| q.event_id = Some("e2".into()))).await, ["id2"]);
    assert_eq!(
        ids(by(&|q| q.correlation_id = Some("c1".into()))).await,
        ["id2", "id1"]
    );
    assert_eq!(
        ids(by(&|q| q.text = Some("card DECLINED".into()))).await,
        ["id4", "id2", "id1"]
    );
    assert_eq!(
        ids(by(&|q| q.name = Some("Mail".into()))).await,
        ["id2", "id1"]
    );
    assert_eq!(
        ids(by(&|q| {
            q.queue = Some("b".into());
            q.text = Some("card".into());
        }))
        .await,
        ["id4"]
    );
    // One at a time, past the tie at 2,000 (id desc).
    let mut query = by(&|q| q.limit = 1);
    let mut seen = Vec::new();
    loop {
        let page = b.failed_search(&query).await.unwrap();
        seen.extend(page.jobs.iter().map(|j| j.id.clone()));
        match page.next {
            Some(next) => query.after = Some(next),
            None => break,
        }
    }
    assert_eq!(seen, ["id4", "id3", "id2", "id1"]);
    assert_eq!(
        b.failed_count(&by(&|q| q.text = Some("card".into())))
            .await
            .unwrap(),
        3
    );
    assert_eq!(b.failed_count(&FailedQuery::default()).await.unwrap(), 4);
    assert_eq!(
        b.failed_count(&by(&|q| q.queue = Some("a".into())))
            .await
            .unwrap(),
        2
    );
    let mail = |groups: &[crate::failed::query::FailureGroup]| {
        groups
            .iter()
            .find(|g| g.name == "app::Mail")
            .map(|g| (g.count, g.kind.clone(), g.first_seen_ms, g.last_seen_ms))
    };
    let groups = b.failed_groups().await.unwrap();
    assert_eq!(groups.len(), 3, "{groups:?}");
    assert_eq!(mail(&groups), Some((2, "error".to_string(), 1_000, 2_000)));
    assert!(b.failed_take("id1").await.unwrap().is_some());
    assert_eq!(ids(by(&|q| q.tag = Some("vip".into()))).await, ["id3"]);
    assert_eq!(
        mail(&b.failed_groups().await.unwrap()).map(|m| m.0),
        Some(1)
    );
    b.failed_restore(r2.clone()).await.unwrap();
    assert_eq!(b.failed_count(&FailedQuery::default()).await.unwrap(), 3);
    assert_eq!(
        mail(&b.failed_groups().await.unwrap()).map(|m| m.0),
        Some(1)
    );
    b.failed_purge().await.unwrap();
    assert!(b.failed_groups().await.unwrap().is_empty());
    assert!(ids(FailedQuery::default()).await.is_empty());
    assert!(ids(by(&|q| q.tag = Some("vip".into()))).await.is_empty());
}

#[tokio::test]
async fn failed_jobs_are_found_by_every_filter() {
    let Some((b, _)) = backend().await else {
        return;
    };
    search_filters_follow_the_store(&b).await;
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
