//! A browser dashboard for event-core: queues (figures, workers, completed
//! jobs, pause/resume/clear), failed jobs (groups, search, retry, forget,
//! one or by filter), the event store (history, correlation chains) and
//! the broadcast server (nodes, channels, presence members), with live
//! pages and documented JSON endpoints (docs/dashboard.md). Every action
//! is recorded with its operator ([`DashboardState::operator`]).
//!
//! Mount it in your app:
//!
//! ```no_run
//! # async fn demo(queue: event_core::queue::Queue) -> Result<(), Box<dyn std::error::Error>> {
//! use event_dashboard::{DashboardState, router};
//! let state = DashboardState::new(queue)?.gate(|parts| {
//!     parts.headers.get("x-admin-session").is_some() // your own check
//! });
//! let app = axum::Router::new().nest("/events", router(state));
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:3000").await?;
//! axum::serve(listener, app.into_make_service_with_connect_info::<std::net::SocketAddr>()).await?;
//! # Ok(()) }
//! ```
//!
//! or serve it alone ([`serve`]): it binds 127.0.0.1 and prints a URL with
//! a token.

mod api;
mod broadcasting;
mod error;
mod guard;
mod live;
mod operator;
mod pages;
pub mod redact;
mod serve;
mod state;

pub use error::DashboardError;
pub use live::{CHANGED, CHANNEL, WATCH_EVERY};
pub use serve::{ServeOptions, Standalone, bind, serve};
pub use state::{DashboardState, Gate, NameOperator};

/// The dashboard's routes (the page at `/`, its assets, `/api/*`), behind
/// its guard: mount it with `Router::nest`. Without a gate it answers
/// loopback clients only, which it learns from `ConnectInfo<SocketAddr>`
/// (serve with `into_make_service_with_connect_info::<SocketAddr>()`).
pub fn router(state: DashboardState) -> axum::Router {
    axum::Router::new()
        .merge(pages::routes())
        .merge(api::routes())
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            guard::guard,
        ))
        .with_state(state)
}
