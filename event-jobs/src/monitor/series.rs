//! Throughput over time: the stored tallies of a window laid out as evenly
//! spaced points, for a chart (the dashboard's) or a script. Read from the
//! same figures as [`super::StatsReport`], so a point adds up to what stats
//! report for its span.

use std::time::Duration;

use serde::Serialize;

use super::histogram::Histogram;
use super::tally::{Resolution, Tally};

/// What [`super::Monitor::series`] reads.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SeriesQuery {
    /// How far back from now (the current period included).
    pub window: Duration,
    /// One queue only; all queues added up when `None`.
    pub queue: Option<String>,
    /// At most this many points (at least one period each): the step is
    /// the window divided by it, rounded up to whole periods.
    pub points: usize,
}

impl Default for SeriesQuery {
    fn default() -> Self {
        Self {
            window: Duration::from_secs(3600),
            queue: None,
            points: 60,
        }
    }
}

/// A window of throughput, oldest point first.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Series {
    /// The connection's kind.
    pub connection: &'static str,
    /// The queue the points count, or `None` for all of them.
    pub queue: Option<String>,
    /// The window, in seconds.
    pub window_s: u64,
    /// The span of one point, in seconds (a whole number of periods).
    pub step_s: u64,
    /// The stored resolution read: `minute` or `hour`.
    pub resolution: &'static str,
    /// Every step of the window, empty ones included, oldest first.
    pub points: Vec<SeriesPoint>,
}

/// One step of a [`Series`].
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SeriesPoint {
    /// The step's start, in ms since the epoch.
    pub start_ms: i64,
    /// Jobs that succeeded in the step.
    pub processed: u64,
    /// Jobs moved to the failed store in the step.
    pub failed: u64,
    /// Attempts put back to run again in the step.
    pub retried: u64,
    /// The 95th percentile of the step's waits (`None` without samples).
    pub wait_p95_ms: Option<u64>,
    /// The 95th percentile of the step's run times (`None` without samples).
    pub run_p95_ms: Option<u64>,
}

/// Where the stored periods start for `query` at `now_ms`, the resolution
/// to read, and the step (in ms) of one point.
pub(crate) fn plan(query: &SeriesQuery, now_ms: i64) -> (Resolution, i64, i64) {
    let resolution = Resolution::for_window(query.window);
    let period = resolution.period_ms();
    let window_ms = (query.window.as_millis() as i64).max(period);
    let periods = (window_ms + period - 1) / period;
    let points = query.points.max(1) as i64;
    let step = ((periods + points - 1) / points).max(1) * period;
    let steps = (window_ms + step - 1) / step;
    // The last step holds the current period; the first starts `steps`
    // steps before the end of it.
    let end = resolution.start_of(now_ms) + period;
    (resolution, end - steps * step, step)
}

/// Lays `tallies` (read from `since_ms` at the plan's resolution) out as
/// the query's points.
pub(crate) fn build(
    connection: &'static str,
    query: &SeriesQuery,
    tallies: &[Tally],
    now_ms: i64,
) -> Series {
    let (resolution, since, step) = plan(query, now_ms);
    let end = resolution.start_of(now_ms) + resolution.period_ms();
    let steps = ((end - since) / step) as usize;
    let mut sums: Vec<(u64, u64, u64, Histogram, Histogram)> = (0..steps)
        .map(|_| (0, 0, 0, Histogram::default(), Histogram::default()))
        .collect();
    for tally in tallies {
        if query.queue.as_deref().is_some_and(|q| q != tally.queue) || tally.start_ms < since {
            continue;
        }
        let Some(sum) = sums.get_mut(((tally.start_ms - since) / step) as usize) else {
            continue;
        };
        sum.0 += tally.processed;
        sum.1 += tally.failed;
        sum.2 += tally.retried;
        sum.3.merge(&tally.wait);
        sum.4.merge(&tally.run);
    }
    let points = sums
        .into_iter()
        .enumerate()
        .map(|(i, (processed, failed, retried, wait, run))| SeriesPoint {
            start_ms: since + i as i64 * step,
            processed,
            failed,
            retried,
            wait_p95_ms: wait.quantile(0.95),
            run_p95_ms: run.quantile(0.95),
        })
        .collect();
    Series {
        connection,
        queue: query.queue.clone(),
        window_s: query.window.as_secs(),
        step_s: (step / 1000) as u64,
        resolution: match resolution {
            Resolution::Minute => "minute",
            Resolution::Hour => "hour",
        },
        points,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MIN: i64 = 60_000;

    fn tally(queue: &str, start_ms: i64, processed: u64, failed: u64) -> Tally {
        let mut t = Tally::new(queue, "job", start_ms);
        t.processed = processed;
        t.failed = failed;
        for _ in 0..processed {
            t.run.add(40);
        }
        t
    }

    #[test]
    fn an_hour_is_sixty_minute_points_ending_with_the_current_minute() {
        let now = 1_000 * MIN + 30_000;
        let query = SeriesQuery::default();
        let tallies = [
            tally("emails", 1_000 * MIN, 3, 1),
            tally("payments", 1_000 * MIN, 2, 0),
            tally("emails", 941 * MIN, 5, 0),
            tally("emails", 940 * MIN, 7, 0), // before the window
        ];
        let series = build("memory", &query, &tallies, now);
        assert_eq!(series.points.len(), 60);
        assert_eq!(series.step_s, 60);
        assert_eq!(series.points[0].start_ms, 941 * MIN);
        assert_eq!(series.points[0].processed, 5);
        let last = series.points.last().unwrap();
        assert_eq!(last.start_ms, 1_000 * MIN);
        assert_eq!((last.processed, last.failed), (5, 1));
        assert!(last.run_p95_ms.is_some_and(|p| (30..=50).contains(&p)));
        assert_eq!(series.points[1].processed, 0);
        assert_eq!(series.points[1].run_p95_ms, None);
        let total: u64 = series.points.iter().map(|p| p.processed).sum();
        assert_eq!(total, 10, "the tally before the window is left out");
    }

    #[test]
    fn one_queue_and_wide_steps() {
        let now = 1_000 * MIN;
        let query = SeriesQuery {
            window: Duration::from_secs(24 * 3600),
            queue: Some("emails".into()),
            points: 48,
        };
        let (resolution, since, step) = plan(&query, now);
        assert_eq!(resolution, Resolution::Hour);
        assert_eq!(step, 3_600_000, "24 hour periods in 48 points: one each");
        let tallies = [tally("emails", since, 4, 0), tally("payments", since, 9, 0)];
        let series = build("memory", &query, &tallies, now);
        assert_eq!(series.points.len(), 24);
        assert_eq!(series.points[0].processed, 4);
        assert_eq!(series.resolution, "hour");

        let week = SeriesQuery {
            window: Duration::from_secs(7 * 86_400),
            queue: None,
            points: 60,
        };
        let (_, since, step) = plan(&week, now);
        assert_eq!(
            step,
            3 * 3_600_000,
            "168 hours in 60 points: 3 hours a step"
        );
        let series = build("memory", &week, &[], now);
        assert_eq!(series.points.len(), 56);
        assert_eq!(series.points[0].start_ms, since);
    }
}
