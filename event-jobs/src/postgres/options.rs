//! The settings of the `postgres` connection, read from its URL.

use crate::QueueError;

/// Settings of the postgres connection, beside what the driver reads
/// (host, port, user, database, `connect_timeout`, `application_name`, ...).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PostgresOptions {
    /// The schema the tables live in (`?schema=`; default `public`), so
    /// several apps share one database. Created if missing.
    pub schema: String,
    /// Connections the connection pool opens at most (`?pool_size=`; default 8).
    pub pool_size: usize,
}

impl Default for PostgresOptions {
    fn default() -> Self {
        Self {
            schema: "public".to_string(),
            pool_size: 8,
        }
    }
}

/// Our own query parameters; the rest of the URL goes to the driver.
const OURS: [&str; 2] = ["schema", "pool_size"];

impl PostgresOptions {
    /// Reads `schema` and `pool_size` from the URL's query.
    pub fn from_url(url: &str) -> Result<Self, QueueError> {
        let mut options = Self::default();
        let invalid = |reason: String| QueueError::InvalidUrl {
            url: crate::redact(url),
            reason,
        };
        let Some((_, query)) = url.split_once('?') else {
            return Ok(options);
        };
        for pair in query.split('&') {
            match pair.split_once('=') {
                Some(("schema", v)) => {
                    check_schema(v).map_err(invalid)?;
                    options.schema = v.to_string();
                }
                Some(("pool_size", v)) => {
                    options.pool_size = v.parse().ok().filter(|n| *n > 0).ok_or_else(|| {
                        invalid(format!("pool_size `{v}` is not a whole number above 0"))
                    })?;
                }
                _ => {}
            }
        }
        Ok(options)
    }
}

/// A schema name we can quote and use in a channel name: letters, digits
/// and `_`, not starting with a digit, at most 48 characters.
fn check_schema(name: &str) -> Result<(), String> {
    let ok = !name.is_empty()
        && name.len() <= 48
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
        && !name.starts_with(|c: char| c.is_ascii_digit());
    if ok {
        Ok(())
    } else {
        Err(format!(
            "schema `{name}` must be 1 to 48 letters, digits or `_`, not starting with a digit"
        ))
    }
}

/// The driver's settings and the TLS connector its `sslmode` asks for.
#[derive(Clone)]
pub(super) struct DriverConfig {
    pub(super) settings: tokio_postgres::Config,
    pub(super) tls: event_tls::postgres::MakeRustlsConnect,
}

impl std::fmt::Debug for DriverConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DriverConfig")
            .field("settings", &self.settings)
            .finish_non_exhaustive()
    }
}

/// The driver's settings: the URL without our own query parameters, with a
/// connect timeout unless the URL sets one (a host that does not answer is
/// an error, not a hang); `sslmode` / `sslrootcert` as libpq reads them.
pub(super) fn driver_config(url: &str) -> Result<DriverConfig, QueueError> {
    let (base, query) = url.split_once('?').unwrap_or((url, ""));
    let rest: Vec<&str> = query
        .split('&')
        .filter(|p| !p.is_empty() && !OURS.iter().any(|o| p.split('=').next() == Some(o)))
        .collect();
    let driver_url = if rest.is_empty() {
        base.to_string()
    } else {
        format!("{base}?{}", rest.join("&"))
    };
    let (mut config, tls) =
        event_tls::postgres::config(&driver_url).map_err(|e| QueueError::InvalidUrl {
            url: crate::redact(url),
            reason: event_tls::postgres::reason(&e),
        })?;
    if config.get_connect_timeout().is_none() {
        config.connect_timeout(std::time::Duration::from_secs(5));
    }
    if config.get_application_name().is_none() {
        config.application_name("event-core queue");
    }
    Ok(DriverConfig {
        settings: config,
        tls,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_schema_and_pool_size() {
        let o = PostgresOptions::from_url("postgres://u@h/db?schema=app_1&pool_size=3").unwrap();
        assert_eq!(o.schema, "app_1");
        assert_eq!(o.pool_size, 3);
        assert_eq!(
            PostgresOptions::from_url("postgres://u@h/db").unwrap(),
            PostgresOptions::default()
        );
    }

    #[test]
    fn refuses_bad_values_naming_them() {
        for (url, needle) in [
            ("postgres://h/db?schema=a-b", "schema `a-b`"),
            ("postgres://h/db?schema=1a", "schema `1a`"),
            ("postgres://h/db?schema=", "schema ``"),
            ("postgres://h/db?pool_size=0", "pool_size `0`"),
            ("postgres://h/db?pool_size=x", "pool_size `x`"),
        ] {
            let e = PostgresOptions::from_url(url).unwrap_err().to_string();
            assert!(e.contains(needle), "{url}: {e}");
        }
    }

    #[test]
    fn the_driver_sees_its_own_parameters_only() {
        let c = driver_config(
            "postgres://app@127.0.0.1:5433/jobs?schema=x&application_name=shop&pool_size=2&sslmode=verify-full",
        )
        .unwrap()
        .settings;
        assert_eq!(c.get_dbname(), Some("jobs"));
        assert_eq!(c.get_user(), Some("app"));
        assert_eq!(c.get_application_name(), Some("shop"));
        assert!(c.get_connect_timeout().is_some());
        assert_eq!(c.get_ssl_mode(), tokio_postgres::config::SslMode::Require);
        let e = driver_config("postgres://h/db?bogus=1")
            .unwrap_err()
            .to_string();
        assert!(e.contains("postgres://h/db?bogus=1"), "{e}");
    }
}
