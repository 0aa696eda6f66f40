//! The JSON endpoints (documented in docs/dashboard.md): what the pages
//! read and what a script may call.

mod action;
mod broadcasting;
mod events;
mod failed;
mod hops;
mod queues;

use axum::Router;
use axum::extract::Query;
use axum::http::{StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde::de::DeserializeOwned;
use serde_json::json;

use crate::state::DashboardState;

/// The `/api` routes.
pub(crate) fn routes() -> Router<DashboardState> {
    Router::new()
        .route("/api/meta", get(queues::meta))
        .route("/api/queues", get(queues::queues))
        .route("/api/jobs", get(queues::jobs))
        .route("/api/series", get(queues::series))
        .route("/api/live/auth", post(queues::live_auth))
        .route("/api/workers", get(queues::workers))
        .route("/api/broadcasting", get(broadcasting::overview))
        .route("/api/completed", get(queues::completed))
        .route("/api/queues/{queue}/pause", post(queues::pause))
        .route("/api/queues/{queue}/resume", post(queues::resume))
        .route("/api/queues/{queue}/clear", post(queues::clear))
        .route("/api/failed", get(failed::search))
        .route("/api/failed/count", get(failed::count))
        .route("/api/failed/groups", get(failed::groups))
        .route("/api/failed/retry", post(failed::retry_matching))
        .route("/api/failed/forget", post(failed::forget_matching))
        .route("/api/failed/{key}", get(failed::one))
        .route("/api/failed/{key}/retry", post(failed::retry_one))
        .route("/api/failed/{key}/forget", post(failed::forget_one))
        .route("/api/events", get(events::list))
        .route("/api/events/{id}", get(events::one))
        .route("/api/events/{id}/replay", post(events::replay))
        .route("/api/chains/{correlation_id}", get(events::chain))
        .fallback(|| async { refusal(StatusCode::NOT_FOUND, "no such dashboard endpoint".into()) })
}

/// A JSON error: `{"error": "..."}` with its status.
pub(crate) fn refusal(status: StatusCode, error: String) -> Response {
    (status, axum::Json(json!({ "error": error }))).into_response()
}

/// Why an endpoint could not answer.
#[derive(Debug)]
pub(crate) enum ApiError {
    /// A parameter is unknown or malformed (400).
    Bad(String),
    /// Nothing there (404).
    NotFound(String),
    /// The queue connection, store or broadcast server failed (502), with
    /// its cause.
    Backend(Box<dyn std::error::Error + Send + Sync>),
}

impl From<event_core::queue::QueueError> for ApiError {
    fn from(e: event_core::queue::QueueError) -> Self {
        ApiError::Backend(Box::new(e))
    }
}

impl From<event_core::store::StoreError> for ApiError {
    fn from(e: event_core::store::StoreError) -> Self {
        ApiError::Backend(Box::new(e))
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        match self {
            ApiError::Bad(why) => refusal(StatusCode::BAD_REQUEST, why),
            ApiError::NotFound(why) => refusal(StatusCode::NOT_FOUND, why),
            ApiError::Backend(e) => {
                let text = crate::error::with_causes(&*e);
                tracing::warn!(error = %text, "dashboard endpoint failed");
                refusal(StatusCode::BAD_GATEWAY, text)
            }
        }
    }
}

/// The query string as `T`, whose fields are the only parameters taken
/// (`deny_unknown_fields`): an unknown or malformed one is a 400 naming it.
pub(crate) fn params<T: DeserializeOwned>(uri: &Uri) -> Result<T, ApiError> {
    Query::<T>::try_from_uri(uri)
        .map(|q| q.0)
        .map_err(|e| ApiError::Bad(e.body_text()))
}

/// A JSON answer.
pub(crate) type Answer = Result<axum::Json<serde_json::Value>, ApiError>;
