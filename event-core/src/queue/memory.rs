//! The `memory` connection: in-process queues, workers as tokio tasks.
//!
//! Jobs keep their live event and listener, so nothing is serialised; a
//! process exit loses what is queued (use `sqlite` or `redis` for durability).
//!
//! Two ways in and out share one store. The dispatcher's fast path
//! ([`Queue`](super::Queue)'s `queue_listener_now`) and the memory worker
//! ([`super::runner`]) move a compact [`MemJob`]: no envelope, no id, no
//! strings, until a job fails and needs them. The [`Backend`] methods (for
//! `Queue::push`, `defer` and any generic worker) convert to and from
//! [`Job`] at the boundary.

use std::borrow::Cow;
use std::collections::{BTreeMap, VecDeque};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use arc_swap::ArcSwap;
use std::time::Duration;

use async_trait::async_trait;
use rustc_hash::FxHashMap;
use tokio::sync::Notify;

use super::QueueError;
use super::backend::Backend;
use super::job::{Claimed, FailedJob, Job, JobEnvelope, Live, Receipt, now_ms};
use super::registry::JobRegistry;
use super::settings::JobSettings;
use crate::event::Event;
use crate::listener::EventListener;

/// Listeners interned per backend; beyond this many, jobs hold their own.
const MAX_INTERNED: usize = 4096;
/// `MemJob::listener` for a queued event: every listener of it runs.
const EVERY: u32 = u32::MAX;
/// `MemJob::listener` when the listener is in the job's `extra`.
const OWN: u32 = u32::MAX - 1;

/// What few jobs need, out of line so that a job is 64 bytes (the fast
/// path moves jobs through a channel and two queues; small moves are cheap).
#[derive(Default)]
struct Extra {
    /// Pushed as a [`Job`]: its envelope (id, names, payload, settings).
    envelope: Option<JobEnvelope>,
    /// A listener not interned, or a pushed job's live one.
    listener: Option<Arc<dyn EventListener>>,
    /// Made when first needed (a retry's log line, the failed store).
    id: Option<ulid::Ulid>,
    exceptions: u32,
    /// A live job's settings, when they are more than `tries` and one
    /// retry delay (a pushed job's are in its envelope).
    settings: Option<JobSettings>,
}

/// A new id whose time part is `created_at` (Unix ms).
fn made_at(created_at: i64) -> ulid::Ulid {
    ulid::Ulid::from_parts(created_at.max(0) as u64, ulid::Ulid::new().random())
}

type EventRef<'a> = &'a Arc<dyn Event>;
type ListenerRef<'a> = &'a Arc<dyn EventListener>;
/// A job's event and listeners, borrowed when live, rebuilt otherwise.
pub(crate) type Parts<'a> = (Cow<'a, Arc<dyn Event>>, Cow<'a, [Arc<dyn EventListener>]>);

/// A job held by the memory connection: the live event and the number of
/// its (interned) listener; the rest only when a job needs it.
pub(crate) struct MemJob {
    /// `None` for a job pushed as JSON (rebuilt through the registry).
    event: Option<Arc<dyn Event>>,
    /// An interned listener's number, [`EVERY`] or [`OWN`].
    listener: u32,
    /// Its queue's lane number.
    pub lane: u32,
    pub priority: i32,
    /// Attempts made.
    pub attempts: u32,
    tries: u32,
    /// Delay before a retry when the job has no backoff list (ms).
    retry_ms: u32,
    created_at: i64,
    pub available_at: i64,
    extra: Option<Box<Extra>>,
}

