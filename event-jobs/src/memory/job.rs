//! The memory connection's job: the live event and the number of its
//! listener, 64 bytes; the rest boxed only for the jobs that need it.

use std::borrow::Cow;
use std::sync::Arc;
use std::time::Duration;

use crate::job::{Job, JobEnvelope, Live, made_at};
use crate::registry::JobRegistry;
use crate::settings::{self, JobSettings, Limits};
use event_kernel::Event;
use event_kernel::EventListener;

/// Listeners interned per backend; beyond this many, jobs hold their own.
pub(super) const MAX_INTERNED: usize = 4096;
/// `MemJob::listener` for a queued event: every listener of it runs.
pub(super) const EVERY: u32 = u32::MAX;
/// `MemJob::listener` when the listener is in the job's `extra`.
pub(super) const OWN: u32 = u32::MAX - 1;
/// `MemJob::tries` when the job declares none: the worker's.
const UNDECLARED: u32 = 0;

/// What few jobs need, out of line so that a job is 64 bytes (the fast
/// path moves jobs through a channel and two queues; small moves are cheap).
#[derive(Default)]
pub(super) struct Extra {
    /// Pushed as a [`Job`]: its envelope (id, names, payload, settings).
    pub(super) envelope: Option<JobEnvelope>,
    /// A listener not interned, or a pushed job's live one.
    pub(super) listener: Option<Arc<dyn EventListener>>,
    /// Made when first needed (a retry's log line, the failed store).
    pub(super) id: Option<ulid::Ulid>,
    pub(super) exceptions: u32,
    /// A live job's settings, when they are more than `tries` and one
    /// retry delay (a pushed job's are in its envelope).
    pub(super) settings: Option<JobSettings>,
    /// Its attempts that did not complete, for the failed store.
    pub(super) history: Vec<crate::attempt_record::AttemptRecord>,
}

type EventRef<'a> = &'a Arc<dyn Event>;
type ListenerRef<'a> = &'a Arc<dyn EventListener>;
/// A job's event and listeners, borrowed when live, rebuilt otherwise.
pub(crate) type Parts<'a> = (Cow<'a, Arc<dyn Event>>, Cow<'a, [Arc<dyn EventListener>]>);

/// A job held by the memory connection: the live event and the number of
/// its (interned) listener; the rest only when a job needs it.
pub(crate) struct MemJob {
    /// `None` for a job pushed as JSON (rebuilt through the registry).
    pub(super) event: Option<Arc<dyn Event>>,
    /// An interned listener's number, [`EVERY`] or [`OWN`].
    pub(super) listener: u32,
    /// Its queue's lane number.
    pub lane: u32,
    pub priority: i32,
    /// Attempts made.
    pub attempts: u32,
    /// Declared tries, or [`UNDECLARED`].
    pub(super) tries: u32,
    pub(super) created_at: i64,
    pub available_at: i64,
    pub(super) extra: Option<Box<Extra>>,
}

impl MemJob {
    /// A job for the live `event` with its `settings`, made at `now`; its
    /// listener and lane are set by [`MemoryBackend::push_live`].
    /// The settings are cloned into the job only when they are more than
    /// `tries`, one retry delay, a priority and a delay.
    #[inline]
    pub(crate) fn live(event: Arc<dyn Event>, settings: &JobSettings, now: i64) -> Self {
        let plain = settings.timeout.is_none()
            && settings.max_exceptions.is_none()
            && settings.backoff.is_empty()
            && settings.retry_delay.is_none()
            && settings.middleware.is_empty()
            && settings.tags.is_empty()
            && settings.retry_until.is_none()
            && settings.exponential_backoff.is_none()
            && !settings.jitter;
        let tries = settings.declared_tries().unwrap_or(UNDECLARED);
        let priority = settings.priority;
        let available_at = now + settings.delay_ms() as i64;
        let extra = (!plain).then(|| {
            Box::new(Extra {
                settings: Some(settings.clone()),
                ..Extra::default()
            })
        });
        Self {
            event: Some(event),
            listener: EVERY,
            lane: 0,
            priority,
            attempts: 0,
            tries,
            created_at: now,
            available_at,
            extra,
        }
    }

