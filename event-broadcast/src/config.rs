//! The `EVENTS_BROADCAST_*` settings (`event_core::config::EventsConfig` reads them too).

use std::path::PathBuf;

use event_kernel::config::{
    ConfigError, Vars, invalid, non_empty, optional, parse_bool, parse_num,
};

use crate::encryption::MasterKey;
use crate::error::ConnectError;
use crate::signature::Credentials;

/// `EVENTS_BROADCAST_CONNECTION`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum BroadcastConnection {
    /// Writes broadcasts to the log (the default).
    #[default]
    Log,
    /// Keeps them in memory (tests, demos).
    Memory,
    /// Signed HTTP to a Pusher-compatible server.
    Pusher,
    /// Publishes onto `event-broadcast-server`'s Redis cluster channel.
    Redis,
}

/// `EVENTS_BROADCAST_SCHEME`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Scheme {
    /// Plain HTTP (the default).
    #[default]
    Http,
    /// HTTPS (rustls): the server is verified against the system roots
    /// (`SSL_CERT_FILE` replaces them) and `EVENTS_BROADCAST_CA_FILE`.
    Https,
}

/// Broadcasting settings, for the app (which broadcaster) and for the
/// server (`artisan broadcast:serve`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BroadcastConfig {
    /// `EVENTS_BROADCAST_CONNECTION`: `log` (default), `memory`, `pusher`, `redis`.
    pub connection: BroadcastConnection,
    /// `EVENTS_BROADCAST_HOST` (default `127.0.0.1`): where the server is (or listens).
    pub host: String,
    /// `EVENTS_BROADCAST_PORT` (default 6001).
    pub port: u16,
    /// `EVENTS_BROADCAST_SCHEME`: `http` (default) or `https`.
    pub scheme: Scheme,
    /// `EVENTS_BROADCAST_APP_ID`.
    pub app_id: Option<String>,
    /// `EVENTS_BROADCAST_APP_KEY`.
    pub app_key: Option<String>,
    /// `EVENTS_BROADCAST_APP_SECRET`.
    pub app_secret: Option<String>,
    /// `EVENTS_BROADCAST_REDIS_URL`: joins servers into a cluster; where the
    /// `redis` broadcaster publishes.
    pub redis_url: Option<String>,
    /// `EVENTS_BROADCAST_ACTIVITY_TIMEOUT` (seconds, default 30): the server
    /// pings a silent client after this long.
    pub activity_timeout: u64,
    /// `EVENTS_BROADCAST_CLIENT_EVENTS` (default false): allow `client-*`
    /// events (whispers) on private and presence channels.
    pub client_events: bool,
    /// `EVENTS_BROADCAST_SUBSCRIPTION_COUNT` (default false): the server
    /// sends `pusher_internal:subscription_count` (the cluster's count) to a
    /// channel's subscribers when it changes, as Pusher's per-app switch does.
    pub subscription_count: bool,
    /// `EVENTS_BROADCAST_WEBHOOK_URL`: where the server posts its webhooks
    /// (`http://` or `https://`)
    /// (`channel_occupied`, `channel_vacated`, `member_added`, `member_removed`); none by default.
    pub webhook_url: Option<String>,
    /// `EVENTS_BROADCAST_MAX_MESSAGE_BYTES` (default 65536, at least 1024):
    /// the largest WebSocket message the server reads; a bigger one closes
    /// that socket with 1009 before it is read whole.
    pub max_message_bytes: usize,
    /// `EVENTS_BROADCAST_CA_FILE`: a PEM file of CA certificates the
    /// `pusher` broadcaster (over `https`) and the server's `https://`
    /// webhooks trust, besides the system roots.
    pub ca_file: Option<PathBuf>,
    /// `EVENTS_BROADCAST_SERVER_TLS_CERT`: the server's certificate chain
    /// (PEM); with `_KEY`, `broadcast:serve` speaks `wss://` and `https://`.
    pub server_tls_cert: Option<PathBuf>,
    /// `EVENTS_BROADCAST_SERVER_APPS_FILE`: a JSON or TOML file of the
    /// apps `broadcast:serve` serves (each app's key, secret and limits).
    pub server_apps_file: Option<PathBuf>,
    /// `EVENTS_BROADCAST_SERVER_TLS_KEY`: the private key of that certificate (PEM).
    pub server_tls_key: Option<PathBuf>,
    /// `EVENTS_BROADCAST_ENCRYPTION_MASTER_KEY` (32 bytes, base64): the
    /// key of `private-encrypted-` channels, for the authorizer
    /// ([`ChannelAuthorizer::from_config`](crate::ChannelAuthorizer::from_config))
    /// and the broadcasters; the server never needs it.
    pub encryption_master_key: Option<MasterKey>,
}