impl MemJob {
    /// A job for the live `event` with its `settings`, made at `now`; its
    /// listener and lane are set by [`MemoryBackend::push_live`].
    pub fn live(event: Arc<dyn Event>, settings: JobSettings, now: i64) -> Self {
        let retry_ms = settings
            .retry_delay
            .map_or(0, super::settings::millis)
            .min(u64::from(u32::MAX)) as u32;
        let plain = settings.timeout.is_none()
            && settings.max_exceptions.is_none()
            && settings.backoff.is_empty()
            && settings.middleware.is_empty()
            && settings.tags.is_empty();
        let tries = settings.max_tries();
        let priority = settings.priority;
        let available_at = now + settings.delay_ms() as i64;
        let extra = (!plain).then(|| {
            Box::new(Extra {
                settings: Some(settings),
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
            retry_ms,
            created_at: now,
            available_at,
            extra,
        }
    }

    fn from_job(job: Job, lane: usize) -> Self {
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
            tries: e.settings.max_tries(),
            retry_ms: 0,
            created_at: e.created_at,
            available_at: e.available_at,
            extra: Some(Box::new(Extra {
                listener,
                exceptions: e.exceptions,
                id: None,
                settings: None,
                envelope: Some(job.envelope),
            })),
        }
    }

    fn extra(&mut self) -> &mut Extra {
        self.extra.get_or_insert_with(Box::default)
    }

    /// The settings beyond `tries` and the retry delay, when the job has any.
    pub fn settings(&self) -> Option<&JobSettings> {
        let extra = self.extra.as_ref()?;
        extra
            .settings
            .as_ref()
            .or(extra.envelope.as_ref().map(|e| &e.settings))
    }

    pub fn exceptions(&self) -> u32 {
        self.extra.as_ref().map_or(0, |e| e.exceptions)
    }

    pub fn set_exceptions(&mut self, exceptions: u32) {
        if exceptions != self.exceptions() {
            self.extra().exceptions = exceptions;
        }
    }

    pub fn tries(&self) -> u32 {
        self.tries
    }

    pub fn timeout_ms(&self) -> Option<u64> {
        self.settings().and_then(JobSettings::timeout_ms)
    }

    pub fn max_exceptions(&self) -> Option<u32> {
        self.settings().and_then(|s| s.max_exceptions)
    }

    /// The delay before the attempt after `attempt` (1-based).
    pub fn backoff_after(&self, attempt: u32) -> Duration {
        match self.settings() {
            Some(settings) => settings.backoff_after(attempt),
            None => Duration::from_millis(u64::from(self.retry_ms)),
        }
    }

    fn is_stored(&self) -> bool {
        self.extra.as_ref().is_some_and(|e| e.envelope.is_some())
    }

    /// The job's id (made now if it has none yet).
    pub fn id(&mut self) -> String {
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

    /// The [`Job`] this is, its envelope filled in for `queue`; `table`
    /// holds the interned listeners.
    pub fn into_job(self, queue: &str, table: &[Arc<dyn EventListener>]) -> Job {
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
                    tries: Some(self.tries),
                    retry_delay: Some(chrono::Duration::milliseconds(i64::from(self.retry_ms))),
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
                }
            }
        };
        envelope.attempts = self.attempts;
        envelope.exceptions = exceptions;
        envelope.available_at = self.available_at;
        envelope.priority = self.priority;
        Job { envelope, live }
    }

    /// True when the job was runnable as soon as it was made (no delay).
    fn due_when_made(&self) -> bool {
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
    /// the general path's care: no timeout, and tries left.
    pub fn quick<'a>(
        &'a self,
        table: &'a [Arc<dyn EventListener>],
    ) -> Option<(EventRef<'a>, ListenerRef<'a>)> {
        let event = self.event.as_ref()?;
        let listener = self.listener_ref(table)?;
        let plain = self
            .settings()
            .is_none_or(|s| s.timeout.is_none() && s.middleware.is_empty());
        (self.attempts < self.tries && plain).then_some((event, listener))
    }

    /// The event and the listeners to run: the live ones, or rebuilt from
    /// the envelope through `registry`.
    pub fn parts<'a>(
        &'a self,
        registry: &JobRegistry,
        table: &'a [Arc<dyn EventListener>],
    ) -> Result<Parts<'a>, String> {
        let envelope = self.extra.as_ref().and_then(|e| e.envelope.as_ref());
        let event = match (&self.event, envelope) {
            (Some(event), _) => Cow::Borrowed(event),
            (None, Some(envelope)) => Cow::Owned(
                registry
                    .decode(&envelope.event, envelope.payload.clone())
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
            (None, None) => Cow::Owned(registry.listeners_of(event.event_name())),
        };
        Ok((event, listeners))
    }
}

/// One named queue: a bucket per priority (highest first), each in
/// arrival order. Emptied buckets stay, with their storage, for the next
/// jobs of that priority (there are seldom more than a few).
struct Lane {
    name: String,
    buckets: Vec<(i32, VecDeque<MemJob>)>,
    len: usize,
}

/// Past this many priorities seen in one queue, empty buckets are dropped.
const MAX_EMPTY_BUCKETS: usize = 16;

