//! Queued listeners and events: connections, workers, the failed-jobs store.
//!
//! ```no_run
//! # async fn demo(registry: event_core::JobRegistry) -> anyhow::Result<()> {
//! use event_core::queue::{self, Worker};
//! let config = event_core::config::EventsConfig::from_env()?;
//! let connection = queue::connect(&config).await?;   // sync | memory | sqlite | redis
//! connection.install(event_core::Dispatcher::global()).await;
//! // ... in the worker binary or task:
//! Worker::new(connection, registry)
//!     .queues(["orders", "emails"])
//!     .concurrency(8)
//!     .run_until(queue::shutdown_signal())
//!     .await?;
//! # Ok(()) }
//! ```
//!
//! # Connections
//!
//! | `EVENTS_QUEUE_CONNECTION` | `EVENTS_QUEUE_URL` | what it is |
//! |---|---|---|
//! | `sync` (default) | - | queued listeners run inline, as in Laravel |
//! | `memory` | - | in-process queues; workers are tasks; lost on exit |
//! | `sqlite` | `sqlite://jobs.db`, `sqlite:///abs/jobs.db` | embedded and durable; every process opening the file shares it |
//! | `redis` | `redis://host:6379?prefix=myapp` | Redis Streams; any number of worker processes and machines |
//!
//! A listener's or event's own `connection` wins over the default; add the
//! connections it may name with [`Queue::with_connection`] (`sync` is always
//! there).
//!
//! # What a job goes through
//!
//! Dispatch writes a [`JobEnvelope`] (JSON) and returns. A [`Worker`] claims
//! jobs in batches, rebuilds the event and listener through its
//! [`JobRegistry`], and runs them with their `timeout`. Success removes the
//! job. A failure (an error, a panic, a timeout) is retried after its
//! `backoff` until `tries` or `max_exceptions` is reached; then the
//! listener's `failed` hook runs and the job moves to the failed-jobs store
//! ([`FailedJobs`]: list, retry, purge). A job that cannot be rebuilt (an
//! event or listener this build does not know, a payload that does not
//! deserialise) goes straight to the failed store.
//!
//! Delivery is at least once. On `sqlite` and `redis` a claim expires after
//! the worker's visibility timeout unless the worker, while alive, keeps
//! extending it; so a worker killed mid-job leaves its jobs to the others,
//! and a job's listener may, rarely, run twice: make listeners idempotent.
//!
//! `after_commit` jobs dispatched inside [`defer`] are written only when
//! the unit of work succeeds.

mod backend;
mod defer;
mod failed;
mod job;
mod memory;
#[cfg(feature = "redis")]
mod redis;
mod registry;
mod runner;
#[cfg(feature = "sqlite")]
mod sqlite;
mod worker;

use std::collections::HashMap;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use anyhow::Context;
use async_trait::async_trait;

use crate::config::EventsConfig;
use crate::dispatcher::Dispatcher;
use crate::event::Event;
use crate::event::ShouldQueue;
use crate::listener::{EventListener, ListenerOptions, QueueableHandler};

pub use backend::Backend;
pub use defer::defer;
pub use failed::FailedJobs;
pub use job::{Claimed, FailedJob, Job, JobEnvelope, JobLimits, Receipt};
pub use memory::MemoryBackend;
#[cfg(feature = "redis")]
pub use redis::{RedisBackend, RedisOptions};
pub use registry::{EventDecoder, JobRegistry, RegistryError};
#[cfg(feature = "sqlite")]
pub use sqlite::SqliteBackend;
pub use worker::{JOB_LOG_TARGET, Worker, WorkerReport, shutdown_signal};

use job::{Live, chrono_ms};

/// What can go wrong talking to a queue. Every variant names the URL.
#[derive(Debug, thiserror::Error)]
pub enum QueueError {
    #[error("invalid queue URL `{url}`: {reason}")]
    InvalidUrl { url: String, reason: String },
    #[error("cannot reach the queue at `{url}`: {reason}")]
    Unreachable { url: String, reason: String },
    #[error("queue `{url}`: {reason}")]
    Backend { url: String, reason: String },
    #[error("unknown queue connection `{0}`: add it with `Queue::with_connection`")]
    UnknownConnection(String),
    #[error("the `{connection}` connection needs EVENTS_QUEUE_URL")]
    MissingUrl { connection: String },
    #[error("the `{0}` feature of event-core is off, so the `{0}` connection is unavailable")]
    Disabled(&'static str),
    #[error(
        "the `sync` connection runs listeners inline: it has no worker and no failed-jobs store"
    )]
    Sync,
}

