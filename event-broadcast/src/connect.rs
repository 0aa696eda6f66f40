//! [`connect`]: the broadcaster `EVENTS_BROADCAST_CONNECTION` names.

use std::sync::Arc;

use crate::config::{BroadcastConfig, BroadcastConnection};
use crate::error::ConnectError;
use crate::log::LogBroadcaster;
use crate::memory::MemoryBroadcaster;
#[cfg(feature = "pusher")]
use crate::pusher::PusherBroadcaster;
#[cfg(feature = "redis")]
use crate::redis::RedisBroadcaster;
use event_kernel::broadcasting::Broadcaster;

/// The broadcaster `EVENTS_BROADCAST_CONNECTION` names (like
/// `queue::connect`): `log` (the default), `memory`, `pusher` (signed HTTP
/// to any Pusher-compatible server) or `redis` (straight onto the cluster
/// channel of `event-broadcast-server`).
pub async fn connect(
    config: impl Into<BroadcastConfig>,
) -> Result<Arc<dyn Broadcaster>, ConnectError> {
    let b = &config.into();
    match b.connection {
        BroadcastConnection::Log => Ok(Arc::new(LogBroadcaster)),
        BroadcastConnection::Memory => Ok(Arc::new(MemoryBroadcaster::new())),
        BroadcastConnection::Pusher => connect_pusher(b),
        BroadcastConnection::Redis => connect_redis(b).await,
    }
}

#[cfg(feature = "pusher")]
fn connect_pusher(b: &BroadcastConfig) -> Result<Arc<dyn Broadcaster>, ConnectError> {
    Ok(Arc::new(PusherBroadcaster::new(
        b.credentials("pusher")?,
        b,
    )?))
}

#[cfg(not(feature = "pusher"))]
fn connect_pusher(_: &BroadcastConfig) -> Result<Arc<dyn Broadcaster>, ConnectError> {
    Err(ConnectError::FeatureOff {
        connection: "pusher",
        feature: "pusher",
    })
}

#[cfg(feature = "redis")]
async fn connect_redis(b: &BroadcastConfig) -> Result<Arc<dyn Broadcaster>, ConnectError> {
    let url = b.redis_url.as_deref().ok_or(ConnectError::Missing {
        connection: "redis",
        missing: "EVENTS_BROADCAST_REDIS_URL",
    })?;
    let app_id = b.app_id.as_deref().ok_or(ConnectError::Missing {
        connection: "redis",
        missing: "EVENTS_BROADCAST_APP_ID",
    })?;
    let mut broadcaster = RedisBroadcaster::connect(url, app_id)
        .await
        .map_err(|source| ConnectError::Redis {
            url: event_kernel::config::redact(url),
            source,
        })?;
    if let Some(key) = &b.encryption_master_key {
        broadcaster = broadcaster.encryption_master_key(key.clone());
    }
    Ok(Arc::new(broadcaster))
}

#[cfg(not(feature = "redis"))]
async fn connect_redis(_: &BroadcastConfig) -> Result<Arc<dyn Broadcaster>, ConnectError> {
    Err(ConnectError::FeatureOff {
        connection: "redis",
        feature: "redis",
    })
}
