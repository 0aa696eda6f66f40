//! Server processes joined over a private redis-server: start one (ready
//! once it listens on the cluster channel), kill one with SIGKILL.

use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use event_core::broadcasting::RedisBroadcaster;
use serde_json::{Value, json};
use test_support::{PrivateRedis, spare_port};

use super::{eventually, http, signed};

/// A server process, killed when dropped.
pub(crate) struct Proc(pub Child);

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

impl Proc {
    /// SIGKILL: no goodbye to the cluster.
    pub(crate) fn sigkill(&mut self) {
        nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(self.0.id() as i32),
            nix::sys::signal::Signal::SIGKILL,
        )
        .expect("SIGKILL");
        let _ = self.0.wait();
    }
}

/// True when redis-server can be started; otherwise prints why the test
/// is skipped (and fails under `EVENTS_TEST_REQUIRE_BROWSER`, as CI sets).
pub(crate) fn redis_available() -> bool {
    if Command::new("redis-server")
        .arg("--version")
        .output()
        .is_ok()
    {
        return true;
    }
    if std::env::var_os("EVENTS_TEST_REQUIRE_BROWSER").is_some() {
        panic!("redis-server is not installed");
    }
    println!("skipped: redis-server is not installed");
    false
}

/// A redis-server of the test's own for its nodes to join (on a spare
/// port: `.port`); `None`, the test skipped, without redis-server.
pub(crate) fn cluster_redis() -> Option<PrivateRedis> {
    redis_available().then(PrivateRedis::start)
}

/// The app's `redis` broadcaster for `test-app` on `redis`.
pub(crate) async fn redis_broadcaster(redis: &PrivateRedis) -> RedisBroadcaster {
    RedisBroadcaster::connect(&redis.url(), "test-app")
        .await
        .expect("the redis broadcaster connects")
}

pub(crate) async fn node(redis_port: u16) -> (Proc, SocketAddr) {
    node_with(redis_port, &[]).await
}

/// How many connections listen on the app's cluster channel.
async fn listeners(redis_port: u16) -> usize {
    let Ok(client) = redis::Client::open(format!("redis://127.0.0.1:{redis_port}")) else {
        return 0;
    };
    let Ok(mut conn) = client.get_multiplexed_async_connection().await else {
        return 0;
    };
    let bus = event_broadcast::cluster::pubsub_channel("test-app");
    let counts: Vec<(String, usize)> = redis::cmd("PUBSUB")
        .arg("NUMSUB")
        .arg(&bus)
        .query_async(&mut conn)
        .await
        .unwrap_or_default();
    counts.first().map_or(0, |(_, n)| *n)
}

/// Starts a node; returns once it answers `/up` and listens on the
/// cluster channel (one more listener than before it started).
pub(crate) async fn node_with(redis_port: u16, env: &[(&str, &str)]) -> (Proc, SocketAddr) {
    let before = listeners(redis_port).await;
    let port = spare_port();
    let child = Command::new(env!("CARGO_BIN_EXE_event-broadcast-server"))
        .envs(env.iter().copied())
        .args(["--host", "127.0.0.1", "--port", &port.to_string()])
        .env("EVENTS_BROADCAST_APP_ID", "test-app")
        .env("EVENTS_BROADCAST_APP_KEY", "test-key")
        .env("EVENTS_BROADCAST_APP_SECRET", "test-secret")
        .env(
            "EVENTS_BROADCAST_REDIS_URL",
            format!("redis://127.0.0.1:{redis_port}"),
        )
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .spawn()
        .expect("the server binary starts");
    let proc = Proc(child);
    let addr: SocketAddr = ([127, 0, 0, 1], port).into();
    let up = eventually(Duration::from_secs(10), async || {
        tokio::net::TcpStream::connect(addr).await.is_ok()
            && http(addr, "GET", "/up", None).await.0 == 200
    })
    .await;
    assert!(up, "node on {addr} answers /up");
    let joined = eventually(Duration::from_secs(10), async || {
        listeners(redis_port).await > before
    })
    .await;
    assert!(joined, "node on {addr} listens on the cluster channel");
    (proc, addr)
}

/// A signed `GET` of the HTTP API, as JSON (`Null` when it is not JSON).
pub(crate) async fn get_json(addr: SocketAddr, path: &str, query: &[(&str, &str)]) -> Value {
    let (_, body) = signed(addr, "GET", path, query, None).await;
    serde_json::from_str(&body).unwrap_or(Value::Null)
}

/// `GET /apps/test-app/channels/{channel}/users`.
pub(crate) async fn users(addr: SocketAddr, channel: &str) -> Value {
    get_json(
        addr,
        &format!("/apps/test-app/channels/{channel}/users"),
        &[],
    )
    .await
}

/// `{"users": [{"id": ...}]}` of these ids.
pub(crate) fn user_list(ids: &[&str]) -> Value {
    json!({ "users": ids.iter().map(|id| json!({ "id": id })).collect::<Vec<_>>() })
}

/// Polls every node until `check` holds on each, within `wait`.
pub(crate) async fn on_every(
    nodes: &[SocketAddr],
    wait: Duration,
    check: impl AsyncFn(SocketAddr) -> bool,
) -> bool {
    eventually(wait, async || {
        for addr in nodes {
            if !check(*addr).await {
                return false;
            }
        }
        true
    })
    .await
}
