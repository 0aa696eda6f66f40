//! Configuration from the environment (and a `.env` file when present):
//! the seed's `EventsConfig`, made of each layer's own section.

mod variables;

use std::path::{Path, PathBuf};

use event_kernel::config::{Vars, env_vars_from, find_dotenv};

pub use variables::{Variable, env_example, variables};

pub use event_broadcast::BroadcastConfig;
pub use event_history::StoreConfig;
pub use event_jobs::QueueConfig;
pub use event_kernel::config::ConfigError;

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
    /// `EVENTS_QUEUE_WAIT_ALERT_SECONDS`, `EVENTS_QUEUE_FAILURE_ALERT_PER_MINUTE`,
    /// `EVENTS_QUEUE_STALLED_ALERT`: when workers dispatch the queue's alert
    /// events (all off by default).
    pub queue_alerts: event_jobs::monitor::AlertRules,
    /// `EVENTS_APP_KEY` and `EVENTS_APP_PREVIOUS_KEYS`: the keys `encrypted`
    /// listeners' jobs are sealed and opened with.
    pub app_keys: event_jobs::AppKeys,
    /// The `EVENTS_BROADCAST_*` variables: which broadcaster, and the server's settings.
    pub broadcast: BroadcastConfig,
    /// The `.env` file the settings were read from (`None`: none was found;
    /// the environment and the defaults only).
    pub env_file: Option<PathBuf>,
}

impl Default for EventsConfig {
    /// Each section's defaults.
    fn default() -> Self {
        Self::from_sections(
            QueueConfig::default(),
            StoreConfig::default(),
            BroadcastConfig::default(),
        )
    }
}

impl EventsConfig {
    /// Reads the process environment, falling back to the `.env` of the
    /// current directory or its nearest parent that has one (as cargo finds
    /// `Cargo.toml`; real variables win), then to the defaults. A relative
    /// `sqlite://` path is relative to that `.env`'s folder. The process
    /// environment is not modified.
    pub fn from_env() -> Result<Self, ConfigError> {
        let cwd = std::env::current_dir().ok();
        let dotenv = cwd.as_deref().and_then(find_dotenv);
        let base = dotenv
            .as_deref()
            .and_then(Path::parent)
            .map(Path::to_path_buf);
        Self::read_file(dotenv, base.as_deref())
    }

    /// The settings of the app whose package is `dir` (the generated
    /// `event_registry::config()` passes `env!("CARGO_MANIFEST_DIR")`): its
    /// `.env` and the environment, wherever the app is started from; a
    /// relative `sqlite://` path is relative to `dir`. When `dir` does not
    /// exist (a binary copied to another machine), [`EventsConfig::from_env`].
    pub fn for_package(dir: impl AsRef<Path>) -> Result<Self, ConfigError> {
        let dir = dir.as_ref();
        if !dir.is_dir() {
            return Self::from_env();
        }
        let dotenv = Some(dir.join(".env")).filter(|p| p.is_file());
        Self::read_file(dotenv, Some(dir))
    }

    fn read_file(dotenv: Option<PathBuf>, base: Option<&Path>) -> Result<Self, ConfigError> {
        let mut config = Self::read(&env_vars_from(dotenv.as_deref())?)?;
        if let Some(base) = base {
            config.queue_url = config.queue_url.map(|url| anchored(&url, base));
            config.store_url = anchored(&config.store_url, base);
        }
        config.env_file = dotenv;
        Ok(config)
    }

    /// Builds the configuration from explicit variables (for tests and apps
    /// with their own config source).
    pub fn from_vars<K, V>(vars: impl IntoIterator<Item = (K, V)>) -> Result<Self, ConfigError>
    where
        K: AsRef<str>,
        V: Into<String>,
    {
        let vars: Vars = vars
            .into_iter()
            .filter(|(k, _)| k.as_ref().starts_with("EVENTS_"))
            .map(|(k, v)| (k.as_ref().to_string(), v.into()))
            .collect();
        Self::read(&vars)
    }

    /// Reads the [`variables`] of `vars` (only those: the list is the
    /// reader's as much as `.env.example`'s).
    fn read(vars: &Vars) -> Result<Self, ConfigError> {
        let listed = variables();
        let vars: Vars = vars
            .iter()
            .filter(|(k, _)| listed.iter().any(|v| v.name == k.as_str()))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        let vars = &vars;
        Ok(Self::from_sections(
            QueueConfig::from_vars(vars)?,
            StoreConfig::from_vars(vars)?,
            BroadcastConfig::from_vars(vars)?,
        ))
    }