/// The URL with any password replaced by `***`, for messages.
pub(crate) fn redact(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_string();
    };
    let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    match rest[..authority_end].rfind('@') {
        Some(at) => {
            let userinfo = &rest[..at];
            let user = userinfo.split_once(':').map_or(userinfo, |(u, _)| u);
            let masked = if userinfo.contains(':') {
                format!("{user}:***")
            } else {
                "***".to_string()
            };
            format!("{scheme}://{masked}{}", &rest[at..])
        }
        None => url.to_string(),
    }
}

/// Settings a job gets when its listener or event names none.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueueDefaults {
    /// `EVENTS_DEFAULT_QUEUE`.
    pub queue: String,
    /// `EVENTS_RETRY_ATTEMPTS`.
    pub tries: u32,
    /// `EVENTS_RETRY_DELAY_SECONDS`.
    pub retry_delay: Duration,
}

impl Default for QueueDefaults {
    fn default() -> Self {
        Self::from_config(&EventsConfig::default())
    }
}

impl QueueDefaults {
    pub fn from_config(config: &EventsConfig) -> Self {
        Self {
            queue: config.default_queue.clone(),
            tries: config.retry_attempts.max(1),
            retry_delay: Duration::from_secs(config.retry_delay_seconds),
        }
    }
}

/// A queue connection: where queued listeners and events are written, and
/// what a [`Worker`] reads. Cheap to clone.
///
/// It is the dispatcher's [`QueueableHandler`]: [`Queue::install`] it.
#[derive(Clone)]
pub struct Queue {
    inner: Arc<Inner>,
}

#[derive(Clone)]
struct Inner {
    name: String,
    /// `None` for `sync`.
    backend: Option<Arc<dyn Backend>>,
    /// The same backend when it is `memory`: its fast paths.
    memory: Option<Arc<MemoryBackend>>,
    defaults: QueueDefaults,
    others: HashMap<String, Queue>,
    /// The dispatcher this queue is installed on (runs `sync` overrides of
    /// queued events).
    dispatcher: Arc<OnceLock<Dispatcher>>,
}

impl std::fmt::Debug for Queue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Queue")
            .field("connection", &self.inner.name)
            .field(
                "location",
                &self.inner.backend.as_ref().map(|b| b.location()),
            )
            .finish_non_exhaustive()
    }
}

/// Opens the connection `EVENTS_QUEUE_CONNECTION` names, at `EVENTS_QUEUE_URL`.
pub async fn connect(config: &EventsConfig) -> Result<Queue, QueueError> {
    let queue = match config.queue_connection.as_str() {
        "sync" => Queue::sync(),
        "memory" => Queue::memory(),
        other => {
            let url = config
                .queue_url
                .as_deref()
                .ok_or_else(|| QueueError::MissingUrl {
                    connection: other.to_string(),
                })?;
            let queue = Queue::open(url).await?;
            if queue.connection_name() != other {
                return Err(QueueError::InvalidUrl {
                    url: url.to_string(),
                    reason: format!(
                        "EVENTS_QUEUE_CONNECTION is `{other}` but the URL is a {} URL",
                        queue.connection_name()
                    ),
                });
            }
            queue
        }
    };
    Ok(queue.with_defaults(QueueDefaults::from_config(config)))
}

impl Queue {
    fn from_backend(name: &str, backend: Option<Arc<dyn Backend>>) -> Self {
        Self {
            inner: Arc::new(Inner {
                name: name.to_string(),
                backend,
                memory: None,
                defaults: QueueDefaults::default(),
                others: HashMap::new(),
                dispatcher: Arc::new(OnceLock::new()),
            }),
        }
    }

    /// Runs queued listeners inline, as if there were no queue (Laravel's `sync`).
    pub fn sync() -> Self {
        Self::from_backend("sync", None)
    }

    /// In-process queues; run a [`Worker`] on it in a task.
    pub fn memory() -> Self {
        let memory = Arc::new(MemoryBackend::new());
        Self::from_backend("memory", Some(memory.clone())).edit(|i| i.memory = Some(memory))
    }

    /// A queue on any [`Backend`].
    pub fn with_backend(name: &str, backend: Arc<dyn Backend>) -> Self {
        Self::from_backend(name, Some(backend))
    }

