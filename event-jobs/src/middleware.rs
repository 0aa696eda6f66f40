//! Job middleware: what wraps an attempt at a job (Laravel's job middleware).
//!
//! A listener names them in its settings (`#[listener(middleware =
//! ["throttle:10,1"])]`, or the seed's `ShouldQueueListener::middleware()`):
//!
//! | string | what it does |
//! |---|---|
//! | `throttle:N,M` | Laravel's `ThrottlesExceptions`: after N failed attempts within M minutes, further attempts are held back until the M minutes are over |
//! | `rate_limited:NAME` | at most the limit named `NAME` ([`JobRegistry::rate_limit`]) of attempts per period, counted across every worker of the connection |
//! | `without_overlapping:KEY` | one job with this key runs at a time, across worker processes |
//! | any other name | a [`JobMiddleware`] written in Rust, registered with [`JobRegistry::middleware`] |
//!
//! A job held back is put back on its queue for when it may run; like
//! Laravel's `release()`, that uses one of its tries (give held-back jobs
//! enough `tries`). The counters and locks live in the connection's storage
//! ([`Backend::hit`], [`Backend::try_lock`]), so on `sqlite` and `redis` every
//! worker process shares them.

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use async_trait::async_trait;

use super::QueueError;
use super::backend::Backend;
use super::registry::JobRegistry;
use super::settings::JobSettings;
use event_kernel::Event;

/// The rest of the chain: the next middleware, then the listeners.
pub type Next<'a> = Pin<Box<dyn Future<Output = anyhow::Result<()>> + Send + 'a>>;

/// What a middleware learns about the job it wraps.
pub struct JobInfo<'a> {
    pub event: &'a Arc<dyn Event>,
    /// The listener's name; `None` for a queued event (all its listeners run).
    pub listener: Option<&'a str>,
    /// 1-based.
    pub attempt: u32,
    pub settings: &'a JobSettings,
    /// The attempt's timeout: the job's own, else its worker's.
    pub timeout: Option<Duration>,
}

/// Job middleware written in Rust. Register it under a name with
/// [`JobRegistry::middleware`] and list that name in a listener's
/// `middleware`.
///
/// Call `next.await` to run the job; return its result, or an error of
/// your own. Return `Err(Release::after(d).into())` to put the job back
/// for later without running it.
#[async_trait]
pub trait JobMiddleware: Send + Sync {
    async fn handle(&self, job: &JobInfo<'_>, next: Next<'_>) -> anyhow::Result<()>;
}

/// Returned by a middleware (as an error) to put the job back on its queue,
/// runnable after the delay, instead of running it now.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("held back by job middleware for {} ms", .0.as_millis())]
pub struct Release(pub Duration);

impl Release {
    pub fn after(delay: Duration) -> Self {
        Self(delay)
    }
}

/// A named rate limit: at most `jobs` attempts per `per`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateLimit {
    pub jobs: u64,
    pub per: Duration,
}

impl RateLimit {
    pub fn per_second(jobs: u64) -> Self {
        Self {
            jobs,
            per: Duration::from_secs(1),
        }
    }

    pub fn per_minute(jobs: u64) -> Self {
        Self {
            jobs,
            per: Duration::from_secs(60),
        }
    }

    pub fn new(jobs: u64, per: Duration) -> Self {
        Self { jobs, per }
    }
}

/// A middleware string that cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MiddlewareError {
    #[error(
        "unknown job middleware `{0}`: expected `throttle:N,M`, `rate_limited:NAME`, \
         `without_overlapping:KEY`, or a name registered with `JobRegistry::middleware`"
    )]
    Unknown(String),
    #[error("job middleware `{text}`: {reason}")]
    Malformed { text: String, reason: &'static str },
    #[error(
        "job middleware `{0}` names a rate limit this worker's job registry does not have: add it with `JobRegistry::rate_limit`"
    )]
    UnknownLimit(String),
}

