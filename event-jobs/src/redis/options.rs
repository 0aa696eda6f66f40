//! The settings of the `redis` connection, read from its URL, and the URL
//! the redis client is given (without our own query parameters).

use crate::QueueError;

/// Settings of the redis connection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RedisOptions {
    /// Namespaces every key (`?prefix=` in the URL; default `events`).
    pub prefix: String,
    /// The failed store keeps the newest this many jobs (`?failed_cap=`; default 10,000).
    pub failed_cap: usize,
}

impl Default for RedisOptions {
    fn default() -> Self {
        Self {
            prefix: "events".to_string(),
            failed_cap: 10_000,
        }
    }
}

impl RedisOptions {
    /// Reads `prefix` and `failed_cap` from the URL's query.
    pub fn from_url(url: &str) -> Result<Self, QueueError> {
        let mut options = Self::default();
        let Some((_, query)) = url.split_once('?') else {
            return Ok(options);
        };
        for pair in query.split('&') {
            match pair.split_once('=') {
                Some(("prefix", v)) if !v.is_empty() => options.prefix = v.to_string(),
                Some(("failed_cap", v)) => {
                    options.failed_cap = v.parse().map_err(|_| QueueError::InvalidUrl {
                        url: crate::redact(url),
                        reason: format!("failed_cap `{v}` is not a whole number"),
                    })?
                }
                _ => {}
            }
        }
        Ok(options)
    }
}

/// The URL without our own query parameters (what the redis client sees).
pub(super) fn client_url(url: &str) -> String {
    let Some((base, query)) = url.split_once('?') else {
        return url.to_string();
    };
    let rest: Vec<&str> = query
        .split('&')
        .filter(|p| !p.starts_with("prefix=") && !p.starts_with("failed_cap=") && !p.is_empty())
        .collect();
    if rest.is_empty() {
        base.to_string()
    } else {
        format!("{base}?{}", rest.join("&"))
    }
}
