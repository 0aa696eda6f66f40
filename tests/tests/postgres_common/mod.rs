//! What the postgres tests share: a connection of the test's own; the
//! schema per test and the private server are test-support's.

#![allow(dead_code, unused_imports)]

use event_core::queue::postgres::tokio_postgres;

pub use test_support::postgres_url as base_url;

/// A connection of the test's own, for looking at and tampering with tables.
pub async fn sql(url: &str) -> tokio_postgres::Client {
    let (client, connection) = tokio_postgres::connect(url, tokio_postgres::NoTls)
        .await
        .expect("connect to the test PostgreSQL");
    tokio::spawn(connection);
    client
}

pub use test_support::Schema;
