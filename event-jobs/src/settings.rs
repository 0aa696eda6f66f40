//! `JobSettings`: where a job goes and how it runs, as one value.
//!
//! A queued listener or event can be declared in several ways: the
//! `#[listener(...)]` and `#[event(...)]` attributes, the seed's
//! hand-written `ShouldQueue` / `ShouldQueueListener` impls, the plain
//! `EventListener` / `Event` methods, and the config defaults
//! (`EVENTS_DEFAULT_QUEUE`, `EVENTS_RETRY_ATTEMPTS`,
//! `EVENTS_RETRY_DELAY_SECONDS`). Each of them is read into a `JobSettings`,
//! and [`JobSettings::for_listener`] / [`JobSettings::for_event`] (one
//! function underneath, like Laravel's `propagateListenerOptions`) layer
//! them into the settings a job is stored with. Every connection and the
//! worker read only that.

use chrono::Duration;
use serde::{Deserialize, Serialize};

use crate::config::QueueConfig;
use event_kernel::Event;
use event_kernel::{EventListener, ExponentialBackoff, ListenerOptions};

/// The settings of a queued job.
///
/// Made from what the listener declares ([`ListenerOptions`], `None` and
/// empty meaning "not said") and what the event declares. As a job's
/// settings (computed by
/// [`JobSettings::for_listener`] / [`JobSettings::for_event`]), the retry
/// delay is filled in; a queue left `None` is the connection's default
/// queue; `tries` and `timeout` stay `None` when nothing declared them, and
/// the worker that runs the job fills them in ([`JobSettings::limits`]:
/// `Worker::tries` / `Worker::timeout`, else the queue's defaults, as
/// Laravel's `$job->maxTries() ?? $options->maxTries`).
///
/// Stored with every job (durations as milliseconds).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct JobSettings {
    /// `should_queue()`: run on a queue rather than inline.
    #[serde(skip, default = "yes")]
    pub queued: bool,
    /// The connection to queue on (`sync`, `memory`, `sqlite`, `redis`, or a
    /// name given to `Queue::with_connection`); `None`: the queue's own.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub connection: Option<String>,
    /// The named queue; `None` (or `"default"`): the connection's default
    /// queue (`EVENTS_DEFAULT_QUEUE`), which the job's envelope names.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub queue: Option<String>,
    /// Hold a new job back this long.
    #[serde(default, with = "ms_opt", rename = "delay_ms")]
    pub delay: Option<Duration>,
    /// Attempts in all; 0 means no limit (Laravel's `$tries = 0`). `None`
    /// on a job: the worker's `tries`, else `EVENTS_RETRY_ATTEMPTS`.
    #[serde(default)]
    pub tries: Option<u32>,
    /// Delay before retry n; the last value repeats. Empty: `retry_delay`.
    #[serde(default, with = "ms_list", rename = "backoff_ms")]
    pub backoff: Vec<Duration>,
    /// The delay before a retry when there is no `backoff` list
    /// (`EVENTS_RETRY_DELAY_SECONDS`).
    #[serde(default, with = "ms_opt", rename = "retry_delay_ms")]
    pub retry_delay: Option<Duration>,
    /// An attempt running longer is cancelled and counts as failed; zero
    /// means none (Laravel's `$timeout = 0`). `None` on a job: the
    /// worker's `timeout`, else none.
    #[serde(default, with = "ms_opt", rename = "timeout_ms")]
    pub timeout: Option<Duration>,
    /// Fail for good after this many attempts that returned an error or panicked.
    #[serde(default)]
    pub max_exceptions: Option<u32>,
    /// Queue only when the unit of work ([`crate::defer`]) succeeds.
    #[serde(default)]
    pub after_commit: bool,
    /// Higher runs first within a queue.
    #[serde(default)]
    pub priority: i32,
    /// Job middleware: `throttle:N,M`, `rate_limited:NAME`,
    /// `without_overlapping:KEY`, or a name registered with
    /// [`crate::JobRegistry::middleware`].
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub middleware: Vec<String>,
    /// Free-form labels (`Event::tags()`), shown by `artisan queue:failed`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tags: Vec<String>,
    /// `can_retry()`: false means one attempt whatever `tries` says.
    #[serde(default = "yes")]
    pub retry: bool,
    /// Retry until this long after the job was queued (Laravel's
    /// `retryUntil()`), however many attempts: `tries` is not used.
    #[serde(
        default,
        with = "ms_opt",
        rename = "retry_until_ms",
        skip_serializing_if = "Option::is_none"
    )]
    pub retry_until: Option<Duration>,
    /// Delays doubling from `base` to `max`, instead of a `backoff` list.
    #[serde(
        default,
        with = "exponential_ms",
        rename = "exponential_ms",
        skip_serializing_if = "Option::is_none"
    )]
    pub exponential_backoff: Option<ExponentialBackoff>,
    /// Each retry's delay drawn at random from [delay / 2, delay].
    #[serde(default, skip_serializing_if = "is_false")]
    pub jitter: bool,
    /// The unique lock this job holds (a listener's `unique_id`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unique: Option<crate::UniqueLock>,
    /// The payload is stored sealed with `EVENTS_APP_KEY` (Laravel's
    /// `ShouldBeEncrypted`; see [`crate::AppKeys`]).
    #[serde(default, skip_serializing_if = "is_false")]
    pub encrypted: bool,
}

