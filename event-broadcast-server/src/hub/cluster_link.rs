//! The hub's side of the cluster: where messages for the other nodes go.

use std::sync::atomic::Ordering;

use event_broadcast::cluster::ClusterMessage;
use tokio::sync::mpsc;

use super::Stats;

/// The node's way onto the bus: a bounded buffer drained by one publisher task.
#[derive(Debug, Clone)]
pub(crate) struct ClusterLink {
    tx: mpsc::Sender<ClusterMessage>,
}

impl ClusterLink {
    pub(crate) fn new(tx: mpsc::Sender<ClusterMessage>) -> Self {
        Self { tx }
    }

    pub(crate) fn publish(&self, message: ClusterMessage, stats: &Stats) {
        if self.tx.try_send(message).is_err() {
            stats.cluster_dropped.fetch_add(1, Ordering::Relaxed);
        }
    }
}
