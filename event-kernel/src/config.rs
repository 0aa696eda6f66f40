//! What every section of the configuration shares: the error a bad
//! `EVENTS_*` value gives, the parsers that name the variable in it, and
//! [`redact`] for URLs in messages. Each layer reads its own section (the
//! queue its connection and defaults, the store its URL, broadcasting its
//! server); `event_core::config::EventsConfig` puts them together.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::str::FromStr;

/// The `EVENTS_*` variables a section reads, by name.
pub type Vars = HashMap<String, String>;

/// The `EVENTS_*` variables of the process environment over those of the
/// `.env` file [`find_dotenv`] finds from the current directory (real
/// variables win). The process environment is not modified.
pub fn env_vars() -> Result<Vars, ConfigError> {
    let cwd = std::env::current_dir().ok();
    env_vars_from(cwd.as_deref().and_then(find_dotenv).as_deref())
}

/// The `.env` an app in `dir` reads, found as cargo finds `Cargo.toml`:
/// in `dir`, else in the nearest of its parents that has one.
pub fn find_dotenv(dir: &Path) -> Option<PathBuf> {
    dir.ancestors()
        .map(|d| d.join(".env"))
        .find(|candidate| candidate.is_file())
}

/// The `EVENTS_*` variables of the process environment over those of
/// `dotenv` (none: the environment only). The process environment is not
/// modified.
pub fn env_vars_from(dotenv: Option<&Path>) -> Result<Vars, ConfigError> {
    let mut vars = Vars::new();
    if let Some(path) = dotenv {
        let unreadable = |e: dotenvy::Error| ConfigError::DotEnv {
            path: path.display().to_string(),
            reason: e.to_string(),
        };
        for item in dotenvy::from_path_iter(path).map_err(unreadable)? {
            let (key, value) = item.map_err(unreadable)?;
            vars.insert(key, value);
        }
    }
    vars.extend(std::env::vars());
    vars.retain(|key, _| key.starts_with("EVENTS_"));
    Ok(vars)
}

/// A configuration value that could not be used.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ConfigError {
    /// A variable's value is not one it accepts.
    #[error("invalid value `{value}` for {var}: {reason}")]
    Invalid {
        /// The variable, e.g. `EVENTS_QUEUE_CONNECTION`.
        var: &'static str,
        /// The value as given.
        value: String,
        /// What it accepts.
        reason: String,
    },
    /// The `.env` file exists but cannot be read.
    #[error("could not read {path}: {reason}")]
    DotEnv {
        /// The file.
        path: String,
        /// What went wrong.
        reason: String,
    },
}

/// The error for a variable whose value cannot be used.
pub fn invalid(var: &'static str, value: &str, reason: &str) -> ConfigError {
    ConfigError::Invalid {
        var,
        value: value.to_string(),
        reason: reason.to_string(),
    }
}

/// The trimmed value, or `None` when it is empty: `KEY=` in a `.env` file
/// leaves an optional setting unset, as it does in Laravel's `.env`.
pub fn optional(value: String) -> Option<String> {
    let trimmed = value.trim();
    (!trimmed.is_empty()).then(|| trimmed.to_string())
}

/// The trimmed value, refused when empty.
pub fn non_empty(var: &'static str, value: String) -> Result<String, ConfigError> {
    let trimmed = value.trim();
    if trimmed.is_empty() {
        Err(invalid(var, &value, "must not be empty"))
    } else {
        Ok(trimmed.to_string())
    }
}

/// `true`/`1`/`yes`/`on` or `false`/`0`/`no`/`off`, any case.
pub fn parse_bool(var: &'static str, value: String) -> Result<bool, ConfigError> {
    match value.trim().to_ascii_lowercase().as_str() {
        "true" | "1" | "yes" | "on" => Ok(true),
        "false" | "0" | "no" | "off" => Ok(false),
        _ => Err(invalid(var, &value, "expected true or false")),
    }
}

/// A whole number of type `T`.
pub fn parse_num<T: FromStr>(var: &'static str, value: String) -> Result<T, ConfigError>
where
    T::Err: std::fmt::Display,
{
    value
        .trim()
        .parse()
        .map_err(|e: T::Err| invalid(var, &value, &format!("expected a whole number ({e})")))
}

/// The URL with any password replaced by `***`, for messages.
pub fn redact(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_string();
    };
    let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    match rest[..authority_end].rfind('@') {
        Some(at) => {
            let userinfo = &rest[..at];
            let user = userinfo.split_once(':').map_or(userinfo, |(u, _)| u);
            let masked = if userinfo.contains(':') {
                format!("{user}:***")
            } else {
                "***".to_string()
            };
            format!("{scheme}://{masked}{}", &rest[at..])
        }
        None => url.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redact_hides_passwords_only() {
        assert_eq!(
            redact("redis://:hunter2@db:6379/0"),
            "redis://:***@db:6379/0"
        );
        assert_eq!(
            redact("redis://app:hunter2@db:6379"),
            "redis://app:***@db:6379"
        );
        assert_eq!(
            redact("redis://127.0.0.1:6379?prefix=a@b"),
            "redis://127.0.0.1:6379?prefix=a@b"
        );
        assert_eq!(redact("sqlite:///var/jobs.db"), "sqlite:///var/jobs.db");
    }

    #[test]
    fn parsers_name_the_variable() {
        let error = parse_num::<u32>("EVENTS_RETRY_ATTEMPTS", "three".into()).unwrap_err();
        assert!(
            error.to_string().contains("EVENTS_RETRY_ATTEMPTS"),
            "{error}"
        );
        assert_eq!(parse_bool("X", " On ".into()), Ok(true));
        assert!(non_empty("X", "  ".into()).is_err());
        assert_eq!(optional(" ".into()), None);
        assert_eq!(optional(" a ".into()).as_deref(), Some("a"));
    }
}