impl Lane {
    fn push(&mut self, job: MemJob) {
        let priority = job.priority;
        // Highest first: find the bucket, or where it belongs.
        let at = self.buckets.iter().position(|(p, _)| *p <= priority);
        match at {
            Some(i) if self.buckets[i].0 == priority => self.buckets[i].1.push_back(job),
            _ => {
                if self.buckets.len() >= MAX_EMPTY_BUCKETS {
                    self.buckets.retain(|(_, b)| !b.is_empty());
                }
                let at = self
                    .buckets
                    .iter()
                    .position(|(p, _)| *p < priority)
                    .unwrap_or(self.buckets.len());
                self.buckets.insert(at, (priority, VecDeque::from([job])));
            }
        }
        self.len += 1;
    }

    /// Puts a job back at the front of its priority's bucket.
    fn push_front(&mut self, job: MemJob) {
        let priority = job.priority;
        match self.buckets.iter().position(|(p, _)| *p == priority) {
            Some(i) => self.buckets[i].1.push_front(job),
            None => {
                // A new bucket holds just this job: front and back agree.
                self.push(job);
                return;
            }
        }
        self.len += 1;
    }

    /// Moves `jobs`, all of one priority, to the back of its bucket.
    fn append(&mut self, jobs: &mut Vec<MemJob>) {
        let Some(first) = jobs.first() else {
            return;
        };
        let priority = first.priority;
        let count = jobs.len();
        let mut rest = jobs.drain(..);
        if let Some(first) = rest.next() {
            // Finds or makes the bucket, in its place.
            self.push(first);
        }
        match self.buckets.iter().position(|(p, _)| *p == priority) {
            Some(i) => {
                self.buckets[i].1.extend(rest);
                self.len += count - 1;
            }
            None => rest.for_each(|job| self.push(job)),
        }
    }

    fn pop(&mut self) -> Option<MemJob> {
        let job = self.buckets.iter_mut().find_map(|(_, b)| b.pop_front())?;
        self.len -= 1;
        Some(job)
    }

    fn clear(&mut self) {
        self.buckets.clear();
        self.len = 0;
    }
}

/// The lane, when `jobs` are all due and of one lane and one priority (the
/// usual case).
fn uniform_lane(jobs: &[MemJob]) -> Option<usize> {
    let first = jobs.first()?;
    jobs.iter()
        .all(|j| j.lane == first.lane && j.priority == first.priority && j.due_when_made())
        .then_some(first.lane as usize)
}

struct State {
    /// The inbox's storage between two swaps (empty, with its capacity).
    spare: Vec<MemJob>,
    seq: u64,
    lanes: Vec<Lane>,
    by_name: FxHashMap<String, usize>,
    /// (available_at, arrival) -> job.
    delayed: BTreeMap<(i64, u64), MemJob>,
    /// Taken by a worker and not yet reported finished.
    running: usize,
    failed: Vec<FailedJob>,
    /// Interned listeners (only ever appended to) and their numbers by address.
    listeners: Vec<Arc<dyn EventListener>>,
    listener_numbers: FxHashMap<usize, u32>,
}

impl State {
    fn new() -> Self {
        Self {
            spare: Vec::new(),
            seq: 0,
            lanes: Vec::new(),
            by_name: FxHashMap::default(),
            delayed: BTreeMap::new(),
            running: 0,
            failed: Vec::new(),
            listeners: Vec::new(),
            listener_numbers: FxHashMap::default(),
        }
    }

    /// Moves what the fast path pushed into the lanes (or the delayed set).
    fn drain_inbox(&mut self, inbox: &Mutex<Vec<MemJob>>) {
        self.swap_inbox(inbox);
        self.sort_spare();
    }

    /// Takes the inbox's jobs into `spare`, leaving producers its empty
    /// storage: they wait only for the swap, not for the sorting.
    fn swap_inbox(&mut self, inbox: &Mutex<Vec<MemJob>>) {
        let mut inbox = inbox.lock().unwrap_or_else(|e| e.into_inner());
        if !inbox.is_empty() {
            std::mem::swap(&mut *inbox, &mut self.spare);
        }
    }

    /// With nothing else waiting, jobs in `spare` all due, of one of
    /// `lanes` and of one priority are in the order they would be taken.
    fn spare_runs_as_is(&self, lanes: &[usize]) -> bool {
        uniform_lane(&self.spare).is_some_and(|lane| {
            self.delayed.is_empty()
                && self.lanes.iter().all(|l| l.len == 0)
                && lanes.contains(&lane)
        })
    }

