//! The real npm clients (pusher-js, laravel-echo, the `pusher` server SDK)
//! and headless Chromium against the server. Skipped with a `skipped:` line
//! when node, the npm packages or chromium are missing; `.ci/run` installs
//! them and sets EVENTS_TEST_REQUIRE_BROWSER=1 so that a missing one fails.

mod common;

use std::path::PathBuf;
use std::process::Stdio;
use std::sync::Arc;
use std::time::Duration;

use event_broadcast::signature::Credentials;
use event_broadcast_server::{Server, ServerConfig, auth_router};
use event_core::Dispatcher;
use event_core::broadcasting::{ChannelAuthorizer, PusherBroadcaster};
use tokio::io::{AsyncBufReadExt, BufReader};

#[derive(Debug, Clone, serde::Serialize, serde::Deserialize, event_core::Event)]
#[event(broadcast = "orders.{order_id}", private)]
struct OrderShipped {
    order_id: u64,
    carrier: String,
}

#[derive(Debug, Clone, serde::Serialize, serde::Deserialize, event_core::Event)]
#[event(broadcast = "news")]
struct Headline {
    title: String,
}

fn js_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../tests/js")
}

fn js_creds() -> Credentials {
    Credentials {
        app_id: "js-app".into(),
        key: "js-key".into(),
        secret: "js-secret".into(),
    }
}

/// `Some(reason)` when the JS toolchain is missing (a failure in CI).
fn missing(need_browser: bool) -> Option<String> {
    let node = std::process::Command::new("node").arg("--version").output();
    if !node.is_ok_and(|o| o.status.success()) {
        return Some("node is not installed".into());
    }
    if !js_dir().join("node_modules/pusher-js").exists() {
        return Some("npm packages missing: run `npm ci` in tests/js".into());
    }
    if need_browser && !std::path::Path::new("/usr/bin/chromium").exists() {
        return Some("chromium is not installed (apt-get install -y chromium)".into());
    }
    None
}

fn skip(reason: &str) -> bool {
    if std::env::var_os("EVENTS_TEST_REQUIRE_BROWSER").is_some() {
        panic!("EVENTS_TEST_REQUIRE_BROWSER is set but {reason}");
    }
    println!("skipped: {reason}");
    true
}

async fn dispatcher_for(addr: std::net::SocketAddr) -> Dispatcher {
    let events = Dispatcher::new();
    events
        .set_broadcaster(Arc::new(PusherBroadcaster::with_base(
            js_creds(),
            format!("http://{addr}"),
        )))
        .await;
    events
}

/// Runs `node <script> <args>`; when it prints READY, calls `on_ready`.
/// Returns its output; panics unless it ends with PASS.
async fn run_node<F: std::future::Future<Output = ()>>(
    script: &str,
    args: &[String],
    on_ready: impl FnOnce() -> F,
) -> String {
    run_node_with(script, args, &[], on_ready).await
}

/// [`run_node`] with extra environment variables.
async fn run_node_with<F: std::future::Future<Output = ()>>(
    script: &str,
    args: &[String],
    env: &[(&str, String)],
    on_ready: impl FnOnce() -> F,
) -> String {
    let mut child = tokio::process::Command::new("node")
        .arg(script)
        .args(args)
        .envs(env.iter().map(|(k, v)| (*k, v.as_str())))
        .current_dir(js_dir())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .kill_on_drop(true)
        .spawn()
        .expect("node starts");
    let mut lines = BufReader::new(child.stdout.take().expect("stdout")).lines();
    let mut output = String::new();
    let mut on_ready = Some(on_ready);
    let read = async {
        while let Ok(Some(line)) = lines.next_line().await {
            output.push_str(&line);
            output.push('\n');
            if line == "READY"
                && let Some(f) = on_ready.take()
            {
                f().await;
            }
        }
    };
    tokio::time::timeout(Duration::from_secs(60), read)
        .await
        .expect("the script finishes within 60 s");
    let status = child.wait().await.expect("node exits");
    assert!(
        status.success() && output.contains("\nPASS\n"),
        "{script} failed ({status}):\n{output}"
    );
    output
}

#[tokio::test]
async fn pusher_js_laravel_echo_and_the_pusher_sdk_work_unchanged() {
    if let Some(reason) = missing(false)
        && skip(&reason)
    {
        return;
    }
    let mut config = ServerConfig::new(js_creds());
    config.port = 0;
    config.client_events = true;
    let server = Server::bind(config).await.unwrap();
    let addr = server.local_addr();
    let events = dispatcher_for(addr).await;
    let output = run_node("node_clients.mjs", &[addr.port().to_string()], || async {
        events
            .dispatch(OrderShipped {
                order_id: 1,
                carrier: "DHL".into(),
            })
            .await
            .expect("dispatch broadcasts");
    })
    .await;
    assert_eq!(
        output.lines().filter(|l| l.starts_with("ok ")).count(),
        9,
        "{output}"
    );
}

