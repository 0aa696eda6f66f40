//! TLS for event-core's connections, with rustls and its `ring` provider
//! (no OpenSSL on the user's machine): one home for what the broadcasting
//! server, the `pusher` broadcaster, the PostgreSQL queue and store and the
//! Redis connections share.
//!
//! - [`client_config`]: a client that verifies servers against the system
//!   roots as `rustls-native-certs` reads them (`SSL_CERT_FILE` /
//!   `SSL_CERT_DIR` replace the platform's store), plus an extra CA file.
//! - [`ServerIdentity`]: a server's certificate chain and key, read from PEM
//!   files with errors naming the setting that named the file.
//! - `postgres` (feature): a PostgreSQL URL's `sslmode` / `sslrootcert`,
//!   as libpq reads them.
//!
//! ```no_run
//! # fn main() -> Result<(), event_tls::TlsError> {
//! use std::path::Path;
//! let client = event_tls::client_config(Some(("EVENTS_BROADCAST_CA_FILE", Path::new("ca.pem"))))?;
//! # let _ = client; Ok(()) }
//! ```

mod client;
mod error;
mod identity;
#[cfg(feature = "postgres")]
pub mod postgres;
mod verify;

pub use client::{client_config, client_config_with, read_certificates};
pub use error::TlsError;
pub use identity::ServerIdentity;
pub use verify::Verify;

pub use rustls;

use std::sync::Arc;

/// Makes ring the process's default rustls provider unless one is set:
/// the redis driver builds its TLS config with the default, which rustls
/// cannot choose when an app's other crates turn on a second provider.
pub fn install_default_provider() {
    if rustls::crypto::CryptoProvider::get_default().is_none() {
        // Another thread may win the race; either provider works.
        let _ = Arc::unwrap_or_clone(provider()).install_default();
    }
}

/// The crypto provider every config of this crate is built with (ring), so
/// no process-wide default has to be installed. rustls marks ring's
/// provider deprecated because it lacks post-quantum key exchange; that one
/// needs aws-lc-rs, whose build wants cmake and a C++ toolchain.
#[allow(deprecated)]
pub fn provider() -> std::sync::Arc<rustls::crypto::CryptoProvider> {
    std::sync::Arc::new(rustls::crypto::ring::default_provider())
}
