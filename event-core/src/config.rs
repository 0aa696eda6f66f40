//! Configuration from the environment (and a `.env` file when present).

use std::collections::HashMap;
use std::str::FromStr;

/// A configuration value that could not be used.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ConfigError {
    #[error("invalid value `{value}` for {var}: {reason}")]
    Invalid {
        var: &'static str,
        value: String,
        reason: String,
    },
    #[error("could not read {path}: {reason}")]
    DotEnv { path: String, reason: String },
}

/// The event system's settings, with the seed's defaults.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventsConfig {
    /// `EVENTS_DEFAULT_QUEUE` (default `events`): the queue jobs go to when
    /// neither the listener nor the event names one.
    pub default_queue: String,
    /// `EVENTS_STORE_ENABLED` (default `true`).
    pub store_enabled: bool,
    /// `EVENTS_STORE_TABLE` (default `events`).
    pub store_table: String,
    /// `EVENTS_STORE_URL` (default `sqlite://events.db`): where the event
    /// store lives, `sqlite://<path>` or `postgres://...`.
    pub store_url: String,
    /// `EVENTS_RETRY_ATTEMPTS` (default 3): tries when a listener sets none;
    /// 0 means no limit, as `tries` 0 everywhere.
    pub retry_attempts: u32,
    /// `EVENTS_RETRY_DELAY_SECONDS` (default 60): backoff when a listener sets none.
    pub retry_delay_seconds: u64,
    /// `EVENTS_QUEUE_CONNECTION` (default `sync`): `sync`, `memory`, `sqlite`, `redis` or `postgres`.
    pub queue_connection: String,
    /// `EVENTS_QUEUE_URL`: where the `sqlite`, `redis` or `postgres` connection lives.
    pub queue_url: Option<String>,
    /// The `EVENTS_BROADCAST_*` variables: which broadcaster, and the server's settings.
    pub broadcast: crate::broadcasting::BroadcastConfig,
}

impl Default for EventsConfig {
    fn default() -> Self {
        Self {
            default_queue: "events".to_string(),
            store_enabled: true,
            store_table: "events".to_string(),
            store_url: "sqlite://events.db".to_string(),
            retry_attempts: 3,
            retry_delay_seconds: 60,
            queue_connection: "sync".to_string(),
            queue_url: None,
            broadcast: Default::default(),
        }
    }
}

const CONNECTIONS: [&str; 5] = ["sync", "memory", "sqlite", "redis", "postgres"];

impl EventsConfig {
    /// Reads the process environment, falling back to `.env` in the current
    /// directory (real variables win), then to the defaults. The process
    /// environment is not modified.
    pub fn from_env() -> Result<Self, ConfigError> {
        let mut vars: HashMap<String, String> = HashMap::new();
        match dotenvy::dotenv_iter() {
            Ok(iter) => {
                for item in iter {
                    let (key, value) = item.map_err(|e| ConfigError::DotEnv {
                        path: ".env".to_string(),
                        reason: e.to_string(),
                    })?;
                    vars.insert(key, value);
                }
            }
            Err(e) if e.not_found() => {}
            Err(e) => {
                return Err(ConfigError::DotEnv {
                    path: ".env".to_string(),
                    reason: e.to_string(),
                });
            }
        }
        vars.extend(std::env::vars());
        Self::from_vars(vars)
    }

    /// Builds the configuration from explicit variables (for tests and apps
    /// with their own config source).
    pub fn from_vars<K, V>(vars: impl IntoIterator<Item = (K, V)>) -> Result<Self, ConfigError>
    where
        K: AsRef<str>,
        V: Into<String>,
    {
        let vars: HashMap<String, String> = vars
            .into_iter()
            .filter(|(k, _)| k.as_ref().starts_with("EVENTS_"))
            .map(|(k, v)| (k.as_ref().to_string(), v.into()))
            .collect();
        let get = |var: &'static str| vars.get(var).cloned();
        let mut config = Self::default();
        if let Some(v) = get("EVENTS_DEFAULT_QUEUE") {
            config.default_queue = non_empty("EVENTS_DEFAULT_QUEUE", v)?;
        }
        if let Some(v) = get("EVENTS_STORE_ENABLED") {
            config.store_enabled = parse_bool("EVENTS_STORE_ENABLED", v)?;
        }
        if let Some(v) = get("EVENTS_STORE_TABLE") {
            config.store_table = non_empty("EVENTS_STORE_TABLE", v)?;
        }
        if let Some(v) = get("EVENTS_STORE_URL") {
            config.store_url = non_empty("EVENTS_STORE_URL", v)?;
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
            config.queue_connection = v;
        }
        if let Some(v) = get("EVENTS_QUEUE_URL") {
            config.queue_url = Some(non_empty("EVENTS_QUEUE_URL", v)?);
        }
        config.broadcast = crate::broadcasting::BroadcastConfig::from_vars(&vars)?;
        Ok(config)
    }
}

pub(crate) fn invalid(var: &'static str, value: &str, reason: &str) -> ConfigError {
    ConfigError::Invalid {
        var,
        value: value.to_string(),
        reason: reason.to_string(),
    }
}

pub(crate) fn non_empty(var: &'static str, value: String) -> Result<String, ConfigError> {
    let trimmed = value.trim();
    if trimmed.is_empty() {
        Err(invalid(var, &value, "must not be empty"))
    } else {
        Ok(trimmed.to_string())
    }
}

pub(crate) fn parse_bool(var: &'static str, value: String) -> Result<bool, ConfigError> {
    match value.trim().to_ascii_lowercase().as_str() {
        "true" | "1" | "yes" | "on" => Ok(true),
        "false" | "0" | "no" | "off" => Ok(false),
        _ => Err(invalid(var, &value, "expected true or false")),
    }
}

pub(crate) fn parse_num<T: FromStr>(var: &'static str, value: String) -> Result<T, ConfigError>
where
    T::Err: std::fmt::Display,
{
    value
        .trim()
        .parse()
        .map_err(|e: T::Err| invalid(var, &value, &format!("expected a whole number ({e})")))
}
