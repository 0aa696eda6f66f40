//! The job envelope: what a queue stores for one queued listener or event.

use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};

use super::sealed::{AppKeys, SealError, SealedPayload};
use super::settings::JobSettings;
use event_kernel::Event;
use event_kernel::EventListener;

/// Milliseconds since the Unix epoch.
pub(crate) fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

/// Milliseconds since the Unix epoch, to within a few ms, for when it is
/// read on every dispatch: Linux's coarse clock is a memory read, where
/// the precise one costs ~20 ns.
#[cfg(target_os = "linux")]
pub(crate) fn coarse_now_ms() -> i64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid, writable timespec for the duration of the call.
    let status = unsafe { libc::clock_gettime(libc::CLOCK_REALTIME_COARSE, &mut ts) };
    if status != 0 {
        return now_ms();
    }
    // `from`: the fields are narrower than i64 on 32-bit targets.
    #[allow(clippy::useless_conversion)]
    let ms = i64::from(ts.tv_sec) * 1000 + i64::from(ts.tv_nsec) / 1_000_000;
    ms
}

#[cfg(not(target_os = "linux"))]
pub(crate) fn coarse_now_ms() -> i64 {
    now_ms()
}

/// The JSON a queue stores for one job.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct JobEnvelope {
    /// A ULID, unique per job (kept when a failed job is retried).
    pub id: String,
    /// The event's name, looked up in the worker's [`JobRegistry`](crate::JobRegistry).
    pub event: String,
    /// The event as JSON (`Event::to_json`); `Null` when the job is
    /// [`sealed`](Self::sealed).
    pub payload: serde_json::Value,
    /// The listener's `listener_name()`; `None` for a queued event, whose
    /// listeners all run in the worker.
    pub listener: Option<String>,
    /// The queue it waits on (Laravel's `$queue`): its listener's or
    /// event's, else `EVENTS_DEFAULT_QUEUE`.
    pub queue: String,
    /// Attempts made before this copy was stored.
    pub attempts: u32,
    /// Attempts that ended in an error or a panic (for `max_exceptions`).
    pub exceptions: u32,
    /// How it runs: tries, backoff, timeout, middleware, tags... Stored
    /// under `limits`, the name older versions read and write, so workers
    /// of either version read each other's jobs.
    #[serde(rename = "limits", alias = "settings")]
    pub settings: JobSettings,
    /// Higher runs first within a queue.
    pub priority: i32,
    /// Unix ms before which the job does not run (`delay`, `backoff`).
    pub available_at: i64,
    /// Unix ms when the job was first queued.
    pub created_at: i64,
    /// The event store's id of the event being handled, and of its chain:
    /// the worker restores them, so what the listener dispatches records
    /// the right cause. `None` when no store recorded the dispatch.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub event_id: Option<String>,
    /// The id of the chain `event_id` belongs to (its first event's);
    /// `None` when no store recorded the dispatch.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub correlation_id: Option<String>,
    /// Unix ms a manual retry (`FailedJobs::retry`) queued it again: its
    /// `retry_until` deadline counts from then, as Laravel's `queue:retry`
    /// refreshes `retryUntil`. `None`: from `created_at`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retried_at: Option<i64>,
    /// The W3C `traceparent` of the span that dispatched it (feature
    /// `opentelemetry`, with an OpenTelemetry layer installed): the job's
    /// span continues that trace in the worker.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub traceparent: Option<String>,
    /// The payload of an `encrypted` listener's job, sealed with
    /// `EVENTS_APP_KEY` (its `payload` is then `Null`): what the store,
    /// the failed store and the dashboard hold. `None`: not encrypted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sealed: Option<SealedPayload>,
    /// Its attempts that did not complete (time, worker, duration, error
    /// chain), oldest first, at most [`MAX_ATTEMPTS_KEPT`](crate::attempt_record::MAX_ATTEMPTS_KEPT)
    /// (connections that store jobs: sqlite, redis, postgres).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub history: Vec<crate::attempt_record::AttemptRecord>,
}

impl JobEnvelope {
    /// The event's JSON: its payload, or its sealed payload opened with
    /// `keys` (an `encrypted` listener's job). Where both worker loops read
    /// a stored job's event.
    pub(crate) fn event_json(&self, keys: &AppKeys) -> Result<serde_json::Value, SealError> {
        match &self.sealed {
            Some(sealed) => keys.open(&self.id, sealed),
            None => Ok(self.payload.clone()),
        }
    }

    /// When its `retry_until` deadline counts from (Unix ms).
    pub fn retry_from(&self) -> i64 {
        self.retried_at.unwrap_or(self.created_at)
    }

    /// Unix ms after which it is not tried again (`retry_until`).
    pub fn retry_deadline(&self) -> Option<i64> {
        self.settings.retry_deadline(self.retry_from())
    }

    /// Stands in for stored data that is not an envelope, so it can be
    /// moved to the failed store (its text kept as the payload).
    pub fn unreadable(id: String, queue: String, raw: &str) -> Self {
        Self {
            id,
            event: String::new(),
            payload: serde_json::Value::String(raw.to_string()),
            listener: None,
            queue,
            attempts: 0,
            exceptions: 0,
            settings: JobSettings {
                tries: Some(1),
                ..JobSettings::default()
            },
            priority: 0,
            available_at: 0,
            created_at: 0,
            event_id: None,
            correlation_id: None,
            retried_at: None,
            traceparent: None,
            sealed: None,
            history: Vec::new(),
        }
    }

