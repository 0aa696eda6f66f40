//! Events from the store: the history, one event, one correlation chain.

use std::collections::HashMap;

use axum::Json;
use axum::extract::{Path, State};
use std::sync::Arc;

use axum::http::{StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use event_core::queue::FailedQuery;
use event_core::queue::monitor::parse_window;
use event_core::store::{
    Causation, EventRecord, EventStore, ReplayListener, ReplayRequested, StoreError, within,
};
use event_core::ulid::Ulid;
use serde::Deserialize;
use serde_json::json;

use super::action::done;
use super::failed::row;
use super::{Answer, ApiError, params};
use crate::state::DashboardState;

/// The most events one chain shows.
const CHAIN_LIMIT: usize = 1_000;

fn store(state: &DashboardState) -> Result<&EventStore, ApiError> {
    state.store.as_ref().ok_or_else(|| {
        ApiError::NotFound(
            "no event store: start the dashboard with --store-url (or EVENTS_STORE_URL), or give DashboardState::store".into(),
        )
    })
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct EventParams {
    name: Option<String>,
    tag: Option<String>,
    stream: Option<String>,
    correlation: Option<String>,
    since: Option<String>,
    after: Option<i64>,
    limit: Option<usize>,
}

/// `since`: a window back from now (`1h`) or an RFC 3339 time.
fn since(text: &str) -> Result<DateTime<Utc>, ApiError> {
    if let Ok(t) = DateTime::parse_from_rfc3339(text) {
        return Ok(t.with_timezone(&Utc));
    }
    let window = parse_window(text)
        .map_err(|e| ApiError::Bad(format!("since: {e} (or give an RFC 3339 time)")))?;
    let back =
        chrono::Duration::from_std(window).map_err(|e| ApiError::Bad(format!("since: {e}")))?;
    Ok(Utc::now() - back)
}

/// `GET api/events?name&tag&stream&correlation&since&after&limit`: stored
/// events, oldest first from `since` (default: the last hour), paged by
/// position (`next` is the `after` of the next page).
pub(super) async fn list(State(state): State<DashboardState>, uri: Uri) -> Answer {
    let store = store(&state)?;
    let p: EventParams = params(&uri)?;
    let limit = p.limit.unwrap_or(100);
    if limit == 0 || limit > 1_000 {
        return Err(ApiError::Bad(format!(
            "limit: {limit} is not within 1..=1000"
        )));
    }
    let mut query = store.query().limit(limit);
    let some = |v: Option<String>| v.filter(|s| !s.trim().is_empty());
    if let Some(v) = some(p.name) {
        query = query.name(v);
    }
    if let Some(v) = some(p.tag) {
        query = query.tag(v);
    }
    if let Some(v) = some(p.stream) {
        query = query.stream(v);
    }
    if let Some(v) = some(p.correlation) {
        query = query.correlation(v);
    }
    query = query.since(since(p.since.as_deref().unwrap_or("1h"))?);
    if let Some(after) = p.after {
        query = query.after(after);
    }
    let page = query.page().await?;
    let events: Vec<_> = page.records.iter().map(|r| shown(&state, r)).collect();
    Ok(Json(json!({ "events": events, "next": page.next })))
}

/// `GET api/events/{id}`: one stored event with its payload.
pub(super) async fn one(State(state): State<DashboardState>, Path(id): Path<String>) -> Answer {
    let record = store(&state)?
        .get(&id)
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("no stored event {id}")))?;
    Ok(Json(shown(&state, &record)))
}

/// A stored event as the pages may show it (its payload redacted).
fn shown(state: &DashboardState, record: &EventRecord) -> serde_json::Value {
    let mut v = json!(record);
    if let Some(payload) = v.get_mut("payload") {
        *payload = state.shown(payload.take());
    }
    v
}

/// An entry's parent in the timeline: the event whose listener dispatched
/// it, or for a replay, the event it replayed.
fn parent_of(record: &EventRecord) -> Option<&str> {
    record
        .causation_id
        .as_deref()
        .or(record.replay_of.as_deref())
}

/// How deep each event sits under the chain's origin (its parent links).
fn depths(records: &[EventRecord]) -> HashMap<&str, usize> {
    let parent: HashMap<&str, Option<&str>> = records
        .iter()
        .map(|r| (r.id.as_str(), parent_of(r)))
        .collect();
    records
        .iter()
        .map(|r| {
            let mut depth = 0;
            let mut at = parent_of(r);
            while let Some(p) = at {
                depth += 1;
                if depth > records.len() {
                    break;
                }
                at = parent.get(p).copied().flatten();
            }
            (r.id.as_str(), depth)
        })
        .collect()
}

