//! The store's section of the configuration.

use event_kernel::config::{ConfigError, Vars, non_empty, parse_bool};

/// The `EVENTS_STORE_*` variables, with the seed's defaults.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoreConfig {
    /// `EVENTS_STORE_ENABLED` (default `true`).
    pub enabled: bool,
    /// `EVENTS_STORE_TABLE` (default `events`).
    pub table: String,
    /// `EVENTS_STORE_URL` (default `sqlite://events.db`): `sqlite://<path>`
    /// or `postgres://...`.
    pub url: String,
}

impl Default for StoreConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            table: "events".to_string(),
            url: "sqlite://events.db".to_string(),
        }
    }
}

impl From<&StoreConfig> for StoreConfig {
    fn from(config: &StoreConfig) -> Self {
        config.clone()
    }
}

impl StoreConfig {
    /// Reads the store's variables of the process environment and the
    /// app's `.env` (real variables win), then the defaults.
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_vars(&event_kernel::config::env_vars()?)
    }

    /// Reads the store's variables of `vars`; a bad value is an error
    /// naming its variable.
    pub fn from_vars(vars: &Vars) -> Result<Self, ConfigError> {
        let get = |var: &'static str| vars.get(var).cloned();
        let mut config = Self::default();
        if let Some(v) = get("EVENTS_STORE_ENABLED") {
            config.enabled = parse_bool("EVENTS_STORE_ENABLED", v)?;
        }
        if let Some(v) = get("EVENTS_STORE_TABLE") {
            config.table = non_empty("EVENTS_STORE_TABLE", v)?;
        }
        if let Some(v) = get("EVENTS_STORE_URL") {
            config.url = non_empty("EVENTS_STORE_URL", v)?;
        }
        Ok(config)
    }
}
