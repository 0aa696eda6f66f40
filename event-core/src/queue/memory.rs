//! The `memory` connection: in-process queues, workers as tokio tasks.
//!
//! Jobs keep their live event and listener, so nothing is serialised; a
//! process exit loses what is queued (use `sqlite` or `redis` for durability).

use std::cmp::Reverse;
use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

use async_trait::async_trait;
use tokio::sync::Notify;

use super::QueueError;
use super::backend::Backend;
use super::job::{Claimed, FailedJob, Job, JobEnvelope, Receipt, now_ms};

#[derive(Default)]
struct State {
    seq: u64,
    /// Per queue and priority (highest first): jobs in arrival order.
    ready: HashMap<String, BTreeMap<Reverse<i32>, VecDeque<Job>>>,
    /// (available_at, arrival) -> job.
    delayed: BTreeMap<(i64, u64), Job>,
    failed: Vec<FailedJob>,
}

impl State {
    fn insert(&mut self, job: Job, now: i64) {
        self.seq += 1;
        if job.envelope.available_at > now {
            self.delayed
                .insert((job.envelope.available_at, self.seq), job);
        } else {
            let priority = Reverse(job.envelope.priority);
            let queue = match self.ready.get_mut(&job.envelope.queue) {
                Some(queue) => queue,
                None => self.ready.entry(job.envelope.queue.clone()).or_default(),
            };
            queue.entry(priority).or_default().push_back(job);
        }
    }

    fn promote(&mut self, now: i64) {
        while let Some(entry) = self.delayed.first_entry() {
            if entry.key().0 > now {
                break;
            }
            let job = entry.remove();
            self.insert(job, now);
        }
    }
}

/// In-process queues.
#[derive(Default)]
pub struct MemoryBackend {
    state: Mutex<State>,
    notify: Notify,
    /// Claimed jobs not yet finished.
    running: AtomicUsize,
}

impl MemoryBackend {
    pub fn new() -> Self {
        Self::default()
    }

    fn finished(&self, jobs: usize) {
        let _ = self
            .running
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| {
                Some(n.saturating_sub(jobs))
            });
    }

    fn state(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
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
        // A job due when it was created is due now: no clock read for it.
        let delayed = jobs
            .iter()
            .any(|j| j.envelope.available_at > j.envelope.created_at);
        let now = if delayed { now_ms() } else { i64::MAX };
        {
            let mut state = self.state();
            for job in jobs {
                state.insert(job, now);
            }
        }
        self.notify.notify_waiters();
        Ok(())
    }

    async fn fetch(
        &self,
        queues: &[String],
        max: usize,
        _lease: Duration,
        _consumer: &str,
    ) -> Result<Vec<Claimed>, QueueError> {
        let now = now_ms();
        let mut state = self.state();
        state.promote(now);
        let mut claimed = Vec::new();
        for queue in queues {
            let Some(ready) = state.ready.get_mut(queue) else {
                continue;
            };
            while claimed.len() < max {
                let Some(mut bucket) = ready.first_entry() else {
                    break;
                };
                let Some(job) = bucket.get_mut().pop_front() else {
                    bucket.remove();
                    continue;
                };
                if bucket.get().is_empty() {
                    bucket.remove();
                }
                claimed.push(Claimed {
                    attempt: job.envelope.attempts + 1,
                    // Nothing to find again: the worker holds the job.
                    receipt: Receipt {
                        key: String::new(),
                        token: String::new(),
                    },
                    job,
                });
            }
        }
        drop(state);
        self.running.fetch_add(claimed.len(), Ordering::Relaxed);
        Ok(claimed)
    }

    async fn wait(&self, idle: Duration) {
        // Registered before looking, so a push in between is not missed.
        let notified = self.notify.notified();
        tokio::pin!(notified);
        notified.as_mut().enable();
        let has_ready = {
            let state = self.state();
            state.ready.values().any(|q| !q.is_empty())
                || state
                    .delayed
                    .first_key_value()
                    .is_some_and(|(k, _)| k.0 <= now_ms())
        };
        if !has_ready {
            let _ = tokio::time::timeout(idle, notified).await;
        }
    }

    async fn ack(&self, done: Vec<Receipt>) -> Result<(), QueueError> {
        self.finished(done.len());
        Ok(())
    }

    async fn retry(&self, claimed: Claimed, envelope: JobEnvelope) -> Result<(), QueueError> {
        let mut job = claimed.job;
        job.envelope = envelope;
        let mut state = self.state();
        self.finished(1);
        state.insert(job, now_ms());
        drop(state);
        self.notify.notify_waiters();
        Ok(())
    }

    async fn fail(&self, _receipt: Receipt, failed: FailedJob) -> Result<(), QueueError> {
        let mut state = self.state();
        self.finished(1);
        state.failed.push(failed);
        Ok(())
    }

    async fn release(&self, claimed: Vec<Claimed>) -> Result<(), QueueError> {
        let now = now_ms();
        let mut state = self.state();
        self.finished(claimed.len());
        for c in claimed {
            state.insert(c.job, now);
        }
        drop(state);
        self.notify.notify_waiters();
        Ok(())
    }

    async fn size(&self) -> Result<usize, QueueError> {
        let state = self.state();
        Ok(state
            .ready
            .values()
            .flat_map(BTreeMap::values)
            .map(VecDeque::len)
            .sum::<usize>()
            + state.delayed.len()
            + self.running.load(Ordering::Relaxed))
    }

    async fn clear(&self) -> Result<usize, QueueError> {
        let mut state = self.state();
        let n = state
            .ready
            .values()
            .flat_map(BTreeMap::values)
            .map(VecDeque::len)
            .sum::<usize>()
            + state.delayed.len();
        state.ready.clear();
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
