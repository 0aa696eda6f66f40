//! Alerts as events: when a queue's oldest ready job waits longer than its
//! threshold, when its failures per minute cross one, or when a worker
//! stalls, one process (the holder of a lease in the backend) dispatches
//! [`QueueLongWait`], [`QueueFailureSpike`] or [`WorkerStalled`], once per
//! crossing. Users listen to them like to any event (mail, Slack), and the
//! event store records them.

use std::collections::BTreeMap;
use std::sync::Arc;

use event_kernel::Event;
use serde::{Deserialize, Serialize};

use super::gauge::QueueGauge;
use super::report::QueueFigures;
use super::workers::{WorkerState, WorkerStatus};

/// Thresholds: a default, and per-queue overrides (`0` turns one off).
/// Written `60` or `60,emails=300,reports=0` in the variables.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Threshold {
    /// For queues without an override (`0`: off).
    pub default: u64,
    /// Per queue.
    pub queues: BTreeMap<String, u64>,
}

impl Threshold {
    /// The threshold of `queue`, if it is on.
    pub fn of(&self, queue: &str) -> Option<u64> {
        let t = self.queues.get(queue).copied().unwrap_or(self.default);
        (t > 0).then_some(t)
    }

    /// True when some queue has it on.
    pub fn is_on(&self) -> bool {
        self.default > 0 || self.queues.values().any(|&t| t > 0)
    }

    /// Reads `60` or `60,emails=300,reports=0`; the message says what is wrong.
    pub fn parse(text: &str) -> Result<Self, String> {
        let mut threshold = Threshold::default();
        for part in text.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let number = |n: &str| {
                n.trim()
                    .parse::<u64>()
                    .map_err(|_| format!("`{n}` is not a whole number of 0 or more"))
            };
            match part.split_once('=') {
                Some((queue, n)) if !queue.trim().is_empty() => {
                    threshold
                        .queues
                        .insert(queue.trim().to_string(), number(n)?);
                }
                Some(_) => return Err(format!("`{part}` names no queue before `=`")),
                None => threshold.default = number(part)?,
            }
        }
        Ok(threshold)
    }
}

/// What raises alerts on a connection.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AlertRules {
    /// `EVENTS_QUEUE_WAIT_ALERT_SECONDS`: the oldest ready job's age.
    pub wait_seconds: Threshold,
    /// `EVENTS_QUEUE_FAILURE_ALERT_PER_MINUTE`: jobs failed for good per
    /// minute over the last 5 minutes.
    pub failures_per_minute: Threshold,
    /// `EVENTS_QUEUE_STALLED_ALERT`: a worker missed 3 heartbeats.
    pub stalled_workers: bool,
}

impl AlertRules {
    /// True when some alert is on.
    pub fn is_on(&self) -> bool {
        self.wait_seconds.is_on() || self.failures_per_minute.is_on() || self.stalled_workers
    }
}

/// A queue's oldest ready job waited longer than its threshold.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct QueueLongWait {
    /// `sqlite`, `redis`, ...
    pub connection: String,
    /// The queue.
    pub queue: String,
    /// How long its oldest ready job has waited (ms).
    pub oldest_pending_ms: u64,
    /// Jobs ready and waiting.
    pub pending: u64,
    /// The threshold crossed (seconds).
    pub threshold_seconds: u64,
}

/// A queue's jobs fail for good faster than its threshold.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct QueueFailureSpike {
    /// `sqlite`, `redis`, ...
    pub connection: String,
    /// The queue.
    pub queue: String,
    /// Failed per minute over the last 5 minutes.
    pub failed_per_minute: f64,
    /// The threshold crossed (per minute).
    pub threshold_per_minute: u64,
}

/// A worker stopped beating (killed, frozen, cut off from the backend).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WorkerStalled {
    /// `sqlite`, `redis`, ...
    pub connection: String,
    /// The worker's id.
    pub worker: String,
    /// Its host.
    pub host: String,
    /// Its process id.
    pub pid: u32,
    /// The queues it read.
    pub queues: Vec<String>,
    /// How long since its last beat (ms).
    pub silent_ms: i64,
}

macro_rules! alert_event {
    ($type:ty, $name:literal) => {
        impl Event for $type {
            fn event_name(&self) -> &'static str {
                $name
            }
            fn to_json(&self) -> serde_json::Value {
                serde_json::to_value(self).unwrap_or_default()
            }
            fn tags(&self) -> Vec<String> {
                vec!["queue-alert".to_string()]
            }
        }
    };
}

alert_event!(QueueLongWait, "QueueLongWait");
alert_event!(QueueFailureSpike, "QueueFailureSpike");
alert_event!(WorkerStalled, "WorkerStalled");

/// What holds now: each alert's key (`wait:<queue>`, `failures:<queue>`,
/// `stalled:<worker>`) and the event to dispatch when it is new.
pub(crate) fn conditions(
    connection: &str,
    rules: &AlertRules,
    gauges: &[QueueGauge],
    recent: &[QueueFigures],
    workers: &[WorkerStatus],
) -> Vec<(String, Arc<dyn Event>)> {
    let mut holding: Vec<(String, Arc<dyn Event>)> = Vec::new();
    for g in gauges {
        if let Some(t) = rules.wait_seconds.of(&g.queue)
            && g.oldest_pending_ms > t * 1000
        {
            holding.push((
                format!("wait:{}", g.queue),
                Arc::new(QueueLongWait {
                    connection: connection.to_string(),
                    queue: g.queue.clone(),
                    oldest_pending_ms: g.oldest_pending_ms,
                    pending: g.pending,
                    threshold_seconds: t,
                }),
            ));
        }
    }
    for q in recent {
        if let Some(t) = rules.failures_per_minute.of(&q.queue)
            && q.failed_per_minute > t as f64
        {
            holding.push((
                format!("failures:{}", q.queue),
                Arc::new(QueueFailureSpike {
                    connection: connection.to_string(),
                    queue: q.queue.clone(),
                    failed_per_minute: q.failed_per_minute,
                    threshold_per_minute: t,
                }),
            ));
        }
    }
    if rules.stalled_workers {
        for w in workers.iter().filter(|w| w.state == WorkerState::Stalled) {
            holding.push((
                format!("stalled:{}", w.beat.id),
                Arc::new(WorkerStalled {
                    connection: connection.to_string(),
                    worker: w.beat.id.clone(),
                    host: w.beat.host.clone(),
                    pid: w.beat.pid,
                    queues: w.beat.queues.clone(),
                    silent_ms: w.silent_ms,
                }),
            ));
        }
    }
    holding
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thresholds_read_a_default_and_overrides() {
        let t = Threshold::parse("60, emails=300,reports=0").unwrap();
        assert_eq!(t.of("orders"), Some(60));
        assert_eq!(t.of("emails"), Some(300));
        assert_eq!(t.of("reports"), None);
        assert!(Threshold::parse("0").unwrap().of("x").is_none());
        assert!(Threshold::parse("soon").unwrap_err().contains("`soon`"));
        assert!(
            Threshold::parse("=5")
                .unwrap_err()
                .contains("names no queue")
        );
    }
}