    /// Opens a queue from its URL: `sqlite://jobs.db`, `sqlite:///abs/jobs.db`,
    /// `redis://host:6379` (optionally `?prefix=myapp`), `memory`, `sync`.
    pub async fn open(url: &str) -> Result<Self, QueueError> {
        let url = url.trim();
        if url == "sync" || url == "sync://" {
            return Ok(Self::sync());
        }
        if url == "memory" || url == "memory://" {
            return Ok(Self::memory());
        }
        if let Some(path) = url.strip_prefix("sqlite://") {
            return Self::sqlite(url, path);
        }
        if url.starts_with("redis://") || url.starts_with("rediss://") {
            return Self::redis(url).await;
        }
        Err(QueueError::InvalidUrl {
            url: url.to_string(),
            reason: "expected sqlite://<path> or redis://<host>:<port>".to_string(),
        })
    }

    #[cfg(feature = "sqlite")]
    fn sqlite(url: &str, path: &str) -> Result<Self, QueueError> {
        if path.is_empty() {
            return Err(QueueError::InvalidUrl {
                url: url.to_string(),
                reason: "no database path after sqlite://".to_string(),
            });
        }
        let backend = sqlite::SqliteBackend::open(url, path)?;
        Ok(Self::from_backend("sqlite", Some(Arc::new(backend))))
    }

    #[cfg(not(feature = "sqlite"))]
    fn sqlite(_url: &str, _path: &str) -> Result<Self, QueueError> {
        Err(QueueError::Disabled("sqlite"))
    }

    #[cfg(feature = "redis")]
    async fn redis(url: &str) -> Result<Self, QueueError> {
        let backend = redis::RedisBackend::connect(url, RedisOptions::from_url(url)?).await?;
        Ok(Self::from_backend("redis", Some(Arc::new(backend))))
    }

    #[cfg(not(feature = "redis"))]
    async fn redis(_url: &str) -> Result<Self, QueueError> {
        Err(QueueError::Disabled("redis"))
    }

    fn edit(self, change: impl FnOnce(&mut Inner)) -> Self {
        let mut inner = Arc::unwrap_or_clone(self.inner);
        change(&mut inner);
        Self {
            inner: Arc::new(inner),
        }
    }

    /// Replaces the defaults (queue name, tries, retry delay).
    pub fn with_defaults(self, defaults: QueueDefaults) -> Self {
        self.edit(|i| i.defaults = defaults)
    }

    /// Makes `connection` available to listeners and events that name it
    /// (`connection = "redis"`). `sync` always is.
    pub fn with_connection(self, name: &str, connection: Queue) -> Self {
        let name = name.to_string();
        self.edit(|i| {
            i.others.insert(name, connection);
        })
    }

    /// `sync`, `memory`, `sqlite`, `redis`, or the name given to [`Queue::with_backend`].
    pub fn connection_name(&self) -> &str {
        &self.inner.name
    }

    pub fn defaults(&self) -> &QueueDefaults {
        &self.inner.defaults
    }

    pub(crate) fn memory_backend(&self) -> Option<&Arc<MemoryBackend>> {
        self.inner.memory.as_ref()
    }

    /// The storage, or `QueueError::Sync` for the `sync` connection.
    pub fn backend(&self) -> Result<&Arc<dyn Backend>, QueueError> {
        self.inner.backend.as_ref().ok_or(QueueError::Sync)
    }

    /// Sends `dispatcher`'s queued listeners and events to this connection
    /// (for `sync`: runs them inline).
    pub async fn install(&self, dispatcher: &Dispatcher) {
        let _ = self.inner.dispatcher.set(dispatcher.clone());
        if self.inner.backend.is_some() {
            dispatcher
                .set_queueable_handler(Arc::new(self.clone()))
                .await;
        } else {
            dispatcher.clear_queueable_handler().await;
        }
    }

    /// Jobs waiting or running.
    pub async fn size(&self) -> Result<usize, QueueError> {
        self.backend()?.size().await
    }

    /// Removes every waiting job.
    pub async fn clear(&self) -> Result<usize, QueueError> {
        self.backend()?.clear().await
    }

    /// The failed-jobs store of this connection.
    pub fn failed(&self) -> Result<FailedJobs, QueueError> {
        Ok(FailedJobs::new(self.backend()?.clone()))
    }

    /// Writes jobs now (bypassing `after_commit`).
    pub async fn push(&self, jobs: Vec<Job>) -> Result<(), QueueError> {
        if jobs.is_empty() {
            return Ok(());
        }
        self.backend()?.push(jobs).await
    }

