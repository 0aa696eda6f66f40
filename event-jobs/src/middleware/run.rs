//! Running an attempt inside its middleware.

use std::time::Duration;

use super::api::{JobInfo, Next, Release};
use super::spec::Spec;
use super::store::{LocalStore, MiddlewareStore};
use crate::backend::Backend;
use crate::error::{MiddlewareError, QueueError};
use crate::registry::JobRegistry;

/// Where an attempt's middleware keep their counters and locks, and the
/// registry that names Rust middleware and rate limits.
pub(crate) struct Gate<'a> {
    /// The connection's shared store, or `None` for this process's.
    pub store: Option<&'a dyn MiddlewareStore>,
    /// Keeps one connection's counters apart from another's in this
    /// process's store (the backend's address).
    pub namespace: usize,
    pub registry: &'a JobRegistry,
}

impl<'a> Gate<'a> {
    /// The gate of an attempt on `backend`'s jobs.
    pub(crate) fn new(backend: &'a dyn Backend, registry: &'a JobRegistry) -> Self {
        Gate {
            store: backend.middleware_store(),
            // One namespace per backend instance in the process-wide store.
            namespace: backend as *const dyn Backend as *const () as usize,
            registry,
        }
    }

    fn store(&self) -> Scoped<'_> {
        match self.store {
            Some(store) => Scoped::Shared(store),
            None => Scoped::Local(self.namespace),
        }
    }
}

enum Scoped<'a> {
    Shared(&'a dyn MiddlewareStore),
    Local(usize),
}

impl Scoped<'_> {
    async fn hit(&self, key: &str, window: Duration) -> Result<(u64, Duration), QueueError> {
        match self {
            Scoped::Shared(store) => store.hit(key, window).await,
            Scoped::Local(ns) => Ok(LocalStore::global().hit(&format!("{ns:#x}/{key}"), window)),
        }
    }

    async fn hits(&self, key: &str) -> Result<(u64, Duration), QueueError> {
        match self {
            Scoped::Shared(store) => store.hits(key).await,
            Scoped::Local(ns) => Ok(LocalStore::global().hits(&format!("{ns:#x}/{key}"))),
        }
    }

    async fn clear_hits(&self, key: &str) -> Result<(), QueueError> {
        match self {
            Scoped::Shared(store) => store.clear_hits(key).await,
            Scoped::Local(ns) => {
                LocalStore::global().clear(&format!("{ns:#x}/{key}"));
                Ok(())
            }
        }
    }

    async fn try_lock(&self, key: &str, owner: &str, ttl: Duration) -> Result<bool, QueueError> {
        match self {
            Scoped::Shared(store) => store.try_lock(key, owner, ttl).await,
            Scoped::Local(ns) => {
                Ok(LocalStore::global().try_lock(&format!("{ns:#x}/{key}"), owner, ttl))
            }
        }
    }

    async fn unlock(&self, key: &str, owner: &str) -> Result<(), QueueError> {
        match self {
            Scoped::Shared(store) => store.unlock(key, owner).await,
            Scoped::Local(ns) => {
                LocalStore::global().unlock(&format!("{ns:#x}/{key}"), owner);
                Ok(())
            }
        }
    }
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
