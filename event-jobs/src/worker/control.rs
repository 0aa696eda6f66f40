//! The worker's side of monitoring: a task that, every second, hands the
//! worker's tallies to the backend (and to the `metrics` facade), reads the
//! paused queues and restart requests, and beats (handing the queues'
//! gauges to the `metrics` facade as it does).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::Notify;

use crate::backend::Backend;
use crate::job::now_ms;
use crate::monitor::{AlertRules, WorkerBeat};
use event_kernel::Dispatcher;

use super::alerts::Watch;
use super::exported;
use crate::stats::WorkerStats;

/// How often tallies are flushed and signals read.
pub(crate) const TICK: Duration = Duration::from_secs(1);

/// What the worker loop reads from the control task.
pub(crate) struct Control {
    paused: Mutex<Vec<String>>,
    /// Some queue is paused (read without the lock on the hot path).
    any_paused: AtomicBool,
    /// A `queue:restart` asked after this worker started.
    restart: AtomicBool,
    /// Told when `restart` is set.
    pub(crate) restarted: Notify,
    /// Told when the paused queues change (an idle worker looks again at
    /// once instead of at its next poll).
    pub(crate) changed: Notify,
}

impl std::fmt::Debug for Control {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Control")
            .field("paused", &self.paused())
            .field("restart", &self.restart.load(Ordering::Relaxed))
            .finish()
    }
}

impl Control {
    pub(crate) fn new() -> Arc<Self> {
        Arc::new(Self {
            paused: Mutex::new(Vec::new()),
            any_paused: AtomicBool::new(false),
            restart: AtomicBool::new(false),
            restarted: Notify::new(),
            changed: Notify::new(),
        })
    }

    /// True when some queue was paused at the last read.
    pub(crate) fn any_paused(&self) -> bool {
        self.any_paused.load(Ordering::Acquire)
    }

    /// Reads the paused queues once (before the worker's first claim).
    pub(crate) async fn read_paused(&self, backend: &dyn Backend) {
        match backend.signals().await {
            Ok(signals) => self.set_paused(signals.paused),
            Err(e) => tracing::warn!(error = %e, "cannot read the paused queues"),
        }
    }

    fn set_paused(&self, paused: Vec<String>) {
        let mut mine = self.paused.lock().unwrap_or_else(|e| e.into_inner());
        self.any_paused.store(!paused.is_empty(), Ordering::Release);
        if *mine != paused {
            *mine = paused;
            self.changed.notify_waiters();
        }
    }

