//! Failed jobs: search, count, groups, one job; retry and forget, one or
//! every job a filter matches.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::Uri;
use event_core::queue::{FailedCursor, FailedJob, FailedQuery};
use serde::Deserialize;
use serde_json::{Value, json};

use super::action::done;
use super::{Answer, ApiError, params};
use crate::state::DashboardState;

/// The filters of `queue:failed`, as query parameters.
#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct Filters {
    queue: Option<String>,
    name: Option<String>,
    tag: Option<String>,
    event: Option<String>,
    correlation: Option<String>,
    group: Option<String>,
    search: Option<String>,
    after: Option<String>,
    limit: Option<usize>,
}

impl Filters {
    fn query(self) -> Result<FailedQuery, ApiError> {
        let some = |v: Option<String>| v.filter(|s| !s.trim().is_empty());
        let after = match some(self.after) {
            Some(a) => Some(
                a.parse::<FailedCursor>()
                    .map_err(|e| ApiError::Bad(format!("after: {e}")))?,
            ),
            None => None,
        };
        let limit = self.limit.unwrap_or(50);
        if limit == 0 || limit > 1_000 {
            return Err(ApiError::Bad(format!(
                "limit: {limit} is not within 1..=1000"
            )));
        }
        Ok(FailedQuery {
            queue: some(self.queue),
            name: some(self.name),
            tag: some(self.tag),
            event_id: some(self.event),
            correlation_id: some(self.correlation),
            fingerprint: some(self.group),
            text: some(self.search),
            after,
            limit,
        })
    }

    /// For bulk actions and counts: a page cursor or size means nothing.
    fn bulk_query(self) -> Result<FailedQuery, ApiError> {
        if self.after.is_some() || self.limit.is_some() {
            return Err(ApiError::Bad(
                "after and limit page a list; a count or bulk action takes every match".into(),
            ));
        }
        self.query()
    }
}

/// A failed job as the pages show it: its key (`failed_at:id`, what
/// `api/failed/{key}` takes), name, ids and tags lifted out of the payload.
pub(crate) fn row(job: &FailedJob) -> Value {
    let p = &job.payload;
    json!({
        "key": FailedCursor::after(job).to_string(),
        "id": job.id,
        "queue": job.queue,
        "name": p.listener.as_deref().unwrap_or(&p.event),
        "event": p.event,
        "reason": job.reason,
        "attempts": job.attempts,
        "failed_at_ms": job.failed_at,
        "tags": p.settings.tags,
        "event_id": p.event_id,
        "correlation_id": p.correlation_id,
        // An `encrypted` listener's job: its payload is sealed (null).
        "encrypted": p.sealed.is_some(),
    })
}

/// `GET api/failed?queue&name&tag&event&correlation&group&search&after&limit`:
/// one page, newest first; `next` is the `after` of the next page.
pub(super) async fn search(State(state): State<DashboardState>, uri: Uri) -> Answer {
    let query = params::<Filters>(&uri)?.query()?;
    let page = state.failed.search(&query).await?;
    Ok(Json(json!({
        "jobs": page.jobs.iter().map(row).collect::<Vec<_>>(),
        "next": page.next.map(|c| c.to_string()),
    })))
}

/// `GET api/failed/count?filters`: how many a bulk retry or forget would
/// touch.
pub(super) async fn count(State(state): State<DashboardState>, uri: Uri) -> Answer {
    let query = params::<Filters>(&uri)?.bulk_query()?;
    Ok(Json(json!({ "count": state.failed.count(&query).await? })))
}

/// `GET api/failed/groups`: failures by fingerprint, with counts.
pub(super) async fn groups(State(state): State<DashboardState>) -> Answer {
    Ok(Json(json!({ "groups": state.failed.groups().await? })))
}

/// The job a key names, found by its key (one indexed read, no scan).
async fn find(state: &DashboardState, key: &str) -> Result<FailedJob, ApiError> {
    let cursor: FailedCursor = key
        .parse()
        .map_err(|e| ApiError::Bad(format!("key: {e}")))?;
    // Newest first after (failed_at, id + '~'): the first row is the job
    // itself when it is there (ids are ULIDs, below '~').
    let query = FailedQuery {
        after: Some(FailedCursor {
            failed_at: cursor.failed_at,
            id: format!("{}~", cursor.id),
        }),
        limit: 1,
        ..FailedQuery::default()
    };
    let page = state.failed.search(&query).await?;
    page.jobs
        .into_iter()
        .next()
        .filter(|j| j.id == cursor.id && j.failed_at == cursor.failed_at)
        .ok_or_else(|| {
            ApiError::NotFound(format!(
                "no failed job {key}: retried or forgotten since, or never failed"
            ))
        })
}

/// `GET api/failed/{key}`: one failed job with its whole payload.
pub(super) async fn one(State(state): State<DashboardState>, Path(key): Path<String>) -> Answer {
    let job = find(&state, &key).await?;
    let mut body = row(&job);
    body["payload"] = state
        .shown(serde_json::to_value(&job.payload).map_err(|e| ApiError::Backend(Box::new(e)))?);
    Ok(Json(body))
}

/// `POST api/failed/{key}/retry`: queues it again with fresh attempts.
pub(super) async fn retry_one(
    State(state): State<DashboardState>,
    Path(key): Path<String>,
) -> Answer {
    let job = find(&state, &key).await?;
    let n = u64::from(state.failed.retry(&job.id).await?);
    done(
        &state,
        "retry",
        json!({ "id": job.id, "queue": job.queue }),
        n,
    )
    .await
}

/// `POST api/failed/{key}/forget`: deletes it.
pub(super) async fn forget_one(
    State(state): State<DashboardState>,
    Path(key): Path<String>,
) -> Answer {
    let job = find(&state, &key).await?;
    let n = u64::from(state.failed.forget(&job.id).await?);
    done(
        &state,
        "forget",
        json!({ "id": job.id, "queue": job.queue }),
        n,
    )
    .await
}

fn filters_json(uri: &Uri) -> Value {
    let pairs: serde_json::Map<String, Value> = uri
        .query()
        .unwrap_or("")
        .split('&')
        .filter_map(|p| p.split_once('='))
        .map(|(k, v)| (k.to_string(), Value::String(v.to_string())))
        .collect();
    Value::Object(pairs)
}

/// `POST api/failed/retry?filters`: every match, queued again.
pub(super) async fn retry_matching(State(state): State<DashboardState>, uri: Uri) -> Answer {
    let query = params::<Filters>(&uri)?.bulk_query()?;
    let n = state.failed.retry_matching(&query).await?;
    done(&state, "retry", json!({ "filters": filters_json(&uri) }), n).await
}

/// `POST api/failed/forget?filters`: every match, deleted.
pub(super) async fn forget_matching(State(state): State<DashboardState>, uri: Uri) -> Answer {
    let query = params::<Filters>(&uri)?.bulk_query()?;
    let n = state.failed.forget_matching(&query).await?;
    done(
        &state,
        "forget",
        json!({ "filters": filters_json(&uri) }),
        n,
    )
    .await
}