fn is_false(b: &bool) -> bool {
    !b
}

fn yes() -> bool {
    true
}

impl Default for JobSettings {
    /// Nothing declared: not queued, may retry.
    fn default() -> Self {
        Self {
            queued: false,
            connection: None,
            queue: None,
            delay: None,
            tries: None,
            backoff: Vec::new(),
            retry_delay: None,
            timeout: None,
            max_exceptions: None,
            after_commit: false,
            priority: 0,
            middleware: Vec::new(),
            tags: Vec::new(),
            retry: true,
            retry_until: None,
            exponential_backoff: None,
            jitter: false,
            unique: None,
            encrypted: false,
        }
    }
}

impl From<ListenerOptions> for JobSettings {
    /// What a listener declares, as settings still to be resolved
    /// ([`JobSettings::for_listener`]).
    fn from(declared: ListenerOptions) -> Self {
        let ListenerOptions {
            queued,
            connection,
            queue,
            delay,
            tries,
            backoff,
            timeout,
            max_exceptions,
            after_commit,
            middleware,
            retry,
            retry_until,
            exponential_backoff,
            jitter,
            // Computed from the event (`JobSettings::for_listener`).
            unique: _,
            encrypted,
        } = declared;
        Self {
            queued,
            connection,
            queue,
            delay,
            tries,
            backoff,
            timeout,
            max_exceptions,
            after_commit,
            middleware,
            retry,
            retry_until,
            exponential_backoff,
            jitter,
            encrypted,
            ..Self::default()
        }
    }
}

impl JobSettings {
    /// The config defaults: `EVENTS_DEFAULT_QUEUE`, `EVENTS_RETRY_ATTEMPTS`,
    /// `EVENTS_RETRY_DELAY_SECONDS`.
    pub fn from_config(config: impl Into<QueueConfig>) -> Self {
        let config = config.into();
        Self {
            queue: Some(config.default_queue.clone()),
            tries: Some(config.retry_attempts),
            retry_delay: Some(config.retry_delay()),
            ..Self::default()
        }
    }

    /// What an event declares: the plain `Event` methods and its
    /// [`ShouldQueue`](event_kernel::ShouldQueue) view (`Event::as_should_queue`).
    pub fn declared_by_event(event: &dyn Event) -> Self {
        let mut declared = Self {
            queued: event.should_queue(),
            queue: event.queue_name().map(str::to_string),
            priority: event.priority(),
            tags: event.tags(),
            ..Self::default()
        };
        if let Some(queued) = event.as_should_queue() {
            declared.connection = queued.queue_connection().map(str::to_string);
            if let Some(queue) = queued.queue() {
                declared.queue = Some(queue.to_string());
            }
            declared.delay = queued.delay();
            declared.tries = queued.tries();
            declared.timeout = queued.timeout();
            declared.after_commit = queued.after_commit();
        }
        declared
    }

    /// The settings of the job `listener` handling `event` becomes.
    pub fn for_listener(
        listener: &dyn EventListener,
        event: &dyn Event,
        defaults: &JobSettings,
    ) -> Self {
        let options = listener.options();
        let unique = options.unique;
        let mut settings = Self::from(options);
        resolve(&mut settings, event, defaults);
        settings.unique = crate::UniqueLock::of(unique, listener, event);
        settings
    }

