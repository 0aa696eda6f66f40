//! A replay handed to the app's workers: a job that replays one stored
//! event there, where the listeners are.
//!
//! A program without the app's listeners (the standalone dashboard) queues
//! a [`ReplayRequested`] event for the listener named [`REPLAY_LISTENER`];
//! the app's worker runs it with the [`Replayer`] its registry was given
//! (the event store's, with the app's listeners). A worker with none (its
//! process has no event store) fails the job with a reason that says so.
//! The kernel knows neither the queue nor the store: the queue runs the job
//! by name, the store implements [`Replayer`].

use std::sync::Arc;

use anyhow::Result;
use async_trait::async_trait;
use serde::{Deserialize, Serialize};

use crate::event::Event;
use crate::listener::EventListener;

/// The name replay jobs are stored under; a worker finds its replayer by it
/// (`JobRegistry::replayer` in the queue).
pub const REPLAY_LISTENER: &str = "event_core::replay";

/// The event name of a replay job.
pub const REPLAY_EVENT: &str = "event_core::ReplayRequested";

/// What a replay job asks for: replay the stored event `event_id` to its
/// listeners, or only to `listener` (its name, or the last `::` segment).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReplayRequested {
    /// The stored event's id.
    pub event_id: String,
    /// Only this listener; `None`: every replayable one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub listener: Option<String>,
}

impl Event for ReplayRequested {
    fn event_name(&self) -> &'static str {
        REPLAY_EVENT
    }

    fn to_json(&self) -> serde_json::Value {
        serde_json::to_value(self).unwrap_or_default()
    }
}

impl ReplayRequested {
    /// The request back from a job's payload.
    pub fn from_json(payload: serde_json::Value) -> Result<Arc<dyn Event>, serde_json::Error> {
        Ok(Arc::new(serde_json::from_value::<Self>(payload)?))
    }
}

/// Replays one stored event with the app's listeners (the event store
/// implements it over a registry). An error fails the job: an unknown
/// event or listener, a listener that failed.
#[async_trait]
pub trait Replayer: Send + Sync {
    /// Replays `request`; returns how many listeners ran.
    async fn replay(&self, request: &ReplayRequested) -> Result<u64>;
}

/// The listener a replay job runs: hands the request to its replayer, or
/// fails naming what is missing.
#[derive(Clone, Default)]
pub struct ReplayListener(pub Option<Arc<dyn Replayer>>);

impl std::fmt::Debug for ReplayListener {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("ReplayListener")
            .field(&self.0.is_some())
            .finish()
    }
}

#[async_trait]
impl EventListener for ReplayListener {
    async fn handle(&self, event: Arc<dyn Event>) -> Result<()> {
        let request = match event.downcast_ref::<ReplayRequested>() {
            Some(request) => request.clone(),
            None => serde_json::from_value::<ReplayRequested>(event.to_json()).map_err(|e| {
                anyhow::anyhow!(
                    "a replay job carries `{}`, not a replay request: {e}",
                    event.event_name()
                )
            })?,
        };
        let Some(replayer) = &self.0 else {
            anyhow::bail!(
                "cannot replay event {}: this worker's process has no event store \
                 (boot the app with EVENTS_STORE_ENABLED=true and EVENTS_STORE_URL, \
                 as `cargo run --bin artisan -- queue:work` does)",
                request.event_id
            );
        };
        replayer.replay(&request).await.map(|_| ())
    }

    fn should_queue(&self) -> bool {
        true
    }

    /// One attempt: a replay that failed is looked at, not run again.
    fn can_retry(&self) -> bool {
        false
    }

    fn replayable(&self) -> bool {
        false
    }

    fn listener_name(&self) -> &str {
        REPLAY_LISTENER
    }
}
