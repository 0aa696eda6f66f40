//! Seeing and steering a connection's queues: figures kept up to date as
//! jobs are written (counters, fixed-bucket histograms per minute and
//! hour), workers that register and beat, pause and resume, clear and
//! restart. The same on every connection; [`Monitor`] is the handle
//! (`queue.monitor()`), `artisan queue:stats` and friends its command line.
//!
//! No read counts jobs: each backend keeps its counters as it writes
//! ([`Monitoring`] says what it keeps), so a read costs the same with ten
//! jobs waiting or ten million.

mod alerts;
mod api;
mod completed;
mod gauge;
mod histogram;
mod local;
mod monitoring;
mod report;
#[cfg(test)]
pub(crate) mod scenarios;
mod series;
mod tally;
mod workers;

pub(crate) use alerts::conditions;
pub use alerts::{AlertRules, QueueFailureSpike, QueueLongWait, Threshold, WorkerStalled};
pub use api::Monitor;
pub use completed::{CompletedJob, KEPT, KEPT_FOR, PER_FLUSH};
pub use gauge::QueueGauge;
pub use histogram::{BUCKET_BOUNDS_MS, BUCKETS, Histogram, Percentiles, bucket_of};
pub use local::LocalFigures;
pub use monitoring::{AlertLedger, CompletedLog, Monitoring, Signals};
pub use report::{JobFigures, QueueFigures, StatsQuery, StatsReport, parse_window};
pub use series::{Series, SeriesPoint, SeriesQuery};
pub(crate) use tally::{Outcome, Tallies};
pub use tally::{Resolution, Tally};
pub use workers::{GONE_AFTER_BEATS, STALLED_AFTER_BEATS, WorkerBeat, WorkerState, WorkerStatus};
