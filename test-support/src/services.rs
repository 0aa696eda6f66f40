//! The services a test talks to, from the environment `.ci/run` sets.

/// `EVENTS_TEST_REDIS_URL`, or `None` after printing the line that says
/// the test is skipped.
pub fn redis_url() -> Option<String> {
    from_env("EVENTS_TEST_REDIS_URL")
}

/// `EVENTS_TEST_POSTGRES_URL`, or `None` after printing the line that says
/// the test is skipped.
pub fn postgres_url() -> Option<String> {
    from_env("EVENTS_TEST_POSTGRES_URL")
}

fn from_env(var: &str) -> Option<String> {
    match std::env::var(var) {
        Ok(url) if !url.trim().is_empty() => Some(url),
        _ => {
            println!("skipped: set {var}");
            None
        }
    }
}

/// `url` with `key=value` added to its query (`?prefix=..`, `&schema=..`).
pub fn with_query(url: &str, key: &str, value: &str) -> String {
    let sep = if url.contains('?') { '&' } else { '?' };
    format!("{url}{sep}{key}={value}")
}

/// A name no other test (or earlier run) uses: `{tag}-{ulid}`, lower case.
pub fn unique(tag: &str) -> String {
    format!("{tag}-{}", ulid::Ulid::new().to_string().to_lowercase())
}

/// A loopback port nothing listens on right now.
pub fn spare_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a spare loopback port")
        .port()
}

#[cfg(test)]
mod tests {
    use super::with_query;

    #[test]
    fn adds_to_the_query() {
        assert_eq!(
            with_query("redis://h:6379", "prefix", "a"),
            "redis://h:6379?prefix=a"
        );
        assert_eq!(
            with_query("postgres://h/db?sslmode=disable", "schema", "s"),
            "postgres://h/db?sslmode=disable&schema=s"
        );
    }
}
