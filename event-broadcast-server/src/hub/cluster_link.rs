//! The hub's side of the cluster: where messages for the other nodes go,
//! and a connection for reading the cluster's shared state on request.

use std::sync::atomic::Ordering;

use event_broadcast::cluster::ClusterMessage;
use redis::aio::ConnectionManager;
use tokio::sync::{OnceCell, mpsc};

use super::Stats;

/// The node's way onto the bus: a bounded buffer drained by one publisher task.
#[derive(Debug, Clone)]
pub(crate) struct ClusterLink {
    tx: mpsc::Sender<ClusterMessage>,
    client: redis::Client,
    reader: std::sync::Arc<OnceCell<ConnectionManager>>,
}

impl ClusterLink {
    pub(crate) fn new(tx: mpsc::Sender<ClusterMessage>, client: redis::Client) -> Self {
        Self {
            tx,
            client,
            reader: Default::default(),
        }
    }

    pub(crate) fn publish(&self, message: ClusterMessage, stats: &Stats) {
        if self.tx.try_send(message).is_err() {
            stats.cluster_dropped.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// A connection for requests (the HTTP API), made on first use; it
    /// reconnects by itself.
    pub(crate) async fn reader(&self) -> redis::RedisResult<ConnectionManager> {
        self.reader
            .get_or_try_init(|| ConnectionManager::new(self.client.clone()))
            .await
            .cloned()
    }
}
