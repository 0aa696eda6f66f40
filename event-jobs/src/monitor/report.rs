//! The stats a user reads (`artisan queue:stats --json`, [`Monitor::stats`](super::Monitor::stats)):
//! each queue's state now beside its throughput and times over a window,
//! merged from the stored tallies. The JSON form is a documented interface
//! (docs/queues.md): fields keep their names and meaning.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::gauge::QueueGauge;
use super::histogram::{Histogram, Percentiles};
use super::tally::Tally;

/// What stats to read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatsQuery {
    /// Only this queue (all when `None`).
    pub queue: Option<String>,
    /// How far back throughput and times go.
    pub window: Duration,
    /// Also the figures per job (listener) name.
    pub by_job: bool,
}

impl Default for StatsQuery {
    fn default() -> Self {
        Self {
            queue: None,
            window: Duration::from_secs(300),
            by_job: false,
        }
    }
}

/// Reads a window as `artisan queue:stats --window` takes it: `5m`, `1h`,
/// `24h`, `90s`, `7d` (a number and a unit), up to 90 days.
pub fn parse_window(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    let split = text
        .find(|c: char| !c.is_ascii_digit())
        .ok_or_else(|| format!("`{text}` has no unit: write e.g. 5m, 1h or 24h"))?;
    let (number, unit) = text.split_at(split);
    let n: u64 = number
        .parse()
        .map_err(|_| format!("`{text}` does not start with a number: write e.g. 5m, 1h or 24h"))?;
    let seconds = match unit {
        "s" => n,
        "m" => n * 60,
        "h" => n * 3600,
        "d" => n * 86_400,
        _ => {
            return Err(format!(
                "`{unit}` in `{text}` is not a unit: use s, m, h or d"
            ));
        }
    };
    if seconds == 0 {
        return Err(format!("the window `{text}` is empty"));
    }
    if seconds > 90 * 86_400 {
        return Err(format!(
            "the window `{text}` is longer than the 90 days figures are kept"
        ));
    }
    Ok(Duration::from_secs(seconds))
}

/// Stats of a connection: the documented JSON of `queue:stats --json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StatsReport {
    /// `memory`, `sqlite`, `redis` or `postgres`.
    pub connection: String,
    /// The window throughput and times cover, in seconds.
    pub window_s: u64,
    /// When it was read (ms since the epoch).
    pub at_ms: i64,
    /// One entry per queue, by name.
    pub queues: Vec<QueueFigures>,
    /// Per queue and job name (`--by-job`), by queue then name; empty
    /// unless asked for.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub jobs: Vec<JobFigures>,
}

/// One queue's state now and figures over the window.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct QueueFigures {
    /// The queue.
    pub queue: String,
    /// Ready to run, not claimed.
    pub pending: u64,
    /// Waiting for a later time.
    pub delayed: u64,
    /// Claimed by a worker.
    pub running: u64,
    /// In the failed store.
    pub failed: u64,
    /// Workers take nothing from it.
    pub paused: bool,
    /// Age of the oldest ready job (ms; 0 with none).
    pub oldest_pending_ms: u64,
    /// Jobs processed per minute over the window.
    pub processed_per_minute: f64,
    /// Jobs moved to the failed store per minute over the window.
    pub failed_per_minute: f64,
    /// Ready to claimed, over the window.
    pub wait_ms: Percentiles,
    /// Attempts' run time, over the window.
    pub run_ms: Percentiles,
    /// Jobs processed in the window.
    pub processed_in_window: u64,
    /// Jobs failed for good in the window.
    pub failed_in_window: u64,
    /// Attempts retried in the window.
    pub retried_in_window: u64,
}

/// One job name's figures over the window, in one queue.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct JobFigures {
    /// The queue.
    pub queue: String,
    /// The job's (listener's, or queued event's) name.
    pub job: String,
    /// Jobs processed per minute over the window.
    pub processed_per_minute: f64,
    /// Jobs moved to the failed store per minute over the window.
    pub failed_per_minute: f64,
    /// Ready to claimed.
    pub wait_ms: Percentiles,
    /// Attempts' run time.
    pub run_ms: Percentiles,
    /// Jobs processed in the window.
    pub processed_in_window: u64,
    /// Jobs failed for good in the window.
    pub failed_in_window: u64,
    /// Attempts retried in the window.
    pub retried_in_window: u64,
}

#[derive(Default)]
struct Sum {
    processed: u64,
    failed: u64,
    retried: u64,
    wait: Histogram,
    run: Histogram,
}

impl Sum {
    fn add(&mut self, t: &Tally) {
        self.processed += t.processed;
        self.failed += t.failed;
        self.retried += t.retried;
        self.wait.merge(&t.wait);
        self.run.merge(&t.run);
    }
}

