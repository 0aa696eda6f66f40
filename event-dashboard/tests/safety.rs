//! Who gets in and what they may do: the token (standalone), the gate or
//! loopback (mounted), read-only, same-origin actions, and the headers on
//! every response.

mod common;

use axum::http::Method;
use common::{App, loopback, remote, send};
use event_dashboard::{DashboardState, router};

const TOKEN: &str = "s3cret-token";

async fn tokened(read_only: bool) -> (App, axum::Router) {
    let app = App::new().await;
    let state = DashboardState::new(app.queue.clone())
        .unwrap()
        .token(TOKEN)
        .unwrap()
        .read_only(read_only);
    let r = router(state);
    (app, r)
}

const COOKIE: &str = "event_dashboard_token=s3cret-token";

#[tokio::test]
async fn without_the_token_pages_json_and_actions_answer_401() {
    let (_app, dashboard) = tokened(false).await;
    for (method, uri) in [
        (Method::GET, "/"),
        (Method::GET, "/api/queues"),
        (Method::GET, "/api/failed"),
        (Method::POST, "/api/queues/payments/pause"),
    ] {
        let a = send(
            &dashboard,
            method.clone(),
            uri,
            &[("sec-fetch-site", "same-origin")],
            loopback(),
        )
        .await;
        assert_eq!(a.status, 401, "{method} {uri}: {}", a.text);
        assert!(
            a.json["error"].as_str().unwrap().contains("token"),
            "{}",
            a.text
        );
    }
    let wrong = send(
        &dashboard,
        Method::GET,
        "/api/meta",
        &[("cookie", "event_dashboard_token=nope")],
        loopback(),
    )
    .await;
    assert_eq!(wrong.status, 401);
    let wrong = send(&dashboard, Method::GET, "/?token=nope", &[], loopback()).await;
    assert_eq!(wrong.status, 401);
}

#[tokio::test]
async fn the_url_token_is_traded_for_a_strict_http_only_cookie() {
    let (_app, dashboard) = tokened(false).await;
    let first = send(
        &dashboard,
        Method::GET,
        "/?token=s3cret-token",
        &[],
        loopback(),
    )
    .await;
    assert_eq!(first.status, 303, "{}", first.text);
    assert_eq!(
        first.headers["location"], "/",
        "the token leaves the address bar"
    );
    let cookie = first.headers["set-cookie"].to_str().unwrap();
    assert!(cookie.starts_with(COOKIE), "{cookie}");
    assert!(
        cookie.contains("HttpOnly") && cookie.contains("SameSite=Strict"),
        "{cookie}"
    );

    let page = send(
        &dashboard,
        Method::GET,
        "/",
        &[("cookie", COOKIE)],
        loopback(),
    )
    .await;
    assert_eq!(page.status, 200);
    assert!(page.text.contains("<title>Events dashboard</title>"));
    assert!(!page.text.contains("<script>"), "no inline script");
    let meta = send(
        &dashboard,
        Method::GET,
        "/api/meta",
        &[("authorization", "Bearer s3cret-token")],
        loopback(),
    )
    .await;
    assert_eq!(meta.status, 200, "scripts send the token as a bearer");
    assert_eq!(meta.json["connection"], "sqlite");
    assert_eq!(meta.json["live"]["mode"], "polling");
}

