//! Queued listeners and events: connections, workers, the failed-jobs store.
//!
//! ```no_run
//! # async fn demo(registry: event_jobs::JobRegistry) -> anyhow::Result<()> {
//! use event_jobs::{QueueConfig, Worker, connect, shutdown_signal};
//! let config = QueueConfig::from_env()?;
//! let connection = connect(&config).await?;   // sync | memory | sqlite | redis | postgres
//! connection.install(event_kernel::Dispatcher::global()).await;
//! // ... in the worker binary or task:
//! Worker::new(connection, registry)
//!     .queues(["orders", "emails"])
//!     .concurrency(8)
//!     .run_until(shutdown_signal())
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
//! | `postgres` | `postgres://user@host:5432/db?schema=myapp` | PostgreSQL (feature `postgres`); any number of worker processes and machines, jobs enqueued in your own transaction ([`postgres::in_transaction`]) |
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

mod attempt;
pub mod attempt_record;
mod backend;
mod config;
mod current_job;
mod defer;
mod error;
mod failed;
#[cfg(test)]
mod fixtures;
mod handler;
mod job;
mod memory;
mod middleware;
pub mod monitor;
#[cfg(feature = "postgres")]
pub mod postgres;
#[cfg(feature = "redis")]
mod redis;
mod registry;
mod sealed;
mod settings;
mod shutdown;
#[cfg(feature = "sqlite")]
mod sqlite;
mod stats;
mod trace;
mod unique;
mod worker;

use std::collections::HashMap;
use std::sync::Arc;

use event_kernel::Dispatcher;
use event_kernel::Event;
use event_kernel::EventListener;

pub use backend::{Backend, FailedSearch, FailedStore};
pub use config::QueueConfig;
pub use current_job::{CurrentJob, JobControlError};
pub use defer::defer;
pub use error::{MiddlewareError, QueueError, RegistryError};
pub use event_kernel::broadcasting::queued::BROADCAST_LISTENER;
pub use failed::FailedJobs;
pub use failed::fingerprint::fingerprint;
pub use failed::query::{FailedCursor, FailedPage, FailedQuery, FailureGroup};
pub use job::{Claimed, FailedJob, Job, JobEnvelope, Receipt};
pub use memory::MemoryBackend;
pub use middleware::{JobInfo, JobMiddleware, MiddlewareStore, Next, RateLimit, Release};
pub use monitor::Monitor;
#[cfg(feature = "postgres")]
pub use postgres::{PostgresBackend, PostgresOptions};
#[cfg(feature = "redis")]
pub use redis::{RedisBackend, RedisOptions};
pub use registry::{EventDecoder, JobRegistry};
pub use sealed::{AppKeys, SealError, SealedPayload};
pub use settings::{JobSettings, Limits, UNLIMITED_TRIES};
pub use shutdown::shutdown_signal;
#[cfg(feature = "sqlite")]
pub use sqlite::SqliteBackend;
pub use stats::{Latency, QueueStats, WorkerStats};
pub use trace::JOB_SPAN;
pub use unique::UniqueLock;
pub use worker::{Worker, WorkerReport};

use handler::Installed;
use job::Live;

use event_kernel::config::redact;

/// A queue connection: where queued listeners and events are written, and
/// what a [`Worker`] reads. Cheap to clone.
///
/// It is the dispatcher's [`QueueableHandler`](event_kernel::QueueableHandler): [`Queue::install`] it.
#[derive(Clone)]
pub struct Queue {
    inner: Arc<Inner>,
}