/// A middleware string, parsed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Spec {
    Throttle {
        exceptions: u64,
        minutes: u64,
    },
    RateLimited(String),
    WithoutOverlapping(String),
    /// A [`JobMiddleware`] registered under this name.
    Custom(String),
}

impl Spec {
    /// Reads a middleware string with the one syntax the macros also check
    /// ([`event_macros_internals::middleware`]).
    pub(crate) fn parse(text: &str) -> Result<Self, MiddlewareError> {
        use event_macros_internals::middleware::{Middleware, SyntaxError, parse};
        match parse(text) {
            Ok(Middleware::Throttle {
                exceptions,
                minutes,
            }) => Ok(Spec::Throttle {
                exceptions,
                minutes,
            }),
            Ok(Middleware::RateLimited(name)) => Ok(Spec::RateLimited(name.to_string())),
            Ok(Middleware::WithoutOverlapping(key)) => {
                Ok(Spec::WithoutOverlapping(key.to_string()))
            }
            Ok(Middleware::Custom(name)) => Ok(Spec::Custom(name.to_string())),
            Err(SyntaxError::Malformed(reason)) => Err(MiddlewareError::Malformed {
                text: text.to_string(),
                reason,
            }),
            Err(SyntaxError::Unknown) => Err(MiddlewareError::Unknown(text.to_string())),
        }
    }
}

/// Checks the built-in middleware strings of a job (when it is queued; the
/// names of Rust middleware are checked by the worker's registry).
pub(crate) fn check(middleware: &[String]) -> Result<(), MiddlewareError> {
    for text in middleware {
        Spec::parse(text)?;
    }
    Ok(())
}

/// Checks every middleware string against what `registry` provides.
pub(crate) fn check_with(
    registry: &JobRegistry,
    middleware: &[String],
) -> Result<(), MiddlewareError> {
    for text in middleware {
        match Spec::parse(text)? {
            Spec::Custom(name) if registry.middleware_named(&name).is_none() => {
                return Err(MiddlewareError::Unknown(text.clone()));
            }
            Spec::RateLimited(name) if registry.rate_limit_named(&name).is_none() => {
                return Err(MiddlewareError::UnknownLimit(text.clone()));
            }
            _ => {}
        }
    }
    Ok(())
}

/// Where an attempt's middleware keep their counters and locks.
pub(crate) struct Gate<'a> {
    pub backend: &'a dyn Backend,
    pub registry: &'a JobRegistry,
}

impl Gate<'_> {
    fn store(&self) -> Scoped<'_> {
        match self.backend.middleware_store() {
            Some(store) => Scoped::Shared(store),
            // One namespace per backend instance in the process-wide store.
            None => Scoped::Local(format!(
                "{:p}/",
                self.backend as *const dyn Backend as *const ()
            )),
        }
    }
}

enum Scoped<'a> {
    Shared(&'a dyn MiddlewareStore),
    Local(String),
}

impl Scoped<'_> {
    async fn hit(&self, key: &str, window: Duration) -> Result<(u64, Duration), QueueError> {
        match self {
            Scoped::Shared(store) => store.hit(key, window).await,
            Scoped::Local(ns) => Ok(LocalStore::global().hit(&format!("{ns}{key}"), window)),
        }
    }

    async fn hits(&self, key: &str) -> Result<(u64, Duration), QueueError> {
        match self {
            Scoped::Shared(store) => store.hits(key).await,
            Scoped::Local(ns) => Ok(LocalStore::global().hits(&format!("{ns}{key}"))),
        }
    }

    async fn clear_hits(&self, key: &str) -> Result<(), QueueError> {
        match self {
            Scoped::Shared(store) => store.clear_hits(key).await,
            Scoped::Local(ns) => {
                LocalStore::global().clear(&format!("{ns}{key}"));
                Ok(())
            }
        }
    }

    async fn try_lock(&self, key: &str, owner: &str, ttl: Duration) -> Result<bool, QueueError> {
        match self {
            Scoped::Shared(store) => store.try_lock(key, owner, ttl).await,
            Scoped::Local(ns) => {
                Ok(LocalStore::global().try_lock(&format!("{ns}{key}"), owner, ttl))
            }
        }
    }

    async fn unlock(&self, key: &str, owner: &str) -> Result<(), QueueError> {
        match self {
            Scoped::Shared(store) => store.unlock(key, owner).await,
            Scoped::Local(ns) => {
                LocalStore::global().unlock(&format!("{ns}{key}"), owner);
                Ok(())
            }
        }
    }
}

