//! [`ServerIdentity`]: a server's certificate chain and private key, read
//! from PEM files.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls::pki_types::PrivateKeyDer;
use rustls::pki_types::pem::PemObject;
use rustls::sign::CertifiedKey;

use crate::client::read_certificates;
use crate::error::TlsError;

/// Where a server's certificate and key are, and the settings that named
/// them (a flag or a variable), so every error can say which to fix.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerIdentity {
    /// The certificate chain (PEM, the server's own certificate first).
    pub cert: PathBuf,
    /// The private key (PEM: PKCS#8, PKCS#1 or SEC1).
    pub key: PathBuf,
    /// The setting that named `cert`, e.g. `--tls-cert`.
    pub cert_setting: String,
    /// The setting that named `key`, e.g. `--tls-key`.
    pub key_setting: String,
}

impl ServerIdentity {
    /// Both or neither: a certificate without its key (or the reverse) is an
    /// error naming the one that is missing.
    pub fn pair(
        cert: Option<(String, PathBuf)>,
        key: Option<(String, PathBuf)>,
        cert_name: &str,
        key_name: &str,
    ) -> Result<Option<Self>, TlsError> {
        match (cert, key) {
            (None, None) => Ok(None),
            (Some((cert_setting, cert)), Some((key_setting, key))) => Ok(Some(Self {
                cert,
                key,
                cert_setting,
                key_setting,
            })),
            (Some((given, _)), None) => Err(TlsError::Unpaired {
                given,
                missing: key_name.to_string(),
            }),
            (None, Some((given, _))) => Err(TlsError::Unpaired {
                given,
                missing: cert_name.to_string(),
            }),
        }
    }

    /// Reads both files: the chain, and a key that must be the chain's.
    pub fn load(&self) -> Result<Arc<CertifiedKey>, TlsError> {
        let chain = read_certificates(&self.cert_setting, &self.cert)?;
        let key = read_key(&self.key_setting, &self.key)?;
        CertifiedKey::from_der(chain, key, &crate::provider())
            .map(Arc::new)
            .map_err(|source| TlsError::Refused {
                setting: format!("{} / {}", self.cert_setting, self.key_setting),
                path: self.key.clone(),
                what: "the key cannot be used with this certificate",
                source: Box::new(source),
            })
    }
}

fn read_key(setting: &str, path: &Path) -> Result<PrivateKeyDer<'static>, TlsError> {
    let bytes = std::fs::read(path).map_err(|source| TlsError::Read {
        setting: setting.to_string(),
        path: path.to_path_buf(),
        source,
    })?;
    PrivateKeyDer::from_pem_slice(&bytes).map_err(|source| TlsError::Pem {
        setting: setting.to_string(),
        path: path.to_path_buf(),
        what: "private key",
        source,
    })
}
