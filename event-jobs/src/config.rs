//! The queue's section of the configuration: which connection, where, and
//! the defaults a job gets when its listener says nothing.

use chrono::Duration;
use event_kernel::config::{
    ConfigError, Vars, invalid, non_empty, optional, parse_bool, parse_num,
};

use crate::AppKeys;
use crate::monitor::{AlertRules, Threshold};

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
    /// `EVENTS_QUEUE_WAIT_ALERT_SECONDS`, `EVENTS_QUEUE_FAILURE_ALERT_PER_MINUTE`,
    /// `EVENTS_QUEUE_STALLED_ALERT`: when a worker dispatches the queue's
    /// alert events (all off by default).
    pub alerts: AlertRules,
    /// `EVENTS_APP_KEY` and `EVENTS_APP_PREVIOUS_KEYS`: the keys `encrypted`
    /// listeners' jobs are sealed and opened with (none by default).
    pub app_keys: AppKeys,
}

impl Default for QueueConfig {
    fn default() -> Self {
        Self {
            connection: "sync".to_string(),
            url: None,
            default_queue: "events".to_string(),
            retry_attempts: 3,
            retry_delay_seconds: 60,
            alerts: AlertRules::default(),
            app_keys: AppKeys::none(),
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
        let mut config = Self {
            app_keys: AppKeys::from_vars(vars)?,
            ..Self::default()
        };
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
        let threshold = |var: &'static str, v: String| {
            Threshold::parse(&v)
                .map_err(|why| invalid(var, &v, &format!("{why}; write e.g. 60 or 60,emails=300")))
        };
        if let Some(v) = get("EVENTS_QUEUE_WAIT_ALERT_SECONDS") {
            config.alerts.wait_seconds = threshold("EVENTS_QUEUE_WAIT_ALERT_SECONDS", v)?;
        }
        if let Some(v) = get("EVENTS_QUEUE_FAILURE_ALERT_PER_MINUTE") {
            config.alerts.failures_per_minute =
                threshold("EVENTS_QUEUE_FAILURE_ALERT_PER_MINUTE", v)?;
        }
        if let Some(v) = get("EVENTS_QUEUE_STALLED_ALERT") {
            config.alerts.stalled_workers = parse_bool("EVENTS_QUEUE_STALLED_ALERT", v)?;
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

#[cfg(test)]
mod tests {
    use super::*;

    fn read(pairs: &[(&str, &str)]) -> Result<QueueConfig, ConfigError> {
        let vars: Vars = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        QueueConfig::from_vars(&vars)
    }

    #[test]
    fn alert_variables_take_effect_and_a_bad_one_is_named() {
        let config = read(&[
            ("EVENTS_QUEUE_WAIT_ALERT_SECONDS", "60,emails=300"),
            ("EVENTS_QUEUE_FAILURE_ALERT_PER_MINUTE", "5"),
            ("EVENTS_QUEUE_STALLED_ALERT", "true"),
        ])
        .expect("config");
        assert_eq!(config.alerts.wait_seconds.of("emails"), Some(300));
        assert_eq!(config.alerts.wait_seconds.of("orders"), Some(60));
        assert_eq!(config.alerts.failures_per_minute.of("orders"), Some(5));
        assert!(config.alerts.stalled_workers);
        assert!(!QueueConfig::default().alerts.is_on(), "off by default");
        let error = read(&[("EVENTS_QUEUE_WAIT_ALERT_SECONDS", "soon")]).unwrap_err();
        assert!(
            error
                .to_string()
                .contains("EVENTS_QUEUE_WAIT_ALERT_SECONDS"),
            "{error}"
        );
    }
}
