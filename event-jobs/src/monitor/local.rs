//! Figures and signals kept in this process: the memory connection's
//! (its jobs live in one process, so its monitoring does too).

use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};
use std::sync::Mutex;

use super::completed::{CompletedJob, KEPT, KEPT_FOR};
use super::monitoring::Signals;
use super::tally::{Resolution, Tally};
use super::workers::WorkerBeat;

/// The tallies, paused queues, workers and restart request of one process.
#[derive(Debug, Default)]
pub struct LocalFigures {
    inner: Mutex<Inner>,
}

#[derive(Debug, Default)]
struct Inner {
    /// (resolution, period start, queue, job) -> tally.
    tallies: BTreeMap<(Resolution, i64, String, String), Tally>,
    paused: BTreeSet<String>,
    workers: HashMap<String, WorkerBeat>,
    restart_at_ms: Option<i64>,
    /// name -> (holder, until ms).
    leases: HashMap<String, (String, i64)>,
    raised: BTreeSet<String>,
    /// Oldest first.
    completed: VecDeque<CompletedJob>,
}

impl LocalFigures {
    fn inner(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Adds minute tallies at both resolutions; drops expired periods.
    pub fn record(&self, tallies: Vec<Tally>, now_ms: i64) {
        let mut inner = self.inner();
        for tally in tallies {
            for resolution in Resolution::ALL {
                let start = resolution.start_of(tally.start_ms);
                let key = (resolution, start, tally.queue.clone(), tally.job.clone());
                inner
                    .tallies
                    .entry(key)
                    .or_insert_with(|| Tally::new(&tally.queue, &tally.job, start))
                    .merge(&tally);
            }
        }
        for resolution in Resolution::ALL {
            let oldest = now_ms - resolution.retention().as_millis() as i64;
            inner
                .tallies
                .retain(|(r, start, ..), _| *r != resolution || *start >= oldest);
        }
    }

    /// Tallies of `resolution` from `since_ms` on.
    pub fn tallies(&self, resolution: Resolution, since_ms: i64) -> Vec<Tally> {
        let from = (resolution, since_ms, String::new(), String::new());
        self.inner()
            .tallies
            .range(from..)
            .take_while(|((r, ..), _)| *r == resolution)
            .map(|(_, t)| t.clone())
            .collect()
    }

    /// Pauses or resumes a queue.
    pub fn set_paused(&self, queue: &str, paused: bool) {
        let mut inner = self.inner();
        if paused {
            inner.paused.insert(queue.to_string());
        } else {
            inner.paused.remove(queue);
        }
    }

    /// True when `queue` is paused.
    pub fn is_paused(&self, queue: &str) -> bool {
        self.inner().paused.contains(queue)
    }

    /// Paused queues and the restart request.
    pub fn signals(&self) -> Signals {
        let inner = self.inner();
        Signals {
            paused: inner.paused.iter().cloned().collect(),
            restart_at_ms: inner.restart_at_ms,
        }
    }

    /// Records a restart request.
    pub fn request_restart(&self, at_ms: i64) {
        self.inner().restart_at_ms = Some(at_ms);
    }

    /// Registers or refreshes a worker.
    pub fn beat(&self, beat: &WorkerBeat) {
        self.inner().workers.insert(beat.id.clone(), beat.clone());
    }

    /// Removes a worker.
    pub fn unregister(&self, id: &str) {
        self.inner().workers.remove(id);
    }

    /// Workers not gone by `now_ms` (gone ones are dropped).
    pub fn workers(&self, now_ms: i64) -> Vec<WorkerBeat> {
        let mut inner = self.inner();
        inner.workers.retain(|_, w| !w.is_gone(now_ms));
        inner.workers.values().cloned().collect()
    }
}

impl LocalFigures {
    /// Takes or renews a lease.
    pub fn lease(&self, name: &str, holder: &str, now_ms: i64, until_ms: i64) -> bool {
        let mut inner = self.inner();
        match inner.leases.get(name) {
            Some((other, until)) if other != holder && *until > now_ms => false,
            _ => {
                inner
                    .leases
                    .insert(name.to_string(), (holder.to_string(), until_ms));
                true
            }
        }
    }

    /// The raised alerts.
    pub fn raised(&self) -> Vec<String> {
        self.inner().raised.iter().cloned().collect()
    }

    /// Raises or clears an alert.
    pub fn set_raised(&self, key: &str, raised: bool) {
        let mut inner = self.inner();
        if raised {
            inner.raised.insert(key.to_string());
        } else {
            inner.raised.remove(key);
        }
    }
}

impl LocalFigures {
    /// Adds completions, keeping the latest [`KEPT`] of the last [`KEPT_FOR`].
    pub fn record_completed(&self, jobs: Vec<CompletedJob>, now_ms: i64) {
        let mut inner = self.inner();
        inner.completed.extend(jobs);
        let oldest = now_ms - KEPT_FOR.as_millis() as i64;
        while inner
            .completed
            .front()
            .is_some_and(|j| inner.completed.len() as u64 > KEPT || j.done_at_ms < oldest)
        {
            inner.completed.pop_front();
        }
    }

    /// The latest completions, newest first.
    pub fn completed(&self, limit: usize, before_ms: Option<i64>) -> Vec<CompletedJob> {
        self.inner()
            .completed
            .iter()
            .rev()
            .filter(|j| before_ms.is_none_or(|b| j.done_at_ms < b))
            .take(limit)
            .cloned()
            .collect()
    }
}
