//! `wss://` and `https://`: a listener that hands axum TLS streams, and the
//! certificate it presents, swapped on SIGHUP without touching open
//! connections (a TLS session keeps the keys of its handshake).

use std::net::SocketAddr;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use event_tls::ServerIdentity;
use event_tls::rustls::ServerConfig as RustlsConfig;
use event_tls::rustls::server::{ClientHello, ResolvesServerCert};
use event_tls::rustls::sign::CertifiedKey;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio_rustls::TlsAcceptor;
use tokio_rustls::server::TlsStream;

/// A client has this long to finish its handshake.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// The certificate the server presents; [`Certificate::reload`] swaps it.
#[derive(Debug)]
pub(crate) struct Certificate {
    identity: ServerIdentity,
    current: RwLock<Arc<CertifiedKey>>,
}

impl Certificate {
    /// Reads the files; an unreadable file or bad PEM is an error naming
    /// the flag or variable that named it.
    pub(crate) fn load(identity: ServerIdentity) -> Result<Arc<Self>, event_tls::TlsError> {
        let key = identity.load()?;
        Ok(Arc::new(Self {
            identity,
            current: RwLock::new(key),
        }))
    }

    /// Reads the files again; on an error the current certificate stays.
    pub(crate) fn reload(&self) -> Result<(), event_tls::TlsError> {
        let key = self.identity.load()?;
        *self.current.write().unwrap_or_else(|p| p.into_inner()) = key;
        Ok(())
    }

    fn rustls_config(self: &Arc<Self>) -> Result<Arc<RustlsConfig>, event_tls::rustls::Error> {
        let mut config = RustlsConfig::builder_with_provider(event_tls::provider())
            .with_safe_default_protocol_versions()?
            .with_no_client_auth()
            .with_cert_resolver(self.clone());
        // axum serves HTTP/1.1 here (WebSocket upgrades need it).
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        Ok(Arc::new(config))
    }
}

impl ResolvesServerCert for Certificate {
    fn resolve(&self, _hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(
            self.current
                .read()
                .unwrap_or_else(|p| p.into_inner())
                .clone(),
        )
    }
}

/// Reloads `certificate` on every SIGHUP for as long as the server runs.
pub(crate) fn reload_on_sighup(certificate: Arc<Certificate>) -> std::io::Result<()> {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let mut hup = signal(SignalKind::hangup())?;
        let weak = Arc::downgrade(&certificate);
        drop(certificate);
        tokio::spawn(async move {
            while hup.recv().await.is_some() {
                let Some(certificate) = weak.upgrade() else {
                    return;
                };
                match certificate.reload() {
                    Ok(()) => tracing::info!(
                        cert = %certificate.identity.cert.display(),
                        "SIGHUP: TLS certificate reloaded; open connections keep theirs"
                    ),
                    Err(error) => tracing::error!(
                        error = %error,
                        cause = ?std::error::Error::source(&error).map(|s| s.to_string()),
                        "SIGHUP: the TLS certificate could not be reloaded; still serving the previous one"
                    ),
                }
            }
        });
    }
    Ok(())
}

/// Accepts TCP connections and completes each TLS handshake on its own task,
/// so a slow client never holds up the next one; axum gets the finished
/// streams.
#[derive(Debug)]
pub(crate) struct TlsListener {
    addr: SocketAddr,
    ready: mpsc::Receiver<(TlsStream<TcpStream>, SocketAddr)>,
}

impl TlsListener {
    pub(crate) fn new(
        listener: TcpListener,
        certificate: &Arc<Certificate>,
    ) -> Result<Self, event_tls::rustls::Error> {
        let addr = listener
            .local_addr()
            .map_err(|e| event_tls::rustls::Error::General(e.to_string()))?;
        let acceptor = TlsAcceptor::from(certificate.rustls_config()?);
        let (tx, ready) = mpsc::channel(256);
        tokio::spawn(accept_loop(listener, acceptor, tx));
        Ok(Self { addr, ready })
    }
}

async fn accept_loop(
    listener: TcpListener,
    acceptor: TlsAcceptor,
    tx: mpsc::Sender<(TlsStream<TcpStream>, SocketAddr)>,
) {
    loop {
        let accepted = tokio::select! {
            accepted = listener.accept() => accepted,
            // axum stopped serving (shutdown): stop accepting.
            () = tx.closed() => return,
        };
        let (tcp, peer) = match accepted {
            Ok(pair) => pair,
            Err(error) => {
                // Out of file descriptors and the like: wait, as axum does.
                tracing::warn!(%error, "accepting a TCP connection failed");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let acceptor = acceptor.clone();
        let tx = tx.clone();
        tokio::spawn(async move {
            match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(tcp)).await {
                Ok(Ok(stream)) => {
                    let _ = tx.send((stream, peer)).await;
                }
                Ok(Err(error)) => {
                    tracing::debug!(%peer, %error, "TLS handshake failed");
                }
                Err(_) => tracing::debug!(%peer, "TLS handshake timed out"),
            }
        });
    }
}

impl axum::serve::Listener for TlsListener {
    type Io = TlsStream<TcpStream>;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        match self.ready.recv().await {
            Some(accepted) => accepted,
            // The accept loop only ends once this listener is gone.
            None => std::future::pending().await,
        }
    }

    fn local_addr(&self) -> std::io::Result<Self::Addr> {
        Ok(self.addr)
    }
}
