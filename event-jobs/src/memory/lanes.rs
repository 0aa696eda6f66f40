//! The memory connection's queues: a lane per named queue, a bucket per
//! priority, the delayed set, and the state they share under one lock.

use std::collections::{BTreeMap, VecDeque};
use std::sync::{Arc, Mutex};

use rustc_hash::FxHashMap;

use super::job::{MAX_INTERNED, MemJob};
use crate::failed::fingerprint;
use crate::failed::query::FailureGroup;
use crate::job::{FailedJob, now_ms};
use event_kernel::EventListener;

/// One named queue: a bucket per priority (highest first), each in
/// arrival order. Emptied buckets stay, with their storage, for the next
/// jobs of that priority (there are seldom more than a few).
pub(super) struct Lane {
    pub(super) name: String,
    pub(super) buckets: Vec<(i32, VecDeque<MemJob>)>,
    pub(super) len: usize,
    /// Its jobs in the delayed set (kept as they move, for the stats).
    pub(super) delayed: usize,
}

/// Past this many priorities seen in one queue, empty buckets are dropped.
const MAX_EMPTY_BUCKETS: usize = 16;

impl Lane {
    pub(super) fn push(&mut self, job: MemJob) {
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
    pub(super) fn push_front(&mut self, job: MemJob) {
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
    pub(super) fn append(&mut self, jobs: &mut Vec<MemJob>) {
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

    pub(super) fn pop(&mut self) -> Option<MemJob> {
        let job = self.buckets.iter_mut().find_map(|(_, b)| b.pop_front())?;
        self.len -= 1;
        Some(job)
    }

    pub(super) fn clear(&mut self) {
        self.buckets.clear();
        self.len = 0;
    }

    /// When its oldest ready job became ready (ms), if it has one.
    pub(super) fn oldest_ready_at(&self) -> Option<i64> {
        self.buckets
            .iter()
            .filter_map(|(_, b)| b.front().map(|j| j.available_at))
            .min()
    }
}

/// The lane, when `jobs` are all due and of one lane and one priority (the
/// usual case).
pub(super) fn uniform_lane(jobs: &[MemJob]) -> Option<usize> {
    let first = jobs.first()?;
    jobs.iter()
        .all(|j| j.lane == first.lane && j.priority == first.priority && j.due_when_made())
        .then_some(first.lane as usize)
}

pub(super) struct State {
    /// The inbox's storage between two swaps (empty, with its capacity).
    pub(super) spare: Vec<MemJob>,
    pub(super) seq: u64,
    pub(super) lanes: Vec<Lane>,
    pub(super) by_name: FxHashMap<String, usize>,
    /// (available_at, arrival) -> job.
    pub(super) delayed: BTreeMap<(i64, u64), MemJob>,
    /// Taken by a worker and not yet reported finished.
    pub(super) running: usize,
    pub(super) failed: Vec<FailedJob>,
    /// Failed jobs per queue (kept as the store changes, for the stats).
    pub(super) failed_by_queue: FxHashMap<String, u64>,
    /// Failure groups by fingerprint, kept as the store changes.
    pub(super) groups: FxHashMap<String, FailureGroup>,
    /// Interned listeners (only ever appended to) and their numbers by address.
    pub(super) listeners: Vec<Arc<dyn EventListener>>,
    pub(super) listener_numbers: FxHashMap<usize, u32>,
}

impl State {
    pub(super) fn new() -> Self {
        Self {
            spare: Vec::new(),
            seq: 0,
            lanes: Vec::new(),
            by_name: FxHashMap::default(),
            delayed: BTreeMap::new(),
            running: 0,
            failed: Vec::new(),
            failed_by_queue: FxHashMap::default(),
            groups: FxHashMap::default(),
            listeners: Vec::new(),
            listener_numbers: FxHashMap::default(),
        }
    }

    /// Moves what the fast path pushed into the lanes (or the delayed set).
    pub(super) fn drain_inbox(&mut self, inbox: &Mutex<Inbox>) {
        self.swap_inbox(inbox);
        self.sort_spare();
    }

    /// Takes the inbox's jobs into `spare`, leaving producers its empty
    /// storage: they wait only for the swap, not for the sorting.
    pub(super) fn swap_inbox(&mut self, inbox: &Mutex<Inbox>) {
        let mut inbox = inbox.lock().unwrap_or_else(|e| e.into_inner());
        if !inbox.jobs.is_empty() {
            std::mem::swap(&mut inbox.jobs, &mut self.spare);
        }
    }

    /// With nothing else waiting, jobs in `spare` all due, of one of
    /// `lanes` and of one priority are in the order they would be taken.
    /// Returns that lane.
    pub(super) fn spare_runs_as_is(&self, lanes: &[usize]) -> Option<usize> {
        uniform_lane(&self.spare).filter(|lane| {
            self.delayed.is_empty() && self.lanes.iter().all(|l| l.len == 0) && lanes.contains(lane)
        })
    }

    /// Sorts the jobs in `spare` into their lanes (or the delayed set).
    pub(super) fn sort_spare(&mut self) {
        self.sort_spare_known(None);
    }

    /// [`State::sort_spare`], told the lane when `spare` is known to be
    /// all due, of that one lane and one priority (not scanned again).
    pub(super) fn sort_spare_known(&mut self, uniform: Option<usize>) {
        if self.spare.is_empty() {
            return;
        }
        let mut jobs = std::mem::take(&mut self.spare);
        if let Some(lane) = uniform.or_else(|| uniform_lane(&jobs)) {
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

    /// What producers read under the inbox's lock: with few lanes and
    /// listeners (the usual case) short lists, scanned faster than a hash
    /// is computed; else the maps.
    pub(super) fn lookup(&self) -> Lookup {
        let few = self.lanes.len() <= FEW && self.listeners.len() <= FEW;
        Lookup {
            few_lanes: if few {
                self.lanes.iter().map(|l| l.name.clone().into()).collect()
            } else {
                Vec::new()
            },
            few_listeners: if few {
                self.listeners
                    .iter()
                    .map(|l| Arc::as_ptr(l) as *const () as usize)
                    .collect()
            } else {
                Vec::new()
            },
            few,
            lanes: if few {
                FxHashMap::default()
            } else {
                self.by_name.clone()
            },
            listeners: if few {
                FxHashMap::default()
            } else {
                self.listener_numbers.clone()
            },
        }
    }

    pub(super) fn lane(&mut self, name: &str) -> usize {
        if let Some(&lane) = self.by_name.get(name) {
            return lane;
        }
        self.lanes.push(Lane {
            name: name.to_string(),
            buckets: Vec::new(),
            len: 0,
            delayed: 0,
        });
        self.by_name.insert(name.to_string(), self.lanes.len() - 1);
        self.lanes.len() - 1
    }

    /// A listener's number; `None` once the table is full.
    pub(super) fn intern(&mut self, listener: &Arc<dyn EventListener>) -> Option<u32> {
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

    pub(super) fn ready(&mut self, job: MemJob) {
        self.lanes[job.lane as usize].push(job);
    }

    pub(super) fn insert(&mut self, job: MemJob, now: i64) {
        if job.available_at > now {
            self.seq += 1;
            self.lanes[job.lane as usize].delayed += 1;
            self.delayed.insert((job.available_at, self.seq), job);
        } else {
            self.ready(job);
        }
    }

    pub(super) fn promote(&mut self, now: i64) {
        while let Some(entry) = self.delayed.first_entry() {
            if entry.key().0 > now {
                break;
            }
            let job = entry.remove();
            let lane = &mut self.lanes[job.lane as usize];
            lane.delayed = lane.delayed.saturating_sub(1);
            self.ready(job);
        }
    }

    /// Moves up to `max` jobs from `lanes`, in order, to `out`.
    pub(super) fn take(&mut self, lanes: &[usize], max: usize, out: &mut VecDeque<MemJob>) {
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

    /// Adds a job to the failed store.
    pub(super) fn push_failed(&mut self, failed: FailedJob) {
        *self
            .failed_by_queue
            .entry(failed.queue.clone())
            .or_default() += 1;
        let print = fingerprint::fingerprint(&failed);
        let group = self
            .groups
            .entry(print.clone())
            .or_insert_with(|| FailureGroup {
                fingerprint: print,
                name: fingerprint::name_of(&failed).to_string(),
                kind: fingerprint::kind(&failed.reason).to_string(),
                message: fingerprint::normalise(&failed.reason),
                count: 0,
                first_seen_ms: failed.failed_at,
                last_seen_ms: failed.failed_at,
            });
        group.count += 1;
        group.first_seen_ms = group.first_seen_ms.min(failed.failed_at);
        group.last_seen_ms = group.last_seen_ms.max(failed.failed_at);
        self.failed.push(failed);
    }

    /// Removes the failed job at `at`.
    pub(super) fn remove_failed(&mut self, at: usize) -> FailedJob {
        let failed = self.failed.remove(at);
        if let Some(n) = self.failed_by_queue.get_mut(&failed.queue) {
            *n = n.saturating_sub(1);
        }
        let print = fingerprint::fingerprint(&failed);
        if let Some(group) = self.groups.get_mut(&print) {
            group.count = group.count.saturating_sub(1);
            if group.count == 0 {
                self.groups.remove(&print);
            }
        }
        failed
    }

    /// Empties the failed store; returns how many it held.
    pub(super) fn clear_failed(&mut self) -> usize {
        self.failed_by_queue.clear();
        self.groups.clear();
        std::mem::take(&mut self.failed).len()
    }

    pub(super) fn waiting(&self) -> usize {
        self.lanes.iter().map(|l| l.len).sum::<usize>() + self.delayed.len()
    }
}

/// What producers push to, under its own lock: the jobs sent since a
/// worker last took them, and the numbers they need to send one.
#[derive(Default)]
pub(super) struct Inbox {
    pub(super) jobs: Vec<MemJob>,
    /// A copy of the state's lane and listener numbers.
    pub(super) lookup: Lookup,
}

/// Up to this many lanes and listeners, producers scan lists.
const FEW: usize = 8;

/// Lane and listener numbers, read by producers under the inbox's lock.
#[derive(Default)]
pub(super) struct Lookup {
    /// The lists below are in use (not the maps).
    few: bool,
    /// Lane names by lane number.
    few_lanes: Vec<Box<str>>,
    /// Interned listeners' addresses by number.
    few_listeners: Vec<usize>,
    lanes: FxHashMap<String, usize>,
    listeners: FxHashMap<usize, u32>,
}

impl Lookup {
    /// The lane number of the queue named `name`, if it has one.
    #[inline]
    pub(super) fn lane(&self, name: &str) -> Option<usize> {
        if self.few {
            self.few_lanes.iter().position(|l| **l == *name)
        } else {
            self.lanes.get(name).copied()
        }
    }

    /// The number of the interned listener at `address`, if it has one.
    #[inline]
    pub(super) fn listener(&self, address: usize) -> Option<u32> {
        if self.few {
            self.few_listeners
                .iter()
                .position(|&a| a == address)
                .map(|n| n as u32)
        } else {
            self.listeners.get(&address).copied()
        }
    }

    /// Listeners interned.
    pub(super) fn listeners(&self) -> usize {
        if self.few {
            self.few_listeners.len()
        } else {
            self.listeners.len()
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::{FEW, State};
    use event_kernel::Event;
    use event_kernel::EventListener;

    struct Nop;

    #[async_trait::async_trait]
    impl EventListener for Nop {
        async fn handle(&self, _event: Arc<dyn Event>) -> anyhow::Result<()> {
            Ok(())
        }
    }

    /// Producers find every lane and listener, by the short lists or, past
    /// `FEW`, by the maps.
    #[test]
    fn the_lookup_finds_lanes_and_listeners_either_way() {
        let mut state = State::new();
        let mut listeners: Vec<Arc<dyn EventListener>> = Vec::new();
        for n in 0..FEW * 2 {
            state.lane(&format!("q{n}"));
            let listener: Arc<dyn EventListener> = Arc::new(Nop);
            state.intern(&listener);
            listeners.push(listener);
            let lookup = state.lookup();
            assert_eq!(lookup.few, n < FEW, "{n}");
            for (i, listener) in listeners.iter().enumerate() {
                assert_eq!(lookup.lane(&format!("q{i}")), Some(i));
                let address = Arc::as_ptr(listener) as *const () as usize;
                assert_eq!(lookup.listener(address), Some(i as u32));
            }
            assert_eq!(lookup.lane("elsewhere"), None);
            assert_eq!(lookup.listeners(), n + 1);
        }
    }
}