#[derive(Clone)]
struct Inner {
    name: String,
    /// `None` for `sync`.
    backend: Option<Arc<dyn Backend>>,
    /// The backend, when it is the in-process `memory` connection: its
    /// fast paths (dispatch without waiting, its own worker loop). Found
    /// once, when the queue is made.
    memory: Option<Arc<MemoryBackend>>,
    /// The config defaults (`EVENTS_DEFAULT_QUEUE`, `EVENTS_RETRY_*`).
    defaults: JobSettings,
    /// When its workers raise alerts (`EVENTS_QUEUE_*_ALERT*`).
    alerts: monitor::AlertRules,
    /// `EVENTS_APP_KEY` and `EVENTS_APP_PREVIOUS_KEYS`: seal `encrypted`
    /// listeners' jobs at enqueue, open them in this queue's workers.
    keys: AppKeys,
    others: HashMap<String, Queue>,
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
pub async fn connect(config: impl Into<QueueConfig>) -> Result<Queue, QueueError> {
    let config = config.into();
    let queue = match config.connection.as_str() {
        "sync" => Queue::sync(),
        "memory" => Queue::memory(),
        other => {
            let url = config
                .url
                .as_deref()
                .ok_or_else(|| QueueError::MissingUrl {
                    connection: other.to_string(),
                })?;
            let queue = Queue::open(url).await?;
            if queue.connection_name() != other {
                return Err(QueueError::InvalidUrl {
                    url: redact(url),
                    reason: format!(
                        "EVENTS_QUEUE_CONNECTION is `{other}` but the URL is a {} URL",
                        queue.connection_name()
                    ),
                });
            }
            queue
        }
    };
    Ok(queue
        .with_defaults(JobSettings::from_config(&config))
        .with_alerts(config.alerts.clone())
        .with_app_keys(config.app_keys.clone()))
}

impl Queue {
    fn from_backend(name: &str, backend: Option<Arc<dyn Backend>>) -> Self {
        Self {
            inner: Arc::new(Inner {
                name: name.to_string(),
                memory: backend.as_ref().and_then(MemoryBackend::of),
                backend,
                defaults: JobSettings::from_config(QueueConfig::default()),
                alerts: monitor::AlertRules::default(),
                keys: AppKeys::none(),
                others: HashMap::new(),
            }),
        }
    }

    /// Runs queued listeners inline, as if there were no queue (Laravel's `sync`).
    pub fn sync() -> Self {
        Self::from_backend("sync", None)
    }

    /// In-process queues; run a [`Worker`] on it in a task.
    pub fn memory() -> Self {
        Self::from_backend("memory", Some(Arc::new(MemoryBackend::new())))
    }

    /// A queue on any [`Backend`].
    pub fn with_backend(name: &str, backend: Arc<dyn Backend>) -> Self {
        Self::from_backend(name, Some(backend))
    }

