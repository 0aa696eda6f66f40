//! The `memory` connection: in-process queues, workers as tokio tasks.
//!
//! Jobs keep their live event and listener, so nothing is serialised; a
//! process exit loses what is queued (use `sqlite` or `redis` for durability).
//!
//! Two ways in and out share one store. The fast paths, which
//! [`Queue`](super::Queue) and [`Worker`](super::Worker) find by asking
//! whether their backend is a `MemoryBackend` ([`MemoryBackend::of`]:
//! `push_live`, called from the dispatcher's `queue_listener_now`, and
//! `run_worker`, the loop in [`worker`]), move a compact [`MemJob`]: no envelope, no id, no
//! strings, until a job fails and needs them. The [`Backend`] methods (for
//! `Queue::push`, `defer` and any generic worker) convert to and from
//! [`Job`] at the boundary.

mod attempt_hops;
#[cfg(test)]
mod attempt_timing_tests;
mod batch;
mod failed_search;
mod job;
mod lanes;
mod monitoring;
#[cfg(test)]
mod monitoring_tests;
pub(crate) mod worker;

pub(crate) use worker::{WorkerPlan, WorkerRun};

use std::collections::VecDeque;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use async_trait::async_trait;
use tokio::sync::Notify;

pub(crate) use job::MemJob;
use job::{MAX_INTERNED, OWN};
use lanes::{Inbox, State};

use super::QueueError;
use super::backend::{Backend, FailedStore};
use super::job::{Claimed, FailedJob, Job, JobEnvelope, Receipt, coarse_now_ms, now_ms};
use super::monitor::LocalFigures;
use super::settings::JobSettings;
use super::stats::WorkerStats;
use event_kernel::Event;
use event_kernel::EventListener;

/// In-process queues.
///
/// Dispatching a job appends it to an inbox under a lock held for just
/// that (no allocation once the inbox has grown: the worker that empties it
/// swaps in a spare); the next worker that takes jobs sorts them into their
/// queues and priorities.
///
/// Its fast paths (dispatch without waiting, its own worker loop) are
/// found by type, so a `MemoryBackend` given to
/// [`Queue::with_backend`](super::Queue::with_backend) gets them too.
pub struct MemoryBackend {
    /// Shared with the worker loop's tasks.
    store: Arc<Store>,
}

impl std::fmt::Debug for MemoryBackend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MemoryBackend").finish_non_exhaustive()
    }
}

/// The queues themselves, behind [`MemoryBackend`].
pub(crate) struct Store {
    state: Mutex<State>,
    /// What the fast path pushed, and the lane and listener numbers it
    /// reads under the same lock (one lock per push, no other shared read).
    inbox: Mutex<Inbox>,
    notify: Notify,
    /// Workers waiting for a job: a push wakes one only when some wait.
    idle: AtomicUsize,
    /// A wake-up is on its way: the worker it wakes takes what arrived
    /// meanwhile and wakes the next one if jobs are left, so a burst of
    /// pushes costs one wake-up, not one each.
    waking: AtomicBool,
    /// Tallies, paused queues, workers: kept in this process, like the jobs.
    pub(super) figures: LocalFigures,
    /// The counts of the workers running on it (what runs, per queue).
    pub(super) workers: Mutex<Vec<(u64, WorkerStats)>>,
}

impl Default for MemoryBackend {
    fn default() -> Self {
        Self::new()
    }
}

impl MemoryBackend {
    /// Empty queues of its own; [`Queue::memory`](crate::Queue::memory)
    /// wraps one.
    pub fn new() -> Self {
        Self {
            store: Arc::new(Store {
                state: Mutex::new(State::new()),
                inbox: Mutex::default(),
                notify: Notify::new(),
                idle: AtomicUsize::new(0),
                waking: AtomicBool::new(false),
                figures: LocalFigures::default(),
                workers: Mutex::default(),
            }),
        }
    }

    /// Another handle on the same queues (for the worker loop's tasks).
    fn handle(&self) -> Self {
        Self {
            store: self.store.clone(),
        }
    }
}

impl Store {
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

    /// Gives producers the lane and listener numbers of `state` (held:
    /// the state's lock comes before the inbox's).
    fn publish(&self, state: &State) {
        let lookup = state.lookup();
        self.inbox.lock().unwrap_or_else(|e| e.into_inner()).lookup = lookup;
    }

    /// Creates the lane of `queue` (under the lock) if new.
    fn lane_slow(&self, queue: &str) {
        let mut state = self.state();
        state.lane(queue);
        self.publish(&state);
    }

    /// Interns a listener (under the lock) if new and there is room.
    fn intern_slow(&self, listener: &Arc<dyn EventListener>) {
        let mut state = self.state();
        state.intern(listener);
        self.publish(&state);
    }

    /// Wakes every waiting worker (to see a shutdown).
    pub(crate) fn wake_all(&self) {
        self.notify.notify_waiters();
    }

