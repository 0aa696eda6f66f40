//! Who takes an action: named by the guard from the request, once it let
//! the request in, and written into the action's record in the event store
//! (`event_dashboard::ActionTaken`'s `operator`).
//!
//! The guard runs each action it lets through (any method but GET, HEAD,
//! OPTIONS) inside [`OPERATOR`]'s scope, so the action handlers read who
//! they act for without every one of them extracting it again.

use std::net::SocketAddr;

use axum::extract::ConnectInfo;
use axum::http::request::Parts;
use serde::Serialize;

use crate::state::{Access, DashboardState};

/// Who took an action: a name and the client's address (`None` when the
/// server was not given `ConnectInfo<SocketAddr>`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub(crate) struct Operator {
    pub(crate) name: String,
    pub(crate) address: Option<String>,
}

tokio::task_local! {
    /// The operator of the request being answered.
    pub(crate) static OPERATOR: Operator;
}

/// Who `parts` acts for: the name the app's `NameOperator` gives, else
/// how the request got in (the token's holder, a client the gate let in, a
/// loopback client); with the client's address either way.
pub(crate) fn of(state: &DashboardState, parts: &Parts) -> Operator {
    let address = parts
        .extensions
        .get::<ConnectInfo<SocketAddr>>()
        .map(|ConnectInfo(addr)| addr.ip().to_string());
    let named = state.operator.as_ref().and_then(|name| name(parts));
    let name = named.unwrap_or_else(|| {
        match &state.access {
            Access::Token(_) => "token holder",
            Access::Gate(_) => "client let in by the gate",
            Access::Loopback => "loopback client",
        }
        .to_string()
    });
    Operator { name, address }
}

/// The operator of the action being answered, when there is one (there
/// is for every action the guard let in).
pub(crate) fn current() -> Option<Operator> {
    OPERATOR.try_with(Clone::clone).ok()
}
