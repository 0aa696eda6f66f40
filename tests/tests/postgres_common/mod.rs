//! What the postgres tests share: a schema per test, dropped after, and a
//! connection of the test's own (the private server to stop and start is
//! `test_support::PrivatePostgres`).

#![allow(dead_code)]

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

/// A fresh schema for one test; dropped when the test ends, passed or not.
pub struct Schema {
    pub base: String,
    pub name: String,
    /// The queue URL naming the schema.
    pub url: String,
}

impl Schema {
    pub fn new() -> Option<Self> {
        let base = base_url()?;
        let name = test_support::unique("test").replace('-', "_");
        let url = test_support::with_query(&base, "schema", &name);
        Some(Self { base, name, url })
    }

    pub fn table(&self, table: &str) -> String {
        format!("\"{}\".{table}", self.name)
    }
}

impl Drop for Schema {
    fn drop(&mut self) {
        let (base, name) = (self.base.clone(), self.name.clone());
        // Its own thread and runtime: this runs inside the test's runtime,
        // and also when the test panicked.
        let _ = std::thread::spawn(move || {
            let Ok(runtime) = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            else {
                return;
            };
            runtime.block_on(async {
                if let Ok((client, connection)) =
                    tokio_postgres::connect(&base, tokio_postgres::NoTls).await
                {
                    tokio::spawn(connection);
                    let _ = client
                        .batch_execute(&format!("DROP SCHEMA IF EXISTS \"{name}\" CASCADE"))
                        .await;
                }
            });
        })
        .join();
    }
}