#[tokio::test]
async fn read_only_shows_no_action_and_refuses_them() {
    let (_app, dashboard) = tokened(true).await;
    let page = send(
        &dashboard,
        Method::GET,
        "/",
        &[("cookie", COOKIE)],
        loopback(),
    )
    .await;
    assert!(
        page.text.contains(r#"<body class="read-only">"#),
        "the stylesheet hides actions from the start"
    );
    let meta = send(
        &dashboard,
        Method::GET,
        "/api/meta",
        &[("cookie", COOKIE)],
        loopback(),
    )
    .await;
    assert_eq!(meta.json["read_only"], true);
    for uri in [
        "/api/queues/payments/pause",
        "/api/failed/retry",
        "/api/failed/1:X/forget",
    ] {
        let a = send(
            &dashboard,
            Method::POST,
            uri,
            &[("cookie", COOKIE), ("sec-fetch-site", "same-origin")],
            loopback(),
        )
        .await;
        assert_eq!(a.status, 403, "{uri}");
        assert!(a.text.contains("read-only"), "{}", a.text);
    }
    let read = send(
        &dashboard,
        Method::GET,
        "/api/failed",
        &[("cookie", COOKIE)],
        loopback(),
    )
    .await;
    assert_eq!(read.status, 200, "reading still works");
}

#[tokio::test]
async fn actions_must_come_from_the_same_origin() {
    let (_app, dashboard) = tokened(false).await;
    let uri = "/api/queues/payments/resume";
    for headers in [
        vec![("cookie", COOKIE), ("sec-fetch-site", "cross-site")],
        vec![("cookie", COOKIE), ("sec-fetch-site", "same-site")],
        vec![
            ("cookie", COOKIE),
            ("origin", "http://evil.example"),
            ("host", "127.0.0.1:8400"),
        ],
        vec![("cookie", COOKIE)],
    ] {
        let a = send(&dashboard, Method::POST, uri, &headers, loopback()).await;
        assert_eq!(a.status, 403, "{headers:?}: {}", a.text);
        assert!(a.text.contains("same origin"), "{}", a.text);
    }
    let ok = send(
        &dashboard,
        Method::POST,
        uri,
        &[
            ("cookie", COOKIE),
            ("origin", "http://127.0.0.1:8400"),
            ("host", "127.0.0.1:8400"),
        ],
        loopback(),
    )
    .await;
    assert_eq!(ok.status, 200, "{}", ok.text);
    assert_eq!(ok.json["action"], "resume");
}

#[tokio::test]
async fn every_response_carries_a_strict_csp() {
    let (_app, dashboard) = tokened(false).await;
    for (uri, headers) in [
        ("/", vec![("cookie", COOKIE)]),
        ("/assets/app.js", vec![("cookie", COOKIE)]),
        ("/assets/app.css", vec![("cookie", COOKIE)]),
        ("/api/queues", vec![("cookie", COOKIE)]),
        ("/api/nothing-here", vec![("cookie", COOKIE)]),
        ("/api/queues", vec![]),
    ] {
        let a = send(&dashboard, Method::GET, uri, &headers, loopback()).await;
        let csp = a
            .headers
            .get("content-security-policy")
            .unwrap_or_else(|| panic!("{uri}: no CSP"));
        let csp = csp.to_str().unwrap();
        assert!(csp.contains("default-src 'self'"), "{uri}: {csp}");
        assert!(!csp.contains("unsafe-inline"), "{uri}: {csp}");
        assert_eq!(a.headers["x-content-type-options"], "nosniff");
    }
}

#[tokio::test]
async fn mounted_without_a_gate_it_answers_loopback_only() {
    let app = App::new().await;
    let mounted = axum::Router::new().nest(
        "/events",
        router(DashboardState::new(app.queue.clone()).unwrap()),
    );
    let from_afar = send(&mounted, Method::GET, "/events/api/queues", &[], remote()).await;
    assert_eq!(from_afar.status, 403);
    assert!(from_afar.text.contains("loopback"), "{}", from_afar.text);
    let page = send(&mounted, Method::GET, "/events", &[], remote()).await;
    assert_eq!(page.status, 403);
    let local = send(&mounted, Method::GET, "/events/api/queues", &[], loopback()).await;
    assert_eq!(local.status, 200, "{}", local.text);
    // The page finds its assets and API under the prefix.
    let page = send(&mounted, Method::GET, "/events", &[], loopback()).await;
    assert_eq!(page.status, 200);
    assert!(
        page.text.contains(r#"<base href="/events/">"#),
        "{}",
        &page.text[..400]
    );
    let js = send(
        &mounted,
        Method::GET,
        "/events/assets/app.js",
        &[],
        loopback(),
    )
    .await;
    assert_eq!(js.status, 200);
    assert!(
        js.headers["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/javascript")
    );
}

#[tokio::test]
async fn a_gate_decides_for_every_address() {
    let app = App::new().await;
    let state = DashboardState::new(app.queue.clone())
        .unwrap()
        .gate(|parts| parts.headers.get("x-admin").is_some_and(|v| v == "yes"));
    let dashboard = router(state);
    let refused = send(&dashboard, Method::GET, "/api/queues", &[], loopback()).await;
    assert_eq!(refused.status, 403);
    assert!(refused.text.contains("gate"), "{}", refused.text);
    let let_in = send(
        &dashboard,
        Method::GET,
        "/api/queues",
        &[("x-admin", "yes")],
        remote(),
    )
    .await;
    assert_eq!(let_in.status, 200);
    assert!(
        DashboardState::new(app.queue.clone())
            .unwrap()
            .token("  ")
            .is_err()
    );
}
