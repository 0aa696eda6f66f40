//! Hops: what happened to a recorded event after its record: each sync
//! listener call (with its result and time), each listener it handed to
//! the queue and its broadcast, as the dispatcher saw them, and each
//! attempt of its queued jobs, as the worker saw it. Both hand them to a
//! [`Recorder`](crate::scope::Recorder) (the event store writes them
//! beside the event); nothing is measured without one. An HTTP request
//! that opened a chain (event-core's `http` layer) is one too, under its
//! own id: the events it dispatched name it as their cause.

use std::time::Duration;

use chrono::{DateTime, Utc};

/// One hop of a recorded event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hop {
    /// What kind of hop.
    pub kind: HopKind,
    /// The listener's `listener_name()`; for a broadcast, the event name
    /// clients bind to.
    pub name: String,
    /// The broadcast's channels (empty for other hops).
    pub channels: Vec<String>,
    /// A broadcast: how many connections the server delivered it to, summed
    /// over its channels, as its broadcaster reported it
    /// ([`Broadcaster::deliver`](crate::broadcasting::Broadcaster::deliver));
    /// `None` when the broadcaster cannot tell (and for other hops).
    pub receivers: Option<u64>,
    /// A request: the response's HTTP status (`None` for other hops, and
    /// when the service failed without a response).
    pub status: Option<u16>,
    /// The queue a queued listener declared (`None`: the connection's default).
    pub queue: Option<String>,
    /// The error with its causes; `None` when it went through.
    pub error: Option<String>,
    /// When it started.
    pub started_at: DateTime<Utc>,
    /// How long it took (a queued listener: how long queueing took; a job:
    /// how long the attempt ran).
    pub duration: Duration,
    /// A job attempt: the worker that ran it, how long the job waited
    /// before it, which attempt it was and how it ended (`done`,
    /// `retried`, `released`, `failed`, `deleted`).
    pub job: Option<JobAttempt>,
}

/// What a worker saw of one attempt at a queued job.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JobAttempt {
    /// The worker's id.
    pub worker: String,
    /// From when the job was due to when this attempt started.
    pub waited: Duration,
    /// 1-based.
    pub attempt: u32,
    /// `done`, `retried`, `released`, `failed` or `deleted`.
    pub outcome: &'static str,
}

/// What a [`Hop`] is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HopKind {
    /// A listener run inside the dispatch.
    Listener,
    /// A listener handed to the queue (a job: the queue keeps what happens next).
    Queued,
    /// The event sent to its broadcaster's channels.
    Broadcast,
    /// One attempt at a queued job of the event, on a worker.
    Job,
    /// An HTTP request that opened a causation scope: the events it
    /// dispatched have it as their cause (its hop is under the request's id).
    Request,
}

impl HopKind {
    /// `listener`, `queued`, `broadcast`, `job` or `request`: the name
    /// stores and pages use.
    pub fn as_str(self) -> &'static str {
        match self {
            HopKind::Listener => "listener",
            HopKind::Queued => "queued",
            HopKind::Broadcast => "broadcast",
            HopKind::Job => "job",
            HopKind::Request => "request",
        }
    }
}

/// A hop being timed: started now, finished with its result.
#[derive(Debug, Clone, Copy)]
pub struct Timing {
    at: DateTime<Utc>,
    started: std::time::Instant,
}

impl Timing {
    /// Starts timing.
    pub fn start() -> Self {
        Self {
            at: Utc::now(),
            started: std::time::Instant::now(),
        }
    }

    /// The hop, ended now with `result`.
    pub fn hop(self, kind: HopKind, name: &str, result: Result<(), &anyhow::Error>) -> Hop {
        Hop {
            kind,
            name: name.to_string(),
            channels: Vec::new(),
            receivers: None,
            status: None,
            queue: None,
            error: result.err().map(|e| format!("{e:#}")),
            started_at: self.at,
            duration: self.started.elapsed(),
            job: None,
        }
    }
}
