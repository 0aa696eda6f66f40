//! [`TlsError`]: what went wrong reading a certificate, a key or the roots,
//! naming the setting (a flag or variable) that named the file.

use std::path::PathBuf;

/// A TLS setting that cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    /// The file could not be read.
    #[error("{setting}: cannot read `{}`", path.display())]
    Read {
        /// The flag or variable that named the file.
        setting: String,
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The file is not PEM, or holds no item of the kind needed.
    #[error("{setting}: `{}` is not a PEM {what}", path.display())]
    Pem {
        /// The flag or variable that named the file.
        setting: String,
        /// The file.
        path: PathBuf,
        /// What it should hold: `certificate`, `private key`.
        what: &'static str,
        /// What the PEM reader said.
        #[source]
        source: rustls::pki_types::pem::Error,
    },
    /// rustls refused what the file holds (an unsupported key, a key that is
    /// not the certificate's, a CA that is not a certificate).
    #[error("{setting}: `{}`: {what}", path.display())]
    Refused {
        /// The flag or variable that named the file.
        setting: String,
        /// The file.
        path: PathBuf,
        /// What was being done.
        what: &'static str,
        /// What rustls said (boxed: rustls's error is large).
        #[source]
        source: Box<rustls::Error>,
    },
    /// One of a pair was given without the other (a certificate without its key).
    #[error("{given} is set but {missing} is not: a TLS server needs both")]
    Unpaired {
        /// The setting that was given.
        given: String,
        /// The one that is missing.
        missing: String,
    },
    /// No root certificate to verify servers against.
    #[error(
        "no trusted root certificates: the system store is empty or unreadable, and no CA file is given (set SSL_CERT_FILE)"
    )]
    NoRoots,
    /// A setting's value is not one this crate knows.
    #[error("{setting}: `{value}` {reason}")]
    Invalid {
        /// The setting.
        setting: String,
        /// Its value.
        value: String,
        /// What is allowed.
        reason: &'static str,
    },
}