/// `GET api/chains/{correlation_id}`: every event of one chain, in order,
/// each with its `parent` (causation, or for a replay the replayed event),
/// `depth` and hops (`listeners`, `queued`, `broadcasts`, recorded when it
/// was dispatched); its replays; and the failed jobs of the chain. An HTTP
/// request that caused its first events (event-core's `http` layer) comes
/// first, as a node with `kind` = `request`.
pub(super) async fn chain(
    State(state): State<DashboardState>,
    Path(correlation_id): Path<String>,
) -> Answer {
    let store = store(&state)?;
    let page = store
        .query()
        .correlation(correlation_id.clone())
        .include_replays()
        .limit(CHAIN_LIMIT)
        .page()
        .await?;
    if page.records.is_empty() {
        return Err(ApiError::NotFound(format!(
            "no stored event in the chain {correlation_id}"
        )));
    }
    let depth = depths(&page.records);
    let ids: Vec<String> = page.records.iter().map(|r| r.id.clone()).collect();
    // The requests that caused its first events, when recorded: root nodes.
    let outside = super::hops::outside_parents(page.records.iter().map(parent_of), &ids);
    let asked: Vec<String> = ids.iter().chain(&outside).cloned().collect();
    let mut hops = super::hops::by_event(store.hops(&asked).await?);
    let requests = super::hops::request_nodes(
        &mut hops,
        &outside,
        &correlation_id,
        state.queue.default_queue(),
    );
    let events: Vec<_> = requests
        .into_iter()
        .chain(page.records.iter().map(|r| {
            let mut v = shown(&state, r);
            v["parent"] = json!(parent_of(r));
            v["depth"] = json!(depth.get(r.id.as_str()).copied().unwrap_or(0));
            let own = hops.remove(r.id.as_str()).unwrap_or_default();
            super::hops::attach(&mut v, own, state.queue.default_queue());
            v
        }))
        .collect();
    let failed = state
        .failed
        .search(&FailedQuery {
            correlation_id: Some(correlation_id.clone()),
            limit: 100,
            ..FailedQuery::default()
        })
        .await?;
    Ok(Json(json!({
        "correlation_id": correlation_id,
        "events": events,
        "truncated": page.next.is_some(),
        "failed_jobs": failed.jobs.iter().map(row).collect::<Vec<_>>(),
    })))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ReplayParams {
    listener: Option<String>,
}

/// `POST api/events/{id}/replay[?listener=L]`: replays the stored event
/// to its listeners (all, or the one named). Mounted in the app with
/// [`DashboardState::replay_with`] it runs here and answers what ran
/// (`touched`, `skipped`, `failures`); otherwise it is handed to the app's
/// workers as a replay job (202 with `job`), which `queue:work` runs. Either
/// way the replay is stored as an entry whose `replay_of` is the event, so
/// the chain shows it.
pub(super) async fn replay(
    State(state): State<DashboardState>,
    Path(id): Path<String>,
    uri: Uri,
) -> Result<Response, ApiError> {
    let p: ReplayParams = params(&uri)?;
    let listener = p.listener.filter(|l| !l.trim().is_empty());
    let store = store(&state)?;
    let Some(registry) = state.replay.clone() else {
        return hand_over(&state, store, id, listener).await;
    };
    let report = match store
        .replay_event(&id, listener.as_deref(), registry.as_ref())
        .await
    {
        Err(StoreError::NotFound(_)) => {
            return Err(ApiError::NotFound(format!("no stored event {id}")));
        }
        Err(e @ StoreError::UnknownListener { .. }) => return Err(ApiError::Bad(e.to_string())),
        other => other?,
    };
    store.flush().await?;
    let target = json!({ "event": id, "listener": listener });
    let mut answer = done(&state, "replay", target, report.listeners_run).await?;
    answer["skipped"] = json!(report.listeners_skipped);
    answer["failures"] = json!(
        report
            .failures
            .iter()
            .map(|f| json!({ "listener": f.listener, "error": f.error }))
            .collect::<Vec<_>>()
    );
    Ok(answer.into_response())
}

/// The standalone dashboard's replay: a job for the app's workers, queued
/// on behalf of the event (it carries the event's ids, so the chain lists
/// the job). 202 with `job` (its id) and `handed_to: "workers"`.
async fn hand_over(
    state: &DashboardState,
    store: &EventStore,
    id: String,
    listener: Option<String>,
) -> Result<Response, ApiError> {
    let record = store
        .get(&id)
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("no stored event {id}")))?;
    let request = ReplayRequested {
        event_id: id.clone(),
        listener: listener.clone(),
    };
    let on_behalf = match (
        Ulid::from_string(&record.id),
        Ulid::from_string(&record.correlation_id),
    ) {
        (Ok(event_id), Ok(correlation_id)) => Some(Causation {
            event_id,
            correlation_id,
            replay_of: None,
        }),
        _ => None,
    };
    let queued = state
        .queue
        .enqueue_listener(Arc::new(ReplayListener(None)), Arc::new(request));
    let job = match on_behalf {
        Some(causation) => within(causation, queued).await?,
        None => queued.await?,
    };
    let target = json!({ "event": id, "listener": listener, "job": job });
    let mut answer = done(state, "replay", target, 1).await?;
    answer["job"] = json!(job);
    answer["handed_to"] = json!("workers");
    Ok((StatusCode::ACCEPTED, answer).into_response())
}