/// Merges gauges and tallies into the report.
pub(super) fn build(
    connection: &str,
    query: &StatsQuery,
    gauges: Vec<QueueGauge>,
    tallies: &[Tally],
    at_ms: i64,
) -> StatsReport {
    let minutes = (query.window.as_secs_f64() / 60.0).max(1.0 / 60.0);
    let wanted = |queue: &str| query.queue.as_deref().is_none_or(|q| q == queue);
    let mut per_queue: BTreeMap<String, Sum> = BTreeMap::new();
    let mut per_job: BTreeMap<(String, String), Sum> = BTreeMap::new();
    for t in tallies.iter().filter(|t| wanted(&t.queue)) {
        per_queue.entry(t.queue.clone()).or_default().add(t);
        if query.by_job {
            per_job
                .entry((t.queue.clone(), t.job.clone()))
                .or_default()
                .add(t);
        }
    }
    let mut gauges: BTreeMap<String, QueueGauge> = gauges
        .into_iter()
        .filter(|g| wanted(&g.queue))
        .map(|g| (g.queue.clone(), g))
        .collect();
    // A queue asked for by name is shown even when nothing was seen on it.
    if let Some(queue) = &query.queue {
        gauges.entry(queue.clone()).or_insert_with(|| QueueGauge {
            queue: queue.clone(),
            ..QueueGauge::default()
        });
    }
    for queue in per_queue.keys() {
        gauges.entry(queue.clone()).or_insert_with(|| QueueGauge {
            queue: queue.clone(),
            ..QueueGauge::default()
        });
    }
    let empty = Sum::default();
    let queues = gauges
        .into_values()
        .map(|g| {
            let sum = per_queue.get(&g.queue).unwrap_or(&empty);
            QueueFigures {
                pending: g.pending,
                delayed: g.delayed,
                running: g.running,
                failed: g.failed,
                paused: g.paused,
                oldest_pending_ms: g.oldest_pending_ms,
                processed_per_minute: sum.processed as f64 / minutes,
                failed_per_minute: sum.failed as f64 / minutes,
                wait_ms: sum.wait.percentiles(),
                run_ms: sum.run.percentiles(),
                processed_in_window: sum.processed,
                failed_in_window: sum.failed,
                retried_in_window: sum.retried,
                queue: g.queue,
            }
        })
        .collect();
    let jobs = per_job
        .into_iter()
        .map(|((queue, job), sum)| JobFigures {
            queue,
            job,
            processed_per_minute: sum.processed as f64 / minutes,
            failed_per_minute: sum.failed as f64 / minutes,
            wait_ms: sum.wait.percentiles(),
            run_ms: sum.run.percentiles(),
            processed_in_window: sum.processed,
            failed_in_window: sum.failed,
            retried_in_window: sum.retried,
        })
        .collect();
    StatsReport {
        connection: connection.to_string(),
        window_s: query.window.as_secs(),
        at_ms,
        queues,
        jobs,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn windows_read_as_a_number_and_a_unit() {
        assert_eq!(parse_window("5m"), Ok(Duration::from_secs(300)));
        assert_eq!(parse_window("24h"), Ok(Duration::from_secs(86_400)));
        assert!(parse_window("5").unwrap_err().contains("no unit"));
        assert!(parse_window("5w").unwrap_err().contains("`w`"));
        assert!(parse_window("100d").unwrap_err().contains("90 days"));
    }

    #[test]
    fn the_json_keeps_the_documented_names_and_null_percentiles() {
        let query = StatsQuery::default();
        let gauge = QueueGauge {
            queue: "default".into(),
            pending: 2,
            ..QueueGauge::default()
        };
        let report = build("sqlite", &query, vec![gauge], &[], 1);
        let json = serde_json::to_value(&report).unwrap();
        let q = &json["queues"][0];
        assert_eq!(json["connection"], "sqlite");
        assert_eq!(json["window_s"], 300);
        for field in [
            "queue",
            "pending",
            "delayed",
            "running",
            "failed",
            "paused",
            "oldest_pending_ms",
            "processed_per_minute",
            "failed_per_minute",
            "wait_ms",
            "run_ms",
        ] {
            assert!(q.get(field).is_some(), "{field} missing from {q}");
        }
        assert_eq!(q["pending"], 2);
        assert!(q["wait_ms"]["p50"].is_null());
    }

    #[test]
    fn tallies_of_several_workers_add_up() {
        let mut a = Tally::new("default", "SendMail", 0);
        a.processed = 3;
        a.run.add(10);
        let mut b = a.clone();
        b.processed = 5;
        let query = StatsQuery {
            by_job: true,
            window: Duration::from_secs(60),
            ..StatsQuery::default()
        };
        let report = build("memory", &query, vec![], &[a, b], 1);
        assert_eq!(report.queues[0].processed_in_window, 8);
        assert_eq!(report.queues[0].processed_per_minute, 8.0);
        assert_eq!(report.jobs[0].job, "SendMail");
        // Two runs of 10 ms, in the (7, 10] ms bucket.
        assert!((7..=10).contains(&report.jobs[0].run_ms.p50.unwrap()));
    }
}