#[tokio::test]
async fn headless_chromium_shows_a_dispatched_event_and_keeps_a_screenshot() {
    if let Some(reason) = missing(true)
        && skip(&reason)
    {
        return;
    }
    chromium_shows_dispatched_events(None, None, "chromium-broadcast.png").await;
}

/// The page over `wss://`: Chromium trusts the test certificate's key, the
/// app broadcasts over `https`.
#[tokio::test]
async fn headless_chromium_over_wss() {
    if let Some(reason) = missing(true)
        && skip(&reason)
    {
        return;
    }
    let ca = test_support::TestCa::new("events chromium CA");
    let issued = ca.issue("server", &["localhost", "127.0.0.1"]);
    chromium_shows_dispatched_events(Some((&ca, &issued)), None, "chromium-broadcast-wss.png")
        .await;
}

/// pusher-js's encrypted build (`pusher-js/with-encryption`, its web
/// bundle) in Chromium decrypts a `private-encrypted-` event our
/// broadcaster sealed, with the key our authorizer handed the page.
#[tokio::test]
async fn headless_chromium_decrypts_an_encrypted_channel() {
    if let Some(reason) = missing(true)
        && skip(&reason)
    {
        return;
    }
    let key = event_core::broadcasting::MasterKey::from_bytes([9; 32]);
    chromium_shows_dispatched_events(None, Some(key), "chromium-broadcast-encrypted.png").await;
}

async fn chromium_shows_dispatched_events(
    tls: Option<(&test_support::TestCa, &test_support::Issued)>,
    encrypted: Option<event_core::broadcasting::MasterKey>,
    screenshot: &str,
) {
    let mut config = ServerConfig::new(js_creds());
    config.port = 0;
    config.tls = tls.map(|(_, issued)| identity(issued));
    let server = Server::bind(config).await.unwrap();
    let ws_addr = server.local_addr();

    // The app: the page, pusher-js's browser bundle, and POST /broadcasting/auth.
    struct User {
        id: u64,
    }
    let mut authorizer = ChannelAuthorizer::new(js_creds())
        .channel("orders.{id}", |user: &User, p| {
            p["id"] == user.id.to_string()
        });
    if let Some(key) = &encrypted {
        authorizer = authorizer.encryption_master_key(key.clone());
    }
    let (bundle, channel, event) = match encrypted {
        None => ("pusher.min.js", "private-orders.1", "OrderShipped"),
        Some(_) => (
            "pusher-with-encryption.min.js",
            "private-encrypted-orders.1",
            "SecretOrderShipped",
        ),
    };
    let bundle = std::fs::read_to_string(
        js_dir()
            .join("node_modules/pusher-js/dist/web")
            .join(bundle),
    )
    .expect("pusher-js browser bundle");
    let page = std::fs::read_to_string(js_dir().join("page.html"))
        .expect("page.html")
        .replace("__PORT__", &ws_addr.port().to_string())
        .replace("__TLS__", if tls.is_some() { "true" } else { "false" })
        .replace("__ORDERS_CHANNEL__", channel)
        .replace("__ORDERS_EVENT__", event);
    let app = auth_router(authorizer, |_headers| Some(User { id: 1 }))
        .route(
            "/",
            axum::routing::get(move || async move { axum::response::Html(page) }),
        )
        .route(
            "/pusher.min.js",
            axum::routing::get(move || async move {
                ([("content-type", "application/javascript")], bundle)
            }),
        );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let app_addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });

    let shot = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../target/broadcast-artifacts")
        .join(screenshot);
    std::fs::create_dir_all(shot.parent().unwrap()).unwrap();
    let _ = std::fs::remove_file(&shot);
    let events = match (tls, &encrypted) {
        (None, None) => dispatcher_for(ws_addr).await,
        (Some((ca, _)), _) => tls_dispatcher_for(ws_addr, ca).await,
        (None, Some(key)) => {
            let events = Dispatcher::new();
            events
                .set_broadcaster(Arc::new(
                    PusherBroadcaster::with_base(js_creds(), format!("http://{ws_addr}"))
                        .encryption_master_key(key.clone()),
                ))
                .await;
            events
        }
    };
    let secret = encrypted.is_some();
    let env: Vec<(&str, String)> = tls
        .map(|(_, issued)| ("CHROMIUM_TRUST_CERT", issued.cert.display().to_string()))
        .into_iter()
        .collect();
    run_node_with(
        "browser.mjs",
        &[format!("http://{app_addr}/"), shot.display().to_string()],
        &env,
        || async {
            events
                .dispatch(Headline {
                    title: "Hello from Rust".into(),
                })
                .await
                .expect("dispatch");
            if secret {
                events
                    .dispatch(SecretOrderShipped {
                        order_id: 1,
                        carrier: "DHL".into(),
                    })
                    .await
                    .expect("dispatch");
            } else {
                events
                    .dispatch(OrderShipped {
                        order_id: 1,
                        carrier: "DHL".into(),
                    })
                    .await
                    .expect("dispatch");
            }
        },
    )
    .await;
    let png = std::fs::read(&shot).expect("the screenshot is kept");
    assert!(
        png.starts_with(b"\x89PNG") && png.len() > 1000,
        "a real PNG"
    );
    println!("screenshot: {}", shot.display());
}

