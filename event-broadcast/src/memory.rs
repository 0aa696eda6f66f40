//! The `memory` broadcaster: keeps what was broadcast, for tests and demos.

use std::sync::{Arc, Mutex};

use anyhow::Result;
use async_trait::async_trait;

use event_kernel::broadcasting::{BroadcastMessage, Broadcaster};

/// Keeps every broadcast in memory.
#[derive(Debug, Default, Clone)]
pub struct MemoryBroadcaster {
    sent: Arc<Mutex<Vec<BroadcastMessage>>>,
}

impl MemoryBroadcaster {
    /// An empty one. Clones share what they keep.
    pub fn new() -> Self {
        Self::default()
    }

    /// Every message broadcast so far, oldest first.
    pub fn messages(&self) -> Vec<BroadcastMessage> {
        self.sent.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// Messages sent on `channel`.
    pub fn on_channel(&self, channel: &str) -> Vec<BroadcastMessage> {
        self.messages()
            .into_iter()
            .filter(|m| m.channels.iter().any(|c| c == channel))
            .collect()
    }
}

#[async_trait]
impl Broadcaster for MemoryBroadcaster {
    async fn broadcast(&self, message: &BroadcastMessage) -> Result<()> {
        self.sent
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(message.clone());
        Ok(())
    }
}
