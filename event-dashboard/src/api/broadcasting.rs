//! `GET api/broadcasting`: the broadcast server's nodes, channels and
//! presence members (docs/dashboard.md), or how to configure one.

use axum::Json;
use axum::extract::State;
use serde_json::json;

use super::{Answer, ApiError};
use crate::broadcasting::HOW_TO_CONFIGURE;
use crate::state::DashboardState;

/// The server the dashboard pushes through, read now; without one,
/// `{"configured": false, "how": ...}`. An unreachable server is a 502
/// with the error and its causes.
pub(super) async fn overview(State(state): State<DashboardState>) -> Answer {
    match &state.push {
        None => Ok(Json(
            json!({ "configured": false, "how": HOW_TO_CONFIGURE }),
        )),
        Some(push) => push
            .server()
            .overview()
            .await
            .map(Json)
            .map_err(ApiError::Backend),
    }
}
