//! What every action answers, and its record in the event store (with
//! who took it: [`operator`](crate::operator)).

use axum::Json;
use event_core::store::{ExpectedVersion, NewEvent};
use serde_json::{Value, json};

use super::Answer;
use crate::operator;
use crate::state::DashboardState;

/// The name actions are stored under in the event store.
pub(crate) const ACTION_EVENT: &str = "event_dashboard::ActionTaken";

/// Answers an action: what it did, to what, how many it touched and for
/// whom; and records it in the event store when the dashboard has one.
pub(crate) async fn done(
    state: &DashboardState,
    action: &str,
    target: Value,
    touched: u64,
) -> Answer {
    let body = json!({
        "action": action,
        "target": target,
        "touched": touched,
        "operator": operator::current(),
    });
    let mut recorded = false;
    if let Some(store) = &state.store {
        let event = NewEvent::new(ACTION_EVENT, body.clone()).with_tags(["dashboard"]);
        match store.append(event, ExpectedVersion::Any).await {
            Ok(_) => recorded = true,
            Err(e) => {
                tracing::warn!(error = %e, action, "the dashboard could not record an action")
            }
        }
    }
    let mut body = body;
    body["recorded"] = Value::Bool(recorded);
    Ok(Json(body))
}
