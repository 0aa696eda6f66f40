//! [`Verify`]: how much of a server's certificate a client checks, as
//! libpq's `sslmode` says it (`require`, `verify-ca`, `verify-full`).

use std::sync::Arc;

use rustls::client::WantsClientCert;
use rustls::client::WebPkiServerVerifier;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{CryptoProvider, verify_tls12_signature, verify_tls13_signature};
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{
    CertificateError, ClientConfig, ConfigBuilder, DigitallySignedStruct, RootCertStore,
    SignatureScheme, WantsVerifier,
};

/// How a client checks the server's certificate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verify {
    /// Encrypts, checks nothing about who the server is (libpq's
    /// `sslmode=require` and `prefer`): protects against listening, not
    /// against an impostor.
    None,
    /// The chain must lead to a trusted root; the host name is not checked
    /// (libpq's `verify-ca`).
    Chain,
    /// The chain and the host name (libpq's `verify-full`; every HTTPS client).
    Full,
}

impl Verify {
    pub(crate) fn client_builder(
        self,
        builder: ConfigBuilder<ClientConfig, WantsVerifier>,
        roots: RootCertStore,
    ) -> ConfigBuilder<ClientConfig, WantsClientCert> {
        let provider = crate::provider();
        match self {
            Verify::Full => builder.with_root_certificates(roots),
            Verify::Chain => {
                let inner =
                    WebPkiServerVerifier::builder_with_provider(Arc::new(roots), provider).build();
                match inner {
                    Ok(inner) => builder
                        .dangerous()
                        .with_custom_certificate_verifier(Arc::new(ChainOnly { inner })),
                    // Only an empty store fails here, and `client_config_with`
                    // refuses one before.
                    Err(_) => builder.with_root_certificates(RootCertStore::empty()),
                }
            }
            Verify::None => builder
                .dangerous()
                .with_custom_certificate_verifier(Arc::new(EncryptOnly { provider })),
        }
    }
}

/// `verify-ca`: the full check, less the name.
#[derive(Debug)]
struct ChainOnly {
    inner: Arc<WebPkiServerVerifier>,
}

impl ServerCertVerifier for ChainOnly {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        match self.inner.verify_server_cert(
            end_entity,
            intermediates,
            server_name,
            ocsp_response,
            now,
        ) {
            Err(rustls::Error::InvalidCertificate(
                CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. },
            )) => Ok(ServerCertVerified::assertion()),
            other => other,
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.inner.supported_verify_schemes()
    }
}

/// `require`: any certificate, but the handshake's signatures still check
/// out (the session key is the one the certificate's owner agreed).
#[derive(Debug)]
struct EncryptOnly {
    provider: Arc<CryptoProvider>,
}

impl ServerCertVerifier for EncryptOnly {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls12_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls13_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider
            .signature_verification_algorithms
            .supported_schemes()
    }
}
