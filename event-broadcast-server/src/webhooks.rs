//! Webhooks (`EVENTS_BROADCAST_WEBHOOK_URL`): `channel_occupied`,
//! `channel_vacated`, `member_added`, `member_removed`, `cache_miss`, posted as Pusher
//! does (`{"time_ms", "events": [...]}`, `X-Pusher-Key`, `X-Pusher-Signature`
//! = hex HMAC-SHA256 of the body with the app secret), batched for up to
//! 100 ms and retried with exponential backoff; to an `https://` URL over
//! rustls, verified against the system roots and `EVENTS_BROADCAST_CA_FILE`.
//!
//! Once per cluster: a member event is sent by the node where the member's
//! first socket joined (or last one left); channel occupancy is counted per
//! node in Redis (`HINCRBY`), so only the node that takes it from 0 to 1
//! (or 1 to 0) sends `channel_occupied` (`channel_vacated`).

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use event_broadcast::signature::{self, Credentials};
use http_body_util::Full;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::Connect;
use hyper_util::rt::TokioExecutor;
use redis::AsyncCommands;
use serde_json::{Value, json};
use tokio::sync::mpsc;

/// Attempts per batch before it is dropped (and logged).
const ATTEMPTS: u32 = 6;

#[derive(Debug, Clone)]
pub(crate) enum Hook {
    Occupied(String),
    Vacated(String),
    MemberAdded(String, String),
    MemberRemoved(String, String),
    /// A subscriber of a cache channel found no cached event.
    CacheMiss(String),
}

#[derive(Debug, Clone)]
pub(crate) struct Webhooks {
    tx: mpsc::UnboundedSender<Hook>,
}

impl Webhooks {
    pub(crate) fn start(
        url: String,
        credentials: Credentials,
        redis_url: Option<String>,
        retry_base: Duration,
        tls: Option<Arc<event_tls::rustls::ClientConfig>>,
    ) -> Self {
        let (tx, rx) = mpsc::unbounded_channel();
        let builder = Client::builder(TokioExecutor::new());
        match tls {
            None => tokio::spawn(run(
                builder.build_http(),
                url,
                credentials,
                redis_url,
                retry_base,
                rx,
            )),
            Some(tls) => {
                let connector = hyper_rustls::HttpsConnectorBuilder::new()
                    .with_tls_config((*tls).clone())
                    .https_only()
                    .enable_http1()
                    .build();
                tokio::spawn(run(
                    builder.build(connector),
                    url,
                    credentials,
                    redis_url,
                    retry_base,
                    rx,
                ))
            }
        };
        Self { tx }
    }

    pub(crate) fn send(&self, hook: Hook) {
        let _ = self.tx.send(hook);
    }
}

fn occupancy_key(app_id: &str) -> String {
    format!("event-broadcast:{app_id}:occupancy")
}

async fn run<C: Connect + Clone + Send + Sync + 'static>(
    client: Client<C, Full<Bytes>>,
    url: String,
    credentials: Credentials,
    redis_url: Option<String>,
    retry_base: Duration,
    mut rx: mpsc::UnboundedReceiver<Hook>,
) {
    let redis = match redis_url.as_deref().map(redis::Client::open) {
        Some(Ok(client)) => Some(client),
        _ => None,
    };
    let mut conn = None;
    while let Some(first) = rx.recv().await {
        let mut hooks = vec![first];
        let window = tokio::time::sleep(Duration::from_millis(100));
        tokio::pin!(window);
        loop {
            tokio::select! {
                () = &mut window => break,
                next = rx.recv() => match next {
                    Some(h) => hooks.push(h),
                    None => break,
                },
            }
        }
        let mut events = Vec::new();
        for hook in hooks {
            let occupied = matches!(hook, Hook::Occupied(_));
            let event = match hook {
                Hook::Occupied(channel) | Hook::Vacated(channel) if redis.is_some() => {
                    // Cluster: only the node that moves the count across 0 sends.
                    if conn.is_none()
                        && let Some(r) = &redis
                    {
                        conn = r.get_multiplexed_async_connection().await.ok();
                    }
                    let Some(c) = conn.as_mut() else {
                        continue;
                    };
                    let delta = if occupied { 1 } else { -1 };
                    let count: i64 = match c
                        .hincr(occupancy_key(&credentials.app_id), &channel, delta)
                        .await
                    {
                        Ok(n) => n,
                        Err(_) => {
                            conn = None;
                            continue;
                        }
                    };
                    match (occupied, count) {
                        (true, 1) => json!({ "name": "channel_occupied", "channel": channel }),
                        (false, 0) => json!({ "name": "channel_vacated", "channel": channel }),
                        _ => continue,
                    }
                }
                Hook::Occupied(channel) => {
                    json!({ "name": "channel_occupied", "channel": channel })
                }
                Hook::Vacated(channel) => json!({ "name": "channel_vacated", "channel": channel }),
                Hook::MemberAdded(channel, user_id) => {
                    json!({ "name": "member_added", "channel": channel, "user_id": user_id })
                }
                Hook::MemberRemoved(channel, user_id) => {
                    json!({ "name": "member_removed", "channel": channel, "user_id": user_id })
                }
                Hook::CacheMiss(channel) => json!({ "name": "cache_miss", "channel": channel }),
            };
            events.push(event);
        }
        if !events.is_empty() {
            deliver(&client, &url, &credentials, events, retry_base).await;
        }
    }
}

async fn deliver<C: Connect + Clone + Send + Sync + 'static>(
    client: &Client<C, Full<Bytes>>,
    url: &str,
    credentials: &Credentials,
    events: Vec<Value>,
    retry_base: Duration,
) {
    let body =
        json!({ "time_ms": chrono::Utc::now().timestamp_millis(), "events": events }).to_string();
    let signature = signature::hmac_hex(&credentials.secret, &body);
    for attempt in 0..ATTEMPTS {
        let request = hyper::Request::post(url)
            .header("content-type", "application/json")
            .header("x-pusher-key", &credentials.key)
            .header("x-pusher-signature", &signature)
            .body(Full::new(Bytes::from(body.clone())));
        let Ok(request) = request else {
            tracing::warn!(url, "invalid webhook URL");
            return;
        };
        let sent = tokio::time::timeout(Duration::from_secs(10), client.request(request)).await;
        match sent {
            Ok(Ok(response)) if response.status().is_success() => return,
            Ok(Ok(response)) => {
                tracing::warn!(url, status = %response.status(), attempt, "webhook refused; retrying")
            }
            Ok(Err(error)) => tracing::warn!(url, %error, attempt, "webhook failed; retrying"),
            Err(_) => tracing::warn!(url, attempt, "webhook timed out; retrying"),
        }
        tokio::time::sleep(retry_base * 2u32.pow(attempt)).await;
    }
    tracing::error!(
        url,
        attempts = ATTEMPTS,
        "webhook dropped after its retries"
    );
}
