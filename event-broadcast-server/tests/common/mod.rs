//! Helpers the server tests share: a server on a free port, a raw
//! WebSocket client, and signed HTTP requests.
#![allow(dead_code)]

use std::net::SocketAddr;
use std::time::Duration;

use bytes::Bytes;
use event_broadcast::signature::{self, Credentials};
use event_broadcast_server::{Server, ServerConfig};
use futures::{SinkExt, StreamExt};
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

pub(crate) mod nodes;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;

pub(crate) type Ws =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

pub(crate) fn creds() -> Credentials {
    Credentials {
        app_id: "test-app".into(),
        key: "test-key".into(),
        secret: "test-secret".into(),
    }
}

pub(crate) fn config() -> ServerConfig {
    let mut c = ServerConfig::new(creds());
    c.port = 0;
    c
}

pub(crate) async fn server() -> Server {
    Server::bind(config()).await.expect("server binds")
}

pub(crate) struct Client2 {
    pub ws: Ws,
    pub socket_id: String,
}

/// Connects and reads `pusher:connection_established`.
pub(crate) async fn connect(addr: SocketAddr) -> Client2 {
    connect_key(addr, "test-key").await.expect("connects")
}

pub(crate) async fn connect_key(addr: SocketAddr, key: &str) -> Result<Client2, (Ws, Value)> {
    let url = format!("ws://{addr}/app/{key}?protocol=7&client=js&version=8.4.0");
    let (mut ws, _) = tokio_tungstenite::connect_async(url)
        .await
        .expect("ws handshake");
    let first = next_json(&mut ws).await.expect("a first frame");
    if first["event"] != "pusher:connection_established" {
        return Err((ws, first));
    }
    let data: Value = serde_json::from_str(first["data"].as_str().expect("data is a string"))
        .expect("data is JSON");
    Ok(Client2 {
        ws,
        socket_id: data["socket_id"].as_str().expect("socket_id").to_string(),
    })
}

/// A WebSocket handshake written by hand, for frames a client library would
/// not send (a header announcing more bytes than follow). Returns the TCP
/// stream just after the server's `101` answer.
pub(crate) async fn raw_connect(addr: SocketAddr) -> tokio::net::TcpStream {
    let mut tcp = tokio::net::TcpStream::connect(addr)
        .await
        .expect("TCP connect");
    let request = format!(
        "GET /app/test-key?protocol=7 HTTP/1.1\r\nHost: {addr}\r\nUpgrade: websocket\r\n\
         Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\
         Sec-WebSocket-Version: 13\r\n\r\n"
    );
    tcp.write_all(request.as_bytes()).await.expect("handshake");
    let mut head = Vec::new();
    while !head.ends_with(b"\r\n\r\n") {
        head.push(tcp.read_u8().await.expect("the handshake's answer"));
    }
    assert!(
        head.starts_with(b"HTTP/1.1 101"),
        "{}",
        String::from_utf8_lossy(&head)
    );
    tcp
}

/// The header of a client frame announcing `len` payload bytes, masked
/// with the key 0 (the payload goes as it is).
pub(crate) fn frame_header(opcode: u8, fin: bool, len: u64) -> Vec<u8> {
    let mut out = vec![if fin { 0x80 | opcode } else { opcode }];
    match len {
        0..=125 => out.push(0x80 | len as u8),
        126..=0xffff => {
            out.push(0x80 | 126);
            out.extend((len as u16).to_be_bytes());
        }
        _ => {
            out.push(0x80 | 127);
            out.extend(len.to_be_bytes());
        }
    }
    out.extend([0, 0, 0, 0]);
    out
}

/// A hand-shaken stream as a client WebSocket, to read what the server sends.
pub(crate) async fn as_client(tcp: tokio::net::TcpStream) -> Ws {
    tokio_tungstenite::WebSocketStream::from_raw_socket(
        tokio_tungstenite::MaybeTlsStream::Plain(tcp),
        tokio_tungstenite::tungstenite::protocol::Role::Client,
        None,
    )
    .await
}

/// Publishes `event` on `channel` through the signed HTTP API.
pub(crate) async fn publish(addr: SocketAddr, channel: &str, event: &str, data: &Value) {
    let body = serde_json::json!({ "name": event, "channel": channel, "data": data.to_string() });
    let (status, answer) = post_api(addr, "events", &body).await;
    assert_eq!(status, 200, "{answer}");
}

