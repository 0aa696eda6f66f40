//! [`DashboardError`]: why the dashboard could not start.

use std::net::SocketAddr;

/// Why a dashboard could not be built or served.
#[derive(Debug, thiserror::Error)]
pub enum DashboardError {
    /// The queue connection could not be opened or keeps no jobs (`sync`).
    #[error("the queue connection: {0}")]
    Queue(#[source] event_core::queue::QueueError),
    /// The event store could not be opened.
    #[error("the event store: {0}")]
    Store(#[source] event_core::store::StoreError),
    /// `EVENTS_*` variables or `.env` could not be read.
    #[error("the configuration: {0}")]
    Config(#[source] event_core::config::ConfigError),
    /// `DashboardState::token` was given an empty token.
    #[error("the dashboard's token is empty")]
    EmptyToken,
    /// The address could not be bound (in use, not allowed).
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        /// The address asked for.
        addr: SocketAddr,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// Live pages were asked for, but the broadcasting connection is not
    /// one browsers can subscribe to.
    #[error("live pages: {0}")]
    PushNeedsServer(String),
    /// The broadcaster for live pages could not be set up (credentials
    /// missing, the connection refused).
    #[error("live pages: {0}")]
    Push(#[source] event_core::broadcasting::ConnectError),
    /// The server stopped on an error.
    #[error("the dashboard server stopped: {0}")]
    Serve(#[source] std::io::Error),
}

/// An error with its causes, as one line (`error: cause: cause`).
pub(crate) fn with_causes(e: &(dyn std::error::Error + 'static)) -> String {
    let mut text = e.to_string();
    let mut cause = e.source();
    while let Some(c) = cause {
        text.push_str(": ");
        text.push_str(&c.to_string());
        cause = c.source();
    }
    text
}