    /// The settings of the job a queued `event` becomes.
    pub fn for_event(event: &dyn Event, defaults: &JobSettings) -> Self {
        let mut own = Self::declared_by_event(event);
        // `resolve` adds the event-wide ones again.
        own.tags.clear();
        resolve(&mut own, event, defaults);
        own
    }

    /// The attempts in all this job declares: 1 when it may not retry,
    /// [`UNLIMITED_TRIES`] for a declared 0, `None` when nothing said (a worker
    /// fills it in, see [`JobSettings::limits`]).
    pub fn declared_tries(&self) -> Option<u32> {
        if !self.retry {
            Some(1)
        } else if self.retry_until.is_some() {
            // Laravel's `retryUntil()` wins over `tries`: the deadline ends it.
            Some(UNLIMITED_TRIES)
        } else {
            self.tries.map(attempts)
        }
    }

    /// Unix ms after which this job is not tried again (`retry_until`),
    /// counted from `from_ms` (when it was queued, or retried by hand).
    pub fn retry_deadline(&self, from_ms: i64) -> Option<i64> {
        self.retry_until
            .filter(|_| self.retry)
            .map(|d| from_ms.saturating_add(millis(d) as i64))
    }

    /// The attempts in all and the timeout a worker gives this job: what it
    /// declares, else `worker`'s (the worker's own `tries` / `timeout`, else
    /// its queue's defaults), else one try and no timeout.
    pub fn limits(&self, worker: &JobSettings) -> Limits {
        limits(self.declared_tries(), self.timeout, worker)
    }
    /// The delay before the attempt after `attempt` (1-based): this job's
    /// `backoff` list (the last value repeats), else its `retry_delay`,
    /// else `worker`'s (the worker's own `backoff`, else its queue's
    /// `EVENTS_RETRY_DELAY_SECONDS`), else none.
    pub fn backoff_after(&self, attempt: u32, worker: &JobSettings) -> std::time::Duration {
        retry_delay(Some(self), attempt, worker)
    }

    /// The delay in milliseconds (0 for none).
    pub fn delay_ms(&self) -> u64 {
        self.delay.map_or(0, millis)
    }

    /// The queue, or `default_queue` where it names none.
    pub fn queue_or<'a>(&'a self, default_queue: &'a str) -> &'a str {
        self.queue.as_deref().unwrap_or(default_queue)
    }
}

/// The one rule for the delay before the attempt after `attempt`
/// (1-based): what the job declares (`None`: a job with no settings of its
/// own, the memory connection's plain jobs), else what the worker gives.
pub(crate) fn retry_delay(
    declared: Option<&JobSettings>,
    attempt: u32,
    worker: &JobSettings,
) -> std::time::Duration {
    let index = (attempt.max(1) - 1) as usize;
    let listed = |s: &JobSettings| {
        s.exponential_backoff
            .map(|e| exponential(e, attempt))
            .or_else(|| s.backoff.get(index).or(s.backoff.last()).copied())
    };
    let delay = declared
        .and_then(|own| listed(own).or(own.retry_delay))
        .or_else(|| listed(worker))
        .or(worker.retry_delay);
    let ms = delay.map_or(0, millis);
    let ms = if declared.is_some_and(|own| own.jitter) {
        jittered(ms)
    } else {
        ms
    };
    std::time::Duration::from_millis(ms)
}

/// `min(base * 2^(attempt-1), max)`.
fn exponential(e: ExponentialBackoff, attempt: u32) -> Duration {
    let doublings = attempt.max(1) - 1;
    let factor = 1i64.checked_shl(doublings.min(62)).unwrap_or(i64::MAX);
    let base = e.base.num_milliseconds().max(0);
    let max = e.max.num_milliseconds().max(0);
    Duration::milliseconds(base.saturating_mul(factor).min(max))
}

/// A delay drawn at random from [ms / 2, ms].
fn jittered(ms: u64) -> u64 {
    let half = ms / 2;
    let spread = ms - half;
    if spread == 0 {
        return ms;
    }
    // Any uniform bits will do; ulid already brings a generator.
    let random = ulid::Ulid::new().random() as u64;
    half + random % (spread + 1)
}