/// A signed `POST /apps/test-app/{what}` (`events`, `batch_events`) of
/// `body`: the status and the answer as JSON (its text as a JSON string
/// when it is not JSON).
pub(crate) async fn post_api(addr: SocketAddr, what: &str, body: &Value) -> (u16, Value) {
    let path = format!("/apps/test-app/{what}");
    let (status, text) = signed(
        addr,
        "POST",
        &path,
        &[],
        Some(body.to_string().into_bytes()),
    )
    .await;
    let answer = serde_json::from_str(&text).unwrap_or(Value::String(text));
    (status, answer)
}

/// The next text frame as JSON (protocol pings are answered), or `None` on
/// close / timeout.
pub(crate) async fn next_json(ws: &mut Ws) -> Option<Value> {
    next_json_within(ws, Duration::from_secs(5)).await
}

pub(crate) async fn next_json_within(ws: &mut Ws, wait: Duration) -> Option<Value> {
    loop {
        let msg = tokio::time::timeout(wait, ws.next()).await.ok()??.ok()?;
        match msg {
            Message::Text(t) => return serde_json::from_str(t.as_str()).ok(),
            Message::Close(_) => return None,
            _ => continue,
        }
    }
}

/// Reads until the socket closes; returns the close code.
pub(crate) async fn close_code(ws: &mut Ws) -> Option<u16> {
    loop {
        let msg = tokio::time::timeout(Duration::from_secs(10), ws.next())
            .await
            .ok()??;
        match msg {
            Ok(Message::Close(Some(frame))) => return Some(u16::from(frame.code)),
            Ok(Message::Close(None)) => return Some(u16::from(CloseCode::Status)),
            Ok(_) => continue,
            Err(_) => return None,
        }
    }
}

pub(crate) async fn send(ws: &mut Ws, value: Value) {
    ws.send(Message::Text(value.to_string().into()))
        .await
        .expect("send");
}

pub(crate) async fn subscribe(
    ws: &mut Ws,
    channel: &str,
    auth: Option<&str>,
    channel_data: Option<&str>,
) {
    let mut data = serde_json::json!({ "channel": channel });
    if let Some(a) = auth {
        data["auth"] = a.into();
    }
    if let Some(d) = channel_data {
        data["channel_data"] = d.into();
    }
    send(
        ws,
        serde_json::json!({ "event": "pusher:subscribe", "data": data }),
    )
    .await;
}

/// Subscribes and waits for `subscription_succeeded`; returns its data.
pub(crate) async fn subscribed(
    c: &mut Client2,
    channel: &str,
    channel_data: Option<&str>,
) -> Value {
    let auth = signature::channel_auth(&creds(), &c.socket_id, channel, channel_data);
    let auth = event_broadcast::channel::ChannelKind::of(channel)
        .needs_auth()
        .then_some(auth);
    subscribe(&mut c.ws, channel, auth.as_deref(), channel_data).await;
    let reply = next_json(&mut c.ws).await.expect("a reply");
    assert_eq!(
        reply["event"], "pusher_internal:subscription_succeeded",
        "{reply}"
    );
    assert_eq!(reply["channel"], channel);
    serde_json::from_str(reply["data"].as_str().expect("string data")).expect("JSON data")
}

/// A socket on `addr` subscribed to `channel` (with `channel_data` on a
/// presence channel), `subscription_succeeded` read.
pub(crate) async fn subscriber(
    addr: SocketAddr,
    channel: &str,
    channel_data: Option<&str>,
) -> Client2 {
    let mut c = connect(addr).await;
    subscribed(&mut c, channel, channel_data).await;
    c
}

/// A raw HTTP request; returns status and body.
pub(crate) async fn http(
    addr: SocketAddr,
    method: &str,
    path_and_query: &str,
    body: Option<Vec<u8>>,
) -> (u16, String) {
    let client: Client<_, Full<Bytes>> = Client::builder(TokioExecutor::new()).build_http();
    let request = hyper::Request::builder()
        .method(method)
        .uri(format!("http://{addr}{path_and_query}"))
        .header("content-type", "application/json")
        .body(Full::new(Bytes::from(body.unwrap_or_default())))
        .expect("request");
    let response = client.request(request).await.expect("HTTP answer");
    let status = response.status().as_u16();
    let body = response
        .into_body()
        .collect()
        .await
        .expect("body")
        .to_bytes();
    (status, String::from_utf8_lossy(&body).into_owned())
}

/// A signed request to the HTTP API.
pub(crate) async fn signed(
    addr: SocketAddr,
    method: &str,
    path: &str,
    extra: &[(&str, &str)],
    body: Option<Vec<u8>>,
) -> (u16, String) {
    let extra: Vec<(String, String)> = extra
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    let params = signature::sign_request(
        &creds(),
        method,
        path,
        &extra,
        body.as_deref(),
        chrono::Utc::now().timestamp(),
    );
    let query = form_urlencoded::Serializer::new(String::new())
        .extend_pairs(params)
        .finish();
    http(addr, method, &format!("{path}?{query}"), body).await
}