    pub(super) fn from_job(job: Job, lane: usize) -> Self {
        let e = &job.envelope;
        let (event, listener) = match job.live {
            Some(live) => (Some(live.event), live.listener),
            None => (None, None),
        };
        Self {
            event,
            listener: if listener.is_some() { OWN } else { EVERY },
            lane: lane as u32,
            priority: e.priority,
            attempts: e.attempts,
            tries: e.settings.declared_tries().unwrap_or(UNDECLARED),
            created_at: e.created_at,
            available_at: e.available_at,
            extra: Some(Box::new(Extra {
                listener,
                exceptions: e.exceptions,
                id: None,
                settings: None,
                envelope: Some(job.envelope),
                history: Vec::new(),
            })),
        }
    }

    /// The event store's ids the job was queued with (its envelope's).
    pub(super) fn scope_ids(&self) -> (Option<&str>, Option<&str>) {
        match self.extra.as_ref().and_then(|e| e.envelope.as_ref()) {
            Some(e) => (e.event_id.as_deref(), e.correlation_id.as_deref()),
            None => (None, None),
        }
    }

    /// The `tracing` span an attempt runs in (`queue.job`), with the ids
    /// the job has: its id once one was made or stored, and the event
    /// store's event and correlation ids when it carries them. The fields
    /// are read only when a subscriber takes the span.
    pub(super) fn span(&self, queue: &str, name: &str) -> tracing::Span {
        let extra = self.extra.as_deref();
        let envelope = extra.and_then(|e| e.envelope.as_ref());
        tracing::info_span!(
            crate::trace::JOB_SPAN,
            job.id = %match (envelope, extra.and_then(|e| e.id)) {
                (Some(envelope), _) => envelope.id.clone(),
                (None, Some(id)) => id.to_string(),
                (None, None) => String::new(),
            },
            job.name = name,
            job.queue = queue,
            job.attempt = self.attempts + 1,
            event.id = envelope.and_then(|e| e.event_id.as_deref()).unwrap_or(""),
            event.correlation_id = envelope
                .and_then(|e| e.correlation_id.as_deref())
                .unwrap_or(""),
        )
    }

    pub(super) fn extra(&mut self) -> &mut Extra {
        self.extra.get_or_insert_with(Box::default)
    }

    /// The settings beyond `tries` and the retry delay, when the job has any.
    pub(crate) fn settings(&self) -> Option<&JobSettings> {
        let extra = self.extra.as_ref()?;
        extra
            .settings
            .as_ref()
            .or(extra.envelope.as_ref().map(|e| &e.settings))
    }

    pub(crate) fn exceptions(&self) -> u32 {
        self.extra.as_ref().map_or(0, |e| e.exceptions)
    }

    pub(crate) fn set_exceptions(&mut self, exceptions: u32) {
        if exceptions != self.exceptions() {
            self.extra().exceptions = exceptions;
        }
    }

    /// Its tries and timeout under a worker whose own are `worker`.
    pub(crate) fn limits(&self, worker: &JobSettings) -> Limits {
        settings::limits(
            (self.tries != UNDECLARED).then_some(self.tries),
            self.settings().and_then(|s| s.timeout),
            worker,
        )
    }

    pub(crate) fn max_exceptions(&self) -> Option<u32> {
        self.settings().and_then(|s| s.max_exceptions)
    }

    /// The delay before the attempt after `attempt` (1-based): the job's
    /// own, else `worker`'s.
    pub(crate) fn backoff_after(&self, attempt: u32, worker: &JobSettings) -> Duration {
        crate::settings::retry_delay(self.settings(), attempt, worker)
    }