/// The default of `EVENTS_BROADCAST_MAX_MESSAGE_BYTES`: 64 KiB.
const DEFAULT_MAX_MESSAGE_BYTES: usize = 64 * 1024;

/// The smallest `EVENTS_BROADCAST_MAX_MESSAGE_BYTES`: below it, pusher-js's
/// own subscribe messages (an auth signature, presence channel data) would
/// not fit.
const MIN_MAX_MESSAGE_BYTES: usize = 1024;

impl Default for BroadcastConfig {
    fn default() -> Self {
        Self {
            connection: BroadcastConnection::Log,
            host: "127.0.0.1".to_string(),
            port: 6001,
            scheme: Scheme::Http,
            app_id: None,
            app_key: None,
            app_secret: None,
            redis_url: None,
            activity_timeout: 30,
            client_events: false,
            subscription_count: false,
            webhook_url: None,
            max_message_bytes: DEFAULT_MAX_MESSAGE_BYTES,
            ca_file: None,
            server_tls_cert: None,
            server_apps_file: None,
            server_tls_key: None,
            encryption_master_key: None,
        }
    }
}

impl From<&BroadcastConfig> for BroadcastConfig {
    fn from(config: &BroadcastConfig) -> Self {
        config.clone()
    }
}

impl BroadcastConfig {
    /// Reads the `EVENTS_BROADCAST_*` variables of the process environment
    /// and the app's `.env` (real variables win), then the defaults.
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_vars(&event_kernel::config::env_vars()?)
    }

    /// Reads the `EVENTS_BROADCAST_*` variables of `vars`; a bad value is an
    /// error naming its variable.
    pub fn from_vars(vars: &Vars) -> Result<Self, ConfigError> {
        let get = |var: &'static str| vars.get(var).cloned();
        let mut c = Self::default();
        if let Some(v) = get("EVENTS_BROADCAST_CONNECTION") {
            c.connection = match v.trim().to_ascii_lowercase().as_str() {
                "log" => BroadcastConnection::Log,
                "memory" => BroadcastConnection::Memory,
                "pusher" => BroadcastConnection::Pusher,
                "redis" => BroadcastConnection::Redis,
                _ => {
                    return Err(invalid(
                        "EVENTS_BROADCAST_CONNECTION",
                        &v,
                        "expected one of log, memory, pusher, redis",
                    ));
                }
            };
        }
        if let Some(v) = get("EVENTS_BROADCAST_HOST") {
            c.host = non_empty("EVENTS_BROADCAST_HOST", v)?;
        }
        if let Some(v) = get("EVENTS_BROADCAST_PORT") {
            c.port = parse_num("EVENTS_BROADCAST_PORT", v)?;
        }
        if let Some(v) = get("EVENTS_BROADCAST_SCHEME") {
            c.scheme = match v.trim().to_ascii_lowercase().as_str() {
                "http" => Scheme::Http,
                "https" => Scheme::Https,
                _ => {
                    return Err(invalid(
                        "EVENTS_BROADCAST_SCHEME",
                        &v,
                        "expected http or https",
                    ));
                }
            };
        }
        for (var, slot) in [
            ("EVENTS_BROADCAST_APP_ID", &mut c.app_id),
            ("EVENTS_BROADCAST_APP_KEY", &mut c.app_key),
            ("EVENTS_BROADCAST_APP_SECRET", &mut c.app_secret),
            ("EVENTS_BROADCAST_REDIS_URL", &mut c.redis_url),
            ("EVENTS_BROADCAST_WEBHOOK_URL", &mut c.webhook_url),
        ] {
            // `KEY=` (an empty value) leaves it unset.
            if let Some(v) = get(var) {
                *slot = optional(v);
            }
        }
        for (var, slot) in [
            ("EVENTS_BROADCAST_CA_FILE", &mut c.ca_file),
            ("EVENTS_BROADCAST_SERVER_TLS_CERT", &mut c.server_tls_cert),
            ("EVENTS_BROADCAST_SERVER_TLS_KEY", &mut c.server_tls_key),
            ("EVENTS_BROADCAST_SERVER_APPS_FILE", &mut c.server_apps_file),
        ] {
            if let Some(v) = get(var) {
                *slot = optional(v).map(PathBuf::from);
            }
        }
        if let Some(v) = get("EVENTS_BROADCAST_ENCRYPTION_MASTER_KEY").and_then(optional) {
            c.encryption_master_key = Some(MasterKey::from_base64(&v)?);
        }
        if let Some(key) = &c.app_key
            && key.contains(':')
        {
            return Err(invalid(
                "EVENTS_BROADCAST_APP_KEY",
                key,
                "must not contain `:` (it separates the key from the signature)",
            ));
        }
        if let Some(url) = &c.redis_url
            && !(url.starts_with("redis://") || url.starts_with("rediss://"))
        {
            return Err(invalid(
                "EVENTS_BROADCAST_REDIS_URL",
                url,
                "expected a redis:// URL",
            ));
        }
        if let Some(url) = &c.webhook_url
            && !(url.starts_with("http://") || url.starts_with("https://"))
        {
            return Err(invalid(
                "EVENTS_BROADCAST_WEBHOOK_URL",
                url,
                "expected an http:// or https:// URL",
            ));
        }
        if let Some(v) = get("EVENTS_BROADCAST_ACTIVITY_TIMEOUT") {
            c.activity_timeout = parse_num("EVENTS_BROADCAST_ACTIVITY_TIMEOUT", v)?;
            if c.activity_timeout == 0 {
                return Err(invalid(
                    "EVENTS_BROADCAST_ACTIVITY_TIMEOUT",
                    "0",
                    "at least 1 second is needed",
                ));
            }
        }
        if let Some(v) = get("EVENTS_BROADCAST_CLIENT_EVENTS") {
            c.client_events = parse_bool("EVENTS_BROADCAST_CLIENT_EVENTS", v)?;
        }
        if let Some(v) = get("EVENTS_BROADCAST_SUBSCRIPTION_COUNT") {
            c.subscription_count = parse_bool("EVENTS_BROADCAST_SUBSCRIPTION_COUNT", v)?;
        }
        if let Some(v) = get("EVENTS_BROADCAST_MAX_MESSAGE_BYTES") {
            c.max_message_bytes = parse_num("EVENTS_BROADCAST_MAX_MESSAGE_BYTES", v.clone())?;
            if c.max_message_bytes < MIN_MAX_MESSAGE_BYTES {
                return Err(invalid(
                    "EVENTS_BROADCAST_MAX_MESSAGE_BYTES",
                    &v,
                    "at least 1024 bytes are needed (a subscribe message with its signature)",
                ));
            }
        }
        Ok(c)
    }

    /// The app id, key and secret, or an error naming the missing variable.
    pub fn credentials(&self, connection: &'static str) -> Result<Credentials, ConnectError> {
        let need = |value: &Option<String>, missing: &'static str| {
            value.clone().ok_or(ConnectError::Missing {
                connection,
                missing,
            })
        };
        Ok(Credentials {
            app_id: need(&self.app_id, "EVENTS_BROADCAST_APP_ID")?,
            key: need(&self.app_key, "EVENTS_BROADCAST_APP_KEY")?,
            secret: need(&self.app_secret, "EVENTS_BROADCAST_APP_SECRET")?,
        })
    }
}

