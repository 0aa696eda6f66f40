//! A PostgreSQL schema of one test's own.

/// A fresh schema on the test server (`EVENTS_TEST_POSTGRES_URL`), dropped
/// when the test ends, passed or not.
pub struct Schema {
    /// The server's URL.
    pub base: String,
    pub name: String,
    /// `base` naming the schema (`?schema=...`): what a queue or store opens.
    pub url: String,
}

impl Schema {
    /// `None`, with the "skipped" line, when the test server is not set.
    pub fn new() -> Option<Self> {
        Self::tagged("test")
    }

    /// A schema whose name starts with `tag` (letters, digits, `_`).
    pub fn tagged(tag: &str) -> Option<Self> {
        let base = crate::postgres_url()?;
        let name = crate::unique(tag).replace('-', "_");
        let url = crate::with_query(&base, "schema", &name);
        Some(Self { base, name, url })
    }

    /// `"<schema>".<table>`, for the test's own SQL.
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