    pub(super) fn is_stored(&self) -> bool {
        self.extra.as_ref().is_some_and(|e| e.envelope.is_some())
    }

    /// The job's id (made now if it has none yet).
    pub(crate) fn id(&mut self) -> String {
        let created_at = self.created_at;
        let extra = self.extra();
        if let Some(envelope) = &extra.envelope {
            return envelope.id.clone();
        }
        extra
            .id
            .get_or_insert_with(|| made_at(created_at))
            .to_string()
    }

    /// Its id as its listener sees it (`CurrentJob`): stored, else made
    /// when first asked for ([`MemJob::keep_id`] keeps it).
    pub(crate) fn running_id(&self) -> crate::current_job::RunningId {
        let extra = self.extra.as_deref();
        match extra.and_then(|e| e.envelope.as_ref()) {
            Some(envelope) => crate::current_job::RunningId::Stored(envelope.id.clone()),
            None => crate::current_job::RunningId::Lazy {
                created_at: self.created_at,
                made: extra.and_then(|e| e.id),
            },
        }
    }

    /// Unix ms after which it is not tried again (`retry_until`).
    pub(crate) fn retry_deadline(&self) -> Option<i64> {
        let from = self
            .extra
            .as_ref()
            .and_then(|e| e.envelope.as_ref())
            .map_or(self.created_at, JobEnvelope::retry_from);
        self.settings()?.retry_deadline(from)
    }

    /// The id of a job pushed with its envelope (a unique job's lock
    /// owner); empty for a live job, which has none stored.
    pub(crate) fn stored_id(&self) -> String {
        self.extra
            .as_ref()
            .and_then(|e| e.envelope.as_ref())
            .map_or_else(String::new, |e| e.id.clone())
    }

    /// Keeps the id made while its listener ran.
    pub(crate) fn keep_id(&mut self, id: ulid::Ulid) {
        let extra = self.extra();
        if extra.envelope.is_none() {
            extra.id = Some(id);
        }
    }

    /// The [`Job`] this is, its envelope filled in for `queue`; `table`
    /// holds the interned listeners.
    pub(crate) fn into_job(self, queue: &str, table: &[Arc<dyn EventListener>]) -> Job {
        let exceptions = self.exceptions();
        let mut extra = self.extra.map(|e| *e).unwrap_or_default();
        let listener = match self.listener {
            EVERY => None,
            OWN => extra.listener.take(),
            n => Some(table[n as usize].clone()),
        };
        let live = self.event.map(|event| Live { event, listener });
        let mut envelope = match extra.envelope.take() {
            Some(envelope) => envelope,
            None => {
                // Only a live job has no envelope yet.
                let id = extra.id.unwrap_or_else(|| made_at(self.created_at));
                let live = live.as_ref();
                let settings = extra.settings.take().unwrap_or_else(|| JobSettings {
                    queued: true,
                    queue: Some(queue.to_string()),
                    tries: (self.tries != UNDECLARED).then_some(self.tries),
                    priority: self.priority,
                    ..JobSettings::default()
                });
                JobEnvelope {
                    id: id.to_string(),
                    event: live.map_or(String::new(), |l| l.event.event_name().to_string()),
                    payload: serde_json::Value::Null,
                    listener: live
                        .and_then(|l| l.listener.as_ref())
                        .map(|l| l.listener_name().to_string()),
                    queue: queue.to_string(),
                    attempts: 0,
                    exceptions: 0,
                    settings,
                    priority: 0,
                    available_at: 0,
                    created_at: self.created_at,
                    event_id: None,
                    correlation_id: None,
                    retried_at: None,
                    traceparent: None,
                    sealed: None,
                    history: Vec::new(),
                }
            }
        };
        envelope.attempts = self.attempts;
        envelope.exceptions = exceptions;
        for attempt in extra.history {
            crate::attempt_record::keep(&mut envelope.history, attempt);
        }
        envelope.available_at = self.available_at;
        envelope.priority = self.priority;
        Job { envelope, live }
    }