/// A job's attempts in all and timeout, as a worker runs it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// At least 1; [`UNLIMITED_TRIES`] when `tries` 0 was declared or given.
    pub tries: u32,
    /// `None`: no timeout (also where a zero one was declared or given).
    pub timeout_ms: Option<u64>,
}

/// [`Limits::tries`] of a job that may retry without limit: what `tries`
/// 0 means, declared or given to the worker (Laravel's `--tries=0`).
pub const UNLIMITED_TRIES: u32 = u32::MAX;

/// Attempts in all for `tries` as declared or given: 0 is no limit.
fn attempts(tries: u32) -> u32 {
    if tries == 0 { UNLIMITED_TRIES } else { tries }
}

/// The one place a worker fills in what a job did not declare (every
/// connection's worker comes here): the job's own value, else `worker`'s,
/// else one try and no timeout. Laravel's zeros: 0 tries is no limit, a
/// zero timeout none (a job's zero also overrides the worker's timeout).
pub(crate) fn limits(
    declared_tries: Option<u32>,
    declared_timeout: Option<Duration>,
    worker: &JobSettings,
) -> Limits {
    Limits {
        tries: tries(declared_tries, worker),
        timeout_ms: declared_timeout
            .or(worker.timeout)
            .filter(|t| *t > Duration::zero())
            .map(millis),
    }
}

/// The tries of [`limits`] alone (the memory worker's quick path, which
/// runs only jobs with no timeout).
#[inline]
pub(crate) fn tries(declared_tries: Option<u32>, worker: &JobSettings) -> u32 {
    declared_tries.or(worker.tries.map(attempts)).unwrap_or(1)
}

/// The one place settings are layered: what the listener (or, for a
/// queued event, the event) declares, then the event-wide settings
/// (priority, tags, `after_commit`), then the config defaults. Fills `own`
/// in place: a dispatch to the memory connection pays for one
/// `JobSettings`, not two, and never moves it. Tries and timeout are left
/// to the worker when undeclared ([`limits`]).
pub(crate) fn resolve(own: &mut JobSettings, event: &dyn Event, defaults: &JobSettings) {
    own.after_commit =
        own.after_commit || event.as_should_queue().is_some_and(|q| q.after_commit());
    // Undeclared: the worker's (`Worker::tries`), else the defaults of the
    // worker's queue, filled in when it runs the job.
    own.tries = own.declared_tries();
    let tags = event.tags();
    if own.tags.is_empty() {
        // The usual case: nothing to merge (and, with no tags, nothing
        // allocated).
        if !tags.is_empty() {
            own.tags = tags;
        }
    } else {
        let mine = std::mem::replace(&mut own.tags, tags);
        for tag in mine {
            if !own.tags.contains(&tag) {
                own.tags.push(tag);
            }
        }
    }
    own.queued = true;
    if own.connection.is_none() && defaults.connection.is_some() {
        own.connection.clone_from(&defaults.connection);
    }
    // `None`: the connection's default queue, which the envelope names
    // (no copy of its name per job). Laravel's default queue is called
    // `default`: naming it means the configured one (what
    // `artisan make:listener --queued` writes).
    if own.queue.as_deref() == Some("default") {
        own.queue = None;
    }
    if own.delay.is_none() {
        own.delay = defaults.delay;
    }
    // An undeclared backoff is the worker's (`Worker::backoff`), else
    // `EVENTS_RETRY_DELAY_SECONDS` of the worker's queue ([`retry_delay`]).
    if own.max_exceptions.is_none() {
        own.max_exceptions = defaults.max_exceptions;
    }
    if own.priority == 0 {
        own.priority = event.priority();
    }
}

pub(crate) fn millis(d: Duration) -> u64 {
    d.num_milliseconds().max(0) as u64
}

mod ms_opt {
    use chrono::Duration;
    use serde::{Deserialize, Deserializer, Serializer};

    pub(super) fn serialize<S: Serializer>(d: &Option<Duration>, s: S) -> Result<S::Ok, S::Error> {
        match d {
            Some(d) => s.serialize_some(&super::millis(*d)),
            None => s.serialize_none(),
        }
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(
        d: D,
    ) -> Result<Option<Duration>, D::Error> {
        let ms = Option::<u64>::deserialize(d)?;
        Ok(ms.map(|ms| Duration::milliseconds(i64::try_from(ms).unwrap_or(i64::MAX / 1_000_000))))
    }
}

mod exponential_ms {
    use chrono::Duration;
    use event_kernel::ExponentialBackoff;
    use serde::{Deserialize, Deserializer, Serializer};

