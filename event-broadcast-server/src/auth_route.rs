//! `POST /broadcasting/auth` for an axum app: answers the browser's channel
//! auth request with a [`ChannelAuthorizer`] and the app's notion of the
//! current user.

use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use event_broadcast::ChannelAuthorizer;

/// A router with `POST /broadcasting/auth`. `current_user` reads the user
/// from the request's headers (a session cookie, a bearer token); `None`
/// answers 403.
///
/// ```no_run
/// use event_broadcast_server::auth_router;
/// use event_broadcast::{ChannelAuthorizer, signature::Credentials};
///
/// struct User { id: u64 }
/// let authorizer = ChannelAuthorizer::new(Credentials {
///     app_id: "1".into(), key: "app-key".into(), secret: "app-secret".into(),
/// })
/// .channel("orders.{id}", |user: &User, p| p["id"] == user.id.to_string());
/// let app: axum::Router = auth_router(authorizer, |headers| {
///     let id = headers.get("x-user-id")?.to_str().ok()?.parse().ok()?;
///     Some(User { id })
/// });
/// ```
pub fn auth_router<U, F>(authorizer: ChannelAuthorizer<U>, current_user: F) -> Router
where
    U: Send + Sync + 'static,
    F: Fn(&HeaderMap) -> Option<U> + Clone + Send + Sync + 'static,
{
    let authorizer = Arc::new(authorizer);
    Router::new().route(
        "/broadcasting/auth",
        post(move |headers: HeaderMap, body: Bytes| {
            let authorizer = authorizer.clone();
            let current_user = current_user.clone();
            async move {
                let Some(user) = current_user(&headers) else {
                    return (StatusCode::FORBIDDEN, "not signed in").into_response();
                };
                match authorizer.authorize_form(&user, &body) {
                    Ok(answer) => axum::Json(answer).into_response(),
                    Err(error) => {
                        let status =
                            StatusCode::from_u16(error.status()).unwrap_or(StatusCode::FORBIDDEN);
                        (status, error.to_string()).into_response() as Response
                    }
                }
            }
        }),
    )
}
