//! Events and listeners the queue tests and the `queue_worker` binary share,
//! written by hand against the traits.

#![allow(dead_code)]

use std::collections::HashMap;
use std::io::Write;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use event_core::queue::{CurrentJob, JobRegistry};
use event_core::{Event, EventListener, ListenerOptions, ShouldQueue};
use serde::{Deserialize, Serialize};

/// The job every test queues. Its fields tell the listener how to behave.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct TestJobEvent {
    pub n: u64,
    /// Fail (return an error) this many attempts before succeeding.
    #[serde(default)]
    pub fail_times: u32,
    #[serde(default)]
    pub panic: bool,
    #[serde(default)]
    pub sleep_ms: u64,
    #[serde(default)]
    pub priority: i32,
    /// Its own controls (`CurrentJob`): release on this many attempts...
    #[serde(default)]
    pub release_times: u32,
    /// ... for this long.
    #[serde(default)]
    pub release_ms: u64,
    /// Delete the job.
    #[serde(default)]
    pub delete: bool,
    /// Fail the job with this reason.
    #[serde(default)]
    pub fail_with: Option<String>,
    /// Return an error after releasing, deleting or failing.
    #[serde(default)]
    pub then_error: bool,
}

impl TestJobEvent {
    fn uses_job(&self) -> bool {
        self.release_times > 0 || self.delete || self.fail_with.is_some()
    }
}

impl Event for TestJobEvent {
    fn event_name(&self) -> &'static str {
        "TestJob"
    }
    fn to_json(&self) -> serde_json::Value {
        serde_json::to_value(self).unwrap_or_default()
    }
    fn priority(&self) -> i32 {
        self.priority
    }
}

/// A queued event (`should_queue`), whose listeners run in the worker.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct QueuedEvent {
    pub n: u64,
}

impl Event for QueuedEvent {
    fn event_name(&self) -> &'static str {
        "Queued"
    }
    fn to_json(&self) -> serde_json::Value {
        serde_json::to_value(self).unwrap_or_default()
    }
    fn should_queue(&self) -> bool {
        true
    }
    fn queue_name(&self) -> Option<&str> {
        Some("events")
    }
    fn as_should_queue(&self) -> Option<&dyn ShouldQueue> {
        Some(self)
    }
}

impl ShouldQueue for QueuedEvent {
    fn tries(&self) -> Option<u32> {
        Some(2)
    }
    fn after_commit(&self) -> bool {
        true
    }
}

/// Where listeners write what happened: memory for in-process tests, a file
/// (one line per record, appended) for worker processes.
#[derive(Clone)]
pub enum Sink {
    Memory(Arc<Mutex<Vec<(String, u64, Instant)>>>),
    File(PathBuf),
}

impl Sink {
    pub fn memory() -> Self {
        Sink::Memory(Arc::default())
    }

    pub fn record(&self, what: &str, n: u64) {
        match self {
            Sink::Memory(log) => log.lock().unwrap_or_else(|e| e.into_inner()).push((
                what.to_string(),
                n,
                Instant::now(),
            )),
            Sink::File(path) => {
                // One small O_APPEND write per record: whole lines even with
                // several processes appending.
                if let Ok(mut f) = std::fs::OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(path)
                {
                    let _ = f.write_all(format!("{what} {n}\n").as_bytes());
                }
            }
        }
    }

    /// Records of kind `what`, in order (memory sink only).
    pub fn of(&self, what: &str) -> Vec<u64> {
        match self {
            Sink::Memory(log) => log
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .iter()
                .filter(|(w, _, _)| w == what)
                .map(|(_, n, _)| *n)
                .collect(),
            Sink::File(path) => std::fs::read_to_string(path)
                .unwrap_or_default()
                .lines()
                .filter_map(|l| l.split_once(' '))
                .filter(|(w, _)| *w == what)
                .filter_map(|(_, n)| n.parse().ok())
                .collect(),
        }
    }

    /// When each record of kind `what` happened (memory sink only).
    pub fn times(&self, what: &str) -> Vec<Instant> {
        match self {
            Sink::Memory(log) => log
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .iter()
                .filter(|(w, _, _)| w == what)
                .map(|(_, _, t)| *t)
                .collect(),
            Sink::File(_) => vec![],
        }
    }
}

/// A queued listener of `TestJobEvent` with configurable knobs.
pub struct TestListener {
    pub name: String,
    pub options: ListenerOptions,
    pub sink: Sink,
    /// Attempts per job number.
    attempts: Mutex<HashMap<u64, u32>>,
}

impl TestListener {
    pub fn new(name: &str, sink: Sink) -> Self {
        Self {
            name: name.to_string(),
            options: ListenerOptions {
                queued: true,
                retry: true,
                ..ListenerOptions::default()
            },
            sink,
            attempts: Mutex::default(),
        }
    }

    pub fn with(mut self, change: impl FnOnce(&mut ListenerOptions)) -> Self {
        change(&mut self.options);
        self
    }
}

