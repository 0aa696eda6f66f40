//! The `redis` queue over `rediss://`: a private redis-server speaking TLS
//! only (`--tls-port`, a certificate of a CA made in the test) on a spare
//! loopback port. The CA is trusted the way the system roots are read
//! (`SSL_CERT_FILE`, as rustls-native-certs reads it); a server whose
//! certificate is not from a trusted CA is refused with an error that says
//! so, and plain `redis://` gets nowhere on the TLS port.
//!
//! One test in its own binary: it sets SSL_CERT_FILE while no runtime of
//! its own is running (each phase has its own runtime, dropped before the
//! variable changes).

mod queue_common;

use event_core::queue::Queue;
use test_support::{PrivateRedis, TestCa};

fn chain(error: &dyn std::error::Error) -> String {
    let mut out = error.to_string();
    let mut cause = error.source();
    while let Some(e) = cause {
        out.push_str("\n  caused by: ");
        out.push_str(&e.to_string());
        cause = e.source();
    }
    out
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("a runtime")
}

fn trust(ca: &std::path::Path) {
    // SAFETY: no other thread of this test binary runs: each phase's
    // runtime is dropped (its threads joined) before this is called, and
    // the binary holds this one test.
    unsafe { std::env::set_var("SSL_CERT_FILE", ca) };
}

#[test]
fn the_queue_over_rediss_and_a_wrong_certificate_refused() {
    let ca = TestCa::new("events redis CA");
    let other = TestCa::new("another CA");
    let cert = ca.issue("redis", &["localhost"]);
    let redis = PrivateRedis::start_tls(&cert, ca.ca_file());
    let url = redis.tls_url();

    trust(other.ca_file());
    runtime().block_on(async {
        let err = Queue::open(&url)
            .await
            .expect_err("a certificate of an untrusted CA is refused");
        let text = chain(&err);
        assert!(
            text.contains("invalid peer certificate: UnknownIssuer"),
            "{text}"
        );
        let plain = format!("redis://localhost:{}", redis.port);
        assert!(
            Queue::open(&plain).await.is_err(),
            "plain redis:// is not served on the TLS port"
        );
    });

    trust(ca.ca_file());
    runtime().block_on(async {
        let queue = Queue::open(&url)
            .await
            .expect("the queue connects over rediss://");
        queue_common::runs_every_job_once(queue).await;
    });
}
