//! The queue's section of the configuration: which connection, where, and
//! the defaults a job gets when its listener says nothing.

use chrono::Duration;
use event_kernel::config::{ConfigError, Vars, invalid, non_empty, optional, parse_num};

/// The connections `EVENTS_QUEUE_CONNECTION` accepts.
pub(crate) const CONNECTIONS: [&str; 5] = ["sync", "memory", "sqlite", "redis", "postgres"];

/// The `EVENTS_QUEUE_*`, `EVENTS_DEFAULT_QUEUE` and `EVENTS_RETRY_*`
/// variables, with the seed's defaults.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueueConfig {
    /// `EVENTS_QUEUE_CONNECTION` (default `sync`): `sync`, `memory`,
    /// `sqlite`, `redis` or `postgres`.
    pub connection: String,
    /// `EVENTS_QUEUE_URL`: where the `sqlite`, `redis` or `postgres`
    /// connection lives (empty: unset).
    pub url: Option<String>,
    /// `EVENTS_DEFAULT_QUEUE` (default `events`): the queue jobs go to when
    /// neither the listener nor the event names one.
    pub default_queue: String,
    /// `EVENTS_RETRY_ATTEMPTS` (default 3): tries when a listener sets
    /// none; 0 means no limit.
    pub retry_attempts: u32,
    /// `EVENTS_RETRY_DELAY_SECONDS` (default 60): the delay before a retry
    /// when a listener sets no backoff.
    pub retry_delay_seconds: u64,
}

impl Default for QueueConfig {
    fn default() -> Self {
        Self {
            connection: "sync".to_string(),
            url: None,
            default_queue: "events".to_string(),
            retry_attempts: 3,
            retry_delay_seconds: 60,
        }
    }
}

impl From<&QueueConfig> for QueueConfig {
    fn from(config: &QueueConfig) -> Self {
        config.clone()
    }
}

impl QueueConfig {
    /// Reads the queue's variables of the process environment and the
    /// app's `.env` (real variables win), then the defaults.
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_vars(&event_kernel::config::env_vars()?)
    }

    /// Reads the queue's variables of `vars`; a bad value is an error
    /// naming its variable.
    pub fn from_vars(vars: &Vars) -> Result<Self, ConfigError> {
        let get = |var: &'static str| vars.get(var).cloned();
        let mut config = Self::default();
        if let Some(v) = get("EVENTS_DEFAULT_QUEUE") {
            config.default_queue = non_empty("EVENTS_DEFAULT_QUEUE", v)?;
        }
        if let Some(v) = get("EVENTS_RETRY_ATTEMPTS") {
            config.retry_attempts = parse_num("EVENTS_RETRY_ATTEMPTS", v)?;
        }
        if let Some(v) = get("EVENTS_RETRY_DELAY_SECONDS") {
            config.retry_delay_seconds = parse_num("EVENTS_RETRY_DELAY_SECONDS", v)?;
        }
        if let Some(v) = get("EVENTS_QUEUE_CONNECTION") {
            let v = v.trim().to_ascii_lowercase();
            if !CONNECTIONS.contains(&v.as_str()) {
                return Err(invalid(
                    "EVENTS_QUEUE_CONNECTION",
                    &v,
                    "expected one of sync, memory, sqlite, redis, postgres",
                ));
            }
            config.connection = v;
        }
        if let Some(v) = get("EVENTS_QUEUE_URL") {
            config.url = optional(v);
        }
        Ok(config)
    }

    /// `EVENTS_RETRY_DELAY_SECONDS` as a duration.
    pub fn retry_delay(&self) -> Duration {
        Duration::seconds(
            i64::try_from(self.retry_delay_seconds.min(u64::from(u32::MAX))).unwrap_or(0),
        )
    }
}
