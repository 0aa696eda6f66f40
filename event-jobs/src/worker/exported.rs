//! What a worker hands to the [`metrics`] facade, labelled by connection,
//! queue and (for jobs) job: counters and histograms from its tallies once
//! a second, and each queue's gauges on every heartbeat. What a Prometheus
//! or OpenTelemetry exporter serves; without a recorder installed a call
//! costs a load.

use crate::monitor::{BUCKET_BOUNDS_MS, BUCKETS, QueueGauge, Tally};

/// The tallies as `metrics` counters and histograms (seconds), labelled by
/// connection, queue and job: what a Prometheus or OpenTelemetry exporter
/// serves. Without a recorder installed this costs a load per call.
pub(super) fn tallies(connection: &'static str, tallies: &[Tally]) {
    for t in tallies {
        let labels = [
            ("connection", connection.to_string()),
            ("queue", t.queue.clone()),
            ("job", t.job.clone()),
        ];
        metrics::counter!("events_queue_jobs_processed_total", &labels).increment(t.processed);
        metrics::counter!("events_queue_jobs_failed_total", &labels).increment(t.failed);
        metrics::counter!("events_queue_jobs_retried_total", &labels).increment(t.retried);
        for (name, histogram) in [
            ("events_queue_wait_seconds", &t.wait),
            ("events_queue_run_seconds", &t.run),
        ] {
            let h = metrics::histogram!(name, &labels);
            for (i, &n) in histogram.counts.iter().enumerate().take(BUCKETS) {
                if n > 0 {
                    h.record_many(middle_seconds(i), n as usize);
                }
            }
        }
    }
}

/// A bucket's middle, in seconds (its lower bound for the overflow).
fn middle_seconds(bucket: usize) -> f64 {
    let lower = if bucket == 0 {
        0
    } else {
        BUCKET_BOUNDS_MS[bucket - 1]
    };
    let upper = BUCKET_BOUNDS_MS.get(bucket).copied().unwrap_or(lower);
    (lower + upper) as f64 / 2000.0
}

/// Each queue's state now as gauges: pending, delayed, running, failed,
/// paused (1 or 0) and the oldest ready job's age in seconds.
pub(super) fn gauges(connection: &'static str, gauges: &[QueueGauge]) {
    for g in gauges {
        let labels = [
            ("connection", connection.to_string()),
            ("queue", g.queue.clone()),
        ];
        metrics::gauge!("events_queue_pending", &labels).set(g.pending as f64);
        metrics::gauge!("events_queue_delayed", &labels).set(g.delayed as f64);
        metrics::gauge!("events_queue_running", &labels).set(g.running as f64);
        metrics::gauge!("events_queue_failed", &labels).set(g.failed as f64);
        metrics::gauge!("events_queue_paused", &labels).set(if g.paused { 1.0 } else { 0.0 });
        metrics::gauge!("events_queue_oldest_pending_seconds", &labels)
            .set(g.oldest_pending_ms as f64 / 1000.0);
    }
}

#[cfg(test)]
mod tests {
    use metrics_util::debugging::{DebugValue, DebuggingRecorder};

    use super::*;

    #[test]
    fn gauges_reach_the_metrics_facade_per_queue() {
        let recorder = DebuggingRecorder::new();
        let snapshotter = recorder.snapshotter();
        let emails = QueueGauge {
            queue: "emails".into(),
            pending: 7,
            delayed: 2,
            running: 1,
            failed: 3,
            paused: true,
            oldest_pending_ms: 4_500,
        };
        metrics::with_local_recorder(&recorder, || gauges("redis", &[emails]));
        let seen = snapshotter.snapshot().into_vec();
        let value = |name: &str| {
            let (key, _, _, value) = seen
                .iter()
                .find(|(key, ..)| key.key().name() == name)
                .unwrap_or_else(|| panic!("{name} was not emitted: {seen:?}"));
            let labels: Vec<(String, String)> = key
                .key()
                .labels()
                .map(|l| (l.key().to_string(), l.value().to_string()))
                .collect();
            assert_eq!(
                labels,
                vec![
                    ("connection".to_string(), "redis".to_string()),
                    ("queue".to_string(), "emails".to_string())
                ]
            );
            match value {
                DebugValue::Gauge(v) => v.into_inner(),
                other => panic!("{name} is not a gauge: {other:?}"),
            }
        };
        assert_eq!(value("events_queue_pending"), 7.0);
        assert_eq!(value("events_queue_delayed"), 2.0);
        assert_eq!(value("events_queue_running"), 1.0);
        assert_eq!(value("events_queue_failed"), 3.0);
        assert_eq!(value("events_queue_paused"), 1.0);
        assert_eq!(value("events_queue_oldest_pending_seconds"), 4.5);
    }

    #[test]
    fn tallies_reach_the_metrics_facade_with_their_labels() {
        let recorder = DebuggingRecorder::new();
        let snapshotter = recorder.snapshotter();
        let mut tally = Tally::new("emails", "SendWelcome", 0);
        tally.processed = 3;
        tally.failed = 1;
        tally.run.add(40);
        tally.run.add(40);
        tally.wait.add(2_000);
        metrics::with_local_recorder(&recorder, || tallies("sqlite", &[tally]));
        let seen = snapshotter.snapshot().into_vec();
        let find = |name: &str| {
            seen.iter()
                .find(|(key, ..)| key.key().name() == name)
                .unwrap_or_else(|| panic!("{name} was not emitted: {seen:?}"))
        };
        let (key, _, _, value) = find("events_queue_jobs_processed_total");
        let labels: Vec<(String, String)> = key
            .key()
            .labels()
            .map(|l| (l.key().to_string(), l.value().to_string()))
            .collect();
        assert!(labels.contains(&("connection".into(), "sqlite".into())));
        assert!(labels.contains(&("queue".into(), "emails".into())));
        assert!(labels.contains(&("job".into(), "SendWelcome".into())));
        assert_eq!(*value, DebugValue::Counter(3));
        assert_eq!(
            find("events_queue_jobs_failed_total").3,
            DebugValue::Counter(1)
        );
        match &find("events_queue_run_seconds").3 {
            // Two runs of 40 ms land in the (30, 50] ms bucket: its middle.
            DebugValue::Histogram(values) => {
                assert_eq!(values.len(), 2);
                assert!(values.iter().all(|v| (v.into_inner() - 0.04).abs() < 1e-9));
            }
            other => panic!("not a histogram: {other:?}"),
        }
    }
}
