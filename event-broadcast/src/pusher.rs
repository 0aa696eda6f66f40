//! The `pusher` broadcaster: signs and POSTs each broadcast to the HTTP API
//! of a Pusher-compatible server (`event-broadcast-server`, soketi, Reverb,
//! Pusher itself), over `http` or `https` (rustls: the server's certificate
//! is verified against the system roots, which `SSL_CERT_FILE` replaces,
//! and `EVENTS_BROADCAST_CA_FILE`).

use std::time::Duration;

use anyhow::{Context, Result, bail};
use async_trait::async_trait;
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use std::path::Path;

use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;

use crate::config::{BroadcastConfig, Scheme};
use crate::encryption::{MasterKey, payloads};
use crate::error::ConnectError;
use crate::signature::{Credentials, sign_request};
use event_kernel::broadcasting::{BroadcastMessage, Broadcaster, Delivery};

/// The HTTP API takes at most this many channels per event.
const MAX_CHANNELS: usize = 100;
const TIMEOUT: Duration = Duration::from_secs(10);

/// POSTs `{name, channels, data, socket_id}` to `/apps/{id}/events`.
#[derive(Clone)]
pub struct PusherBroadcaster {
    credentials: Credentials,
    base: String,
    client: Transport,
    master_key: Option<MasterKey>,
}

#[derive(Clone)]
enum Transport {
    Http(Client<HttpConnector, Full<Bytes>>),
    Https(Client<HttpsConnector<HttpConnector>, Full<Bytes>>),
}

/// The server's TLS certificate was not accepted: not signed by a trusted
/// CA, expired, or not for this host.
#[derive(Debug, thiserror::Error)]
#[error("the TLS certificate of {base} was refused ({reason}); {hint}")]
pub struct CertificateRefused {
    /// The server.
    pub base: String,
    /// What rustls said about the certificate.
    pub reason: String,
    /// What to do about it.
    pub hint: &'static str,
    /// The HTTP client's error, down to rustls's.
    #[source]
    pub source: hyper_util::client::legacy::Error,
}

impl std::fmt::Debug for PusherBroadcaster {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PusherBroadcaster")
            .field("base", &self.base)
            .field("credentials", &self.credentials)
            .field("master_key", &self.master_key)
            .finish()
    }
}

impl PusherBroadcaster {
    /// A broadcaster for the server at `EVENTS_BROADCAST_SCHEME://HOST:PORT`.
    /// `private-encrypted-` channels are encrypted with
    /// `EVENTS_BROADCAST_ENCRYPTION_MASTER_KEY`.
    pub fn new(credentials: Credentials, config: &BroadcastConfig) -> Result<Self, ConnectError> {
        let made = match config.scheme {
            Scheme::Http => Ok(Self::with_base(
                credentials,
                format!("http://{}:{}", config.host, config.port),
            )),
            Scheme::Https => Self::with_tls(
                credentials,
                format!("https://{}:{}", config.host, config.port),
                config.ca_file.as_deref(),
            ),
        }?;
        Ok(match &config.encryption_master_key {
            Some(key) => made.encryption_master_key(key.clone()),
            None => made,
        })
    }

    /// Encrypts what goes to `private-encrypted-` channels with `key` (the
    /// authorizer's); without one, broadcasting to such a channel is an
    /// error ([`NoMasterKey`](crate::NoMasterKey)) and nothing is sent.
    pub fn encryption_master_key(mut self, key: MasterKey) -> Self {
        self.master_key = Some(key);
        self
    }

    /// A broadcaster for the plain-HTTP server at `base` (e.g. `http://127.0.0.1:6001`).
    pub fn with_base(credentials: Credentials, base: String) -> Self {
        let client = Client::builder(TokioExecutor::new()).build_http();
        Self {
            credentials,
            base: base.trim_end_matches('/').to_string(),
            client: Transport::Http(client),
            master_key: None,
        }
    }

