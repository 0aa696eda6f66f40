//! What workers count as jobs finish, per queue, job name and period: the
//! figures a backend keeps (added at write time, never recomputed from the
//! jobs) and stats are read from.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::histogram::Histogram;

/// The two resolutions figures are kept at.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum Resolution {
    /// 1-minute periods, kept [`Resolution::retention`] (48 hours).
    Minute,
    /// 1-hour periods, kept 90 days.
    Hour,
}

impl Resolution {
    /// Both, in the order a worker writes them.
    pub const ALL: [Resolution; 2] = [Resolution::Minute, Resolution::Hour];

    /// The length of one period, in milliseconds.
    pub fn period_ms(self) -> i64 {
        match self {
            Resolution::Minute => 60_000,
            Resolution::Hour => 3_600_000,
        }
    }

    /// How long periods of this resolution are kept.
    pub fn retention(self) -> Duration {
        match self {
            Resolution::Minute => Duration::from_secs(48 * 3600),
            Resolution::Hour => Duration::from_secs(90 * 24 * 3600),
        }
    }

    /// The start (ms since the epoch) of the period `at_ms` falls in.
    pub fn start_of(self, at_ms: i64) -> i64 {
        at_ms - at_ms.rem_euclid(self.period_ms())
    }

    /// A short name for storage: `m` or `h`.
    pub fn code(self) -> &'static str {
        match self {
            Resolution::Minute => "m",
            Resolution::Hour => "h",
        }
    }

    /// The finest resolution that still holds `window` back from now: minutes
    /// up to 6 hours (360 periods at most), hours beyond.
    pub fn for_window(window: Duration) -> Self {
        if window <= Duration::from_secs(6 * 3600) {
            Resolution::Minute
        } else {
            Resolution::Hour
        }
    }
}

/// Jobs of one queue and job name that ended in one period: the counters
/// and histograms a backend adds up.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tally {
    /// The queue.
    pub queue: String,
    /// The job's name: its listener's, or the event's for a queued event.
    pub job: String,
    /// The period's start, in ms since the epoch.
    pub start_ms: i64,
    /// Jobs whose listeners all succeeded.
    pub processed: u64,
    /// Jobs moved to the failed store.
    pub failed: u64,
    /// Attempts that failed and were put back to run again.
    pub retried: u64,
    /// From ready (queued or due) to claimed.
    pub wait: Histogram,
    /// From start to end of the attempt.
    pub run: Histogram,
}

impl Tally {
    /// An empty tally.
    pub fn new(queue: impl Into<String>, job: impl Into<String>, start_ms: i64) -> Self {
        Self {
            queue: queue.into(),
            job: job.into(),
            start_ms,
            processed: 0,
            failed: 0,
            retried: 0,
            wait: Histogram::default(),
            run: Histogram::default(),
        }
    }

    /// Adds another tally's figures (same queue, job and period or not:
    /// the caller decides what it merges).
    pub fn merge(&mut self, other: &Tally) {
        self.processed += other.processed;
        self.failed += other.failed;
        self.retried += other.retried;
        self.wait.merge(&other.wait);
        self.run.merge(&other.run);
    }

    /// True when it counts nothing.
    pub fn is_empty(&self) -> bool {
        self.processed == 0
            && self.failed == 0
            && self.retried == 0
            && self.wait.is_empty()
            && self.run.is_empty()
    }
}

/// How a job's attempt ended, for the tallies.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Outcome {
    Processed,
    Retried,
    Failed,
}

/// A worker's tallies since its last flush, per (queue, job, minute): a
/// few entries, searched in place so counting a job allocates nothing.
#[derive(Debug, Default)]
pub(crate) struct Tallies {
    open: Vec<Tally>,
    /// The entry hit last (the next job is usually of the same kind).
    last: usize,
}

impl Tallies {
    /// The entry of (queue, job) for the minute of `at_ms`.
    pub(crate) fn slot(&mut self, queue: &str, job: &str, at_ms: i64) -> usize {
        let start = Resolution::Minute.start_of(at_ms);
        let is = |t: &Tally| t.start_ms == start && t.job == job && t.queue == queue;
        if self.open.get(self.last).is_some_and(is) {
            return self.last;
        }
        let at = match self.open.iter().position(is) {
            Some(at) => at,
            None => {
                self.open.push(Tally::new(queue, job, start));
                self.open.len() - 1
            }
        };
        self.last = at;
        at
    }

    /// A job was claimed after waiting `waited_ms`; the slot to end it in.
    pub(crate) fn started(&mut self, queue: &str, job: &str, at_ms: i64, waited_ms: u64) -> usize {
        let slot = self.slot(queue, job, at_ms);
        self.open[slot].wait.add(waited_ms);
        slot
    }

    /// The attempt counted in `slot` ended after running `ran_ms`.
    pub(crate) fn ended(&mut self, slot: usize, outcome: Outcome, ran_ms: u64) {
        let Some(tally) = self.open.get_mut(slot) else {
            return;
        };
        match outcome {
            Outcome::Processed => tally.processed += 1,
            Outcome::Retried => tally.retried += 1,
            Outcome::Failed => tally.failed += 1,
        }
        tally.run.add(ran_ms);
    }

    /// The (queue, job) of `slot`.
    pub(crate) fn names(&self, slot: usize) -> Option<(&str, &str)> {
        self.open
            .get(slot)
            .map(|t| (t.queue.as_str(), t.job.as_str()))
    }

    /// Takes everything counted since the last call (minute tallies; the
    /// backend adds each to its hour as well). Slots handed out before are
    /// void afterwards.
    pub(crate) fn take(&mut self) -> Vec<Tally> {
        self.last = 0;
        std::mem::take(&mut self.open)
            .into_iter()
            .filter(|t| !t.is_empty())
            .collect()
    }

    /// Adds tallies (another runner's, or a flush that failed).
    pub(crate) fn add(&mut self, tallies: Vec<Tally>) {
        for t in tallies {
            let slot = self.slot(&t.queue, &t.job, t.start_ms);
            self.open[slot].merge(&t);
        }
    }
}

impl Tallies {
    /// An attempt of (queue, job) ended at `at_ms` after `ran_ms`.
    pub(crate) fn ended_now(
        &mut self,
        queue: &str,
        job: &str,
        at_ms: i64,
        outcome: Outcome,
        ran_ms: u64,
    ) {
        let slot = self.slot(queue, job, at_ms);
        self.ended(slot, outcome, ran_ms);
    }
}