    /// The job's name in the figures: its listener's, or its event's for a
    /// queued event (as the stored connections name it).
    pub(super) fn job_name<'a>(&'a self, table: &'a [Arc<dyn EventListener>]) -> &'a str {
        if let Some(listener) = self.listener_ref(table) {
            return listener.listener_name();
        }
        if let Some(envelope) = self.extra.as_ref().and_then(|e| e.envelope.as_ref()) {
            return envelope.listener.as_deref().unwrap_or(&envelope.event);
        }
        self.event.as_ref().map_or("", |e| e.event_name())
    }

    /// True for a queued event's job (not one listener's).
    pub(super) fn is_event_job(&self, table: &[Arc<dyn EventListener>]) -> bool {
        self.listener_ref(table).is_none()
            && self
                .extra
                .as_ref()
                .and_then(|e| e.envelope.as_ref())
                .is_none_or(|e| e.listener.is_none())
    }

    /// True when the job was runnable as soon as it was made (no delay).
    pub(super) fn due_when_made(&self) -> bool {
        self.available_at <= self.created_at && !self.is_stored()
    }

    fn listener_ref<'a>(&'a self, table: &'a [Arc<dyn EventListener>]) -> Option<ListenerRef<'a>> {
        match self.listener {
            EVERY => None,
            OWN => self.extra.as_ref().and_then(|e| e.listener.as_ref()),
            n => table.get(n as usize),
        }
    }

    /// The live event and its one listener, when the job can run without
    /// the general path's care: no timeout (its own or `worker`'s), and
    /// tries left.
    pub(crate) fn quick<'a>(
        &'a self,
        table: &'a [Arc<dyn EventListener>],
        worker: &JobSettings,
    ) -> Option<(EventRef<'a>, ListenerRef<'a>)> {
        let event = self.event.as_ref()?;
        let listener = self.listener_ref(table)?;
        if worker.timeout.is_some() {
            return None;
        }
        // The tries of `limits` without its timeout: none is in play here
        // (nor middleware, nor an event store scope to restore).
        let tries = match self.settings() {
            None => self.tries,
            Some(s)
                if s.timeout.is_none()
                    && s.middleware.is_empty()
                    && s.retry_until.is_none()
                    && s.unique.is_none()
                    && self.scope_ids().1.is_none() =>
            {
                self.tries
            }
            Some(_) => return None,
        };
        let tries = settings::tries((tries != UNDECLARED).then_some(tries), worker);
        (self.attempts < tries).then_some((event, listener))
    }

    /// The event and the listeners to run: the live ones, or rebuilt from
    /// the envelope through `registry`.
    pub(crate) fn parts<'a>(
        &'a self,
        registry: &JobRegistry,
        keys: &crate::AppKeys,
        table: &'a [Arc<dyn EventListener>],
    ) -> Result<Parts<'a>, String> {
        let envelope = self.extra.as_ref().and_then(|e| e.envelope.as_ref());
        let event = match (&self.event, envelope) {
            (Some(event), _) => Cow::Borrowed(event),
            (None, Some(envelope)) => Cow::Owned(
                registry
                    .decode(
                        &envelope.event,
                        envelope.event_json(keys).map_err(|e| e.to_string())?,
                    )
                    .map_err(|e| e.to_string())?,
            ),
            (None, None) => return Err("a memory job without event or envelope".to_string()),
        };
        let listeners = match (
            self.listener_ref(table),
            envelope.and_then(|e| e.listener.as_deref()),
        ) {
            (Some(listener), _) => Cow::Borrowed(std::slice::from_ref(listener)),
            (None, Some(name)) => Cow::Owned(vec![
                registry.listener_named(name).map_err(|e| e.to_string())?,
            ]),
            (None, None) => Cow::Owned(registry.listeners_for_job(event.event_name(), &**event)),
        };
        Ok((event, listeners))
    }
}
