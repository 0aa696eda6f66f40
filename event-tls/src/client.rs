//! The client side: root certificates and a [`rustls::ClientConfig`].

use std::path::Path;
use std::sync::Arc;

use rustls::pki_types::CertificateDer;
use rustls::pki_types::pem::PemObject;
use rustls::{ClientConfig, RootCertStore};

use crate::error::TlsError;
use crate::verify::Verify;

/// A client that verifies servers fully (chain and host name) against the
/// system roots and, when given, the CA certificates of `extra_ca` (the
/// setting that named the file, and the file).
pub fn client_config(extra_ca: Option<(&str, &Path)>) -> Result<Arc<ClientConfig>, TlsError> {
    client_config_with(Verify::Full, extra_ca, true)
}

/// A client with the verification `verify`; its roots are the CA file's
/// and, when `system_roots` is true, the system's.
pub fn client_config_with(
    verify: Verify,
    ca: Option<(&str, &Path)>,
    system_roots: bool,
) -> Result<Arc<ClientConfig>, TlsError> {
    let mut roots = RootCertStore::empty();
    if system_roots {
        let native = rustls_native_certs::load_native_certs();
        for error in &native.errors {
            tracing::debug!(%error, "a system root certificate could not be read");
        }
        roots.add_parsable_certificates(native.certs);
    }
    if let Some((setting, path)) = ca {
        for cert in read_certificates(setting, path)? {
            roots.add(cert).map_err(|source| TlsError::Refused {
                setting: setting.to_string(),
                path: path.to_path_buf(),
                what: "not a CA certificate rustls can use",
                source: Box::new(source),
            })?;
        }
    }
    if roots.is_empty() && verify != Verify::None {
        return Err(TlsError::NoRoots);
    }
    let builder = ClientConfig::builder_with_provider(crate::provider())
        .with_safe_default_protocol_versions()
        .map_err(|source| TlsError::Refused {
            setting: "TLS".into(),
            path: Default::default(),
            what: "the crypto provider has no protocol version",
            source: Box::new(source),
        })?;
    let config = verify.client_builder(builder, roots).with_no_client_auth();
    Ok(Arc::new(config))
}

/// The PEM certificates of `path` (at least one), or an error naming `setting`.
pub fn read_certificates(
    setting: &str,
    path: &Path,
) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let bytes = std::fs::read(path).map_err(|source| TlsError::Read {
        setting: setting.to_string(),
        path: path.to_path_buf(),
        source,
    })?;
    let pem = |source| TlsError::Pem {
        setting: setting.to_string(),
        path: path.to_path_buf(),
        what: "certificate",
        source,
    };
    let certs = CertificateDer::pem_slice_iter(&bytes)
        .collect::<Result<Vec<_>, _>>()
        .map_err(pem)?;
    if certs.is_empty() {
        return Err(pem(rustls::pki_types::pem::Error::NoItemsFound));
    }
    Ok(certs)
}