    pub(super) fn serialize<S: Serializer>(
        e: &Option<ExponentialBackoff>,
        s: S,
    ) -> Result<S::Ok, S::Error> {
        match e {
            Some(e) => s.serialize_some(&[super::millis(e.base), super::millis(e.max)]),
            None => s.serialize_none(),
        }
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(
        d: D,
    ) -> Result<Option<ExponentialBackoff>, D::Error> {
        let ms = Option::<[u64; 2]>::deserialize(d)?;
        let duration =
            |ms: u64| Duration::milliseconds(i64::try_from(ms).unwrap_or(i64::MAX / 1_000_000));
        Ok(ms.map(|[base, max]| ExponentialBackoff {
            base: duration(base),
            max: duration(max),
        }))
    }
}

mod ms_list {
    use chrono::Duration;
    use serde::{Deserialize, Deserializer, Serializer};

    pub(super) fn serialize<S: Serializer>(d: &[Duration], s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(d.iter().map(|d| super::millis(*d)))
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<Duration>, D::Error> {
        let ms = Vec::<u64>::deserialize(d)?;
        Ok(ms
            .into_iter()
            .map(|ms| Duration::milliseconds(i64::try_from(ms).unwrap_or(i64::MAX / 1_000_000)))
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::{JobSettings, Limits, UNLIMITED_TRIES, tries};
    use std::time::Duration;

    #[test]
    fn backoff_follows_the_list_then_the_retry_delay() {
        let settings = JobSettings {
            backoff: [5, 15, 30].map(chrono::Duration::seconds).to_vec(),
            ..JobSettings::default()
        };
        let none = JobSettings::default();
        let secs: Vec<u64> = (1..=5)
            .map(|a| settings.backoff_after(a, &none).as_secs())
            .collect();
        assert_eq!(secs, vec![5, 15, 30, 30, 30]);
        let stored = JobSettings {
            retry_delay: Some(chrono::Duration::seconds(7)),
            ..JobSettings::default()
        };
        assert_eq!(stored.backoff_after(3, &none), Duration::from_secs(7));
        assert_eq!(none.backoff_after(3, &none), Duration::ZERO);
    }

    #[test]
    fn an_undeclared_backoff_is_the_workers_then_its_queues_retry_delay() {
        let queue_default = JobSettings {
            retry_delay: Some(chrono::Duration::seconds(60)),
            ..JobSettings::default()
        };
        let undeclared = JobSettings::default();
        assert_eq!(
            undeclared.backoff_after(1, &queue_default),
            Duration::from_secs(60)
        );
        let worker = JobSettings {
            backoff: [1, 4].map(chrono::Duration::seconds).to_vec(),
            ..queue_default
        };
        let secs: Vec<u64> = (1..=3)
            .map(|a| undeclared.backoff_after(a, &worker).as_secs())
            .collect();
        assert_eq!(secs, vec![1, 4, 4]);
        assert_eq!(super::retry_delay(None, 2, &worker), Duration::from_secs(4));
        // A declared list wins over the worker's.
        let declared = JobSettings {
            backoff: vec![chrono::Duration::seconds(9)],
            ..JobSettings::default()
        };
        assert_eq!(declared.backoff_after(1, &worker), Duration::from_secs(9));
    }

    #[test]
    fn exponential_backoff_doubles_up_to_its_max_and_jitter_stays_in_its_half() {
        let settings = JobSettings {
            exponential_backoff: Some(event_kernel::ExponentialBackoff {
                base: chrono::Duration::seconds(1),
                max: chrono::Duration::seconds(10),
            }),
            ..JobSettings::default()
        };
        let none = JobSettings::default();
        let secs: Vec<u64> = (1..=6)
            .map(|a| settings.backoff_after(a, &none).as_secs())
            .collect();
        assert_eq!(secs, vec![1, 2, 4, 8, 10, 10]);
        assert_eq!(settings.backoff_after(200, &none), Duration::from_secs(10));
        let jittered = JobSettings {
            jitter: true,
            ..settings
        };
        let delays: Vec<Duration> = (0..200).map(|_| jittered.backoff_after(4, &none)).collect();
        assert!(
            delays
                .iter()
                .all(|d| *d >= Duration::from_secs(4) && *d <= Duration::from_secs(8)),
            "{delays:?}"
        );
        assert!(
            delays.iter().any(|d| *d != delays[0]),
            "jitter varies the delay"
        );
        // Stored and read back.
        let json = serde_json::to_value(&jittered).expect("json");
        assert_eq!(json["exponential_ms"], serde_json::json!([1000, 10000]));
        let back: JobSettings = serde_json::from_value(json).expect("read back");
        // (`queued` is not stored: a stored job is queued.)
        assert_eq!(
            (back.exponential_backoff, back.jitter),
            (jittered.exponential_backoff, jittered.jitter)
        );
    }

    #[test]
    fn retry_until_replaces_tries_with_a_deadline() {
        let settings = JobSettings {
            tries: Some(3),
            retry_until: Some(chrono::Duration::seconds(60)),
            ..JobSettings::default()
        };
        assert_eq!(settings.declared_tries(), Some(UNLIMITED_TRIES));
        assert_eq!(settings.retry_deadline(1_000), Some(61_000));
        let once = JobSettings {
            retry: false,
            ..settings
        };
        assert_eq!(once.declared_tries(), Some(1));
        assert_eq!(once.retry_deadline(1_000), None);
    }

    #[test]
    fn stored_settings_read_the_old_limits() {
        let old = r#"{"tries":4,"backoff_ms":[1000],"timeout_ms":30000,"max_exceptions":2}"#;
        let settings: JobSettings = serde_json::from_str(old).expect("old limits");
        // A worker's own tries / timeout do not override what is stored.
        let worker = JobSettings {
            tries: Some(9),
            timeout: Some(chrono::Duration::seconds(1)),
            ..JobSettings::default()
        };
        let limits = settings.limits(&worker);
        assert_eq!(limits.tries, 4);
        assert_eq!(limits.timeout_ms, Some(30_000));
        assert_eq!(settings.backoff_after(1, &worker), Duration::from_secs(1));
        assert!(settings.retry);
    }

    #[test]
    fn the_worker_fills_in_undeclared_tries_and_timeout() {
        let worker = JobSettings {
            tries: Some(3),
            timeout: Some(chrono::Duration::seconds(2)),
            ..JobSettings::default()
        };
        let undeclared = JobSettings::default().limits(&worker);
        assert_eq!(undeclared.tries, 3);
        assert_eq!(undeclared.timeout_ms, Some(2_000));
        let declared = JobSettings {
            tries: Some(1),
            timeout: Some(chrono::Duration::milliseconds(50)),
            ..JobSettings::default()
        }
        .limits(&worker);
        assert_eq!((declared.tries, declared.timeout_ms), (1, Some(50)));
        let no_retry = JobSettings {
            retry: false,
            ..JobSettings::default()
        };
        assert_eq!(no_retry.limits(&worker).tries, 1);
        let nothing = JobSettings::default().limits(&JobSettings::default());
        assert_eq!((nothing.tries, nothing.timeout_ms), (1, None));
    }

    #[test]
    fn zero_tries_is_no_limit_and_a_zero_timeout_none_wherever_said() {
        let zero = JobSettings {
            tries: Some(0),
            timeout: Some(chrono::Duration::zero()),
            ..JobSettings::default()
        };
        let worker = JobSettings {
            tries: Some(3),
            timeout: Some(chrono::Duration::seconds(2)),
            ..JobSettings::default()
        };
        // Declared: wins over the worker's, as any declared value.
        assert_eq!(
            zero.limits(&worker),
            Limits {
                tries: UNLIMITED_TRIES,
                timeout_ms: None
            }
        );
        // Given to the worker (`--tries 0 --timeout 0`, or the defaults).
        let undeclared = JobSettings::default().limits(&zero);
        assert_eq!(
            undeclared,
            Limits {
                tries: UNLIMITED_TRIES,
                timeout_ms: None
            }
        );
        // The memory connection's quick path asks the same rule.
        assert_eq!(tries(None, &zero), UNLIMITED_TRIES);
        // `can_retry()` false still means one attempt.
        let no_retry = JobSettings {
            retry: false,
            ..zero
        };
        assert_eq!(no_retry.limits(&worker).tries, 1);
    }
}