    /// A broadcaster for the HTTPS server at `base` (e.g.
    /// `https://broadcast.example.com:443`), trusting the system roots and
    /// the CA certificates of `ca_file` (`EVENTS_BROADCAST_CA_FILE`).
    pub fn with_tls(
        credentials: Credentials,
        base: String,
        ca_file: Option<&Path>,
    ) -> Result<Self, ConnectError> {
        let tls = event_tls::client_config(ca_file.map(|p| ("EVENTS_BROADCAST_CA_FILE", p)))
            .map_err(|source| ConnectError::Tls { source })?;
        let connector = hyper_rustls::HttpsConnectorBuilder::new()
            .with_tls_config((*tls).clone())
            .https_only()
            .enable_http1()
            .build();
        Ok(Self {
            credentials,
            base: base.trim_end_matches('/').to_string(),
            client: Transport::Https(Client::builder(TokioExecutor::new()).build(connector)),
            master_key: None,
        })
    }

    async fn send(
        &self,
        request: hyper::Request<Full<Bytes>>,
    ) -> Result<hyper::Response<hyper::body::Incoming>> {
        let sent = match &self.client {
            Transport::Http(client) => {
                if self.base.starts_with("https://") {
                    bail!(
                        "{} is https: make the broadcaster with PusherBroadcaster::with_tls \
                         (or EVENTS_BROADCAST_SCHEME=https)",
                        self.base
                    );
                }
                client.request(request).await
            }
            Transport::Https(client) => client.request(request).await,
        };
        sent.map_err(|source| match certificate_problem(&source) {
            Some((reason, hint)) => anyhow::Error::new(CertificateRefused {
                base: self.base.clone(),
                reason,
                hint,
                source,
            }),
            None => anyhow::Error::new(source).context(format!("could not reach {}", self.base)),
        })
    }

    /// GETs `path` of the server's HTTP API (e.g. `/apps/{id}/channels`),
    /// signed, with the query parameters `extra`; its JSON answer. A refusal
    /// is an error with the status and the server's text. For reading the
    /// server (the dashboard's Broadcasting part): channels, presence
    /// members, `event-broadcast-server`'s nodes.
    pub async fn get_json(
        &self,
        path: &str,
        extra: &[(String, String)],
    ) -> Result<serde_json::Value> {
        let params = sign_request(
            &self.credentials,
            "GET",
            path,
            extra,
            None,
            chrono::Utc::now().timestamp(),
        );
        let query = form_urlencoded::Serializer::new(String::new())
            .extend_pairs(params)
            .finish();
        let uri = format!("{}{path}?{query}", self.base);
        let request = hyper::Request::get(&uri)
            .body(Full::new(Bytes::new()))
            .with_context(|| format!("invalid URL `{uri}`"))?;
        let response = tokio::time::timeout(TIMEOUT, self.send(request))
            .await
            .with_context(|| format!("no answer from {} within {TIMEOUT:?}", self.base))??;
        let status = response.status();
        let body = response
            .into_body()
            .collect()
            .await
            .with_context(|| format!("reading the answer of {} to GET {path}", self.base))?
            .to_bytes();
        if !status.is_success() {
            bail!(
                "{} refused GET {path}: {status} {}",
                self.base,
                String::from_utf8_lossy(&body).trim()
            );
        }
        serde_json::from_slice(&body)
            .with_context(|| format!("the answer of {} to GET {path} is not JSON", self.base))
    }

    /// The server's base address (`http://host:port`).
    pub fn base(&self) -> &str {
        &self.base
    }

    /// POSTs one trigger; with `count`, asks for each channel's
    /// `subscription_count` (the `info` attribute of Pusher's "POST event")
    /// and returns their sum, `None` when the server left any out.
    async fn trigger(
        &self,
        channels: &[String],
        data: &str,
        message: &BroadcastMessage,
        count: bool,
    ) -> Result<Option<u64>> {
        let mut body = serde_json::json!({
            "name": message.event,
            "channels": channels,
            "data": data,
        });
        if let Some(socket_id) = &message.socket_id {
            body["socket_id"] = serde_json::Value::String(socket_id.clone());
        }
        if count {
            body["info"] = serde_json::Value::String("subscription_count".into());
        }
        let body = serde_json::to_vec(&body)?;
        let path = format!("/apps/{}/events", self.credentials.app_id);
        let params = sign_request(
            &self.credentials,
            "POST",
            &path,
            &[],
            Some(&body),
            chrono::Utc::now().timestamp(),
        );
        let query = form_urlencoded::Serializer::new(String::new())
            .extend_pairs(params)
            .finish();
        let uri = format!("{}{path}?{query}", self.base);
        let request = hyper::Request::post(&uri)
            .header("content-type", "application/json")
            .body(Full::new(Bytes::from(body)))
            .with_context(|| format!("invalid URL `{uri}`"))?;
        let response = tokio::time::timeout(TIMEOUT, self.send(request))
            .await
            .with_context(|| format!("no answer from {} within {TIMEOUT:?}", self.base))??;
        let status = response.status();
        if !status.is_success() {
            let text = response
                .into_body()
                .collect()
                .await
                .map(|b| String::from_utf8_lossy(&b.to_bytes()).into_owned())
                .unwrap_or_default();
            bail!(
                "{} refused the broadcast: {status} {}",
                self.base,
                text.trim()
            );
        }
        if !count {
            return Ok(None);
        }
        // The event went out; an answer that cannot be read only means the
        // count is unknown.
        let answer = response.into_body().collect().await.ok();
        Ok(answer.and_then(|b| subscription_counts(&b.to_bytes(), channels)))
    }

