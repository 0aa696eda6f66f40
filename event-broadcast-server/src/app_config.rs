//! One app's settings on a server that serves several: its credentials,
//! limits and switches, from a file (`--apps-file` /
//! `EVENTS_BROADCAST_SERVER_APPS_FILE`, JSON or TOML by its extension) or
//! in-process.

use std::path::{Path, PathBuf};

use event_broadcast::signature::Credentials;
use serde::Deserialize;

use crate::limits::Limits;

/// The variable naming the apps file.
pub(crate) const APPS_FILE_VAR: &str = "EVENTS_BROADCAST_SERVER_APPS_FILE";

/// One app besides [`ServerConfig::credentials`]; unset switches are the
/// server's.
#[derive(Debug, Clone, PartialEq)]
pub struct AppConfig {
    /// Its id, key and secret.
    pub credentials: Credentials,
    /// Its limits.
    pub limits: Limits,
    /// Largest `data` of one event (published or a client event).
    pub max_event_bytes: Option<usize>,
    /// `client-*` events allowed.
    pub client_events: Option<bool>,
    /// `pusher_internal:subscription_count` sent.
    pub subscription_count: Option<bool>,
    /// Where its webhooks go.
    pub webhook_url: Option<String>,
}

impl AppConfig {
    /// An app with the server's switches and no limits.
    pub fn new(credentials: Credentials) -> Self {
        Self {
            credentials,
            limits: Limits::default(),
            max_event_bytes: None,
            client_events: None,
            subscription_count: None,
            webhook_url: None,
        }
    }
}

/// Why an apps file cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum AppsFileError {
    /// The file cannot be read.
    #[error("cannot read the apps file `{path}`")]
    Read {
        /// The file.
        path: PathBuf,
        /// The IO error.
        #[source]
        source: std::io::Error,
    },
    /// Not valid JSON, or a field unknown or of the wrong type.
    #[error("the apps file `{path}` is not a valid apps list: {source}")]
    Json {
        /// The file.
        path: PathBuf,
        /// serde's error (names an unknown field and the known ones).
        #[source]
        source: serde_json::Error,
    },
    /// Not valid TOML, or a field unknown or of the wrong type.
    #[error("the apps file `{path}` is not a valid apps list: {source}")]
    Toml {
        /// The file.
        path: PathBuf,
        /// serde's error (names an unknown field and the known ones).
        #[source]
        source: toml::de::Error,
    },
    /// A value the server cannot use.
    #[error("the apps file `{path}`: {problem}")]
    Invalid {
        /// The file.
        path: PathBuf,
        /// What is wrong, naming the app and the field.
        problem: String,
    },
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct AppsFile {
    apps: Vec<AppEntry>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct AppEntry {
    id: String,
    key: String,
    secret: String,
    #[serde(default)]
    max_connections: Option<usize>,
    #[serde(default)]
    max_client_events_per_second: Option<u32>,
    #[serde(default)]
    max_channel_name_length: Option<usize>,
    #[serde(default)]
    max_event_payload_bytes: Option<usize>,
    #[serde(default)]
    client_events: Option<bool>,
    #[serde(default)]
    subscription_count: Option<bool>,
    #[serde(default)]
    webhook_url: Option<String>,
}

/// Reads an apps file: `{"apps": [{"id", "key", "secret", ...}]}` in JSON,
/// or `[[apps]]` tables in TOML (a `.toml` file). Unknown fields are errors
/// naming them.
pub fn load_apps_file(path: &Path) -> Result<Vec<AppConfig>, AppsFileError> {
    let text = std::fs::read_to_string(path).map_err(|source| AppsFileError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    let file: AppsFile = if path.extension().is_some_and(|e| e == "toml") {
        toml::from_str(&text).map_err(|source| AppsFileError::Toml {
            path: path.to_path_buf(),
            source,
        })?
    } else {
        serde_json::from_str(&text).map_err(|source| AppsFileError::Json {
            path: path.to_path_buf(),
            source,
        })?
    };
    let invalid = |problem: String| AppsFileError::Invalid {
        path: path.to_path_buf(),
        problem,
    };
    if file.apps.is_empty() {
        return Err(invalid("`apps` lists no app".into()));
    }
    let mut out = Vec::new();
    for e in file.apps {
        for (field, value) in [("id", &e.id), ("key", &e.key), ("secret", &e.secret)] {
            if value.is_empty() {
                return Err(invalid(format!("an app has an empty `{field}`")));
            }
        }
        if e.key.contains(':') {
            return Err(invalid(format!(
                "app `{}`: `key` must not contain `:`",
                e.id
            )));
        }
        if e.max_channel_name_length.is_some_and(|n| n == 0 || n > 200) {
            return Err(invalid(format!(
                "app `{}`: `max_channel_name_length` must be 1 to 200 (the protocol's limit)",
                e.id
            )));
        }
        if let Some(url) = &e.webhook_url
            && !(url.starts_with("http://") || url.starts_with("https://"))
        {
            return Err(invalid(format!(
                "app `{}`: `webhook_url` must be an http:// or https:// URL",
                e.id
            )));
        }
        out.push(AppConfig {
            credentials: Credentials {
                app_id: e.id,
                key: e.key,
                secret: e.secret,
            },
            limits: Limits {
                max_connections: e.max_connections,
                max_client_events_per_second: e.max_client_events_per_second,
                max_channel_name_length: e.max_channel_name_length,
            },
            max_event_bytes: e.max_event_payload_bytes,
            client_events: e.client_events,
            subscription_count: e.subscription_count,
            webhook_url: e.webhook_url,
        });
    }
    Ok(out)
}
