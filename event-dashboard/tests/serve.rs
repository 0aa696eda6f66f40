//! Standalone: `bind` opens what the options name and every option takes
//! effect, over real TCP.

mod common;

use common::App;
use common::standalone::{http, serve};
use event_dashboard::{DashboardError, ServeOptions, bind};

#[tokio::test]
async fn the_options_take_effect_over_tcp() {
    let app = App::new().await;
    let served = serve(ServeOptions {
        queue_url: Some(app.url.clone()),
        store_url: Some(format!(
            "sqlite://{}",
            app.dir.path().join("ev.db").display()
        )),
        store_table: Some("dash_events".into()),
        read_only: true,
        token: Some("abc".into()),
        ..ServeOptions::default()
    })
    .await;
    let addr = served.addr;
    assert!(addr.ip().is_loopback(), "binds 127.0.0.1 by default");
    assert_eq!(
        served.url,
        format!("http://127.0.0.1:{}/?token=abc", addr.port())
    );

    let meta = http(addr, "GET /api/meta HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer abc\r\nConnection: close\r\n\r\n").await;
    assert!(meta.starts_with("HTTP/1.1 200"), "{meta}");
    assert!(
        meta.contains(r#""read_only":true"#) && meta.contains(r#""store":true"#),
        "{meta}"
    );
    let refused = http(addr, "POST /api/queues/payments/pause HTTP/1.1\r\nHost: x\r\nOrigin: http://x\r\nAuthorization: Bearer abc\r\nContent-Length: 0\r\nConnection: close\r\n\r\n").await;
    assert!(refused.starts_with("HTTP/1.1 403"), "{refused}");
    let anonymous = http(
        addr,
        "GET /api/meta HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    )
    .await;
    assert!(anonymous.starts_with("HTTP/1.1 401"), "{anonymous}");
    served.stop().await;

    // The store's table is the one asked for.
    let store = event_core::store::EventStore::open(
        &format!("sqlite://{}", app.dir.path().join("ev.db").display()),
        "dash_events",
    )
    .await
    .expect("the table exists");
    assert_eq!(store.table(), "dash_events");
}

#[tokio::test]
async fn what_cannot_be_served_is_an_error_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    let sync = bind(ServeOptions {
        port: 0,
        queue_url: Some("sync".into()),
        store_url: Some(format!("sqlite://{}", dir.path().join("ev.db").display())),
        ..ServeOptions::default()
    })
    .await
    .unwrap_err();
    assert!(matches!(sync, DashboardError::Queue(_)), "{sync}");
    assert!(sync.to_string().contains("sync"), "{sync}");

    let app = App::new().await;
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port();
    let err = bind(ServeOptions {
        port,
        queue_url: Some(app.url.clone()),
        store_url: Some(format!(
            "sqlite://{}",
            app.dir.path().join("ev.db").display()
        )),
        ..ServeOptions::default()
    })
    .await
    .unwrap_err();
    assert!(matches!(err, DashboardError::Bind { .. }), "{err}");
    assert!(err.to_string().contains(&port.to_string()), "{err}");
    assert!(
        std::error::Error::source(&err).is_some(),
        "the cause is kept"
    );

    let empty = bind(ServeOptions {
        port: 0,
        queue_url: Some(app.url.clone()),
        store_url: Some(format!(
            "sqlite://{}",
            app.dir.path().join("ev.db").display()
        )),
        token: Some(String::new()),
        ..ServeOptions::default()
    })
    .await
    .unwrap_err();
    assert!(matches!(empty, DashboardError::EmptyToken), "{empty}");
}
