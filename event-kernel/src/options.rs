//! `ListenerOptions`: what a listener declares about its queued jobs.

use chrono::Duration;

/// What one listener declares about its jobs: `None` and empty mean "not
/// said here". The queue layers it over the event's settings, the
/// connection's defaults and the worker's, into the settings a job is
/// stored with (`event_core::queue::JobSettings`); the kernel only carries
/// it.
///
/// `#[listener(...)]` fills it from its attributes; a hand-written listener
/// gets it from its `EventListener` methods and, when it opts in, its
/// `ShouldQueueListener` impl (`EventListener::options`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListenerOptions {
    /// `should_queue()`: run on a queue rather than inline.
    pub queued: bool,
    /// The connection to queue on (`sync`, `memory`, `sqlite`, `redis`,
    /// `postgres`, or a name the app gave one).
    pub connection: Option<String>,
    /// The named queue (`"default"`: the connection's default queue).
    pub queue: Option<String>,
    /// Hold a new job back this long.
    pub delay: Option<Duration>,
    /// Attempts in all; 0 means no limit (Laravel's `$tries = 0`).
    pub tries: Option<u32>,
    /// Delay before retry n; the last value repeats.
    pub backoff: Vec<Duration>,
    /// An attempt running longer is cancelled and counts as failed; zero
    /// means none (Laravel's `$timeout = 0`).
    pub timeout: Option<Duration>,
    /// Fail for good after this many attempts that returned an error or panicked.
    pub max_exceptions: Option<u32>,
    /// Queue only when the surrounding unit of work commits.
    pub after_commit: bool,
    /// Job middleware names (`throttle:N,M`, `rate_limited:NAME`,
    /// `without_overlapping:KEY`, or one the worker's registry provides).
    pub middleware: Vec<String>,
    /// `can_retry()`: false means one attempt whatever `tries` says.
    pub retry: bool,
    /// Retry until this long after the job was queued, however many
    /// attempts that takes (Laravel's `retryUntil()`): `tries` is then not
    /// used. An attempt that fails (or is released) after the deadline, or
    /// would start after it, fails the job for good.
    pub retry_until: Option<Duration>,
    /// Retry n waits `base * 2^(n-1)`, at most `max` (`backoff =
    /// "exponential:BASE,MAX"`); used instead of a `backoff` list.
    pub exponential_backoff: Option<ExponentialBackoff>,
    /// Each retry's delay is drawn at random from [delay / 2, delay], so
    /// jobs that failed together do not all retry at the same moment.
    pub jitter: bool,
    /// Queued at most once at a time per id (Laravel's `ShouldBeUnique`):
    /// a dispatch while a job with the same id waits (or runs) is not
    /// queued.
    pub unique: Option<UniqueJob>,
    /// The job's payload is stored encrypted with the app's key (Laravel's
    /// `ShouldBeEncrypted`): queueing it without `EVENTS_APP_KEY` is an
    /// error, and only workers with the key can run it.
    pub encrypted: bool,
}

/// A unique queued listener's declaration (Laravel's `ShouldBeUnique` /
/// `ShouldBeUniqueUntilProcessing`).
#[derive(Clone, Copy)]
pub struct UniqueJob {
    /// The job's unique id, computed from the event (`None`: this event's
    /// job is not unique). The lock is named after the listener and it.
    pub id: fn(&dyn crate::Event) -> Option<String>,
    /// The lock frees itself after this long (Laravel's `uniqueFor`);
    /// `None`: only when the job is done or failed for good.
    pub lock_for: Option<Duration>,
    /// Free the lock when the job starts running, not when it ends
    /// (`ShouldBeUniqueUntilProcessing`).
    pub until_processing: bool,
}

impl std::fmt::Debug for UniqueJob {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UniqueJob")
            .field("lock_for", &self.lock_for)
            .field("until_processing", &self.until_processing)
            .finish_non_exhaustive()
    }
}

impl PartialEq for UniqueJob {
    fn eq(&self, other: &Self) -> bool {
        std::ptr::fn_addr_eq(self.id, other.id)
            && self.lock_for == other.lock_for
            && self.until_processing == other.until_processing
    }
}

impl Eq for UniqueJob {}

/// Delays that double from `base` up to `max`: retry n waits
/// `min(base * 2^(n-1), max)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ExponentialBackoff {
    /// The delay before the first retry.
    pub base: Duration,
    /// The longest delay.
    pub max: Duration,
}

impl Default for ListenerOptions {
    /// Nothing declared: not queued, may retry.
    fn default() -> Self {
        Self {
            queued: false,
            connection: None,
            queue: None,
            delay: None,
            tries: None,
            backoff: Vec::new(),
            timeout: None,
            max_exceptions: None,
            after_commit: false,
            middleware: Vec::new(),
            retry: true,
            retry_until: None,
            exponential_backoff: None,
            jitter: false,
            unique: None,
            encrypted: false,
        }
    }
}