    /// The queues paused at the last read.
    pub(crate) fn paused(&self) -> Vec<String> {
        self.paused
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// `queues` without the paused ones.
    pub(crate) fn runnable(&self, queues: &[String]) -> Vec<String> {
        let paused = self.paused.lock().unwrap_or_else(|e| e.into_inner());
        if paused.is_empty() {
            return queues.to_vec();
        }
        queues
            .iter()
            .filter(|q| !paused.contains(q))
            .cloned()
            .collect()
    }

    /// True when `queue` was paused at the last read.
    pub(crate) fn is_paused(&self, queue: &str) -> bool {
        self.paused
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
            .any(|q| q == queue)
    }
}

/// Who the worker is, for its beats.
pub(crate) struct Identity {
    /// The worker's id ([`worker_id`]), as its heartbeats and its jobs'
    /// attempts name it.
    pub(crate) id: String,
    pub(crate) connection: &'static str,
    pub(crate) queues: Vec<String>,
    pub(crate) concurrency: usize,
    pub(crate) beat_every: Duration,
    /// The alert rules and where their events go, when some alert is on.
    pub(crate) alerts: Option<(AlertRules, Dispatcher)>,
}

/// A new worker's id: `host:pid:ulid`.
pub(crate) fn worker_id() -> String {
    format!(
        "{}:{}:{}",
        host_name(),
        std::process::id(),
        ulid::Ulid::new()
    )
}

/// The control task: runs until `stop` is told, then flushes what is left
/// and unregisters the worker.
pub(crate) async fn run(
    backend: Arc<dyn Backend>,
    stats: WorkerStats,
    control: Arc<Control>,
    identity: Identity,
    stop: Arc<Notify>,
) {
    let started_at_ms = now_ms();
    let id = identity.id.clone();
    let beat = |stats: &WorkerStats| {
        let total = stats.total();
        WorkerBeat {
            id: id.clone(),
            host: host_name(),
            pid: std::process::id(),
            queues: identity.queues.clone(),
            concurrency: identity.concurrency,
            started_at_ms,
            last_beat_ms: now_ms(),
            interval_ms: identity.beat_every.as_millis() as i64,
            running: total.in_flight,
            processed: total.processed,
            failed: total.failed,
        }
    };
    let watch = identity.alerts.clone().map(|(rules, dispatcher)| Watch {
        backend: backend.clone(),
        rules,
        dispatcher,
        holder: id.clone(),
        lease: identity.beat_every * 3,
    });
    let mut last_beat: Option<std::time::Instant> = None;
    let mut warned = false;
    let stopped = stop.notified();
    tokio::pin!(stopped);
    loop {
        if last_beat.is_none_or(|t| t.elapsed() >= identity.beat_every) {
            last_beat = Some(std::time::Instant::now());
            if let Err(e) = backend.beat(&beat(&stats)).await {
                tracing::warn!(error = %e, "cannot register the worker's heartbeat");
            }
            // Every queue's state as `metrics` gauges, read as the
            // figures are kept (no count over jobs).
            match backend.gauges().await {
                Ok(gauges) => exported::gauges(identity.connection, &gauges),
                Err(e) => tracing::debug!(error = %e, "cannot read the queues' gauges"),
            }
            if let Some(watch) = &watch
                && let Err(e) = watch.round().await
            {
                tracing::warn!(error = %e, "cannot check the queue's alerts");
            }
        }
        flush(&*backend, &stats, identity.connection, &id).await;
        match backend.signals().await {
            Ok(signals) => {
                warned = false;
                control.set_paused(signals.paused);
                if signals.restart_at_ms.is_some_and(|at| at >= started_at_ms)
                    && !control.restart.swap(true, Ordering::AcqRel)
                {
                    tracing::info!("queue:restart asked: the worker finishes its jobs and exits");
                    control.restarted.notify_waiters();
                    control.restarted.notify_one();
                }
            }
            Err(e) if !warned => {
                warned = true;
                tracing::warn!(error = %e, "cannot read the paused queues; keeping the last known");
            }
            Err(_) => {}
        }
        tokio::select! {
            () = &mut stopped => break,
            () = tokio::time::sleep(TICK) => {}
        }
    }
    flush(&*backend, &stats, identity.connection, &id).await;
    if let Err(e) = backend.unregister(&id).await {
        tracing::debug!(error = %e, "cannot unregister the worker");
    }
}

/// Hands the worker's tallies to the backend (kept for the next flush when
/// it cannot take them) and to the `metrics` facade.
pub(crate) async fn flush(
    backend: &dyn Backend,
    stats: &WorkerStats,
    connection: &'static str,
    worker: &str,
) {
    let mut completed = stats.take_completed();
    if !completed.is_empty() {
        for job in &mut completed {
            job.worker = worker.to_string();
        }
        if let Err(e) = backend.record_completed(completed).await {
            tracing::debug!(error = %e, "cannot record the completed jobs");
        }
    }
    let tallies = stats.take_tallies();
    if tallies.is_empty() {
        return;
    }
    exported::tallies(connection, &tallies);
    if let Err(e) = backend.record(tallies.clone()).await {
        tracing::warn!(error = %e, "cannot store the queue's figures; keeping them for the next try");
        stats.add_tallies(tallies);
    }
}

fn host_name() -> String {
    std::env::var("HOSTNAME")
        .ok()
        .filter(|h| !h.is_empty())
        .or_else(|| {
            std::fs::read_to_string("/etc/hostname")
                .ok()
                .map(|h| h.trim().to_string())
        })
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "localhost".to_string())
}
