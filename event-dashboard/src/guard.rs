//! Who gets in, what they may do, and the headers on every response: the
//! one middleware in front of every page, asset and JSON endpoint.

use std::net::SocketAddr;

use axum::extract::{ConnectInfo, OriginalUri, Request, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Redirect, Response};

use crate::api::refusal;
use crate::operator;
use crate::state::{Access, DashboardState};

/// The cookie the one-time URL token is traded for.
pub(crate) const COOKIE: &str = "event_dashboard_token";

/// Content-Security-Policy of every response: no inline script or style,
/// nothing from another origin.
pub(crate) const CSP: &str = "default-src 'self'; base-uri 'self'; form-action 'self'; frame-ancestors 'none'; object-src 'none'";

/// The Content-Security-Policy of a dashboard's responses: the page may
/// connect to its own origin and, with push, to the broadcast server.
fn csp(state: &DashboardState) -> String {
    match &state.push {
        Some(push) => format!("{CSP}; connect-src 'self' {}", push.origin()),
        None => CSP.to_string(),
    }
}

/// Runs before every route: authorisation (401/403), then for unsafe
/// methods the read-only mode (403) and the same-origin rule (403); sets
/// the security headers on whatever comes back.
pub(crate) async fn guard(
    State(state): State<DashboardState>,
    request: Request,
    next: Next,
) -> Response {
    let (parts, body) = request.into_parts();
    let mut response = match check(&state, &parts) {
        // Only actions have an operator: the app's closure naming it does
        // not run for reads.
        Verdict::Pass if is_safe(&parts.method) => next.run(Request::from_parts(parts, body)).await,
        Verdict::Pass => {
            let operator = operator::of(&state, &parts);
            operator::OPERATOR
                .scope(operator, next.run(Request::from_parts(parts, body)))
                .await
        }
        Verdict::TradeToken => trade_token(&state, &parts),
        Verdict::Refuse(status, why) => refusal(status, why),
    };
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_str(&csp(&state)).unwrap_or(HeaderValue::from_static(CSP)),
    );
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

enum Verdict {
    Pass,
    /// A right `?token=`: set the cookie and send the browser to the same
    /// address without it.
    TradeToken,
    Refuse(StatusCode, String),
}

fn check(state: &DashboardState, parts: &Parts) -> Verdict {
    match &state.access {
        Access::Loopback => {
            let peer = parts.extensions.get::<ConnectInfo<SocketAddr>>();
            match peer {
                Some(ConnectInfo(addr)) if addr.ip().is_loopback() => {}
                Some(ConnectInfo(addr)) => {
                    return Verdict::Refuse(
                        StatusCode::FORBIDDEN,
                        format!(
                            "the dashboard has no gate, so it answers loopback clients only, not {}: give DashboardState::gate",
                            addr.ip()
                        ),
                    );
                }
                None => {
                    return Verdict::Refuse(
                        StatusCode::FORBIDDEN,
                        "the dashboard has no gate and cannot see the client's address: serve with `into_make_service_with_connect_info::<SocketAddr>()` or give DashboardState::gate".into(),
                    );
                }
            }
        }
        Access::Gate(gate) => {
            if !gate(parts) {
                return Verdict::Refuse(
                    StatusCode::FORBIDDEN,
                    "the dashboard's gate refused this request".into(),
                );
            }
        }
        Access::Token(token) => {
            if query_token(parts).is_some_and(|t| same(&t, token)) {
                if parts.method == Method::GET {
                    return Verdict::TradeToken;
                }
            } else if !presented_token(&parts.headers).is_some_and(|t| same(t, token)) {
                return Verdict::Refuse(
                    StatusCode::UNAUTHORIZED,
                    "open the URL with the token that `artisan dashboard` printed".into(),
                );
            }
        }
    }
    if !is_safe(&parts.method) {
        // Signing a page's subscription changes nothing: a read-only
        // dashboard's pages are live too.
        if state.read_only && parts.uri.path() != "/api/live/auth" {
            return Verdict::Refuse(
                StatusCode::FORBIDDEN,
                "the dashboard is read-only: actions are refused".into(),
            );
        }
        if !same_origin(&parts.headers) {
            return Verdict::Refuse(
                StatusCode::FORBIDDEN,
                "actions are taken from the dashboard's own pages only (same origin: `Sec-Fetch-Site: same-origin` or an `Origin` naming this host)".into(),
            );
        }
    }
    Verdict::Pass
}