#[event_core::async_trait]
impl EventListener for TestListener {
    async fn handle(&self, event: Arc<dyn Event>) -> anyhow::Result<()> {
        let job = event
            .downcast_ref::<TestJobEvent>()
            .ok_or_else(|| anyhow::anyhow!("not a TestJobEvent"))?;
        let attempt = {
            let mut map = self.attempts.lock().unwrap_or_else(|e| e.into_inner());
            let count = map.entry(job.n).or_default();
            *count += 1;
            *count
        };
        self.sink.record("start", job.n);
        if job.uses_job() {
            // Records `attempt:N` and `id:ID` (the job's, as the worker sees it).
            let current = CurrentJob::get()?;
            self.sink
                .record(&format!("attempt:{}", current.attempts()), job.n);
            self.sink.record(&format!("id:{}", current.id()), job.n);
            let decided = if current.attempts() <= job.release_times {
                current.release(Duration::from_millis(job.release_ms))?;
                Some("released")
            } else if job.delete {
                current.delete()?;
                Some("deleted")
            } else if let Some(reason) = &job.fail_with {
                current.fail(reason.clone())?;
                Some("failed_by_listener")
            } else {
                None
            };
            if let Some(what) = decided {
                self.sink.record(what, job.n);
                if job.then_error {
                    anyhow::bail!("job {} errs after deciding, on purpose", job.n);
                }
                return Ok(());
            }
        }
        if job.sleep_ms > 0 {
            tokio::time::sleep(Duration::from_millis(job.sleep_ms)).await;
        }
        if job.panic {
            panic!("job {} panicked on purpose", job.n);
        }
        if attempt <= job.fail_times {
            self.sink.record("error", job.n);
            anyhow::bail!("job {} fails attempt {attempt} on purpose", job.n);
        }
        self.sink.record("success", job.n);
        Ok(())
    }

    async fn failed(&self, event: Arc<dyn Event>, error: &anyhow::Error) -> anyhow::Result<()> {
        if let Some(job) = event.downcast_ref::<TestJobEvent>() {
            self.sink.record("failed_hook", job.n);
            // A one-word reason (a `fail_with`) as `hook:REASON`.
            let reason = error.to_string();
            if !reason.contains(char::is_whitespace) {
                self.sink.record(&format!("hook:{reason}"), job.n);
            }
        }
        Ok(())
    }

    fn should_queue(&self) -> bool {
        self.options.queued
    }

    fn listener_name(&self) -> &str {
        &self.name
    }

    fn options(&self) -> ListenerOptions {
        self.options.clone()
    }
}

/// A listener of `QueuedEvent`: inline on the worker, or (`queued`) a
/// job of its own on queue `events` that the event's job queues.
pub struct QueuedEventListener {
    pub name: String,
    pub sink: Sink,
    pub queued: bool,
}

#[event_core::async_trait]
impl EventListener for QueuedEventListener {
    async fn handle(&self, event: Arc<dyn Event>) -> anyhow::Result<()> {
        let e = event
            .downcast_ref::<QueuedEvent>()
            .ok_or_else(|| anyhow::anyhow!("not a QueuedEvent"))?;
        self.sink.record(&self.name, e.n);
        Ok(())
    }

    fn listener_name(&self) -> &str {
        &self.name
    }

    fn should_queue(&self) -> bool {
        self.queued
    }

    /// Laravel's `shouldQueue($event)`: order 13 is not queued (nor run).
    fn queue_if(&self, event: &dyn Event) -> bool {
        event
            .downcast_ref::<QueuedEvent>()
            .is_none_or(|e| e.n != 13)
    }

    fn options(&self) -> ListenerOptions {
        ListenerOptions {
            queued: self.queued,
            queue: self.queued.then(|| "events".to_string()),
            ..ListenerOptions::default()
        }
    }
}

/// The registry the `queue_worker` binary runs with: listener `record` of
/// `TestJobEvent`, and of `QueuedEvent` the inline `on-worker` and the
/// queued `own-job`.
pub fn worker_registry(sink: Sink) -> JobRegistry {
    let (inline, queued) = queued_event_listeners(&sink);
    JobRegistry::new()
        .listener::<TestJobEvent>(Arc::new(TestListener::new("record", sink)))
        .listener::<QueuedEvent>(inline)
        .listener::<QueuedEvent>(queued)
}

/// `QueuedEvent`'s listeners as the worker binary and its producers name
/// them: `on-worker` (inline in the event's job) and `own-job` (queued).
pub fn queued_event_listeners(sink: &Sink) -> (Arc<dyn EventListener>, Arc<dyn EventListener>) {
    (
        Arc::new(QueuedEventListener {
            name: "on-worker".into(),
            sink: sink.clone(),
            queued: false,
        }),
        Arc::new(QueuedEventListener {
            name: "own-job".into(),
            sink: sink.clone(),
            queued: true,
        }),
    )
}

/// Records each alert it hears as `alert <this process id>`.
pub struct AlertListener(pub Sink);

#[event_core::async_trait]
impl EventListener for AlertListener {
    async fn handle(&self, _event: Arc<dyn Event>) -> anyhow::Result<()> {
        self.0.record("alert", u64::from(std::process::id()));
        Ok(())
    }
}
