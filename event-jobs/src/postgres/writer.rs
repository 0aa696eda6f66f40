//! Group commit for dispatches: jobs pushed while a write is in flight wait
//! and go together in the next one, one statement, one transaction and one
//! NOTIFY for all of them.

use std::sync::{Arc, Mutex};

use tokio::sync::oneshot;

use super::Inner;
use crate::QueueError;

/// Job rows, column by column (what `unnest` takes).
#[derive(Debug, Default)]
pub(super) struct Rows {
    pub ids: Vec<String>,
    pub queues: Vec<String>,
    pub priorities: Vec<i32>,
    pub available_at: Vec<i64>,
    pub attempts: Vec<i32>,
    pub payloads: Vec<String>,
}

impl Rows {
    pub(super) fn len(&self) -> usize {
        self.ids.len()
    }

    fn append(&mut self, other: &Rows) {
        self.ids.extend_from_slice(&other.ids);
        self.queues.extend_from_slice(&other.queues);
        self.priorities.extend_from_slice(&other.priorities);
        self.available_at.extend_from_slice(&other.available_at);
        self.attempts.extend_from_slice(&other.attempts);
        self.payloads.extend_from_slice(&other.payloads);
    }
}

type Reply = oneshot::Sender<Result<(), QueueError>>;

#[derive(Default)]
pub(super) struct Writer {
    state: Mutex<State>,
}

#[derive(Default)]
struct State {
    pending: Vec<(Rows, Reply)>,
    writing: bool,
}

/// Rows one write takes at most.
const MAX_BATCH: usize = 4096;

impl Writer {
    /// Writes `rows`, sharing the write with concurrent pushes.
    pub(super) async fn push(inner: &Arc<Inner>, rows: Rows) -> Result<(), QueueError> {
        let (reply, answer) = oneshot::channel();
        let start = {
            let mut state = inner.writer.state.lock().unwrap_or_else(|e| e.into_inner());
            state.pending.push((rows, reply));
            !std::mem::replace(&mut state.writing, true)
        };
        if start {
            // A task of its own: a dispatch that is cancelled does not strand
            // the ones waiting on its write.
            tokio::spawn(drain(inner.clone()));
        }
        answer.await.unwrap_or_else(|_| {
            Err(inner.backend_error(
                "the write of this job was cancelled (its runtime shut down)".to_string(),
            ))
        })
    }
}

/// Clears `writing` if the drain task is cancelled (its runtime shutting
/// down), so a later push starts a new one.
struct Draining(Arc<Inner>, bool);

impl Drop for Draining {
    fn drop(&mut self) {
        if !self.1 {
            return;
        }
        let mut state = self
            .0
            .writer
            .state
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        state.writing = false;
        // Replies of requests never written are dropped: their pushes fail.
        state.pending.clear();
    }
}

async fn drain(inner: Arc<Inner>) {
    let mut guard = Draining(inner, true);
    let inner = guard.0.clone();
    loop {
        let batch = {
            let mut state = inner.writer.state.lock().unwrap_or_else(|e| e.into_inner());
            let mut rows = 0;
            let take = state
                .pending
                .iter()
                .take_while(|(r, _)| {
                    rows += r.len();
                    rows <= MAX_BATCH || rows == r.len()
                })
                .count();
            if take == 0 {
                state.writing = false;
                guard.1 = false;
                return;
            }
            state.pending.drain(..take).collect::<Vec<_>>()
        };
        let batch = match <[_; 1]>::try_from(batch) {
            Ok([(rows, reply)]) => {
                let _ = reply.send(inner.insert(&rows).await);
                continue;
            }
            Err(batch) => batch,
        };
        let mut all = Rows::default();
        for (rows, _) in &batch {
            all.append(rows);
        }
        if inner.insert(&all).await.is_ok() {
            for (_, reply) in batch {
                let _ = reply.send(Ok(()));
            }
            continue;
        }
        // Each request alone, so each gets its own error and one bad row
        // does not fail the others.
        for (rows, reply) in batch {
            let _ = reply.send(inner.insert(&rows).await);
        }
    }
}