fn is_safe(method: &Method) -> bool {
    matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS)
}

/// Compares without stopping at the first difference.
fn same(a: &str, b: &str) -> bool {
    a.len() == b.len()
        && a.bytes()
            .zip(b.bytes())
            .fold(0, |acc, (x, y)| acc | (x ^ y))
            == 0
}

fn query_token(parts: &Parts) -> Option<String> {
    parts.uri.query()?.split('&').find_map(|pair| {
        let (k, v) = pair.split_once('=')?;
        (k == "token").then(|| v.to_string())
    })
}

/// The token of the cookie or of `Authorization: Bearer`.
fn presented_token(headers: &HeaderMap) -> Option<&str> {
    let bearer = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "));
    bearer.or_else(|| {
        headers
            .get_all(header::COOKIE)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(';'))
            .find_map(|c| c.trim().strip_prefix(COOKIE)?.strip_prefix('='))
    })
}

/// Same-origin: the browser says so (`Sec-Fetch-Site`), or, from one that
/// does not send it, the `Origin` names the `Host` the request came to.
fn same_origin(headers: &HeaderMap) -> bool {
    let text = |name| {
        headers
            .get(name)
            .and_then(|v: &HeaderValue| v.to_str().ok())
    };
    if let Some(site) = text("sec-fetch-site") {
        return site == "same-origin";
    }
    match (text("origin"), text("host")) {
        (Some(origin), Some(host)) => origin
            .strip_prefix("http://")
            .or_else(|| origin.strip_prefix("https://"))
            .is_some_and(|o| o.eq_ignore_ascii_case(host)),
        _ => false,
    }
}

fn trade_token(state: &DashboardState, parts: &Parts) -> Response {
    let Access::Token(token) = &state.access else {
        unreachable!("a token is traded only in token mode")
    };
    let path = parts
        .extensions
        .get::<OriginalUri>()
        .map(|u| u.0.path().to_string())
        .unwrap_or_else(|| parts.uri.path().to_string());
    let rest: Vec<&str> = parts
        .uri
        .query()
        .unwrap_or("")
        .split('&')
        .filter(|p| !p.is_empty() && !p.starts_with("token="))
        .collect();
    let to = if rest.is_empty() {
        path
    } else {
        format!("{path}?{}", rest.join("&"))
    };
    let mut response = Redirect::to(&to).into_response();
    let cookie = format!("{COOKIE}={token}; Path=/; HttpOnly; SameSite=Strict");
    if let Ok(value) = HeaderValue::from_str(&cookie) {
        response.headers_mut().insert(header::SET_COOKIE, value);
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.insert(*k, HeaderValue::from_static(v));
        }
        h
    }

    #[test]
    fn same_origin_needs_the_browser_or_the_origin_to_say_so() {
        assert!(same_origin(&headers(&[("sec-fetch-site", "same-origin")])));
        assert!(!same_origin(&headers(&[
            ("sec-fetch-site", "cross-site"),
            ("origin", "http://a:1"),
            ("host", "a:1")
        ])));
        assert!(same_origin(&headers(&[
            ("origin", "http://a:1"),
            ("host", "a:1")
        ])));
        assert!(!same_origin(&headers(&[
            ("origin", "http://evil"),
            ("host", "a:1")
        ])));
        assert!(!same_origin(&headers(&[("host", "a:1")])));
    }

    #[test]
    fn the_token_comes_from_the_cookie_or_the_bearer_header() {
        let h = headers(&[("cookie", "a=b; event_dashboard_token=xyz")]);
        assert_eq!(presented_token(&h), Some("xyz"));
        let h = headers(&[("authorization", "Bearer abc")]);
        assert_eq!(presented_token(&h), Some("abc"));
        assert!(same("abc", "abc") && !same("abc", "abd") && !same("abc", "ab"));
    }
}