    /// Opens a queue from its URL: `sqlite://jobs.db`, `sqlite:///abs/jobs.db`,
    /// `redis://host:6379` (optionally `?prefix=myapp`),
    /// `postgres://user@host:5432/db` (optionally `?schema=myapp`), `memory`, `sync`.
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
        if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            return Self::postgres(url).await;
        }
        Err(QueueError::InvalidUrl {
            url: redact(url),
            reason:
                "expected sqlite://<path>, redis://<host>:<port> or postgres://<user>@<host>/<db>"
                    .to_string(),
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

    #[cfg(feature = "postgres")]
    async fn postgres(url: &str) -> Result<Self, QueueError> {
        let backend =
            postgres::PostgresBackend::connect(url, PostgresOptions::from_url(url)?).await?;
        Ok(Self::from_backend("postgres", Some(Arc::new(backend))))
    }

    #[cfg(not(feature = "postgres"))]
    async fn postgres(_url: &str) -> Result<Self, QueueError> {
        Err(QueueError::Disabled("postgres"))
    }

    fn edit(self, change: impl FnOnce(&mut Inner)) -> Self {
        let mut inner = Arc::unwrap_or_clone(self.inner);
        change(&mut inner);
        Self {
            inner: Arc::new(inner),
        }
    }

    /// Sets when this connection's workers raise alert events
    /// ([`monitor::QueueLongWait`], [`monitor::QueueFailureSpike`],
    /// [`monitor::WorkerStalled`]); `connect` takes them from the config.
    pub fn with_alerts(self, alerts: monitor::AlertRules) -> Self {
        self.edit(|i| i.alerts = alerts)
    }

    /// Sets the app's keys (`EVENTS_APP_KEY`, `EVENTS_APP_PREVIOUS_KEYS`;
    /// `connect` takes them from the config): an `encrypted` listener's
    /// job is sealed with the current key when queued through this queue,
    /// and this queue's workers open sealed jobs with any of them.
    pub fn with_app_keys(self, keys: AppKeys) -> Self {
        self.edit(|i| i.keys = keys)
    }

    /// The app's keys this queue seals and opens jobs with.
    pub fn app_keys(&self) -> &AppKeys {
        &self.inner.keys
    }

    /// When this connection's workers raise alerts.
    pub fn alert_rules(&self) -> &monitor::AlertRules {
        &self.inner.alerts
    }

    /// Replaces the defaults (queue name, tries, retry delay; see
    /// [`JobSettings::from_config`]). What a listener or event leaves unsaid
    /// comes from here: the queue and retry delay when a job is queued;
    /// tries and timeout when a worker of this queue runs it, unless the
    /// worker has its own (`Worker::tries` / `Worker::timeout`).
    pub fn with_defaults(self, defaults: JobSettings) -> Self {
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

    /// The settings a job gets where its listener or event says nothing.
    pub fn defaults(&self) -> &JobSettings {
        &self.inner.defaults
    }

    /// `EVENTS_DEFAULT_QUEUE`: where jobs that name no queue go, and what
    /// a worker without `.queues(..)` reads.
    pub fn default_queue(&self) -> &str {
        self.inner.defaults.queue.as_deref().unwrap_or("default")
    }

    /// The backend's in-process fast paths, if it has them.
    fn in_process(&self) -> Option<&MemoryBackend> {
        self.inner.memory.as_deref()
    }

    /// The storage, or `QueueError::Sync` for the `sync` connection.
    pub fn backend(&self) -> Result<&Arc<dyn Backend>, QueueError> {
        self.inner.backend.as_ref().ok_or(QueueError::Sync)
    }

    /// The connection's monitoring handle: stats, workers, pause and
    /// resume, clear, restart (`QueueError::Sync` for `sync`, which keeps
    /// no jobs).
    pub fn monitor(&self) -> Result<Monitor, QueueError> {
        Ok(Monitor::new(self.backend()?.clone()))
    }

    /// Sends `dispatcher`'s queued listeners and events to this connection
    /// (for `sync`: runs them inline).
    ///
    /// A queue installed on several dispatchers serves each with its own
    /// listeners (a queued event routed to `sync` runs on the dispatcher it
    /// was dispatched on).
    pub async fn install(&self, dispatcher: &Dispatcher) {
        if self.inner.backend.is_some() {
            let installed = Installed {
                queue: self.clone(),
                dispatcher: dispatcher.downgrade(),
            };
            dispatcher.set_queueable_handler(Arc::new(installed)).await;
        } else {
            dispatcher.clear_queueable_handler().await;
        }
    }

    /// Jobs waiting or running.
    pub async fn size(&self) -> Result<usize, QueueError> {
        self.backend()?.size().await
    }

    /// Jobs waiting per queue, due or delayed, sorted by queue name (see
    /// [`Backend::sizes`]).
    pub async fn sizes(&self) -> Result<Vec<(String, usize)>, QueueError> {
        self.backend()?.sizes().await
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

    /// Queues `listener`'s handling of `event` as a job on this connection
    /// (its settings as dispatch would give them) and returns the job's id:
    /// for a program that queues work for the app's workers without
    /// dispatching (the standalone dashboard's replay jobs).
    pub async fn enqueue_listener(
        &self,
        listener: Arc<dyn EventListener>,
        event: Arc<dyn Event>,
    ) -> Result<String, QueueError> {
        let job = self.listener_job(&listener, &event);
        let id = job.envelope.id.clone();
        let target = self
            .route(job.envelope.settings.connection.as_deref())?
            .ok_or(QueueError::Sync)?;
        self.enqueue(target, job).await?;
        Ok(id)
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
        settings: JobSettings,
    ) -> JobEnvelope {
        // One clock read for the id and the times.
        let id = ulid::Ulid::new();
        let now = id.timestamp_ms() as i64;
        let (event_id, correlation_id) = event_kernel::scope::job_ids();
        JobEnvelope {
            id: id.to_string(),
            event: event.event_name().to_string(),
            payload: serde_json::Value::Null,
            listener,
            queue: settings.queue_or(self.default_queue()).to_string(),
            attempts: 0,
            exceptions: 0,
            priority: settings.priority,
            available_at: now + settings.delay_ms() as i64,
            created_at: now,
            settings,
            event_id,
            correlation_id,
            retried_at: None,
            traceparent: crate::trace::traceparent(),
            sealed: None,
            history: Vec::new(),
        }
    }

    /// The settings of the job `listener` handling `event` becomes, this
    /// queue's defaults where they say nothing.
    pub fn listener_settings(
        &self,
        listener: &dyn EventListener,
        event: &dyn Event,
    ) -> JobSettings {
        JobSettings::for_listener(listener, event, &self.inner.defaults)
    }

    /// The settings of the job a queued `event` becomes.
    pub fn event_settings(&self, event: &dyn Event) -> JobSettings {
        JobSettings::for_event(event, &self.inner.defaults)
    }

    /// The job a queued listener becomes.
    pub(crate) fn listener_job(
        &self,
        listener: &Arc<dyn EventListener>,
        event: &Arc<dyn Event>,
    ) -> Job {
        let settings = self.listener_settings(&**listener, &**event);
        let envelope = self.envelope(
            &**event,
            Some(listener.listener_name().to_string()),
            settings,
        );
        Job {
            envelope,
            live: Some(Live {
                event: event.clone(),
                listener: Some(listener.clone()),
            }),
        }
    }

    /// The job a queued event becomes.
    pub(crate) fn event_job(&self, event: &Arc<dyn Event>) -> Job {
        let settings = self.event_settings(&**event);
        let envelope = self.envelope(&**event, None, settings);
        Job {
            envelope,
            live: Some(Live {
                event: event.clone(),
                listener: None,
            }),
        }
    }

    async fn enqueue(&self, target: &Queue, job: Job) -> Result<(), QueueError> {
        // Before the unique lock: a job that cannot be sealed takes none.
        let job = self.seal(job)?;
        if let Some(lock) = &job.envelope.settings.unique {
            // Laravel's `ShouldBeUnique`: not queued while another job
            // holds the lock.
            let backend = target.backend()?;
            if !lock.take(&**backend, &job.envelope.id).await? {
                tracing::info!(lock = %lock.key, "unique job not queued: one with the same id is queued or running");
                return Ok(());
            }
            let id = job.envelope.id.clone();
            let lock = lock.clone();
            let pushed = self.enqueue_now(target, job).await;
            if pushed.is_err() {
                lock.free(&**backend, &id).await;
            }
            return pushed;
        }
        self.enqueue_now(target, job).await
    }

    /// An `encrypted` listener's job with its payload sealed with the
    /// app's key (`AppKeys::seal`), and without its live objects, so that
    /// every connection, `memory` included, stores and runs it the same
    /// way: opened by the worker. An error names `EVENTS_APP_KEY` when no
    /// key is set.
    fn seal(&self, mut job: Job) -> Result<Job, QueueError> {
        if !job.envelope.settings.encrypted || job.envelope.sealed.is_some() {
            return Ok(job);
        }
        let payload = job.stored_envelope().payload;
        let envelope = &job.envelope;
        let name = envelope.listener.as_deref().unwrap_or(&envelope.event);
        let sealed = self.inner.keys.seal(name, &envelope.id, &payload)?;
        job.envelope.sealed = Some(sealed);
        job.envelope.payload = serde_json::Value::Null;
        job.live = None;
        Ok(job)
    }

    async fn enqueue_now(&self, target: &Queue, job: Job) -> Result<(), QueueError> {
        if job.envelope.settings.after_commit && defer::hold(target, &job) {
            return Ok(());
        }
        target.backend()?.push(vec![job]).await
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::{MemoryBackend, Queue};
    use crate::fixtures::Ping;
    use event_kernel::Event;
    use event_kernel::EventListener;

    struct Queued;

    #[async_trait::async_trait]
    impl EventListener for Queued {
        async fn handle(&self, _event: Arc<dyn Event>) -> anyhow::Result<()> {
            Ok(())
        }
        fn should_queue(&self) -> bool {
            true
        }
    }

    /// The fast path is the backend's, found by its type: a
    /// `MemoryBackend` given by hand gets it like `Queue::memory()`, and the
    /// `sync` connection does not.
    #[tokio::test]
    async fn the_fast_path_belongs_to_the_backend_not_the_constructor() {
        let listener: Arc<dyn EventListener> = Arc::new(Queued);
        let event: Arc<dyn Event> = Arc::new(Ping);
        let by_hand = Queue::with_backend("mine", Arc::new(MemoryBackend::new()));
        for queue in [Queue::memory(), by_hand] {
            let pushed = queue.queue_listener_now_on(&listener, &event);
            assert!(matches!(pushed, Some(Ok(()))), "{queue:?}");
            assert_eq!(queue.size().await.expect("size"), 1, "{queue:?}");
        }
        assert!(
            Queue::sync()
                .queue_listener_now_on(&listener, &event)
                .is_none()
        );
    }
}
