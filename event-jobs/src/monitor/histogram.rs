//! Durations in fixed buckets: what a worker adds a job's wait and run
//! time to, what a backend stores as counters, and what percentiles are
//! read from. Fixed bounds make histograms from several workers and
//! several minutes add up bucket by bucket, so a percentile over any window
//! is exact to the bucket.

use serde::{Deserialize, Serialize};

/// The upper bound (milliseconds, inclusive) of each bucket but the last,
/// which holds everything longer than an hour. Roughly 1-1.5-2-3-5-7 per
/// decade: a percentile is within half a step of the true value.
pub const BUCKET_BOUNDS_MS: [u64; 33] = [
    1, 2, 3, 5, 7, 10, 15, 20, 30, 50, 70, 100, 150, 200, 300, 500, 700, 1_000, 1_500, 2_000,
    3_000, 5_000, 7_000, 10_000, 15_000, 20_000, 30_000, 60_000, 120_000, 300_000, 600_000,
    1_800_000, 3_600_000,
];

/// How many buckets a histogram has: one per bound, and the overflow.
pub const BUCKETS: usize = BUCKET_BOUNDS_MS.len() + 1;

/// Counts of durations per fixed bucket ([`BUCKET_BOUNDS_MS`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Histogram {
    /// How many durations fell in each bucket.
    pub counts: [u64; BUCKETS],
}

impl Default for Histogram {
    fn default() -> Self {
        Self {
            counts: [0; BUCKETS],
        }
    }
}

/// The bucket a duration of `ms` milliseconds falls in.
pub fn bucket_of(ms: u64) -> usize {
    BUCKET_BOUNDS_MS.partition_point(|&bound| bound < ms)
}

impl Histogram {
    /// Counts one duration.
    pub fn add(&mut self, ms: u64) {
        self.counts[bucket_of(ms)] += 1;
    }

    /// Adds another histogram's counts, bucket by bucket.
    pub fn merge(&mut self, other: &Histogram) {
        for (mine, theirs) in self.counts.iter_mut().zip(other.counts.iter()) {
            *mine += theirs;
        }
    }

    /// How many durations it holds.
    pub fn count(&self) -> u64 {
        self.counts.iter().sum()
    }

    /// True when it holds none.
    pub fn is_empty(&self) -> bool {
        self.counts.iter().all(|&n| n == 0)
    }

    /// The `q`-quantile (0.0 to 1.0) in milliseconds, interpolated inside
    /// the bucket the rank falls in (as Prometheus' `histogram_quantile`);
    /// `None` with no sample. The overflow bucket answers its lower bound.
    pub fn quantile(&self, q: f64) -> Option<u64> {
        let total = self.count();
        if total == 0 {
            return None;
        }
        let rank = (q.clamp(0.0, 1.0) * total as f64).max(1.0);
        let mut seen = 0u64;
        for (i, &n) in self.counts.iter().enumerate() {
            if n == 0 {
                continue;
            }
            if (seen + n) as f64 >= rank {
                let lower = if i == 0 { 0 } else { BUCKET_BOUNDS_MS[i - 1] };
                let Some(&upper) = BUCKET_BOUNDS_MS.get(i) else {
                    return Some(lower);
                };
                let into = (rank - seen as f64) / n as f64;
                return Some(lower + ((upper - lower) as f64 * into).round() as u64);
            }
            seen += n;
        }
        BUCKET_BOUNDS_MS.last().copied()
    }

    /// p50, p95 and p99.
    pub fn percentiles(&self) -> Percentiles {
        Percentiles {
            p50: self.quantile(0.50),
            p95: self.quantile(0.95),
            p99: self.quantile(0.99),
        }
    }
}

/// Three percentiles of a histogram, in milliseconds; `None` (JSON `null`)
/// with no sample.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Percentiles {
    /// The median.
    pub p50: Option<u64>,
    /// The 95th percentile.
    pub p95: Option<u64>,
    /// The 99th percentile.
    pub p99: Option<u64>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_duration_lands_in_the_first_bucket_whose_bound_holds_it() {
        assert_eq!(bucket_of(0), 0);
        assert_eq!(bucket_of(1), 0);
        assert_eq!(bucket_of(2), 1);
        assert_eq!(
            bucket_of(250),
            BUCKET_BOUNDS_MS.iter().position(|&b| b == 300).unwrap()
        );
        assert_eq!(bucket_of(3_600_000), BUCKETS - 2);
        assert_eq!(bucket_of(3_600_001), BUCKETS - 1);
    }

    #[test]
    fn percentiles_are_within_the_bucket_of_the_true_value() {
        let mut h = Histogram::default();
        for ms in 1..=1000u64 {
            h.add(ms);
        }
        let p = h.percentiles();
        // True values 500, 950, 990; the buckets are (300,500], (700,1000].
        assert!((300..=500).contains(&p.p50.unwrap()), "{p:?}");
        assert!((700..=1000).contains(&p.p95.unwrap()), "{p:?}");
        assert!((700..=1000).contains(&p.p99.unwrap()), "{p:?}");
        assert_eq!(Histogram::default().percentiles(), Percentiles::default());
    }

    #[test]
    fn merged_histograms_count_like_one() {
        let (mut a, mut b, mut both) = (
            Histogram::default(),
            Histogram::default(),
            Histogram::default(),
        );
        for ms in [3, 40, 900] {
            a.add(ms);
            both.add(ms);
        }
        for ms in [12, 5_000] {
            b.add(ms);
            both.add(ms);
        }
        a.merge(&b);
        assert_eq!(a, both);
        assert_eq!(a.count(), 5);
    }
}