    /// The lane numbers of queues, created if new.
    pub(crate) fn lanes(&self, names: &[String]) -> Vec<usize> {
        let mut state = self.state();
        let lanes = names.iter().map(|name| state.lane(name)).collect();
        self.publish(&state);
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

    /// Queues a job for `listener` (`None`: a queued event's listeners)
    /// with its `settings` on the queue named `queue` (the dispatcher's
    /// fast path): under the inbox's lock, one look at the lookup table for
    /// the lane and the listener's number, and the push.
    fn push_live(
        &self,
        event: &Arc<dyn Event>,
        listener: Option<&Arc<dyn EventListener>>,
        settings: &JobSettings,
        queue: &str,
    ) {
        let mut job = MemJob::live(event.clone(), settings, coarse_now_ms());
        let address = listener.map(|l| Arc::as_ptr(l) as *const () as usize);
        let idle = loop {
            let mut inbox = self.inbox.lock().unwrap_or_else(|e| e.into_inner());
            let Some(lane) = inbox.lookup.lane(queue) else {
                // A new queue: made under the state's lock, then again.
                drop(inbox);
                self.lane_slow(queue);
                continue;
            };
            job.lane = lane as u32;
            if let (Some(listener), Some(address)) = (listener, address) {
                match inbox.lookup.listener(address) {
                    Some(n) => job.listener = n,
                    None if inbox.lookup.listeners() >= MAX_INTERNED => {
                        job.listener = OWN;
                        job.extra().listener = Some(listener.clone());
                    }
                    None => {
                        drop(inbox);
                        self.intern_slow(listener);
                        continue;
                    }
                }
            }
            inbox.jobs.push(job);
            break self.idle();
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
            let uniform = state.spare_runs_as_is(lanes);
            if uniform.is_some() {
                let arrived = state.spare.len();
                let n = match share {
                    Some(runners) => arrived.div_ceil(runners.max(1)),
                    None => arrived,
                };
                direct = n.clamp(1, max.max(1));
                out.extend(state.spare.drain(..direct));
                state.running += direct;
            }
            // What is left of a uniform arrival is uniform still.
            state.sort_spare_known(uniform);
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

    /// Looks at the inbox for up to `within` for a job pushed since the last
    /// take, without taking it: what a runner does on the runtime's own
    /// thread before it parks. While producers push steadily, a parked
    /// runner is woken onto a producer's thread and can wait there behind
    /// tasks that do not yield, for milliseconds (measured: 1-75 ms after
    /// the wake, 200,000 jobs from 32 tasks on two threads).
    pub(crate) fn look_for_arrivals(&self, within: Duration) -> bool {
        let began = std::time::Instant::now();
        loop {
            for _ in 0..16 {
                std::hint::spin_loop();
            }
            match self.inbox.try_lock() {
                Ok(inbox) if inbox.jobs.is_empty() => {}
                // Pushed, or a producer is pushing now.
                Ok(_) | Err(_) => return true,
            }
            if began.elapsed() >= within {
                return false;
            }
        }
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
        state.push_failed(failed);
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
            let mut state = self.store.state();
            let now = now_ms();
            for job in jobs {
                let lane = state.lane(&job.envelope.queue);
                state.insert(MemJob::from_job(job, lane), now);
            }
        }
        self.store.wake_all();
        Ok(())
    }

    async fn fetch(
        &self,
        queues: &[String],
        max: usize,
        _lease: Duration,
        _consumer: &str,
    ) -> Result<Vec<Claimed>, QueueError> {
        let mut state = self.store.state();
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
        self.store.idle.fetch_add(1, Ordering::SeqCst);
        // Registered before looking, so a push in between is not missed.
        let notified = self.store.notify.notified();
        tokio::pin!(notified);
        notified.as_mut().enable();
        let has_ready = {
            let state = self.store.state();
            state.lanes.iter().any(|l| l.len > 0)
                || state
                    .delayed
                    .first_key_value()
                    .is_some_and(|(k, _)| k.0 <= now_ms())
        };
        if !has_ready {
            let _ = tokio::time::timeout(idle, notified).await;
        }
        self.store.idle.fetch_sub(1, Ordering::SeqCst);
    }

    async fn ack(&self, done: Vec<Receipt>) -> Result<(), QueueError> {
        let mut state = self.store.state();
        state.running = state.running.saturating_sub(done.len());
        Ok(())
    }

    async fn retry(&self, claimed: Claimed, envelope: JobEnvelope) -> Result<(), QueueError> {
        let job = Job {
            envelope,
            live: claimed.job.live,
        };
        let idle = {
            let mut state = self.store.state();
            state.running = state.running.saturating_sub(1);
            let lane = state.lane(&job.envelope.queue);
            state.insert(MemJob::from_job(job, lane), now_ms());
            self.store.idle()
        };
        self.store.wake_one(idle);
        Ok(())
    }

    async fn fail(&self, _receipt: Receipt, failed: FailedJob) -> Result<(), QueueError> {
        self.store.fail_job(failed);
        Ok(())
    }

    async fn release(&self, claimed: Vec<Claimed>) -> Result<(), QueueError> {
        let jobs: Vec<MemJob> = {
            let mut state = self.store.state();
            claimed
                .into_iter()
                .map(|c| {
                    let lane = state.lane(&c.job.envelope.queue);
                    MemJob::from_job(c.job, lane)
                })
                .collect()
        };
        self.store.put_back(jobs, 0);
        Ok(())
    }

    async fn size(&self) -> Result<usize, QueueError> {
        let state = self.store.state();
        Ok(state.waiting() + state.running)
    }

    async fn sizes(&self) -> Result<Vec<(String, usize)>, QueueError> {
        let state = self.store.state();
        let mut sizes: Vec<(String, usize)> = state
            .lanes
            .iter()
            .map(|lane| (lane.name.clone(), lane.len))
            .collect();
        for job in state.delayed.values() {
            sizes[job.lane as usize].1 += 1;
        }
        sizes.retain(|(_, n)| *n > 0);
        sizes.sort();
        Ok(sizes)
    }

    async fn clear(&self) -> Result<usize, QueueError> {
        let mut state = self.store.state();
        let n = state.waiting();
        for lane in &mut state.lanes {
            lane.clear();
            lane.delayed = 0;
        }
        state.delayed.clear();
        Ok(n)
    }
}

#[async_trait]
impl FailedStore for MemoryBackend {
    async fn failed_list(&self) -> Result<Vec<FailedJob>, QueueError> {
        Ok(self.store.state().failed.clone())
    }

    async fn failed_take(&self, id: &str) -> Result<Option<FailedJob>, QueueError> {
        let mut state = self.store.state();
        let found = state.failed.iter().position(|f| f.id == id);
        Ok(found.map(|i| state.remove_failed(i)))
    }

    async fn failed_restore(&self, failed: FailedJob) -> Result<(), QueueError> {
        self.store.state().push_failed(failed);
        Ok(())
    }

    async fn failed_forget(&self, id: &str) -> Result<bool, QueueError> {
        Ok(self.failed_take(id).await?.is_some())
    }

    async fn failed_purge(&self) -> Result<usize, QueueError> {
        Ok(self.store.state().clear_failed())
    }
}

impl MemoryBackend {
    /// The memory connection behind `backend`, if it is one: what gives a
    /// queue its fast path and a worker this connection's own loop.
    /// Names this connection (its store, shared by its clones) in the
    /// process-wide lock store.
    pub(crate) fn namespace(&self) -> usize {
        Arc::as_ptr(&self.store) as *const () as usize
    }

    pub(crate) fn of(backend: &Arc<dyn Backend>) -> Option<Arc<MemoryBackend>> {
        let any: Arc<dyn std::any::Any + Send + Sync> = backend.clone();
        any.downcast::<MemoryBackend>().ok()
    }

    /// Queues a job for the live `event` on `queue` with `settings`
    /// (already resolved, `after_commit` false, middleware checked),
    /// without waiting: the dispatcher's fast path. `listener` is `None`
    /// for a queued event (every listener of it runs).
    pub(crate) fn push_live(
        &self,
        event: &Arc<dyn Event>,
        listener: Option<&Arc<dyn EventListener>>,
        settings: &JobSettings,
        queue: &str,
    ) {
        self.store.push_live(event, listener, settings, queue);
    }

    /// This connection's own worker loop, used by [`Worker`](crate::Worker)
    /// instead of the general claim/ack loop. It stops taking jobs when
    /// `shutdown` completes.
    pub(crate) fn run_worker(
        &self,
        plan: WorkerPlan,
        shutdown: Pin<Box<dyn Future<Output = ()> + Send>>,
    ) -> WorkerRun {
        Box::pin(worker::run(plan, self.handle(), shutdown))
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::time::{Duration, Instant};

    use super::{MemJob, MemoryBackend};
    use crate::fixtures::Ping;
    use crate::settings::JobSettings;
    use event_kernel::Event;

    #[test]
    fn a_job_fits_in_a_cache_line() {
        // The fast path moves jobs through a channel and two queues.
        assert!(std::mem::size_of::<MemJob>() <= 64);
    }

    #[test]
    fn looking_before_parking_sees_a_push_and_gives_up_when_none_comes() {
        let memory = MemoryBackend::new();
        let began = Instant::now();
        assert!(!memory.store.look_for_arrivals(Duration::from_millis(2)));
        assert!(began.elapsed() >= Duration::from_millis(2));
        let event: Arc<dyn Event> = Arc::new(Ping);
        let settings = JobSettings {
            queued: true,
            ..JobSettings::default()
        };
        memory.push_live(&event, None, &settings, "events");
        assert!(memory.store.look_for_arrivals(Duration::ZERO));
    }
}
