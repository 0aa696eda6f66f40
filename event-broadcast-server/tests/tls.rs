//! `wss://` and `https://`: certificates of a CA made in the test (rcgen),
//! a Rust WebSocket client and our `pusher` broadcaster over TLS, a wrong
//! certificate refused with an error that says so, SIGHUP swapping the
//! certificate under open connections, and bad TLS settings refused by
//! name. (pusher-js, the `pusher` SDK and Chromium over TLS: js_clients.rs.)

mod common;

use std::net::SocketAddr;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use event_broadcast::PusherBroadcaster;
use event_broadcast_server::{Server, ServerIdentity};
use event_core::broadcasting::{BroadcastMessage, Broadcaster, CertificateRefused};
use event_tls::rustls::pki_types::ServerName;
use futures::{SinkExt, StreamExt};
use serde_json::{Value, json};
use test_support::{Issued, TestCa};
use tokio_tungstenite::tungstenite::Message;

type Wss =
    tokio_tungstenite::WebSocketStream<tokio_rustls::client::TlsStream<tokio::net::TcpStream>>;

fn identity(issued: &Issued) -> ServerIdentity {
    ServerIdentity {
        cert: issued.cert.clone(),
        key: issued.key.clone(),
        cert_setting: "--tls-cert".into(),
        key_setting: "--tls-key".into(),
    }
}

async fn tls_server(issued: &Issued) -> Server {
    let mut config = common::config();
    config.tls = Some(identity(issued));
    Server::bind(config).await.expect("server binds")
}

/// A `wss://localhost:port` client trusting only `ca`; the error is the
/// TLS handshake's.
async fn wss(addr: SocketAddr, ca: &Path) -> Result<(Wss, String), String> {
    let config = event_tls::client_config_with(event_tls::Verify::Full, Some(("ca", ca)), false)
        .map_err(|e| e.to_string())?;
    let tcp = tokio::net::TcpStream::connect(addr)
        .await
        .map_err(|e| e.to_string())?;
    let tls = tokio_rustls::TlsConnector::from(config)
        .connect(ServerName::try_from("localhost").expect("a name"), tcp)
        .await
        .map_err(|e| e.to_string())?;
    let url = format!("wss://localhost:{}/app/test-key?protocol=7", addr.port());
    let (mut ws, _) = tokio_tungstenite::client_async(url, tls)
        .await
        .map_err(|e| e.to_string())?;
    let first = next(&mut ws).await.ok_or("no first frame")?;
    assert_eq!(first["event"], "pusher:connection_established", "{first}");
    let data: Value = serde_json::from_str(first["data"].as_str().expect("data")).expect("json");
    Ok((
        ws,
        data["socket_id"].as_str().expect("socket_id").to_string(),
    ))
}

async fn next(ws: &mut Wss) -> Option<Value> {
    loop {
        let msg = tokio::time::timeout(Duration::from_secs(5), ws.next())
            .await
            .ok()??
            .ok()?;
        match msg {
            Message::Text(t) => return serde_json::from_str(t.as_str()).ok(),
            Message::Close(_) => return None,
            _ => continue,
        }
    }
}

async fn subscribe(ws: &mut Wss, channel: &str) {
    ws.send(Message::Text(
        json!({"event": "pusher:subscribe", "data": {"channel": channel}})
            .to_string()
            .into(),
    ))
    .await
    .expect("send");
    let answer = next(ws).await.expect("an answer");
    assert_eq!(
        answer["event"], "pusher_internal:subscription_succeeded",
        "{answer}"
    );
}

/// The next `name` event on the socket, skipping others.
async fn event(ws: &mut Wss, name: &str) -> Option<Value> {
    loop {
        let v = next(ws).await?;
        if v["event"] == name {
            return Some(v);
        }
    }
}

fn broadcaster(port: u16, ca: &Path) -> PusherBroadcaster {
    PusherBroadcaster::with_tls(
        common::creds(),
        format!("https://localhost:{port}"),
        Some(ca),
    )
    .expect("the CA file is read")
}

fn news(title: &str) -> BroadcastMessage {
    BroadcastMessage {
        channels: vec!["news".into()],
        event: "Headline".into(),
        data: json!({ "title": title }),
        socket_id: None,
    }
}

#[tokio::test]
async fn wss_and_https_with_a_certificate_of_the_test_ca() {
    let ca = TestCa::new("events test CA");
    let server = tls_server(&ca.issue("server", &["localhost", "127.0.0.1"])).await;
    let addr = server.local_addr();
    let (mut ws, _) = wss(addr, ca.ca_file()).await.expect("wss connects");
    subscribe(&mut ws, "news").await;
    broadcaster(addr.port(), ca.ca_file())
        .broadcast(&news("over https"))
        .await
        .expect("the broadcaster trusts the test CA");
    let got = event(&mut ws, "Headline").await.expect("the event arrives");
    assert_eq!(got["data"], json!({ "title": "over https" }).to_string());

    // No plain-text side door on a TLS port.
    let plain = tokio_tungstenite::connect_async(format!(
        "ws://127.0.0.1:{}/app/test-key?protocol=7",
        addr.port()
    ))
    .await;
    assert!(plain.is_err(), "ws:// on the TLS port is not served");
    server.shutdown().await.unwrap();
}

