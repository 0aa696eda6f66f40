//! What a job middleware written in Rust sees and returns.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use event_kernel::Event;

use crate::settings::JobSettings;

/// The rest of the chain: the next middleware, then the listeners.
pub type Next<'a> = Pin<Box<dyn Future<Output = anyhow::Result<()>> + Send + 'a>>;

/// What a middleware learns about the job it wraps.
pub struct JobInfo<'a> {
    /// The event being handled (rebuilt from its payload, or the live one on `memory`).
    pub event: &'a Arc<dyn Event>,
    /// The listener's name; `None` for a queued event (all its listeners run).
    pub listener: Option<&'a str>,
    /// 1-based.
    pub attempt: u32,
    /// The job's stored settings (tries, backoff, tags, middleware...).
    pub settings: &'a JobSettings,
    /// The attempt's timeout: the job's own, else its worker's.
    pub timeout: Option<Duration>,
}

impl std::fmt::Debug for JobInfo<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JobInfo")
            .field("listener", &self.listener)
            .field("attempt", &self.attempt)
            .finish_non_exhaustive()
    }
}

/// Job middleware written in Rust. Register it under a name with
/// [`JobRegistry::middleware`](crate::JobRegistry::middleware) and list that name in a listener's
/// `middleware`.
///
/// Call `next.await` to run the job; return its result, or an error of
/// your own. Return `Err(Release::after(d).into())` to put the job back
/// for later without running it.
#[async_trait]
pub trait JobMiddleware: Send + Sync {
    /// Wraps one attempt at `job` (Laravel's middleware `handle($job, $next)`).
    /// An error other than [`Release`] counts as a failed attempt.
    async fn handle(&self, job: &JobInfo<'_>, next: Next<'_>) -> anyhow::Result<()>;
}

/// Returned by a middleware (as an error) to put the job back on its queue,
/// runnable after the delay, instead of running it now.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("held back by job middleware for {} ms", .0.as_millis())]
pub struct Release(pub Duration);

impl Release {
    /// Puts the job back to run again after `delay` (Laravel's `release($delay)`).
    pub fn after(delay: Duration) -> Self {
        Self(delay)
    }
}

/// A named rate limit: at most `jobs` attempts per `per`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateLimit {
    /// Attempts allowed in one window.
    pub jobs: u64,
    /// The window, starting at its first attempt.
    pub per: Duration,
}

impl RateLimit {
    /// `jobs` attempts per second (Laravel's `Limit::perSecond`).
    pub fn per_second(jobs: u64) -> Self {
        Self {
            jobs,
            per: Duration::from_secs(1),
        }
    }

    /// `jobs` attempts per minute (Laravel's `Limit::perMinute`).
    pub fn per_minute(jobs: u64) -> Self {
        Self {
            jobs,
            per: Duration::from_secs(60),
        }
    }

    /// `jobs` attempts per window of `per`.
    pub fn new(jobs: u64, per: Duration) -> Self {
        Self { jobs, per }
    }
}