#[cfg(test)]
mod tests {
    use event_kernel::config::ConfigError;

    use crate::{BroadcastConfig, BroadcastConnection, ConnectError, connect};

    fn with(vars: &[(&str, &str)]) -> Result<BroadcastConfig, ConfigError> {
        BroadcastConfig::from_vars(
            &vars
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        )
    }

    #[test]
    fn bad_values_name_their_variable() {
        for (var, value) in [
            ("EVENTS_BROADCAST_CONNECTION", "pusherr"),
            ("EVENTS_BROADCAST_PORT", "70000"),
            ("EVENTS_BROADCAST_SCHEME", "ftp"),
            ("EVENTS_BROADCAST_APP_KEY", "a:b"),
            ("EVENTS_BROADCAST_REDIS_URL", "http://x"),
            ("EVENTS_BROADCAST_WEBHOOK_URL", "ftp://x"),
            ("EVENTS_BROADCAST_ACTIVITY_TIMEOUT", "0"),
            ("EVENTS_BROADCAST_CLIENT_EVENTS", "maybe"),
            ("EVENTS_BROADCAST_HOST", " "),
            ("EVENTS_BROADCAST_MAX_MESSAGE_BYTES", "64k"),
            ("EVENTS_BROADCAST_MAX_MESSAGE_BYTES", "-1"),
            ("EVENTS_BROADCAST_MAX_MESSAGE_BYTES", "1023"),
            ("EVENTS_BROADCAST_ENCRYPTION_MASTER_KEY", "c2hvcnQ="),
        ] {
            match with(&[(var, value)]) {
                Err(ConfigError::Invalid { var: named, .. }) => assert_eq!(named, var),
                other => panic!("{var}={value}: {other:?}"),
            }
        }
    }