    fn from_sections(queue: QueueConfig, store: StoreConfig, broadcast: BroadcastConfig) -> Self {
        Self {
            default_queue: queue.default_queue,
            store_enabled: store.enabled,
            store_table: store.table,
            store_url: store.url,
            retry_attempts: queue.retry_attempts,
            retry_delay_seconds: queue.retry_delay_seconds,
            queue_connection: queue.connection,
            queue_url: queue.url,
            queue_alerts: queue.alerts,
            app_keys: queue.app_keys,
            broadcast,
            env_file: None,
        }
    }

    /// The queue's section (`event_core::queue::connect` takes it, or this).
    pub fn queue(&self) -> QueueConfig {
        QueueConfig {
            connection: self.queue_connection.clone(),
            url: self.queue_url.clone(),
            default_queue: self.default_queue.clone(),
            retry_attempts: self.retry_attempts,
            retry_delay_seconds: self.retry_delay_seconds,
            alerts: self.queue_alerts.clone(),
            app_keys: self.app_keys.clone(),
        }
    }

    /// The event store's section (`event_core::store::connect` takes it, or this).
    pub fn store(&self) -> StoreConfig {
        StoreConfig {
            enabled: self.store_enabled,
            table: self.store_table.clone(),
            url: self.store_url.clone(),
        }
    }
}

/// `sqlite://<relative path>` made relative to `base` (the app's package
/// folder); any other URL as it is.
pub fn anchored(url: &str, base: &Path) -> String {
    match url.strip_prefix("sqlite://") {
        Some(path) if !path.is_empty() && !path.starts_with('/') && !path.starts_with(':') => {
            format!("sqlite://{}", base.join(path).display())
        }
        _ => url.to_string(),
    }
}

impl From<&EventsConfig> for QueueConfig {
    fn from(config: &EventsConfig) -> Self {
        config.queue()
    }
}

impl From<&EventsConfig> for StoreConfig {
    fn from(config: &EventsConfig) -> Self {
        config.store()
    }
}

impl From<&EventsConfig> for BroadcastConfig {
    fn from(config: &EventsConfig) -> Self {
        config.broadcast.clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_sections_read_the_same_variables() {
        let config = EventsConfig::from_vars([
            ("EVENTS_QUEUE_CONNECTION", "sqlite"),
            ("EVENTS_QUEUE_URL", "sqlite://jobs.db"),
            ("EVENTS_STORE_ENABLED", "false"),
            ("EVENTS_BROADCAST_CONNECTION", "memory"),
            ("PATH", "ignored"),
        ])
        .unwrap();
        assert_eq!(config.queue().connection, "sqlite");
        assert_eq!(config.queue().url.as_deref(), Some("sqlite://jobs.db"));
        assert!(!config.store().enabled);
        assert_eq!(
            BroadcastConfig::from(&config).connection,
            event_broadcast::BroadcastConnection::Memory
        );
        assert_eq!(
            EventsConfig::from_vars(Vec::<(String, String)>::new()).unwrap(),
            EventsConfig::default()
        );
    }

    /// What `artisan init` writes to `.env.example`, copied to `.env` as is:
    /// `EVENTS_QUEUE_URL=` leaves the URL unset instead of failing.
    #[test]
    fn an_empty_optional_variable_is_unset() {
        let config =
            EventsConfig::from_vars([("EVENTS_QUEUE_URL", ""), ("EVENTS_BROADCAST_APP_ID", " ")])
                .unwrap();
        assert_eq!(config.queue_url, None);
        assert_eq!(config.broadcast.app_id, None);
        // A required one still names itself.
        let error = EventsConfig::from_vars([("EVENTS_STORE_URL", "")]).unwrap_err();
        assert!(error.to_string().contains("EVENTS_STORE_URL"), "{error}");
    }

    #[test]
    fn a_bad_value_names_its_variable() {
        let error = EventsConfig::from_vars([("EVENTS_QUEUE_CONNECTION", "kafka")]).unwrap_err();
        assert!(
            error.to_string().contains("EVENTS_QUEUE_CONNECTION"),
            "{error}"
        );
    }
}
