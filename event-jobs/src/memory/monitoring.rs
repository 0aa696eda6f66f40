//! The memory connection's monitoring: its gauges read from the counters
//! its lanes keep, its figures and signals kept in this process.

use async_trait::async_trait;

use super::MemoryBackend;
use crate::QueueError;
use crate::job::now_ms;
use crate::monitor::{
    AlertLedger, CompletedJob, CompletedLog, Monitoring, QueueGauge, Resolution, Signals, Tally,
    WorkerBeat,
};

#[async_trait]
impl Monitoring for MemoryBackend {
    async fn record(&self, tallies: Vec<Tally>) -> Result<(), QueueError> {
        self.store.figures.record(tallies, now_ms());
        Ok(())
    }

    async fn tallies(
        &self,
        resolution: Resolution,
        since_ms: i64,
    ) -> Result<Vec<Tally>, QueueError> {
        Ok(self.store.figures.tallies(resolution, since_ms))
    }

    async fn gauges(&self) -> Result<Vec<QueueGauge>, QueueError> {
        let now = now_ms();
        let mut gauges: Vec<QueueGauge> = {
            let state = self.store.state();
            let mut gauges: Vec<QueueGauge> = state
                .lanes
                .iter()
                .map(|lane| QueueGauge {
                    queue: lane.name.clone(),
                    pending: lane.len as u64,
                    delayed: lane.delayed as u64,
                    failed: state.failed_by_queue.get(&lane.name).copied().unwrap_or(0),
                    oldest_pending_ms: lane
                        .oldest_ready_at()
                        .map_or(0, |at| (now - at).max(0) as u64),
                    ..QueueGauge::default()
                })
                .collect();
            for (queue, &failed) in &state.failed_by_queue {
                if failed > 0 && !gauges.iter().any(|g| &g.queue == queue) {
                    gauges.push(QueueGauge {
                        queue: queue.clone(),
                        failed,
                        ..QueueGauge::default()
                    });
                }
            }
            gauges
        };
        let workers = self
            .store
            .workers
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone();
        for gauge in &mut gauges {
            gauge.paused = self.store.figures.is_paused(&gauge.queue);
            gauge.running = workers
                .iter()
                .map(|(_, stats)| stats.queue(&gauge.queue).in_flight)
                .sum();
        }
        for paused in self.store.figures.signals().paused {
            if !gauges.iter().any(|g| g.queue == paused) {
                gauges.push(QueueGauge {
                    queue: paused,
                    paused: true,
                    ..QueueGauge::default()
                });
            }
        }
        gauges.sort_by(|a, b| a.queue.cmp(&b.queue));
        Ok(gauges)
    }

    async fn set_paused(&self, queue: &str, paused: bool) -> Result<(), QueueError> {
        self.store.figures.set_paused(queue, paused);
        self.store.wake_all();
        Ok(())
    }

    async fn signals(&self) -> Result<Signals, QueueError> {
        Ok(self.store.figures.signals())
    }

    async fn request_restart(&self, at_ms: i64) -> Result<(), QueueError> {
        self.store.figures.request_restart(at_ms);
        Ok(())
    }

    async fn beat(&self, beat: &WorkerBeat) -> Result<(), QueueError> {
        self.store.figures.beat(beat);
        Ok(())
    }

    async fn unregister(&self, id: &str) -> Result<(), QueueError> {
        self.store.figures.unregister(id);
        Ok(())
    }

    async fn workers(&self) -> Result<Vec<WorkerBeat>, QueueError> {
        Ok(self.store.figures.workers(now_ms()))
    }

    async fn clear_queue(&self, queue: &str) -> Result<u64, QueueError> {
        let mut state = self.store.state();
        let Some(&lane) = state.by_name.get(queue) else {
            return Ok(0);
        };
        let ready = state.lanes[lane].len;
        state.lanes[lane].clear();
        state.lanes[lane].delayed = 0;
        let before = state.delayed.len();
        state.delayed.retain(|_, job| job.lane as usize != lane);
        Ok((ready + before - state.delayed.len()) as u64)
    }
}

#[async_trait]
impl AlertLedger for MemoryBackend {
    async fn lease(
        &self,
        name: &str,
        holder: &str,
        now_ms: i64,
        until_ms: i64,
    ) -> Result<bool, QueueError> {
        Ok(self.store.figures.lease(name, holder, now_ms, until_ms))
    }

    async fn raised(&self) -> Result<Vec<String>, QueueError> {
        Ok(self.store.figures.raised())
    }

    async fn set_raised(&self, key: &str, raised: bool, _now_ms: i64) -> Result<(), QueueError> {
        self.store.figures.set_raised(key, raised);
        Ok(())
    }
}

#[async_trait]
impl CompletedLog for MemoryBackend {
    async fn record_completed(&self, jobs: Vec<CompletedJob>) -> Result<(), QueueError> {
        self.store.figures.record_completed(jobs, now_ms());
        Ok(())
    }

    async fn completed(
        &self,
        limit: usize,
        before_ms: Option<i64>,
    ) -> Result<Vec<CompletedJob>, QueueError> {
        Ok(self.store.figures.completed(limit, before_ms))
    }
}
