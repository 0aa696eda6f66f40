//! The page and its assets, all inside the crate (no CDN, no build step).

use axum::Router;
use axum::extract::{OriginalUri, State};
use axum::http::request::Parts;
use axum::http::{HeaderValue, header};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;

use crate::state::DashboardState;

const INDEX: &str = include_str!("../assets/index.html");
const CSS: &str = include_str!("../assets/app.css");
const JS: &str = include_str!("../assets/app.js");
/// The Broadcasting part's script (reads `api/broadcasting`).
const BROADCASTING_JS: &str = include_str!("../assets/broadcasting.js");
const ICON: &str = include_str!("../assets/icon.svg");
/// pusher-js 8.6.0 (MIT), for live pages: served only to a dashboard with push.
const PUSHER: &str = include_str!("../assets/pusher.min.js");

/// The page and `/assets/*`.
pub(crate) fn routes() -> Router<DashboardState> {
    Router::new()
        .route("/", get(index))
        .route(
            "/assets/app.css",
            get(|| asset("text/css; charset=utf-8", CSS)),
        )
        .route(
            "/assets/app.js",
            get(|| asset("text/javascript; charset=utf-8", JS)),
        )
        .route(
            "/assets/broadcasting.js",
            get(|| asset("text/javascript; charset=utf-8", BROADCASTING_JS)),
        )
        .route("/assets/icon.svg", get(|| asset("image/svg+xml", ICON)))
        .route(
            "/assets/pusher.min.js",
            get(|| asset("text/javascript; charset=utf-8", PUSHER)),
        )
}

async fn asset(kind: &'static str, body: &'static str) -> Response {
    let mut response = body.into_response();
    response
        .headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(kind));
    response
}

/// The page, with `<base href>` set to where the dashboard is mounted, so
/// its relative asset and API addresses work under any prefix.
async fn index(State(state): State<DashboardState>, parts: Parts) -> Html<String> {
    let path = parts
        .extensions
        .get::<OriginalUri>()
        .map(|o| o.0.path().to_string())
        .unwrap_or_else(|| parts.uri.path().to_string());
    let base = if path.ends_with('/') {
        path
    } else {
        format!("{path}/")
    };
    let mode = if state.read_only { "read-only" } else { "" };
    // Read-only pages carry no action from the start (the script also
    // removes them): `.read-only .action` is hidden by the stylesheet.
    Html(
        INDEX
            .replace("{{BASE}}", &escape(&base))
            .replace("{{MODE}}", mode),
    )
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('"', "&quot;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('\'', "&#39;")
}
