//! A memory worker's counts of one batch, told to the worker's stats once
//! per batch (not per job): jobs started per queue with their waits, and
//! how each ended.

use std::collections::VecDeque;
use std::time::Duration;

use super::MemJob;
use crate::stats::{Ended, WorkerStats};

/// A batch's counts per queue, told to the stats once per batch.
#[derive(Default)]
pub(super) struct BatchCounts {
    /// (lane, jobs, ms waited in all, longest wait)
    started_lanes: Vec<(u32, u64, u64, u64)>,
    /// (lane, processed, retried, failed)
    lanes: Vec<(u32, u64, u64, u64)>,
    ended: u64,
}

impl BatchCounts {
    fn slot(&mut self, lane: u32) -> &mut (u32, u64, u64, u64) {
        // Usually the lane of the job before.
        let at = match self.lanes.last() {
            Some(last) if last.0 == lane => self.lanes.len() - 1,
            _ => match self.lanes.iter().position(|l| l.0 == lane) {
                Some(at) => at,
                None => {
                    self.lanes.push((lane, 0, 0, 0));
                    self.lanes.len() - 1
                }
            },
        };
        &mut self.lanes[at]
    }

    pub(super) fn started(&mut self, batch: &VecDeque<MemJob>, now_ms: i64) {
        // Usually one lane: one stats call for the batch. Runs of one lane
        // are summed in registers, then added to that lane's entry.
        fn add(by_lane: &mut Vec<(u32, u64, u64, u64)>, run: (u32, u64, u64, u64)) {
            match by_lane.iter_mut().find(|l| l.0 == run.0) {
                Some(l) => {
                    l.1 += run.1;
                    l.2 += run.2;
                    l.3 = l.3.max(run.3);
                }
                None => by_lane.push(run),
            }
        }
        let mut by_lane: Vec<(u32, u64, u64, u64)> = Vec::new();
        let Some(first) = batch.front() else {
            self.started_lanes = by_lane;
            return;
        };
        let mut run = (first.lane, 0u64, 0u64, 0u64);
        for job in batch {
            if job.lane != run.0 {
                add(&mut by_lane, run);
                run = (job.lane, 0, 0, 0);
            }
            let waited = (now_ms - job.available_at).max(0) as u64;
            run.1 += 1;
            run.2 += waited;
            run.3 = run.3.max(waited);
        }
        add(&mut by_lane, run);
        self.started_lanes = by_lane;
    }

    pub(super) fn ended(&mut self, lane: u32, ended: Ended) {
        self.ended += 1;
        let slot = self.slot(lane);
        match ended {
            Ended::Processed => slot.1 += 1,
            Ended::Retried => slot.2 += 1,
            Ended::Failed => slot.3 += 1,
            Ended::Released => {}
        }
    }

    /// Tells `stats` the batch's counts; `names` are the queues by lane.
    pub(super) fn flush(
        &mut self,
        stats: &WorkerStats,
        names: &[(usize, String)],
        unstarted: &VecDeque<MemJob>,
        took: Duration,
    ) {
        let name = |lane: u32| {
            names
                .iter()
                .find(|(l, _)| *l == lane as usize)
                .map_or("", |(_, n)| n.as_str())
        };
        for &(lane, jobs, waited_ms, longest_ms) in &self.started_lanes {
            stats.started(
                name(lane),
                jobs,
                Duration::from_millis(waited_ms),
                Duration::from_millis(longest_ms),
            );
        }
        let per_job = took / u32::try_from(self.ended.max(1)).unwrap_or(u32::MAX);
        for &(lane, processed, retried, failed) in &self.lanes {
            for (ended, jobs) in [
                (Ended::Processed, processed),
                (Ended::Retried, retried),
                (Ended::Failed, failed),
            ] {
                if jobs > 0 {
                    stats.ended(name(lane), ended, jobs, per_job * jobs as u32, per_job);
                }
            }
        }
        let mut unstarted_by_lane: Vec<(u32, u64)> = Vec::new();
        for job in unstarted {
            match unstarted_by_lane.iter_mut().find(|l| l.0 == job.lane) {
                Some(l) => l.1 += 1,
                None => unstarted_by_lane.push((job.lane, 1)),
            }
        }
        for (lane, jobs) in unstarted_by_lane {
            stats.ended(
                name(lane),
                Ended::Released,
                jobs,
                Duration::ZERO,
                Duration::ZERO,
            );
        }
    }
}