fn identity(issued: &test_support::Issued) -> event_broadcast_server::ServerIdentity {
    event_broadcast_server::ServerIdentity {
        cert: issued.cert.clone(),
        key: issued.key.clone(),
        cert_setting: "--tls-cert".into(),
        key_setting: "--tls-key".into(),
    }
}

/// A dispatcher whose `pusher` broadcaster speaks https to `addr`,
/// trusting the test CA (`EVENTS_BROADCAST_CA_FILE`).
async fn tls_dispatcher_for(addr: std::net::SocketAddr, ca: &test_support::TestCa) -> Dispatcher {
    let events = Dispatcher::new();
    let broadcaster = PusherBroadcaster::with_tls(
        js_creds(),
        format!("https://localhost:{}", addr.port()),
        Some(ca.ca_file()),
    )
    .expect("the CA file is read");
    events.set_broadcaster(Arc::new(broadcaster)).await;
    events
}

/// pusher-js over `wss://` and the `pusher` SDK over `https` in Node
/// (trusting the test CA through NODE_EXTRA_CA_CERTS), our broadcaster over
/// `https`, and clients trusting another CA refused.
#[tokio::test]
async fn pusher_js_over_wss_and_the_pusher_sdk_over_https() {
    if let Some(reason) = missing(false)
        && skip(&reason)
    {
        return;
    }
    let ca = test_support::TestCa::new("events node CA");
    let other = test_support::TestCa::new("another CA");
    let issued = ca.issue("server", &["localhost", "127.0.0.1"]);
    let mut config = ServerConfig::new(js_creds());
    config.port = 0;
    config.tls = Some(identity(&issued));
    let server = Server::bind(config).await.unwrap();
    let addr = server.local_addr();
    let events = tls_dispatcher_for(addr, &ca).await;
    let output = run_node_with(
        "tls_clients.mjs",
        &[
            addr.port().to_string(),
            other.ca_file().display().to_string(),
        ],
        &[("NODE_EXTRA_CA_CERTS", ca.ca_file().display().to_string())],
        || async {
            events
                .dispatch(OrderShipped {
                    order_id: 1,
                    carrier: "DHL".into(),
                })
                .await
                .expect("dispatch broadcasts over https");
        },
    )
    .await;
    assert_eq!(
        output.lines().filter(|l| l.starts_with("ok ")).count(),
        6,
        "{output}"
    );
}

/// Raw `ws` clients sending truncated JSON (pusher:error 4200, the socket
/// stays usable) and a 4 MiB frame (closed with 1009), next to a pusher-js
/// client that keeps receiving.
#[tokio::test]
async fn bad_frames_are_answered_next_to_a_pusher_js_client() {
    if let Some(reason) = missing(false)
        && skip(&reason)
    {
        return;
    }
    let mut config = ServerConfig::new(js_creds());
    config.port = 0;
    let server = Server::bind(config).await.unwrap();
    let output = run_node(
        "frames.mjs",
        &[server.local_addr().port().to_string()],
        || async {},
    )
    .await;
    assert_eq!(
        output.lines().filter(|l| l.starts_with("ok ")).count(),
        4,
        "{output}"
    );
}

#[derive(Debug, Clone, serde::Serialize, serde::Deserialize, event_core::Event)]
#[event(broadcast = "private-encrypted-orders.{order_id}")]
struct SecretOrderShipped {
    order_id: u64,
    carrier: String,
}

/// The Rust authorizer's `POST /broadcasting/auth` on a port of its own,
/// signing with the app's credentials and deriving keys from `key`.
/// Cache channels and subscription counts with pusher-js and the `pusher`
/// SDK: `tests/js/cache_channels.mjs`.
#[tokio::test]
async fn pusher_js_gets_cache_channels_last_event_and_subscription_counts() {
    if let Some(reason) = missing(false)
        && skip(&reason)
    {
        return;
    }
    let mut config = ServerConfig::new(js_creds());
    config.port = 0;
    config.subscription_count = true;
    let server = Server::bind(config).await.unwrap();
    let port = server.local_addr().port().to_string();
    let output = run_node("cache_channels.mjs", &[port], || async {}).await;
    assert!(
        output.contains("ok private-cache-orders: the last event replayed"),
        "{output}"
    );
}