/// Counters and locks job middleware keep in a connection's storage, so
/// every worker of it agrees ([`Backend::middleware_store`]).
#[async_trait]
pub trait MiddlewareStore: Send + Sync {
    /// Counts a hit on `key`, whose window of `window` starts at its first
    /// hit: the hits so far in the window and the time left of it.
    async fn hit(&self, key: &str, window: Duration) -> Result<(u64, Duration), QueueError>;
    /// The hits on `key` in its current window and the time left of it.
    async fn hits(&self, key: &str) -> Result<(u64, Duration), QueueError>;
    /// Forgets the hits on `key`.
    async fn clear_hits(&self, key: &str) -> Result<(), QueueError>;
    /// Takes the lock `key` for `owner` unless someone holds it; it frees
    /// itself after `ttl`.
    async fn try_lock(&self, key: &str, owner: &str, ttl: Duration) -> Result<bool, QueueError>;
    /// Frees the lock `key` if `owner` holds it.
    async fn unlock(&self, key: &str, owner: &str) -> Result<(), QueueError>;
}

/// How long a `without_overlapping` lock lives when its job has no timeout
/// (a worker that dies holding it frees it after this).
const LOCK_TTL: Duration = Duration::from_secs(600);
/// A job that finds its key locked is put back for this long.
const OVERLAP_RETRY: Duration = Duration::from_millis(250);

/// Runs `run` inside the job's middleware, in the order given.
pub(crate) fn wrap<'a>(
    gate: &'a Gate<'a>,
    job: &'a JobInfo<'a>,
    owner: &'a str,
    specs: &'a [Spec],
    run: Next<'a>,
) -> Next<'a> {
    let Some((first, rest)) = specs.split_first() else {
        return run;
    };
    let next = wrap(gate, job, owner, rest, run);
    Box::pin(layer(gate, job, owner, first, next))
}

async fn layer<'a>(
    gate: &'a Gate<'a>,
    job: &'a JobInfo<'a>,
    owner: &'a str,
    first: &'a Spec,
    next: Next<'a>,
) -> anyhow::Result<()> {
    let key_base = job.listener.unwrap_or(job.event.event_name());
    let store = gate.store();
    match first {
        Spec::Throttle {
            exceptions,
            minutes,
        } => {
            let key = format!("throttle:{key_base}");
            let (count, left) = store.hits(&key).await?;
            if count >= *exceptions {
                return Err(Release(left.max(Duration::from_millis(1))).into());
            }
            let result = next.await;
            match &result {
                Ok(()) => store.clear_hits(&key).await?,
                Err(e) if e.downcast_ref::<Release>().is_none() => {
                    store.hit(&key, Duration::from_secs(minutes * 60)).await?;
                }
                Err(_) => {}
            }
            result
        }
        Spec::RateLimited(name) => {
            let limit = gate
                .registry
                .rate_limit_named(name)
                .ok_or_else(|| MiddlewareError::UnknownLimit(format!("rate_limited:{name}")))?;
            let (count, left) = store.hit(&format!("rate:{name}"), limit.per).await?;
            if count > limit.jobs {
                return Err(Release(left.max(Duration::from_millis(1))).into());
            }
            next.await
        }
        Spec::WithoutOverlapping(key) => {
            let key = format!("overlap:{key}");
            let ttl = job.timeout.map_or(LOCK_TTL, |t| t + Duration::from_secs(5));
            if !store.try_lock(&key, owner, ttl).await? {
                return Err(Release(OVERLAP_RETRY).into());
            }
            let result = next.await;
            let unlocked = store.unlock(&key, owner).await;
            if let Err(e) = unlocked {
                tracing::warn!(key = %key, error = %e, "cannot release a without_overlapping lock; it expires on its own");
            }
            result
        }
        Spec::Custom(name) => match gate.registry.middleware_named(name) {
            Some(middleware) => middleware.handle(job, next).await,
            None => Err(MiddlewareError::Unknown(name.clone()).into()),
        },
    }
}

