//! Queues: figures, workers, completed jobs; pause, resume, clear.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::Uri;
use event_core::queue::monitor::{SeriesQuery, StatsQuery, parse_window};
use serde::Deserialize;
use serde_json::json;

use super::action::done;
use super::{Answer, ApiError, params};
use crate::state::DashboardState;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct StatsParams {
    window: Option<String>,
    queue: Option<String>,
}

impl StatsParams {
    fn query(self, by_job: bool) -> Result<StatsQuery, ApiError> {
        let mut query = StatsQuery {
            queue: self.queue.filter(|q| !q.is_empty()),
            by_job,
            ..StatsQuery::default()
        };
        if let Some(window) = self.window {
            query.window =
                parse_window(&window).map_err(|e| ApiError::Bad(format!("window: {e}")))?;
        }
        Ok(query)
    }
}

/// `GET api/meta`: what the pages need to know about this dashboard.
pub(super) async fn meta(State(state): State<DashboardState>) -> Answer {
    if let Some(push) = &state.push {
        push.watch(state.monitor.clone());
    }
    Ok(Json(json!({
        "connection": state.monitor.connection(),
        "read_only": state.read_only,
        "store": state.store.is_some(),
        "replay": state.replay.is_some(),
        // Live updates: push over the broadcast server when there is one.
        "live": match &state.push {
            Some(push) => push.client().clone(),
            None => json!({ "mode": "polling", "interval_ms": 2000 }),
        },
    })))
}

/// `GET api/queues?window=5m&queue=Q`: each queue's state and figures
/// (`queue:stats --json`).
pub(super) async fn queues(State(state): State<DashboardState>, uri: Uri) -> Answer {
    let query = params::<StatsParams>(&uri)?.query(false)?;
    let report = state.monitor.stats(&query).await?;
    Ok(Json(
        serde_json::to_value(report).map_err(|e| ApiError::Backend(Box::new(e)))?,
    ))
}

/// `GET api/jobs?window=5m&queue=Q`: the figures per job name.
pub(super) async fn jobs(State(state): State<DashboardState>, uri: Uri) -> Answer {
    let query = params::<StatsParams>(&uri)?.query(true)?;
    let report = state.monitor.stats(&query).await?;
    Ok(Json(json!({
        "connection": report.connection,
        "window_s": report.window_s,
        "at_ms": report.at_ms,
        "jobs": report.jobs,
    })))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SeriesParams {
    window: Option<String>,
    queue: Option<String>,
    points: Option<usize>,
}

/// `GET api/series?window=1h&queue=Q&points=60`: throughput over the
/// window, one point per step, for the chart.
pub(super) async fn series(State(state): State<DashboardState>, uri: Uri) -> Answer {
    let p: SeriesParams = params(&uri)?;
    let mut query = SeriesQuery {
        queue: p.queue.filter(|q| !q.is_empty()),
        ..SeriesQuery::default()
    };
    if let Some(window) = p.window {
        query.window = parse_window(&window).map_err(|e| ApiError::Bad(format!("window: {e}")))?;
    }
    if let Some(points) = p.points {
        if !(1..=500).contains(&points) {
            return Err(ApiError::Bad(format!(
                "points: {points} is not within 1..=500"
            )));
        }
        query.points = points;
    }
    let series = state.monitor.series(&query).await?;
    Ok(Json(
        serde_json::to_value(series).map_err(|e| ApiError::Backend(Box::new(e)))?,
    ))
}

/// `GET api/workers`: registered workers, stalled ones marked.
pub(super) async fn workers(State(state): State<DashboardState>) -> Answer {
    let workers = state.monitor.workers().await?;
    Ok(Json(json!({ "workers": workers })))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CompletedParams {
    limit: Option<usize>,
    before: Option<i64>,
}

/// `GET api/completed?limit=50&before=MS`: the latest completed jobs.
pub(super) async fn completed(State(state): State<DashboardState>, uri: Uri) -> Answer {
    let p: CompletedParams = params(&uri)?;
    let limit = p.limit.unwrap_or(50);
    if limit == 0 || limit > 1_000 {
        return Err(ApiError::Bad(format!(
            "limit: {limit} is not within 1..=1000"
        )));
    }
    let jobs = state.monitor.completed(limit, p.before).await?;
    let next = (jobs.len() == limit)
        .then(|| jobs.last().map(|j| j.done_at_ms))
        .flatten();
    Ok(Json(json!({ "jobs": jobs, "next_before": next })))
}

/// `POST api/queues/{queue}/pause`.
pub(super) async fn pause(
    State(state): State<DashboardState>,
    Path(queue): Path<String>,
) -> Answer {
    state.monitor.pause(&queue).await?;
    done(&state, "pause", json!({ "queue": queue }), 1).await
}

/// `POST api/queues/{queue}/resume`.
pub(super) async fn resume(
    State(state): State<DashboardState>,
    Path(queue): Path<String>,
) -> Answer {
    state.monitor.resume(&queue).await?;
    done(&state, "resume", json!({ "queue": queue }), 1).await
}

/// `POST api/queues/{queue}/clear`: removes the waiting jobs; `touched` is
/// how many.
pub(super) async fn clear(
    State(state): State<DashboardState>,
    Path(queue): Path<String>,
) -> Answer {
    let n = state.monitor.clear(&queue).await?;
    done(&state, "clear", json!({ "queue": queue }), n).await
}

/// `POST api/live/auth`: signs a page's pusher-js subscription to the
/// dashboard's channel (form body `socket_id`, `channel_name`); any other
/// channel is refused. 404 without push.
pub(super) async fn live_auth(
    State(state): State<DashboardState>,
    body: axum::body::Bytes,
) -> axum::response::Response {
    use axum::response::IntoResponse;
    let Some(push) = &state.push else {
        return ApiError::NotFound("this dashboard has no push: it polls".into()).into_response();
    };
    match push.authorize(&body) {
        Ok(answer) => Json(answer).into_response(),
        Err((status, why)) => super::refusal(
            axum::http::StatusCode::from_u16(status).unwrap_or(axum::http::StatusCode::FORBIDDEN),
            why,
        ),
    }
}