/// Waits until `check` holds (polling), up to `wait`.
pub(crate) async fn eventually(wait: Duration, mut check: impl AsyncFnMut() -> bool) -> bool {
    let deadline = tokio::time::Instant::now() + wait;
    loop {
        if check().await {
            return true;
        }
        if tokio::time::Instant::now() > deadline {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// A receiver that refuses its first `fail_first` requests with 500.
pub(crate) async fn webhook_receiver(
    fail_first: usize,
) -> (String, std::sync::Arc<std::sync::Mutex<Vec<Value>>>) {
    webhook_receiver_on(fail_first, None).await
}

/// [`webhook_receiver`] over https with `tls`'s certificate when given.
pub(crate) async fn webhook_receiver_on(
    fail_first: usize,
    tls: Option<&test_support::Issued>,
) -> (String, std::sync::Arc<std::sync::Mutex<Vec<Value>>>) {
    let got: std::sync::Arc<std::sync::Mutex<Vec<Value>>> = Default::default();
    let calls = std::sync::Arc::new(std::sync::Mutex::new(0usize));
    let sink = got.clone();
    let app = axum::Router::new().route(
        "/hooks",
        axum::routing::post(move |headers: axum::http::HeaderMap, body: String| {
            let sink = sink.clone();
            let calls = calls.clone();
            async move {
                let n = {
                    let mut c = calls.lock().unwrap();
                    *c += 1;
                    *c
                };
                if n <= fail_first {
                    return axum::http::StatusCode::INTERNAL_SERVER_ERROR;
                }
                let sig = headers
                    .get("x-pusher-signature")
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or("");
                assert_eq!(headers.get("x-pusher-key").unwrap(), "test-key");
                assert!(
                    signature::verify_hmac_hex("test-secret", &body, sig),
                    "signed with the app secret"
                );
                let value: Value = serde_json::from_str(&body).unwrap();
                for e in value["events"].as_array().unwrap() {
                    sink.lock().unwrap().push(e.clone());
                }
                axum::http::StatusCode::OK
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    match tls {
        None => {
            tokio::spawn(async move { axum::serve(listener, app).await });
            (format!("http://{addr}/hooks"), got)
        }
        Some(issued) => {
            let identity = event_tls::ServerIdentity {
                cert: issued.cert.clone(),
                key: issued.key.clone(),
                cert_setting: "test".into(),
                key_setting: "test".into(),
            };
            let key = identity.load().expect("the test certificate loads");
            let config =
                event_tls::rustls::ServerConfig::builder_with_provider(event_tls::provider())
                    .with_safe_default_protocol_versions()
                    .unwrap()
                    .with_no_client_auth()
                    .with_cert_resolver(std::sync::Arc::new(
                        event_tls::rustls::sign::SingleCertAndKey::from(key),
                    ));
            let listener = TestTlsListener {
                tcp: listener,
                acceptor: tokio_rustls::TlsAcceptor::from(std::sync::Arc::new(config)),
            };
            tokio::spawn(async move { axum::serve(listener, app).await });
            (format!("https://localhost:{}/hooks", addr.port()), got)
        }
    }
}

/// A TLS listener for the tests' receivers (handshakes one at a time).
pub(crate) struct TestTlsListener {
    tcp: tokio::net::TcpListener,
    acceptor: tokio_rustls::TlsAcceptor,
}

impl axum::serve::Listener for TestTlsListener {
    type Io = tokio_rustls::server::TlsStream<tokio::net::TcpStream>;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        loop {
            let Ok((tcp, peer)) = self.tcp.accept().await else {
                continue;
            };
            if let Ok(stream) = self.acceptor.accept(tcp).await {
                return (stream, peer);
            }
        }
    }

    fn local_addr(&self) -> std::io::Result<Self::Addr> {
        self.tcp.local_addr()
    }
}

/// `name channel [user]` of each webhook event received.
pub(crate) fn webhook_names(got: &std::sync::Arc<std::sync::Mutex<Vec<Value>>>) -> Vec<String> {
    got.lock()
        .unwrap()
        .iter()
        .map(|e| {
            format!(
                "{} {} {}",
                e["name"].as_str().unwrap(),
                e["channel"].as_str().unwrap(),
                e["user_id"].as_str().unwrap_or("")
            )
            .trim()
            .to_string()
        })
        .collect()
}
