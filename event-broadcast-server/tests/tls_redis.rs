//! Broadcasting over `rediss://`: two server processes joined over a
//! private redis-server speaking TLS only (`--tls-port`, a certificate of a
//! CA made in the test), and the app's `redis` broadcaster publishing onto
//! it. Everyone trusts the CA as they read the system roots
//! (`SSL_CERT_FILE`); trusting another CA, the broadcaster is refused with
//! an error that says so.
//!
//! One test in its own binary: it sets SSL_CERT_FILE for itself while no
//! runtime of its own runs (each phase has its own, dropped before).

mod common;

use std::net::SocketAddr;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use common::*;
use event_core::broadcasting::{BroadcastMessage, Broadcaster, RedisBroadcaster};
use serde_json::json;
use test_support::{PrivateRedis, TestCa, spare_port};

struct Proc(Child);

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

async fn node(redis_url: &str, ca: &Path) -> (Proc, SocketAddr) {
    let port = spare_port();
    let child = Command::new(env!("CARGO_BIN_EXE_event-broadcast-server"))
        .args(["--host", "127.0.0.1", "--port", &port.to_string()])
        .env("EVENTS_BROADCAST_APP_ID", "test-app")
        .env("EVENTS_BROADCAST_APP_KEY", "test-key")
        .env("EVENTS_BROADCAST_APP_SECRET", "test-secret")
        .env("EVENTS_BROADCAST_REDIS_URL", redis_url)
        .env("SSL_CERT_FILE", ca)
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
    (proc, addr)
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("a runtime")
}

fn trust(ca: &Path) {
    // SAFETY: no other thread of this test binary runs: each phase's
    // runtime is dropped (its threads joined) before this is called, and
    // the binary holds this one test.
    unsafe { std::env::set_var("SSL_CERT_FILE", ca) };
}

fn chain(error: &anyhow::Error) -> String {
    format!("{error:#}")
}

#[test]
fn the_cluster_and_the_redis_broadcaster_over_rediss() {
    let ca = TestCa::new("events redis CA");
    let other = TestCa::new("another CA");
    let redis = PrivateRedis::start_tls(&ca.issue("redis", &["localhost"]), ca.ca_file());
    let url = redis.tls_url();

    trust(other.ca_file());
    runtime().block_on(async {
        let err = RedisBroadcaster::connect(&url, "test-app")
            .await
            .expect_err("a certificate of an untrusted CA is refused");
        let text = chain(&err);
        assert!(
            text.contains("invalid peer certificate: UnknownIssuer"),
            "{text}"
        );
    });

    trust(ca.ca_file());
    runtime().block_on(async {
        let (_n1, a1) = node(&url, ca.ca_file()).await;
        let (_n2, a2) = node(&url, ca.ca_file()).await;
        let mut on2 = connect(a2).await;
        subscribed(&mut on2, "private-orders.1", None).await;
        // Node 1 publishes; node 2's socket gets it through rediss://.
        let crossed = eventually(Duration::from_secs(10), async || {
            publish(a1, "private-orders.1", "from-node-1", &json!({})).await;
            next_json_within(&mut on2.ws, Duration::from_millis(300))
                .await
                .is_some_and(|v| v["event"] == "from-node-1")
        })
        .await;
        assert!(crossed, "an event crosses the nodes over rediss://");

        let broadcaster = RedisBroadcaster::connect(&url, "test-app")
            .await
            .expect("the broadcaster connects over rediss://");
        broadcaster
            .broadcast(&BroadcastMessage {
                channels: vec!["private-orders.1".into()],
                event: "OrderShipped".into(),
                data: json!({ "order_id": 1 }),
                socket_id: None,
            })
            .await
            .expect("published");
        let got = loop {
            let v = next_json(&mut on2.ws).await.expect("the broadcast arrives");
            if v["event"] == "OrderShipped" {
                break v;
            }
        };
        assert_eq!(got["channel"], "private-orders.1");
    });
}