/// Watchlist events with pusher-js: `tests/js/watchlist.mjs`.
#[tokio::test]
async fn pusher_js_hears_its_watchlist_online_and_offline() {
    if let Some(reason) = missing(false)
        && skip(&reason)
    {
        return;
    }
    let mut config = ServerConfig::new(js_creds());
    config.port = 0;
    let server = Server::bind(config).await.unwrap();
    let port = server.local_addr().port().to_string();
    let output = run_node("watchlist.mjs", &[port], || async {}).await;
    assert!(output.contains("ok offline"), "{output}");
}

/// Per-app limits as pusher-js sees them: `tests/js/limits.mjs`.
#[tokio::test]
async fn pusher_js_meets_the_app_limits_with_the_protocol_codes() {
    if let Some(reason) = missing(false)
        && skip(&reason)
    {
        return;
    }
    let mut config = ServerConfig::new(js_creds());
    config.port = 0;
    config.client_events = true;
    config.limits = event_broadcast_server::Limits {
        max_connections: Some(2),
        max_client_events_per_second: Some(1),
        max_channel_name_length: Some(20),
    };
    let server = Server::bind(config).await.unwrap();
    let port = server.local_addr().port().to_string();
    let output = run_node("limits.mjs", &[port], || async {}).await;
    assert!(output.contains("ok 4301"), "{output}");
}

async fn encrypted_auth_app(key: event_core::broadcasting::MasterKey) -> String {
    struct User {
        id: u64,
    }
    let authorizer = ChannelAuthorizer::new(js_creds())
        .encryption_master_key(key)
        .channel("orders.{id}", |user: &User, p| {
            p["id"] == user.id.to_string()
        });
    let app = auth_router(authorizer, |headers| {
        let id = headers.get("x-user-id")?.to_str().ok()?.parse().ok()?;
        Some(User { id })
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    format!("http://{addr}/broadcasting/auth")
}

/// `private-encrypted-` channels: pusher-js decrypts what our broadcaster
/// sealed with the key our authorizer handed it; the shared secret is the
/// `pusher` SDK's; a wrong key fails visibly; the server relays ciphertext
/// only and refuses client events there.
#[tokio::test]
async fn pusher_js_decrypts_what_our_broadcaster_encrypted() {
    if let Some(reason) = missing(false)
        && skip(&reason)
    {
        return;
    }
    use event_core::broadcasting::MasterKey;
    let master_b64 = "KioqKioqKioqKioqKioqKioqKioqKioqKioqKioqKio=";
    let key = MasterKey::from_base64(master_b64).expect("a 32-byte key");
    assert_eq!(key, MasterKey::from_bytes([42u8; 32]));
    let mut config = ServerConfig::new(js_creds());
    config.port = 0;
    config.client_events = true;
    let server = Server::bind(config).await.unwrap();
    let addr = server.local_addr();
    let auth_url = encrypted_auth_app(key.clone()).await;
    let wrong_url = encrypted_auth_app(MasterKey::from_bytes([7; 32])).await;
    let events = Dispatcher::new();
    events
        .set_broadcaster(Arc::new(
            PusherBroadcaster::with_base(js_creds(), format!("http://{addr}"))
                .encryption_master_key(key),
        ))
        .await;
    let output = run_node(
        "encrypted.mjs",
        &[
            addr.port().to_string(),
            auth_url,
            wrong_url,
            master_b64.to_string(),
        ],
        || async {
            events
                .dispatch(SecretOrderShipped {
                    order_id: 1,
                    carrier: "DHL".into(),
                })
                .await
                .expect("dispatch encrypts and broadcasts");
        },
    )
    .await;
    assert_eq!(
        output.lines().filter(|l| l.starts_with("ok ")).count(),
        6,
        "{output}"
    );

    // Without the key, the broadcaster refuses the encrypted channel and
    // sends nothing.
    let keyless = Dispatcher::new();
    keyless
        .set_broadcaster(Arc::new(PusherBroadcaster::with_base(
            js_creds(),
            format!("http://{addr}"),
        )))
        .await;
    let err = keyless
        .dispatch(SecretOrderShipped {
            order_id: 2,
            carrier: "UPS".into(),
        })
        .await
        .expect_err("no master key, no broadcast");
    assert!(
        format!("{err:#}").contains("EVENTS_BROADCAST_ENCRYPTION_MASTER_KEY"),
        "{err:#}"
    );
}
