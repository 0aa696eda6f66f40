//! The `pusher` broadcaster: signs and POSTs each broadcast to the HTTP API
//! of a Pusher-compatible server (`event-broadcast-server`, soketi, Reverb,
//! Pusher itself).

use std::time::Duration;

use anyhow::{Context, Result, bail};
use async_trait::async_trait;
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;

use crate::config::{BroadcastConfig, Scheme};
use crate::error::ConnectError;
use crate::signature::{Credentials, sign_request};
use event_kernel::broadcasting::{BroadcastMessage, Broadcaster};

/// The HTTP API takes at most this many channels per event.
const MAX_CHANNELS: usize = 100;
const TIMEOUT: Duration = Duration::from_secs(10);

/// POSTs `{name, channels, data, socket_id}` to `/apps/{id}/events`.
#[derive(Clone)]
pub struct PusherBroadcaster {
    credentials: Credentials,
    base: String,
    client: Client<HttpConnector, Full<Bytes>>,
}

impl std::fmt::Debug for PusherBroadcaster {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PusherBroadcaster")
            .field("base", &self.base)
            .field("credentials", &self.credentials)
            .finish()
    }
}

impl PusherBroadcaster {
    /// A broadcaster for the server at `EVENTS_BROADCAST_HOST:PORT`.
    pub fn new(credentials: Credentials, config: &BroadcastConfig) -> Result<Self, ConnectError> {
        if config.scheme == Scheme::Https {
            return Err(ConnectError::Scheme {
                reason: "the pusher broadcaster speaks plain HTTP; reach a TLS server through a \
                         local proxy, or set EVENTS_BROADCAST_SCHEME=http",
            });
        }
        Ok(Self::with_base(
            credentials,
            format!("http://{}:{}", config.host, config.port),
        ))
    }

    /// A broadcaster for the server at `base` (e.g. `http://127.0.0.1:6001`).
    pub fn with_base(credentials: Credentials, base: String) -> Self {
        let client = Client::builder(TokioExecutor::new()).build_http();
        Self {
            credentials,
            base: base.trim_end_matches('/').to_string(),
            client,
        }
    }

    async fn trigger(&self, channels: &[String], message: &BroadcastMessage) -> Result<()> {
        let mut body = serde_json::json!({
            "name": message.event,
            "channels": channels,
            "data": serde_json::to_string(&message.data)?,
        });
        if let Some(socket_id) = &message.socket_id {
            body["socket_id"] = serde_json::Value::String(socket_id.clone());
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
        let response = tokio::time::timeout(TIMEOUT, self.client.request(request))
            .await
            .with_context(|| format!("no answer from {} within {TIMEOUT:?}", self.base))?
            .with_context(|| format!("could not reach {}", self.base))?;
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
        Ok(())
    }
}

#[async_trait]
impl Broadcaster for PusherBroadcaster {
    async fn broadcast(&self, message: &BroadcastMessage) -> Result<()> {
        for channels in message.channels.chunks(MAX_CHANNELS) {
            self.trigger(channels, message).await?;
        }
        Ok(())
    }
}