#[tokio::test]
async fn a_wrong_certificate_is_refused_and_says_so() {
    let ca = TestCa::new("events test CA");
    let other = TestCa::new("another CA");
    let server = tls_server(&ca.issue("server", &["localhost"])).await;
    let addr = server.local_addr();

    // Our broadcaster, trusting another CA: a typed error, the cause kept.
    let err = broadcaster(addr.port(), other.ca_file())
        .broadcast(&news("nope"))
        .await
        .expect_err("a certificate of an unknown CA is refused");
    let refused = err
        .downcast_ref::<CertificateRefused>()
        .unwrap_or_else(|| panic!("not a CertificateRefused: {err:#}"));
    let text = err.to_string();
    assert!(
        text.contains("TLS certificate")
            && text.contains("refused")
            && text.contains("UnknownIssuer"),
        "{text}"
    );
    assert!(
        text.contains("EVENTS_BROADCAST_CA_FILE"),
        "says how to fix it: {text}"
    );
    assert!(
        std::error::Error::source(refused).is_some(),
        "keeps its cause"
    );

    // A certificate for another host name, from the trusted CA: refused too.
    let wrong_name = TestCa::new("events test CA 2");
    let server2 = tls_server(&wrong_name.issue("server", &["elsewhere.example"])).await;
    let err = broadcaster(server2.local_addr().port(), wrong_name.ca_file())
        .broadcast(&news("nope"))
        .await
        .expect_err("a certificate for another name is refused");
    let text = err.to_string();
    assert!(
        text.contains("not valid for name \"localhost\"") && text.contains("EVENTS_BROADCAST_HOST"),
        "{text}"
    );

    // A WebSocket client trusting another CA: its handshake fails, and the
    // server keeps serving the others.
    let refusal = wss(addr, other.ca_file()).await.expect_err("refused");
    assert!(refusal.contains("invalid peer certificate"), "{refusal}");
    let (mut ws, _) = wss(addr, ca.ca_file())
        .await
        .expect("a trusting client still connects");
    subscribe(&mut ws, "news").await;
    server.shutdown().await.unwrap();
    server2.shutdown().await.unwrap();
}

/// `event-broadcast-server` (what `artisan broadcast:serve` runs) in its own
/// process, stopped with SIGTERM on drop.
struct Process(Child);

impl Drop for Process {
    fn drop(&mut self) {
        let _ = nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(self.0.id() as i32),
            nix::sys::signal::Signal::SIGTERM,
        );
        let _ = self.0.wait();
    }
}

fn spare_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

fn bin(args: &[&str], env: &[(&str, &Path)]) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_event-broadcast-server"));
    let dir = std::env::temp_dir();
    cmd.args(args)
        .current_dir(dir)
        .env("EVENTS_BROADCAST_APP_ID", "test-app")
        .env("EVENTS_BROADCAST_APP_KEY", "test-key")
        .env("EVENTS_BROADCAST_APP_SECRET", "test-secret")
        .env_remove("EVENTS_BROADCAST_SERVER_TLS_CERT")
        .env_remove("EVENTS_BROADCAST_SERVER_TLS_KEY")
        .env_remove("EVENTS_BROADCAST_REDIS_URL");
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd
}

