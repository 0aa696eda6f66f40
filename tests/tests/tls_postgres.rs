//! PostgreSQL over TLS: a private server (initdb, a spare loopback port)
//! with `ssl=on`, a certificate of a CA made in the test, and `pg_hba.conf`
//! refusing every TCP connection without TLS. The queue and the store run
//! a scenario with `sslmode=verify-full`; a certificate of another CA or
//! for another name is refused with an error that says so; `sslmode=disable`
//! is refused by the server (so the passing runs were encrypted).

mod queue_common;
mod store_common;

use event_core::queue::Queue;
use event_core::store::EventStore;
use test_support::{PrivatePostgres, TestCa};

/// Every cause of `error`, one per line.
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn queue_and_store_over_tls_and_wrong_certificates_refused() {
    let ca = TestCa::new("events postgres CA");
    let other = TestCa::new("another CA");
    // For `localhost` only: 127.0.0.1 is a name it is not for.
    let cert = ca.issue("postgres", &["localhost"]);
    let pg = PrivatePostgres::start_tls(&cert)
        .expect("PostgreSQL's server binaries (initdb) are needed: TLS is never skipped");
    pg.ready().await;
    let at = |host: &str, query: &str| {
        format!("postgres://postgres@{host}:{}/postgres?{query}", pg.port)
    };
    let ca_file = ca.ca_file().display().to_string();

    // verify-full: the queue runs jobs, the store records and reads.
    let url = at(
        "localhost",
        &format!("sslmode=verify-full&sslrootcert={ca_file}"),
    );
    let queue = Queue::open(&url)
        .await
        .expect("the queue connects over TLS");
    queue_common::runs_every_job_once(queue).await;
    store_common::append_and_query_filters(&url).await;

    // require: encrypted, the certificate not checked (libpq's meaning).
    let queue = Queue::open(&at("127.0.0.1", "sslmode=require"))
        .await
        .expect("sslmode=require connects");
    drop(queue);

    // verify-ca: the chain, not the name.
    EventStore::open(
        &at(
            "127.0.0.1",
            &format!("sslmode=verify-ca&sslrootcert={ca_file}"),
        ),
        "tls_events",
    )
    .await
    .expect("verify-ca does not check the name")
    .shutdown()
    .await
    .expect("shutdown");

    // verify-full against another name: refused, and says so.
    let err = Queue::open(&at(
        "127.0.0.1",
        &format!("sslmode=verify-full&sslrootcert={ca_file}"),
    ))
    .await
    .expect_err("a certificate for another name is refused");
    let text = chain(&err);
    assert!(text.contains("not valid for name"), "{text}");

    // A CA the server's certificate is not from: refused, and says so.
    let other_url = at(
        "localhost",
        &format!(
            "sslmode=verify-full&sslrootcert={}",
            other.ca_file().display()
        ),
    );
    let err = Queue::open(&other_url)
        .await
        .expect_err("a certificate of an unknown CA is refused");
    let text = chain(&err);
    assert!(
        text.contains("invalid peer certificate: UnknownIssuer"),
        "{text}"
    );
    let err = EventStore::open(&other_url, "tls_events")
        .await
        .expect_err("the store refuses it too");
    let text = chain(&err);
    assert!(
        text.contains("invalid peer certificate: UnknownIssuer"),
        "{text}"
    );

    // Without TLS the server says no: what passed above was encrypted.
    let err = Queue::open(&at("localhost", "sslmode=disable"))
        .await
        .expect_err("a plain connection is refused by pg_hba.conf");
    let text = chain(&err);
    assert!(text.contains("no encryption"), "{text}");

    // What libpq has and we do not is refused by name, not ignored.
    let err = Queue::open(&at("localhost", "sslmode=allow"))
        .await
        .expect_err("sslmode=allow is refused");
    assert!(chain(&err).contains("sslmode"), "{}", chain(&err));
    let err = Queue::open(&at(
        "localhost",
        "sslmode=verify-full&sslrootcert=/nonexistent/ca.pem",
    ))
    .await
    .expect_err("an unreadable sslrootcert is refused");
    let text = chain(&err);
    assert!(
        text.contains("sslrootcert: cannot read `/nonexistent/ca.pem`"),
        "{text}"
    );
}
