//! The `log` broadcaster (Laravel's `log` driver).

use anyhow::Result;
use async_trait::async_trait;

use event_kernel::broadcasting::{BroadcastMessage, Broadcaster};

/// Writes each broadcast to the `tracing` log.
#[derive(Debug, Default, Clone, Copy)]
pub struct LogBroadcaster;

#[async_trait]
impl Broadcaster for LogBroadcaster {
    async fn broadcast(&self, message: &BroadcastMessage) -> Result<()> {
        tracing::info!(
            channels = ?message.channels,
            event = %message.event,
            data = %message.data,
            socket_id = ?message.socket_id,
            "broadcasting"
        );
        Ok(())
    }
}