    /// Sorts the jobs in `spare` into their lanes (or the delayed set).
    fn sort_spare(&mut self) {
        if self.spare.is_empty() {
            return;
        }
        let mut jobs = std::mem::take(&mut self.spare);
        if let Some(lane) = uniform_lane(&jobs) {
            self.lanes[lane].append(&mut jobs);
            self.spare = jobs;
            return;
        }
        let mut now = None;
        for job in jobs.drain(..) {
            if job.due_when_made() {
                self.ready(job);
            } else {
                let now = *now.get_or_insert_with(now_ms);
                self.insert(job, now);
            }
        }
        self.spare = jobs;
    }

    /// What producers may read without the lock.
    fn lookup(&self) -> Lookup {
        Lookup {
            lanes: self.by_name.clone(),
            listeners: self.listener_numbers.clone(),
        }
    }

    fn lane(&mut self, name: &str) -> usize {
        if let Some(&lane) = self.by_name.get(name) {
            return lane;
        }
        self.lanes.push(Lane {
            name: name.to_string(),
            buckets: Vec::new(),
            len: 0,
        });
        self.by_name.insert(name.to_string(), self.lanes.len() - 1);
        self.lanes.len() - 1
    }

    /// A listener's number; `None` once the table is full.
    fn intern(&mut self, listener: &Arc<dyn EventListener>) -> Option<u32> {
        let address = Arc::as_ptr(listener) as *const () as usize;
        if let Some(&n) = self.listener_numbers.get(&address) {
            return Some(n);
        }
        if self.listeners.len() >= MAX_INTERNED {
            return None;
        }
        // The table keeps the listener alive, so its address is not reused.
        let n = self.listeners.len() as u32;
        self.listeners.push(listener.clone());
        self.listener_numbers.insert(address, n);
        Some(n)
    }

    fn ready(&mut self, job: MemJob) {
        self.lanes[job.lane as usize].push(job);
    }

    fn insert(&mut self, job: MemJob, now: i64) {
        if job.available_at > now {
            self.seq += 1;
            self.delayed.insert((job.available_at, self.seq), job);
        } else {
            self.ready(job);
        }
    }

    fn promote(&mut self, now: i64) {
        while let Some(entry) = self.delayed.first_entry() {
            if entry.key().0 > now {
                break;
            }
            let job = entry.remove();
            self.ready(job);
        }
    }

    /// Moves up to `max` jobs from `lanes`, in order, to `out`.
    fn take(&mut self, lanes: &[usize], max: usize, out: &mut VecDeque<MemJob>) {
        let mut taken = 0;
        for &index in lanes {
            let lane = &mut self.lanes[index];
            while taken < max {
                let Some(job) = lane.pop() else {
                    break;
                };
                out.push_back(job);
                taken += 1;
            }
        }
        self.running += taken;
    }

    fn waiting(&self) -> usize {
        self.lanes.iter().map(|l| l.len).sum::<usize>() + self.delayed.len()
    }
}

/// Lane and listener numbers, read by producers without the lock.
#[derive(Default)]
struct Lookup {
    lanes: FxHashMap<String, usize>,
    listeners: FxHashMap<usize, u32>,
}

/// In-process queues.
///
/// Dispatching a job appends it to an inbox under a lock held for just
/// that (no allocation once the inbox has grown: the worker that empties it
/// swaps in a spare); the next worker that takes jobs sorts them into their
/// queues and priorities.
pub struct MemoryBackend {
    state: Mutex<State>,
    inbox: Mutex<Vec<MemJob>>,
    lookup: ArcSwap<Lookup>,
    notify: Notify,
    /// Workers waiting for a job: a push wakes one only when some wait.
    idle: AtomicUsize,
    /// A wake-up is on its way: the worker it wakes takes what arrived
    /// meanwhile and wakes the next one if jobs are left, so a burst of
    /// pushes costs one wake-up, not one each.
    waking: AtomicBool,
}

impl Default for MemoryBackend {
    fn default() -> Self {
        Self::new()
    }
}

impl MemoryBackend {
    pub fn new() -> Self {
        Self {
            state: Mutex::new(State::new()),
            inbox: Mutex::default(),
            lookup: ArcSwap::default(),
            notify: Notify::new(),
            idle: AtomicUsize::new(0),
            waking: AtomicBool::new(false),
        }
    }