    fn route(&self, connection: Option<&str>) -> Result<Option<&Queue>, QueueError> {
        match connection {
            None => Ok(Some(self)),
            Some(name) if name == self.inner.name => Ok(Some(self)),
            Some(name) => match self.inner.others.get(name) {
                Some(q) if q.inner.backend.is_some() => Ok(Some(q)),
                Some(_) => Ok(None),
                None if name == "sync" => Ok(None),
                None => Err(QueueError::UnknownConnection(name.to_string())),
            },
        }
    }

    fn envelope(
        &self,
        event: &dyn Event,
        listener: Option<String>,
        queue: Option<&str>,
    ) -> JobEnvelope {
        // One clock read for the id and the times.
        let id = ulid::Ulid::new();
        let now = id.timestamp_ms() as i64;
        JobEnvelope {
            id: id.to_string(),
            event: event.event_name().to_string(),
            payload: serde_json::Value::Null,
            listener,
            queue: queue.unwrap_or(&self.inner.defaults.queue).to_string(),
            attempts: 0,
            exceptions: 0,
            limits: JobLimits {
                tries: self.inner.defaults.tries,
                backoff_ms: vec![self.inner.defaults.retry_delay.as_millis() as u64],
                timeout_ms: None,
                max_exceptions: None,
            },
            priority: event.priority(),
            available_at: now,
            created_at: now,
        }
    }

    /// The job a queued listener becomes, and its connection and `after_commit`.
    pub fn listener_job(
        &self,
        listener: &Arc<dyn EventListener>,
        event: &Arc<dyn Event>,
    ) -> (Option<String>, bool, Job) {
        let options = listener.options();
        let mut envelope = self.envelope(
            &**event,
            Some(listener.listener_name().to_string()),
            options.queue.as_deref(),
        );
        envelope.limits = self.listener_limits(&options).to_job();
        if let Some(delay) = options.delay {
            envelope.available_at += chrono_ms(delay) as i64;
        }
        let after_commit =
            options.after_commit || event.as_should_queue().is_some_and(|q| q.after_commit());
        let job = Job {
            envelope,
            live: Some(Live {
                event: event.clone(),
                listener: Some(listener.clone()),
            }),
        };
        (options.connection, after_commit, job)
    }

    /// A listener's limits, the queue's defaults where it sets none.
    fn listener_limits(&self, options: &ListenerOptions) -> memory::Limits {
        let defaults = &self.inner.defaults;
        let tries = match options.tries {
            _ if !options.retry => 1,
            Some(tries) => tries.max(1),
            None => defaults.tries,
        };
        memory::Limits {
            tries,
            timeout_ms: options.timeout.map(chrono_ms),
            max_exceptions: options.max_exceptions,
            backoff_ms: options.backoff.iter().map(|d| chrono_ms(*d)).collect(),
            fallback_ms: defaults.retry_delay.as_millis() as u64,
        }
    }

    /// A queued event's limits, the queue's defaults where it sets none.
    fn event_limits(&self, settings: Option<&dyn ShouldQueue>) -> memory::Limits {
        let defaults = &self.inner.defaults;
        memory::Limits {
            tries: settings
                .and_then(|s| s.tries())
                .map_or(defaults.tries, |t| t.max(1)),
            timeout_ms: settings.and_then(|s| s.timeout()).map(chrono_ms),
            max_exceptions: None,
            backoff_ms: Vec::new(),
            fallback_ms: defaults.retry_delay.as_millis() as u64,
        }
    }

    /// The job a queued event becomes, and its connection and `after_commit`.
    pub fn event_job(&self, event: &Arc<dyn Event>) -> (Option<String>, bool, Job) {
        let settings = event.as_should_queue();
        let queue = settings
            .and_then(|s| s.queue())
            .or_else(|| event.queue_name());
        let mut envelope = self.envelope(&**event, None, queue);
        envelope.limits = self.event_limits(settings).to_job();
        let mut connection = None;
        let mut after_commit = false;
        if let Some(s) = settings {
            if let Some(delay) = s.delay() {
                envelope.available_at += chrono_ms(delay) as i64;
            }
            connection = s.queue_connection().map(str::to_string);
            after_commit = s.after_commit();
        }
        let job = Job {
            envelope,
            live: Some(Live {
                event: event.clone(),
                listener: None,
            }),
        };
        (connection, after_commit, job)
    }

