//! Hops: what happened to a recorded event after its record, as the
//! dispatcher saw it: each sync listener call (with its result and time),
//! each listener it handed to the queue, and its broadcast. The dispatcher
//! hands them to its [`Recorder`](crate::scope::Recorder) (the event store
//! writes them beside the event); nothing is measured without one.

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
    /// The queue a queued listener declared (`None`: the connection's default).
    pub queue: Option<String>,
    /// The error with its causes; `None` when it went through.
    pub error: Option<String>,
    /// When it started.
    pub started_at: DateTime<Utc>,
    /// How long it took (a queued listener: how long queueing took).
    pub duration: Duration,
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
}

impl HopKind {
    /// `listener`, `queued` or `broadcast`: the name stores and pages use.
    pub fn as_str(self) -> &'static str {
        match self {
            HopKind::Listener => "listener",
            HopKind::Queued => "queued",
            HopKind::Broadcast => "broadcast",
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
            queue: None,
            error: result.err().map(|e| format!("{e:#}")),
            started_at: self.at,
            duration: self.started.elapsed(),
        }
    }
}
