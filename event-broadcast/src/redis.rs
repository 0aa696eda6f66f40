//! The `redis` broadcaster: publishes straight onto the cluster channel of
//! `event-broadcast-server`, so every node delivers the event.
//!
//! It reports no receiver count (`Broadcaster::deliver`'s default: `None`):
//! `PUBLISH` answers how many server nodes heard the message, not how many
//! connections, and the nodes' per-channel counts in Redis are written as
//! sockets come and go, not when an event is delivered, so reading them
//! would be a second round trip that could still be wrong.

use anyhow::{Context, Result};
use async_trait::async_trait;
use redis::AsyncCommands;
use redis::aio::ConnectionManager;

use crate::cluster::{ClusterMessage, pubsub_channel};
use crate::encryption::{MasterKey, payloads};
use event_kernel::broadcasting::{BroadcastMessage, Broadcaster};

/// Publishes broadcasts onto `event-broadcast:{app_id}:bus`.
#[derive(Clone)]
pub struct RedisBroadcaster {
    connection: ConnectionManager,
    channel: String,
    master_key: Option<MasterKey>,
}

impl std::fmt::Debug for RedisBroadcaster {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisBroadcaster")
            .field("channel", &self.channel)
            .field("master_key", &self.master_key)
            .finish()
    }
}

impl RedisBroadcaster {
    /// Connects to `url` (reconnecting by itself later) for app `app_id`.
    pub async fn connect(url: &str, app_id: &str) -> Result<Self> {
        event_tls::install_default_provider();
        let client = redis::Client::open(url).context("invalid Redis URL")?;
        let connection = ConnectionManager::new(client)
            .await
            .context("could not reach Redis")?;
        Ok(Self {
            connection,
            channel: pubsub_channel(app_id),
            master_key: None,
        })
    }

    /// Encrypts what goes to `private-encrypted-` channels with `key` (the
    /// authorizer's); without one, broadcasting to such a channel is an
    /// error ([`NoMasterKey`](crate::NoMasterKey)) and nothing is published.
    pub fn encryption_master_key(mut self, key: MasterKey) -> Self {
        self.master_key = Some(key);
        self
    }
}

#[async_trait]
impl Broadcaster for RedisBroadcaster {
    async fn broadcast(&self, message: &BroadcastMessage) -> Result<()> {
        let data = serde_json::to_string(&message.data)?;
        for (channels, data) in payloads(&message.channels, &data, self.master_key.as_ref())? {
            let frame = ClusterMessage::Broadcast {
                origin: None,
                channels,
                event: message.event.clone(),
                data,
                socket_id: message.socket_id.clone(),
                user_id: None,
            };
            let payload = serde_json::to_string(&frame)?;
            let mut connection = self.connection.clone();
            let _receivers: i64 = connection
                .publish(&self.channel, payload)
                .await
                .with_context(|| {
                    format!("could not publish on Redis channel `{}`", self.channel)
                })?;
        }
        Ok(())
    }
}
