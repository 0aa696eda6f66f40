//! The worker's side of alerts: at each beat, the worker that holds the
//! connection's alerts lease compares what holds now with the alerts
//! raised before, dispatches the new ones' events and clears the ones that
//! stopped holding. The lease and the raised set live in the backend, so
//! with any number of workers each crossing is told once.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use event_kernel::Dispatcher;

use crate::QueueError;
use crate::backend::Backend;
use crate::job::now_ms;
use crate::monitor::{AlertRules, Monitor, StatsQuery, conditions};

/// The lease's name in the backend.
const LEASE: &str = "alerts";

/// Who evaluates, and where the events go.
pub(crate) struct Watch {
    pub(crate) backend: Arc<dyn Backend>,
    pub(crate) rules: AlertRules,
    pub(crate) dispatcher: Dispatcher,
    pub(crate) holder: String,
    /// The lease lasts this long; renewed at every beat.
    pub(crate) lease: Duration,
}

impl Watch {
    /// One round: takes the lease (or finds another holder has it), then
    /// raises and clears.
    pub(crate) async fn round(&self) -> Result<(), QueueError> {
        let now = now_ms();
        let until = now + self.lease.as_millis() as i64;
        if !self.backend.lease(LEASE, &self.holder, now, until).await? {
            return Ok(());
        }
        let monitor = Monitor::new(self.backend.clone());
        let gauges = monitor.gauges().await?;
        let recent = if self.rules.failures_per_minute.is_on() {
            monitor
                .stats(&StatsQuery {
                    window: Duration::from_secs(300),
                    ..StatsQuery::default()
                })
                .await?
                .queues
        } else {
            Vec::new()
        };
        let workers = if self.rules.stalled_workers {
            monitor.workers().await?
        } else {
            Vec::new()
        };
        let holding = conditions(self.backend.kind(), &self.rules, &gauges, &recent, &workers);
        let raised: BTreeSet<String> = self.backend.raised().await?.into_iter().collect();
        for (key, event) in &holding {
            if raised.contains(key) {
                continue;
            }
            // Marked first: a crash between the two loses one alert rather
            // than sending it twice.
            self.backend.set_raised(key, true, now).await?;
            tracing::warn!(alert = %key, event = event.event_name(), "queue alert");
            if let Err(e) = self.dispatcher.dispatch(event.clone()).await {
                tracing::warn!(alert = %key, error = %e, "an alert's listeners failed");
            }
        }
        for key in raised {
            if !holding.iter().any(|(k, _)| *k == key) {
                self.backend.set_raised(&key, false, now).await?;
                tracing::info!(alert = %key, "queue alert cleared");
            }
        }
        Ok(())
    }
}