#[tokio::test]
async fn sighup_swaps_the_certificate_and_keeps_open_connections() {
    let first = TestCa::new("first CA");
    let second = TestCa::new("second CA");
    let files = first.issue("server", &["localhost"]);
    let port = spare_port();
    let addr: SocketAddr = ([127, 0, 0, 1], port).into();
    let child = bin(
        &["--port", &port.to_string()],
        &[
            ("EVENTS_BROADCAST_SERVER_TLS_CERT", &files.cert),
            ("EVENTS_BROADCAST_SERVER_TLS_KEY", &files.key),
        ],
    )
    .stdout(Stdio::null())
    .stderr(Stdio::null())
    .spawn()
    .expect("the server starts");
    let server = Process(child);
    let deadline = Instant::now() + Duration::from_secs(20);
    let (mut old, _) = loop {
        match wss(addr, first.ca_file()).await {
            Ok(c) => break c,
            Err(e) if Instant::now() > deadline => panic!("the server never answered: {e}"),
            Err(_) => tokio::time::sleep(Duration::from_millis(50)).await,
        }
    };
    subscribe(&mut old, "news").await;

    // Renewal: new files in place, then SIGHUP.
    let renewed = second.issue("renewed", &["localhost"]);
    std::fs::copy(&renewed.cert, &files.cert).unwrap();
    std::fs::copy(&renewed.key, &files.key).unwrap();
    let hup = || {
        nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(server.0.id() as i32),
            nix::sys::signal::Signal::SIGHUP,
        )
        .expect("SIGHUP is sent")
    };
    hup();
    let deadline = Instant::now() + Duration::from_secs(10);
    while wss(addr, second.ca_file()).await.is_err() {
        assert!(
            Instant::now() < deadline,
            "the new certificate is never served"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let refusal = wss(addr, first.ca_file())
        .await
        .expect_err("the old certificate is gone");
    assert!(refusal.contains("invalid peer certificate"), "{refusal}");

    // The connection opened before the reload is still served.
    broadcaster(port, second.ca_file())
        .broadcast(&news("after the reload"))
        .await
        .expect("https with the new certificate");
    let got = event(&mut old, "Headline")
        .await
        .expect("the old connection still receives");
    assert_eq!(
        got["data"],
        json!({ "title": "after the reload" }).to_string()
    );

    // A broken file on SIGHUP: the server keeps the certificate it has.
    std::fs::write(&files.cert, "not a certificate").unwrap();
    hup();
    tokio::time::sleep(Duration::from_millis(300)).await;
    let (mut fresh, _) = wss(addr, second.ca_file())
        .await
        .expect("still serving the previous certificate");
    subscribe(&mut fresh, "news").await;
    drop(server);
}

/// Runs the server binary expecting it to refuse to start; its stderr.
fn refused(args: &[&str], env: &[(&str, &Path)]) -> String {
    let out = bin(args, env)
        .args(["--port", "0"])
        .output()
        .expect("the binary runs");
    let text = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(!out.status.success(), "started anyway: {text}");
    text
}

#[test]
fn bad_tls_settings_are_refused_naming_the_flag_or_variable() {
    let ca = TestCa::new("events test CA");
    let good = ca.issue("server", &["localhost"]);
    let other = ca.issue("other", &["localhost"]);
    let cert = good.cert.to_str().unwrap();
    let key = good.key.to_str().unwrap();

    let text = refused(&["--tls-cert", cert], &[]);
    assert!(
        text.contains("--tls-cert is set but --tls-key is not"),
        "{text}"
    );
    let text = refused(&[], &[("EVENTS_BROADCAST_SERVER_TLS_KEY", &good.key)]);
    assert!(
        text.contains(
            "EVENTS_BROADCAST_SERVER_TLS_KEY is set but EVENTS_BROADCAST_SERVER_TLS_CERT is not"
        ),
        "{text}"
    );
    // A flag and the other half from the environment make a pair.
    let text = refused(
        &["--tls-cert", "/nonexistent/cert.pem"],
        &[("EVENTS_BROADCAST_SERVER_TLS_KEY", &good.key)],
    );
    assert!(
        text.contains("--tls-cert: cannot read `/nonexistent/cert.pem`"),
        "{text}"
    );
    let garbage = ca.dir().join("garbage.pem");
    std::fs::write(&garbage, "hello").unwrap();
    let text = refused(
        &["--tls-cert", garbage.to_str().unwrap(), "--tls-key", key],
        &[],
    );
    assert!(
        text.contains("--tls-cert") && text.contains("is not a PEM certificate"),
        "{text}"
    );
    let text = refused(&["--tls-cert", cert, "--tls-key", cert], &[]);
    assert!(
        text.contains("--tls-key") && text.contains("is not a PEM private key"),
        "{text}"
    );
    let text = refused(
        &["--tls-cert", cert, "--tls-key", other.key.to_str().unwrap()],
        &[],
    );
    assert!(
        text.contains("the key cannot be used with this certificate"),
        "{text}"
    );
    let text = refused(
        &[],
        &[
            ("EVENTS_BROADCAST_SERVER_TLS_CERT", &garbage),
            ("EVENTS_BROADCAST_SERVER_TLS_KEY", &good.key),
        ],
    );
    assert!(text.contains("EVENTS_BROADCAST_SERVER_TLS_CERT"), "{text}");
}

#[tokio::test]
async fn webhooks_to_an_https_url_trust_the_ca_file() {
    let ca = TestCa::new("events webhook CA");
    let other = TestCa::new("another CA");
    let issued = ca.issue("hooks", &["localhost"]);
    for (trusted, expect) in [(other.ca_file(), false), (ca.ca_file(), true)] {
        let (url, got) = common::webhook_receiver_on(0, Some(&issued)).await;
        assert!(url.starts_with("https://"), "{url}");
        let mut config = common::config();
        config.webhook_url = Some(url);
        config.webhook_retry = Duration::from_millis(20);
        config.ca_file = Some(trusted.to_path_buf());
        let server = Server::bind(config).await.expect("binds");
        let mut c = common::connect(server.local_addr()).await;
        common::subscribed(&mut c, "news", None).await;
        let delivered = common::eventually(Duration::from_secs(3), async || {
            !common::webhook_names(&got).is_empty()
        })
        .await;
        assert_eq!(
            delivered,
            expect,
            "trusting {}: {:?}",
            trusted.display(),
            common::webhook_names(&got)
        );
        if expect {
            assert_eq!(common::webhook_names(&got), vec!["channel_occupied news"]);
        }
        server.shutdown().await.unwrap();
    }
}