    #[test]
    fn defaults_and_values() {
        let c = with(&[]).unwrap();
        assert_eq!(c.connection, BroadcastConnection::Log);
        assert_eq!(
            (c.port, c.activity_timeout, c.client_events),
            (6001, 30, false)
        );
        assert_eq!(c.max_message_bytes, 65536);
        let c = with(&[
            ("EVENTS_BROADCAST_CONNECTION", "Pusher"),
            ("EVENTS_BROADCAST_PORT", "8080"),
            ("EVENTS_BROADCAST_CLIENT_EVENTS", "true"),
            ("EVENTS_BROADCAST_ACTIVITY_TIMEOUT", "120"),
            ("EVENTS_BROADCAST_MAX_MESSAGE_BYTES", " 1048576 "),
        ])
        .unwrap();
        assert_eq!(c.connection, BroadcastConnection::Pusher);
        assert_eq!(c.max_message_bytes, 1 << 20);
        assert_eq!(
            (c.port, c.activity_timeout, c.client_events),
            (8080, 120, true)
        );
    }

    #[tokio::test]
    async fn connect_names_what_is_missing() {
        let c = with(&[("EVENTS_BROADCAST_CONNECTION", "pusher")]).unwrap();
        let err = connect(&c).await.err().expect("needs credentials");
        assert!(matches!(
            err,
            ConnectError::Missing {
                missing: "EVENTS_BROADCAST_APP_ID",
                ..
            }
        ));
        let c = with(&[
            ("EVENTS_BROADCAST_CONNECTION", "redis"),
            ("EVENTS_BROADCAST_APP_ID", "1"),
        ])
        .unwrap();
        let err = connect(&c).await.err().expect("needs a URL");
        assert!(
            err.to_string().contains("EVENTS_BROADCAST_REDIS_URL"),
            "{err}"
        );
        let c = with(&[
            ("EVENTS_BROADCAST_CONNECTION", "pusher"),
            ("EVENTS_BROADCAST_APP_ID", "1"),
            ("EVENTS_BROADCAST_APP_KEY", "k"),
            ("EVENTS_BROADCAST_APP_SECRET", "s"),
            ("EVENTS_BROADCAST_SCHEME", "https"),
            ("EVENTS_BROADCAST_CA_FILE", "/nonexistent/ca.pem"),
        ])
        .unwrap();
        let err = connect(&c)
            .await
            .err()
            .expect("an unreadable CA file is refused");
        assert!(
            err.to_string().contains("EVENTS_BROADCAST_CA_FILE"),
            "{err}"
        );
        assert!(err.to_string().contains("/nonexistent/ca.pem"), "{err}");
        assert!(
            connect(&with(&[("EVENTS_BROADCAST_CONNECTION", "memory")]).unwrap())
                .await
                .is_ok()
        );
    }
}