// ----- the store a backend without its own uses ---------------------------

/// Counters and locks in this process, for backends that keep none of
/// their own (`memory`): shared by the workers of the process.
#[derive(Default)]
pub(crate) struct LocalStore {
    counters: Mutex<HashMap<String, (u64, Instant)>>,
    locks: Mutex<HashMap<String, (String, Instant)>>,
}

impl LocalStore {
    pub(crate) fn global() -> &'static LocalStore {
        static STORE: OnceLock<LocalStore> = OnceLock::new();
        STORE.get_or_init(LocalStore::default)
    }

    pub(crate) fn hit(&self, key: &str, window: Duration) -> (u64, Duration) {
        let now = Instant::now();
        let mut counters = self.counters.lock().unwrap_or_else(|e| e.into_inner());
        let entry = counters.entry(key.to_string()).or_insert((0, now + window));
        if entry.1 <= now {
            *entry = (0, now + window);
        }
        entry.0 += 1;
        (entry.0, entry.1 - now)
    }

    pub(crate) fn hits(&self, key: &str) -> (u64, Duration) {
        let now = Instant::now();
        let counters = self.counters.lock().unwrap_or_else(|e| e.into_inner());
        match counters.get(key) {
            Some(&(count, until)) if until > now => (count, until - now),
            _ => (0, Duration::ZERO),
        }
    }

    pub(crate) fn clear(&self, key: &str) {
        self.counters
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(key);
    }

    pub(crate) fn try_lock(&self, key: &str, owner: &str, ttl: Duration) -> bool {
        let now = Instant::now();
        let mut locks = self.locks.lock().unwrap_or_else(|e| e.into_inner());
        match locks.get(key) {
            Some((_, until)) if *until > now => false,
            _ => {
                locks.insert(key.to_string(), (owner.to_string(), now + ttl));
                true
            }
        }
    }

    pub(crate) fn unlock(&self, key: &str, owner: &str) {
        let mut locks = self.locks.lock().unwrap_or_else(|e| e.into_inner());
        if locks.get(key).is_some_and(|(o, _)| o == owner) {
            locks.remove(key);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::{MiddlewareError, Spec};

    #[test]
    fn parses_the_seed_strings_and_names_bad_ones() {
        assert_eq!(
            Spec::parse("throttle:10,1"),
            Ok(Spec::Throttle {
                exceptions: 10,
                minutes: 1
            })
        );
        assert_eq!(
            Spec::parse("rate_limited:emails"),
            Ok(Spec::RateLimited("emails".into()))
        );
        assert_eq!(
            Spec::parse("without_overlapping:order-1"),
            Ok(Spec::WithoutOverlapping("order-1".into()))
        );
        assert_eq!(Spec::parse("audit"), Ok(Spec::Custom("audit".into())));
        assert!(matches!(
            Spec::parse("throttle:ten,1"),
            Err(MiddlewareError::Malformed { .. })
        ));
        let unknown = Spec::parse("throtle:10,1").expect_err("unknown");
        assert!(unknown.to_string().contains("`throtle:10,1`"), "{unknown}");
    }
}