    /// The state, with every job sent so far in its lane.
    fn state(&self) -> MutexGuard<'_, State> {
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        state.drain_inbox(&self.inbox);
        state
    }

    /// Workers waiting for a job. Read it under the lock the push took: a
    /// worker counts itself idle before it looks (under both locks), so
    /// either it sees the job or the pusher sees it idle.
    fn idle(&self) -> usize {
        self.idle.load(Ordering::Relaxed)
    }

    /// Wakes one waiting worker, unless one is being woken already.
    fn wake_one(&self, idle: usize) {
        if idle > 0 && !self.waking.swap(true, Ordering::SeqCst) {
            self.notify.notify_one();
        }
    }

    /// A lane number, creating the lane (under the lock) if new.
    fn lane_slow(&self, queue: &str) -> usize {
        let mut state = self.state();
        let lane = state.lane(queue);
        self.lookup.store(Arc::new(state.lookup()));
        lane
    }

    /// A listener's number, interning it (under the lock) if new.
    fn intern_slow(&self, listener: &Arc<dyn EventListener>) -> Option<u32> {
        let mut state = self.state();
        let number = state.intern(listener);
        self.lookup.store(Arc::new(state.lookup()));
        number
    }

    /// Wakes every waiting worker (to see a shutdown).
    pub(crate) fn wake_all(&self) {
        self.notify.notify_waiters();
    }

    /// The lane numbers of queues, created if new.
    pub(crate) fn lanes(&self, names: &[String]) -> Vec<usize> {
        let mut state = self.state();
        let lanes = names.iter().map(|name| state.lane(name)).collect();
        self.lookup.store(Arc::new(state.lookup()));
        lanes
    }

    /// True when no job of `lanes` is runnable and none is running.
    pub(crate) fn is_idle(&self, lanes: &[usize]) -> bool {
        let mut state = self.state();
        state.promote(now_ms());
        state.running == 0 && lanes.iter().all(|&l| state.lanes[l].len == 0)
    }

    pub(crate) fn lane_name(&self, lane: usize) -> String {
        self.state().lanes[lane].name.clone()
    }

    /// The lane number of the queue named `queue`, created if new.
    pub(crate) fn lane_of(&self, queue: &str) -> usize {
        match self.lookup.load().lanes.get(queue) {
            Some(&lane) => lane,
            None => self.lane_slow(queue),
        }
    }

    /// Queues a job for `listener` (`None`: a queued event's listeners)
    /// with its `settings` on lane `lane` (the dispatcher's fast path).
    pub(crate) fn push_live(
        &self,
        event: Arc<dyn Event>,
        settings: JobSettings,
        lane: usize,
        now: i64,
        listener: Option<&Arc<dyn EventListener>>,
    ) {
        let lookup = self.lookup.load();
        let mut job = MemJob::live(event, settings, now);
        job.lane = lane as u32;
        if let Some(listener) = listener {
            let address = Arc::as_ptr(listener) as *const () as usize;
            let number = match lookup.listeners.get(&address) {
                Some(&n) => Some(n),
                None if lookup.listeners.len() >= MAX_INTERNED => None,
                None => self.intern_slow(listener),
            };
            match number {
                Some(n) => job.listener = n,
                None => {
                    job.listener = OWN;
                    job.extra().listener = Some(listener.clone());
                }
            }
        }
        drop(lookup);
        let idle = {
            let mut inbox = self.inbox.lock().unwrap_or_else(|e| e.into_inner());
            inbox.push(job);
            self.idle()
        };
        self.wake_one(idle);
    }

    /// Takes up to `max` jobs from `lanes` for a worker, first reporting
    /// `finished` jobs of its previous batch done. With `share` of
    /// `runners`, it takes no more than its share of what waits, so the
    /// other workers get some. Wakes another worker if jobs are left.
    /// Returns when the next delayed job is due.
    /// `table` is the worker's copy of the interned listeners, brought up
    /// to date.
    pub(crate) fn take(
        &self,
        lanes: &[usize],
        share: Option<usize>,
        max: usize,
        finished: usize,
        out: &mut VecDeque<MemJob>,
        table: &mut Vec<Arc<dyn EventListener>>,
    ) -> Option<i64> {
        let (left, idle, next_due) = {
            let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
            state.swap_inbox(&self.inbox);
            // The common case: what just arrived is all there is, in order;
            // the first jobs go straight to the worker, not through a lane.
            let mut direct = 0;
            if state.spare_runs_as_is(lanes) {
                let arrived = state.spare.len();
                let n = match share {
                    Some(runners) => arrived.div_ceil(runners.max(1)),
                    None => arrived,
                };
                direct = n.clamp(1, max.max(1));
                out.extend(state.spare.drain(..direct));
                state.running += direct;
            }
            state.sort_spare();
            if table.len() < state.listeners.len() {
                table.extend_from_slice(&state.listeners[table.len()..]);
            }
            state.running = state.running.saturating_sub(finished);
            if !state.delayed.is_empty() {
                state.promote(now_ms());
            }
            let ready: usize = lanes.iter().map(|&l| state.lanes[l].len).sum();
            if ready > 0 && direct == 0 {
                let n = match share {
                    Some(runners) => ready.div_ceil(runners.max(1)),
                    None => ready,
                };
                state.take(lanes, n.clamp(1, max.max(1)), out);
            }
            let left = if direct > 0 {
                ready
            } else {
                ready.saturating_sub(out.len())
            };
            let next_due = state.delayed.first_key_value().map(|(k, _)| k.0);
            (left, self.idle(), next_due)
        };
        // Another worker is worth waking when jobs are left over: for a fair
        // share, any; for fast jobs, a batch more than this one could take.
        let worth_waking = match share {
            Some(_) => left > 0,
            None => left >= max,
        };
        if worth_waking {
            self.wake_one(idle);
        }
        next_due
    }

    /// Waits until a job may be ready in `lanes`, `stop` is set, the next
    /// delayed job (`next_due`) is due, or `poll` passed.
    pub(crate) async fn wait_for_job(
        &self,
        lanes: &[usize],
        next_due: Option<i64>,
        poll: Duration,
        stop: &AtomicBool,
    ) {
        self.idle.fetch_add(1, Ordering::SeqCst);
        let notified = self.notify.notified();
        tokio::pin!(notified);
        notified.as_mut().enable();
        let ready = {
            let state = self.state();
            lanes.iter().any(|&l| state.lanes[l].len > 0)
        };
        if !ready && !stop.load(Ordering::SeqCst) {
            let until_due =
                next_due.map(|due| Duration::from_millis((due - now_ms()).max(0) as u64));
            let wait = until_due.map_or(poll, |d| d.min(poll));
            let _ = tokio::time::timeout(wait, notified).await;
        }
        self.idle.fetch_sub(1, Ordering::SeqCst);
        // This worker is the one woken (or it timed out): the next push may
        // wake another. A full barrier, so a push that saw the flag still
        // set is seen by this worker's next look.
        self.waking.swap(false, Ordering::SeqCst);
    }

    /// Puts back jobs a worker took and did not start (with `finished` done).
    /// They go back in front of their queues, in the order they were
    /// taken: ahead of jobs that arrived since.
    pub(crate) fn put_back(
        &self,
        jobs: impl IntoIterator<Item = MemJob, IntoIter: DoubleEndedIterator>,
        finished: usize,
    ) {
        let mut returned = 0;
        {
            let mut state = self.state();
            let now = now_ms();
            for job in jobs.into_iter().rev() {
                if job.available_at > now {
                    state.insert(job, now);
                } else {
                    let lane = job.lane as usize;
                    state.lanes[lane].push_front(job);
                }
                returned += 1;
            }
            state.running = state.running.saturating_sub(finished + returned);
        }
        if returned > 0 {
            self.wake_all();
        }
    }

    /// Reschedules a job that failed an attempt (at its `available_at`).
    pub(crate) fn retry_job(&self, job: MemJob) {
        let idle = {
            let mut state = self.state();
            state.running = state.running.saturating_sub(1);
            state.insert(job, now_ms());
            self.idle()
        };
        self.wake_one(idle);
    }

    /// Moves a taken job to the failed store.
    pub(crate) fn fail_job(&self, failed: FailedJob) {
        let mut state = self.state();
        state.running = state.running.saturating_sub(1);
        state.failed.push(failed);
    }
}