    /// Sends `message` (split per encryption and per [`MAX_CHANNELS`]);
    /// with `count`, the sum of the triggers' counts, `None` when one of
    /// them is unknown.
    async fn send_message(&self, message: &BroadcastMessage, count: bool) -> Result<Option<u64>> {
        let data = serde_json::to_string(&message.data)?;
        let mut total = Some(0u64);
        for (channels, data) in payloads(&message.channels, &data, self.master_key.as_ref())? {
            for channels in channels.chunks(MAX_CHANNELS) {
                let counted = self.trigger(channels, &data, message, count).await?;
                total = total.zip(counted).map(|(a, b)| a.saturating_add(b));
            }
        }
        Ok(total.filter(|_| count))
    }
}

/// The sum of `channels`' `subscription_count` in a trigger's answer
/// (`{"channels": {"<ch>": {"subscription_count": N}}}`); `None` when a
/// channel's count is missing (a server that ignores `info` answers `{}`).
fn subscription_counts(answer: &[u8], channels: &[String]) -> Option<u64> {
    let answer: serde_json::Value = serde_json::from_slice(answer).ok()?;
    channels.iter().try_fold(0u64, |sum, channel| {
        let n = answer["channels"][channel.as_str()]["subscription_count"].as_u64()?;
        Some(sum.saturating_add(n))
    })
}

#[async_trait]
impl Broadcaster for PusherBroadcaster {
    async fn broadcast(&self, message: &BroadcastMessage) -> Result<()> {
        self.send_message(message, false).await.map(|_| ())
    }

    /// Asks the server for each channel's `subscription_count` (Pusher's
    /// `info` on "POST event"; event-broadcast-server, soketi, Reverb and
    /// Pusher answer it) and sums them: the connections subscribed when the
    /// server delivered the event. A server that leaves a count out makes
    /// it `None` (unknown), not 0.
    async fn deliver(&self, message: &BroadcastMessage) -> Result<Delivery> {
        let receivers = self.send_message(message, true).await?;
        Ok(Delivery { receivers })
    }
}

/// What rustls said, when `error` is a refused server certificate.
fn certificate_problem(
    error: &hyper_util::client::legacy::Error,
) -> Option<(String, &'static str)> {
    use event_tls::rustls::{CertificateError, Error};
    match find_rustls_error(error)? {
        e @ Error::InvalidCertificate(
            CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. },
        ) => Some((
            e.to_string(),
            "set EVENTS_BROADCAST_HOST to a name the certificate is for",
        )),
        e @ (Error::InvalidCertificate(_) | Error::NoCertificatesPresented) => Some((
            e.to_string(),
            "trust its CA with EVENTS_BROADCAST_CA_FILE or SSL_CERT_FILE",
        )),
        _ => None,
    }
}

/// rustls's error under `error`: the chain's sources, and inside the
/// `io::Error`s the TLS stream and the connector wrap it in.
fn find_rustls_error<'a>(
    error: &'a (dyn std::error::Error + 'static),
) -> Option<&'a event_tls::rustls::Error> {
    if let Some(found) = error.downcast_ref::<event_tls::rustls::Error>() {
        return Some(found);
    }
    if let Some(inner) = error
        .downcast_ref::<std::io::Error>()
        .and_then(|io| io.get_ref())
        && let Some(found) = find_rustls_error(inner)
    {
        return Some(found);
    }
    error.source().and_then(find_rustls_error)
}