    async fn enqueue(
        &self,
        target: &Queue,
        after_commit: bool,
        job: Job,
    ) -> Result<(), QueueError> {
        if after_commit && defer::hold(target, &job) {
            return Ok(());
        }
        target.backend()?.push(vec![job]).await
    }
}

impl Queue {
    /// Where a job for `connection` goes when that is a `memory` queue; `None`
    /// when it needs the general path (another backend, `sync`).
    fn memory_target(
        &self,
        connection: Option<&str>,
    ) -> Option<Result<&Arc<MemoryBackend>, QueueError>> {
        if connection.is_none() {
            return self.inner.memory.as_ref().map(Ok);
        }
        match self.route(connection) {
            Ok(target) => target?.inner.memory.as_ref().map(Ok),
            Err(e) => Some(Err(e)),
        }
    }
}

#[async_trait]
impl QueueableHandler for Queue {
    fn queue_listener_now(
        &self,
        listener: &Arc<dyn EventListener>,
        event: &Arc<dyn Event>,
    ) -> Option<anyhow::Result<()>> {
        if self.inner.memory.is_none() && self.inner.others.is_empty() {
            return None;
        }
        let options = listener.options();
        let memory = match self.memory_target(options.connection.as_deref())? {
            Ok(memory) => memory,
            Err(e) => return Some(Err(e.into())),
        };
        // `after_commit` may be held by a unit of work: the general path.
        if options.after_commit || event.as_should_queue().is_some_and(|q| q.after_commit()) {
            return None;
        }
        let delay = options.delay.map_or(0, chrono_ms);
        let job = memory::MemJob::live(
            event.clone(),
            self.listener_limits(&options),
            job::coarse_now_ms(),
            delay,
        );
        let queue = options
            .queue
            .as_deref()
            .unwrap_or(&self.inner.defaults.queue);
        memory.push_live(queue, job, Some(listener));
        Some(Ok(()))
    }

    fn queue_event_now(&self, event: &Arc<dyn Event>) -> Option<anyhow::Result<()>> {
        if self.inner.memory.is_none() && self.inner.others.is_empty() {
            return None;
        }
        let settings = event.as_should_queue();
        let memory = match self.memory_target(settings.and_then(|s| s.queue_connection()))? {
            Ok(memory) => memory,
            Err(e) => return Some(Err(e.into())),
        };
        if settings.is_some_and(|s| s.after_commit()) {
            return None;
        }
        let delay = settings.and_then(|s| s.delay()).map_or(0, chrono_ms);
        let job = memory::MemJob::live(
            event.clone(),
            self.event_limits(settings),
            job::coarse_now_ms(),
            delay,
        );
        let queue = settings
            .and_then(|s| s.queue())
            .or_else(|| event.queue_name())
            .unwrap_or(&self.inner.defaults.queue);
        memory.push_live(queue, job, None);
        Some(Ok(()))
    }

    async fn queue_event(&self, event: Arc<dyn Event>) -> anyhow::Result<()> {
        let (connection, after_commit, job) = self.event_job(&event);
        match self.route(connection.as_deref())? {
            Some(target) => Ok(self.enqueue(target, after_commit, job).await?),
            None => {
                let dispatcher =
                    self.inner.dispatcher.get().context(
                        "a queued event on the `sync` connection needs `Queue::install`",
                    )?;
                dispatcher.dispatch_now(event).await
            }
        }
    }

    async fn queue_listener(
        &self,
        listener: Arc<dyn EventListener>,
        event: Arc<dyn Event>,
    ) -> anyhow::Result<()> {
        let (connection, after_commit, job) = self.listener_job(&listener, &event);
        match self.route(connection.as_deref())? {
            Some(target) => Ok(self.enqueue(target, after_commit, job).await?),
            None => {
                let result = crate::dispatcher::invoke(&listener, &event).await;
                if let Err(error) = &result {
                    let _ = listener.failed(event.clone(), error).await;
                }
                result
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::redact;

    #[test]
    fn redact_hides_passwords_only() {
        assert_eq!(
            redact("redis://:hunter2@db:6379/0"),
            "redis://:***@db:6379/0"
        );
        assert_eq!(
            redact("redis://app:hunter2@db:6379"),
            "redis://app:***@db:6379"
        );
        assert_eq!(
            redact("redis://127.0.0.1:6379?prefix=a@b"),
            "redis://127.0.0.1:6379?prefix=a@b"
        );
        assert_eq!(redact("sqlite:///var/jobs.db"), "sqlite:///var/jobs.db");
    }
}