#[async_trait]
impl Backend for MemoryBackend {
    fn kind(&self) -> &'static str {
        "memory"
    }

    fn location(&self) -> String {
        "memory".to_string()
    }

    fn cheap_ack(&self) -> bool {
        true
    }

    async fn push(&self, jobs: Vec<Job>) -> Result<(), QueueError> {
        {
            let mut state = self.state();
            let now = now_ms();
            for job in jobs {
                let lane = state.lane(&job.envelope.queue);
                state.insert(MemJob::from_job(job, lane), now);
            }
        }
        self.wake_all();
        Ok(())
    }

    async fn fetch(
        &self,
        queues: &[String],
        max: usize,
        _lease: Duration,
        _consumer: &str,
    ) -> Result<Vec<Claimed>, QueueError> {
        let mut state = self.state();
        state.promote(now_ms());
        let lanes: Vec<usize> = queues.iter().map(|q| state.lane(q)).collect();
        let mut taken = VecDeque::new();
        state.take(&lanes, max, &mut taken);
        let state = &*state;
        Ok(taken
            .into_iter()
            .map(|job| Claimed {
                attempt: job.attempts + 1,
                // Nothing to find again: the worker holds the job.
                receipt: Receipt {
                    key: String::new(),
                    token: String::new(),
                },
                job: {
                    let lane = job.lane as usize;
                    job.into_job(&state.lanes[lane].name, &state.listeners)
                },
            })
            .collect())
    }

    async fn wait(&self, idle: Duration) {
        self.idle.fetch_add(1, Ordering::SeqCst);
        // Registered before looking, so a push in between is not missed.
        let notified = self.notify.notified();
        tokio::pin!(notified);
        notified.as_mut().enable();
        let has_ready = {
            let state = self.state();
            state.lanes.iter().any(|l| l.len > 0)
                || state
                    .delayed
                    .first_key_value()
                    .is_some_and(|(k, _)| k.0 <= now_ms())
        };
        if !has_ready {
            let _ = tokio::time::timeout(idle, notified).await;
        }
        self.idle.fetch_sub(1, Ordering::SeqCst);
    }

    async fn ack(&self, done: Vec<Receipt>) -> Result<(), QueueError> {
        let mut state = self.state();
        state.running = state.running.saturating_sub(done.len());
        Ok(())
    }

    async fn retry(&self, claimed: Claimed, envelope: JobEnvelope) -> Result<(), QueueError> {
        let job = Job {
            envelope,
            live: claimed.job.live,
        };
        let idle = {
            let mut state = self.state();
            state.running = state.running.saturating_sub(1);
            let lane = state.lane(&job.envelope.queue);
            state.insert(MemJob::from_job(job, lane), now_ms());
            self.idle()
        };
        self.wake_one(idle);
        Ok(())
    }

    async fn fail(&self, _receipt: Receipt, failed: FailedJob) -> Result<(), QueueError> {
        self.fail_job(failed);
        Ok(())
    }

    async fn release(&self, claimed: Vec<Claimed>) -> Result<(), QueueError> {
        let jobs: Vec<MemJob> = {
            let mut state = self.state();
            claimed
                .into_iter()
                .map(|c| {
                    let lane = state.lane(&c.job.envelope.queue);
                    MemJob::from_job(c.job, lane)
                })
                .collect()
        };
        self.put_back(jobs, 0);
        Ok(())
    }

    async fn size(&self) -> Result<usize, QueueError> {
        let state = self.state();
        Ok(state.waiting() + state.running)
    }

    async fn clear(&self) -> Result<usize, QueueError> {
        let mut state = self.state();
        let n = state.waiting();
        for lane in &mut state.lanes {
            lane.clear();
        }
        state.delayed.clear();
        Ok(n)
    }

    async fn failed_list(&self) -> Result<Vec<FailedJob>, QueueError> {
        Ok(self.state().failed.clone())
    }

    async fn failed_take(&self, id: &str) -> Result<Option<FailedJob>, QueueError> {
        let mut state = self.state();
        let found = state.failed.iter().position(|f| f.id == id);
        Ok(found.map(|i| state.failed.remove(i)))
    }

    async fn failed_restore(&self, failed: FailedJob) -> Result<(), QueueError> {
        self.state().failed.push(failed);
        Ok(())
    }

    async fn failed_forget(&self, id: &str) -> Result<bool, QueueError> {
        Ok(self.failed_take(id).await?.is_some())
    }

    async fn failed_purge(&self) -> Result<usize, QueueError> {
        let mut state = self.state();
        let n = state.failed.len();
        state.failed.clear();
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::MemJob;

    #[test]
    fn a_job_fits_in_a_cache_line() {
        // The fast path moves jobs through a channel and two queues.
        assert!(std::mem::size_of::<MemJob>() <= 64);
    }
}