    /// The envelope a failed-store row's payload holds, or an
    /// [`unreadable`](Self::unreadable) one keeping its text: every record
    /// is listed, including one another program wrote.
    #[cfg(any(feature = "sqlite", feature = "postgres"))]
    pub(crate) fn stored(id: &str, queue: &str, payload: &str) -> Self {
        serde_json::from_str(payload)
            .unwrap_or_else(|_| Self::unreadable(id.to_string(), queue.to_string(), payload))
    }
}

/// A job on its way into a queue: the envelope, and for the in-process
/// `memory` connection the live event and listener (no JSON round trip).
#[derive(Clone)]
pub struct Job {
    /// What is stored; its `payload` is `Null` while the live event stands
    /// in for it ([`Job::stored_envelope`] fills it in).
    pub envelope: JobEnvelope,
    pub(crate) live: Option<Live>,
}

#[derive(Clone)]
pub(crate) struct Live {
    pub event: Arc<dyn Event>,
    pub listener: Option<Arc<dyn EventListener>>,
}

impl std::fmt::Debug for Job {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Job")
            .field("envelope", &self.envelope)
            .field("live", &self.live.is_some())
            .finish()
    }
}

impl Job {
    /// A job read back from storage, without live objects: a worker
    /// rebuilds its event and listener through its registry.
    pub fn from_envelope(envelope: JobEnvelope) -> Self {
        Self {
            envelope,
            live: None,
        }
    }

    /// The envelope with its payload filled in (serialising a live event):
    /// what a backend stores. A sealed job's payload stays `Null`.
    pub fn stored_envelope(&self) -> JobEnvelope {
        let mut envelope = self.envelope.clone();
        if envelope.sealed.is_some() {
            return envelope;
        }
        if let (serde_json::Value::Null, Some(live)) = (&envelope.payload, &self.live) {
            envelope.payload = live.event.to_json();
        }
        envelope
    }

    /// [`Job::stored_envelope`] as JSON text.
    pub fn to_json(&self) -> Result<String, serde_json::Error> {
        if self.envelope.payload.is_null() && self.live.is_some() && self.envelope.sealed.is_none()
        {
            serde_json::to_string(&self.stored_envelope())
        } else {
            serde_json::to_string(&self.envelope)
        }
    }
}

/// Where a claimed job lives in its backend, to acknowledge or reschedule it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Receipt {
    /// Backend-specific location (sqlite row, redis stream key, memory queue).
    pub key: String,
    /// Backend-specific claim token (sqlite lease, redis entry id).
    pub token: String,
}

#[cfg(any(feature = "sqlite", feature = "postgres"))]
impl Receipt {
    /// The row a receipt of a table-backed connection names (its `seq`
    /// column), or -1, which names no row, for a key that is not a number.
    pub(crate) fn row_seq(&self) -> i64 {
        self.key.parse().unwrap_or(-1)
    }
}

/// A job a worker has taken, with the number of this attempt (1-based).
#[derive(Debug, Clone)]
pub struct Claimed {
    /// The job as stored (on `memory`, with its live event).
    pub job: Job,
    /// 1-based: attempts made before plus this one; on `sqlite`, `redis`
    /// and `postgres` a claim whose worker died mid-job counts as one.
    pub attempt: u32,
    /// Where to acknowledge, retry or fail it.
    pub receipt: Receipt,
}

/// A job that ran out of tries (or could not be rebuilt).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FailedJob {
    /// The job's id (the envelope's ULID): what `retry` and `forget` take.
    pub id: String,
    /// The queue it was on.
    pub queue: String,
    /// The full envelope, as it was when the job failed.
    pub payload: JobEnvelope,
    /// Why it failed: the last error, a timeout, or why it could not be rebuilt.
    pub reason: String,
    /// Attempts made, the failing one included.
    pub attempts: u32,
    /// Unix ms.
    pub failed_at: i64,
}

impl FailedJob {
    pub(crate) fn new(claimed_env: JobEnvelope, reason: String, attempts: u32) -> Self {
        Self {
            id: claimed_env.id.clone(),
            queue: claimed_env.queue.clone(),
            payload: claimed_env,
            reason,
            attempts,
            failed_at: now_ms(),
        }
    }

    /// The envelope to queue again: attempts reset, runnable now.
    pub fn retry_envelope(&self) -> JobEnvelope {
        let mut envelope = self.payload.clone();
        envelope.attempts = 0;
        envelope.exceptions = 0;
        envelope.available_at = now_ms();
        if envelope.settings.retry_until.is_some() {
            envelope.retried_at = Some(envelope.available_at);
        }
        envelope
    }

    /// When the job failed.
    pub fn failed_at(&self) -> chrono::DateTime<chrono::Utc> {
        chrono::DateTime::from_timestamp_millis(self.failed_at).unwrap_or_default()
    }
}

/// A new job id whose time part is `created_at` (Unix ms): the memory
/// connection makes its jobs' ids only when first needed.
pub(crate) fn made_at(created_at: i64) -> ulid::Ulid {
    ulid::Ulid::from_parts(created_at.max(0) as u64, ulid::Ulid::new().random())
}
