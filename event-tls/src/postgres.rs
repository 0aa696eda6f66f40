//! A PostgreSQL URL's `sslmode` and `sslrootcert`, as libpq reads them, for
//! tokio-postgres (which knows only `disable`, `prefer` and `require`).
//!
//! | `sslmode` | TLS | the server's certificate |
//! |---|---|---|
//! | `disable` | never | - |
//! | `prefer` (the default) | when the server offers it | not checked (checked as `verify-ca` with `sslrootcert`) |
//! | `require` | always | not checked (checked as `verify-ca` with `sslrootcert`) |
//! | `verify-ca` | always | its chain leads to a trusted root |
//! | `verify-full` | always | chain, and the host name |
//!
//! The trusted roots are the system's (`SSL_CERT_FILE` replaces them, as
//! `rustls-native-certs` reads it), or the file `sslrootcert` names
//! (`sslrootcert=system`: the system's).

use std::path::PathBuf;

use tokio_postgres::config::SslMode;
pub use tokio_postgres_rustls::MakeRustlsConnect;

use crate::{TlsError, Verify, client_config_with};

/// Why a PostgreSQL URL cannot be used, with every cause, on one line (for
/// the queue's and the store's `InvalidUrl { reason }`).
pub fn reason(error: &PostgresUrlError) -> String {
    let mut out = error.to_string();
    let mut cause = std::error::Error::source(error);
    while let Some(e) = cause {
        let text = e.to_string();
        if !out.contains(&text) {
            out.push_str(": ");
            out.push_str(&text);
        }
        cause = e.source();
    }
    out
}

/// A URL tokio-postgres or the TLS settings refused.
#[derive(Debug, thiserror::Error)]
pub enum PostgresUrlError {
    /// tokio-postgres could not read the URL.
    #[error("{0}")]
    Parse(#[source] tokio_postgres::Error),
    /// `sslmode` / `sslrootcert` cannot be used.
    #[error(transparent)]
    Tls(#[from] TlsError),
}

/// The tokio-postgres config of `url` and the TLS connector its `sslmode`
/// asks for.
pub fn config(url: &str) -> Result<(tokio_postgres::Config, MakeRustlsConnect), PostgresUrlError> {
    let (rest, mode, root) = split_ssl_params(url);
    let mut config: tokio_postgres::Config = rest.parse().map_err(PostgresUrlError::Parse)?;
    let mode = mode.unwrap_or_else(|| "prefer".to_string());
    let root = root.filter(|r| r != "system").map(PathBuf::from);
    let checked = if root.is_some() {
        Verify::Chain
    } else {
        Verify::None
    };
    let (ssl_mode, verify) = match mode.as_str() {
        "disable" => (SslMode::Disable, Verify::None),
        "prefer" => (SslMode::Prefer, checked),
        "require" => (SslMode::Require, checked),
        "verify-ca" => (SslMode::Require, Verify::Chain),
        "verify-full" => (SslMode::Require, Verify::Full),
        _ => {
            return Err(TlsError::Invalid {
                setting: "sslmode".into(),
                value: mode,
                reason: "is not supported: expected disable, prefer, require, verify-ca or verify-full",
            }
            .into());
        }
    };
    config.ssl_mode(ssl_mode);
    let tls = if verify == Verify::None {
        client_config_with(Verify::None, None, false)?
    } else {
        let ca = root.as_deref().map(|p| ("sslrootcert", p));
        client_config_with(verify, ca, root.is_none())?
    };
    Ok((config, MakeRustlsConnect::new((*tls).clone())))
}

/// `url` without `sslmode` / `sslrootcert` (which tokio-postgres would
/// refuse or read its own way), and their values; in a URL's query or in
/// `key=value` form.
fn split_ssl_params(url: &str) -> (String, Option<String>, Option<String>) {
    let mut mode = None;
    let mut root = None;
    let mut take = |key: &str, value: String| match key {
        "sslmode" => {
            mode = Some(value);
            true
        }
        "sslrootcert" => {
            root = Some(value);
            true
        }
        _ => false,
    };
    let rest = if url.contains("://") {
        match url.split_once('?') {
            None => url.to_string(),
            Some((base, query)) => {
                let kept: Vec<&str> = query
                    .split('&')
                    .filter(|pair| {
                        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
                        !take(k, percent_decode(v))
                    })
                    .collect();
                if kept.is_empty() {
                    base.to_string()
                } else {
                    format!("{base}?{}", kept.join("&"))
                }
            }
        }
    } else {
        url.split_whitespace()
            .filter(|pair| {
                let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
                !take(k.trim(), v.trim_matches('\'').to_string())
            })
            .collect::<Vec<_>>()
            .join(" ")
    };
    (rest, mode, root)
}

fn percent_decode(value: &str) -> String {
    let bytes = value.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = |b: u8| (b as char).to_digit(16);
        match (bytes[i], bytes.get(i + 1), bytes.get(i + 2)) {
            (b'%', Some(&h), Some(&l)) if hex(h).is_some() && hex(l).is_some() => {
                out.push((hex(h).unwrap_or(0) * 16 + hex(l).unwrap_or(0)) as u8);
                i += 3;
            }
            (b, ..) => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ssl_params_are_taken_out_of_both_forms() {
        let (rest, mode, root) = split_ssl_params(
            "postgres://u@h/db?sslmode=verify-full&schema=s&sslrootcert=%2Ftmp%2Fca.pem",
        );
        assert_eq!(rest, "postgres://u@h/db?schema=s");
        assert_eq!(mode.as_deref(), Some("verify-full"));
        assert_eq!(root.as_deref(), Some("/tmp/ca.pem"));
        let (rest, mode, _) = split_ssl_params("host=h user=u sslmode=require");
        assert_eq!(
            (rest.as_str(), mode.as_deref()),
            ("host=h user=u", Some("require"))
        );
        assert_eq!(
            split_ssl_params("postgres://h/db?sslmode=disable").0,
            "postgres://h/db"
        );
    }

    #[test]
    fn unknown_modes_are_refused_by_name() {
        let err = config("postgres://h/db?sslmode=allow")
            .err()
            .expect("refused");
        assert!(err.to_string().contains("sslmode"), "{err}");
        let err = config("postgres://h/db?sslmode=verify-ca&sslrootcert=/nonexistent.pem")
            .err()
            .expect("refused");
        assert!(err.to_string().contains("sslrootcert"), "{err}");
    }
}
