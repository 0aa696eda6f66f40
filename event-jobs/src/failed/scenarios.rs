//! What every connection's failed-job search must do, run by each
//! connection's own tests against its real backend.

use crate::backend::Backend;
use crate::job::{FailedJob, JobEnvelope};

/// Failed jobs found by every filter, newest first, paged past ties,
/// grouped; the index follows takes, replacements and a purge.
pub(crate) async fn search_filters_follow_the_store(b: &impl Backend) {
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
