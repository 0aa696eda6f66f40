//! The writer: dispatches drop their events into a bounded buffer and go
//! on; one task drains it, committing in batches.
//!
//! If the store goes away the task keeps its batch and tries again (the
//! outage is logged when it starts and when it ends); the buffer fills up
//! to its bound meanwhile, and events beyond it are dropped and counted.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use tokio::sync::{Notify, watch};

use super::backend::Backend;
use super::error::StoreError;
use super::hops::NewHop;
use super::record::{NewEvent, Pending};

/// How the writer buffers and batches.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WriterOptions {
    /// Events held while the store is slow or down; more are dropped (counted).
    pub buffer: usize,
    /// Events per transaction at most.
    pub batch: usize,
}

impl Default for WriterOptions {
    fn default() -> Self {
        Self {
            buffer: 100_000,
            batch: 1_000,
        }
    }
}

/// What the writer has done so far.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct WriterStats {
    /// Events committed.
    pub written: u64,
    /// Events dropped: the buffer was full, or the database refused their
    /// batch three times.
    pub dropped: u64,
    /// Events waiting in the buffer or in the batch being written.
    pub pending: u64,
    /// Outages seen (the store unreachable, then back).
    pub outages: u64,
    /// True while the store is unreachable.
    pub down: bool,
}

#[derive(Default)]
struct Buffer {
    events: VecDeque<Pending>,
    /// Events ever accepted into the buffer.
    accepted: u64,
    dropped: u64,
}

pub(crate) struct Writer {
    buffer: Mutex<Buffer>,
    wake: Notify,
    /// Events accepted and then settled (committed, or dropped by a batch
    /// the database refused): what `flush` waits for.
    settled: watch::Sender<u64>,
    written: AtomicU64,
    outages: AtomicU64,
    down: AtomicBool,
    closed: AtomicBool,
    options: WriterOptions,
}

fn lock(buffer: &Mutex<Buffer>) -> MutexGuard<'_, Buffer> {
    buffer.lock().unwrap_or_else(|e| e.into_inner())
}

impl Writer {
    /// A writer and its task, draining into `backend`.
    pub(crate) fn start(backend: Arc<dyn Backend>, options: WriterOptions) -> Arc<Self> {
        let writer = Arc::new(Self {
            buffer: Mutex::new(Buffer::default()),
            wake: Notify::new(),
            settled: watch::Sender::new(0),
            written: AtomicU64::new(0),
            outages: AtomicU64::new(0),
            down: AtomicBool::new(false),
            closed: AtomicBool::new(false),
            options: WriterOptions {
                buffer: options.buffer.max(1),
                batch: options.batch.max(1),
            },
        });
        tokio::spawn(drain(Arc::downgrade(&writer), backend));
        writer
    }

    /// Takes an event for writing; never waits. An event it cannot take
    /// (the buffer is full, or the writer was shut down) is counted as
    /// dropped, and the error says which.
    pub(crate) fn push(&self, event: Pending) -> Result<(), StoreError> {
        let mut buffer = lock(&self.buffer);
        if self.closed.load(Ordering::Acquire) {
            buffer.dropped += 1;
            return Err(StoreError::Closed);
        }
        if buffer.events.len() >= self.options.buffer {
            buffer.dropped += 1;
            let first = buffer.dropped == 1;
            drop(buffer);
            if first {
                tracing::warn!(
                    bound = self.options.buffer,
                    "event store buffer full: events are being dropped (counted in EventStore::stats)"
                );
            }
            return Err(StoreError::BufferFull);
        }
        let was_empty = buffer.events.is_empty();
        buffer.events.push_back(event);
        buffer.accepted += 1;
        drop(buffer);
        if was_empty {
            self.wake.notify_one();
        }
        Ok(())
    }

    pub(crate) fn stats(&self) -> WriterStats {
        let buffer = lock(&self.buffer);
        let settled = *self.settled.borrow();
        WriterStats {
            written: self.written.load(Ordering::Relaxed),
            dropped: buffer.dropped,
            pending: buffer.accepted - settled,
            outages: self.outages.load(Ordering::Relaxed),
            down: self.down.load(Ordering::Relaxed),
        }
    }

    /// Waits until every event accepted before the call is settled.
    pub(crate) async fn flush(&self, timeout: Option<Duration>) -> Result<WriterStats, StoreError> {
        let target = lock(&self.buffer).accepted;
        let mut settled = self.settled.subscribe();
        let wait = settled.wait_for(|n| *n >= target);
        match timeout {
            None => wait.await.map(drop).map_err(|_| StoreError::Closed)?,
            Some(limit) => tokio::time::timeout(limit, wait)
                .await
                .map_err(|_| StoreError::FlushTimeout(limit))?
                .map(drop)
                .map_err(|_| StoreError::Closed)?,
        }
        Ok(self.stats())
    }

    /// Stops the task once the buffer is empty.
    pub(crate) fn close(&self) {
        self.closed.store(true, Ordering::Release);
        self.wake.notify_one();
    }

    fn take(&self, into: &mut Vec<Pending>) {
        let mut buffer = lock(&self.buffer);
        let n = buffer.events.len().min(self.options.batch);
        into.extend(buffer.events.drain(..n));
    }
}

async fn drain(writer: std::sync::Weak<Writer>, backend: Arc<dyn Backend>) {
    let mut taken = Vec::new();
    loop {
        let Some(w) = writer.upgrade() else { return };
        w.take(&mut taken);
        if taken.is_empty() {
            if w.closed.load(Ordering::Acquire) {
                return;
            }
            let wake = w.wake.notified();
            tokio::pin!(wake);
            wake.as_mut().enable();
            // Pushed between `take` and `enable`: go round again.
            if !lock(&w.buffer).events.is_empty() {
                continue;
            }
            // Woken at least twice a second to see whether the store
            // was dropped (the task holds only a Weak between rounds).
            let _ = tokio::time::timeout(Duration::from_millis(500), wake).await;
            continue;
        }
        let n = taken.len() as u64;
        let mut rows: Vec<NewEvent> = Vec::with_capacity(taken.len());
        let mut hops: Vec<NewHop> = Vec::new();
        for pending in taken.drain(..) {
            match pending {
                Pending::Hop(hop) => hops.push(hop),
                other => rows.push(other.into_new()),
            }
        }
        write_batch(&w, backend.as_ref(), &rows, &hops).await;
        w.settled.send_modify(|settled| *settled += n);
    }
}

/// Writes one batch, trying again while the store is unreachable.
async fn write_batch(writer: &Writer, backend: &dyn Backend, rows: &[NewEvent], hops: &[NewHop]) {
    let mut delay = Duration::from_millis(50);
    let mut refused = 0;
    let mut since: Option<Instant> = None;
    loop {
        // The events first (an id already stored is skipped, so a retry
        // after a failed hops write does not double them).
        let written = match rows.is_empty() {
            true => Ok(()),
            false => backend.append_batch(rows).await,
        };
        let written = match (written, hops.is_empty()) {
            (Ok(()), false) => backend.append_hops(hops).await,
            (other, _) => other,
        };
        match written {
            Ok(()) => {
                writer
                    .written
                    .fetch_add(rows.len() as u64, Ordering::Relaxed);
                if let Some(since) = since {
                    writer.down.store(false, Ordering::Relaxed);
                    let dropped = lock(&writer.buffer).dropped;
                    tracing::warn!(
                        url = backend.location(),
                        outage_ms = since.elapsed().as_millis() as u64,
                        dropped_so_far = dropped,
                        "event store reachable again; buffered events written"
                    );
                }
                return;
            }
            Err(e) if e.is_unreachable() => {
                if since.is_none() {
                    since = Some(Instant::now());
                    writer.down.store(true, Ordering::Relaxed);
                    writer.outages.fetch_add(1, Ordering::Relaxed);
                    tracing::error!(
                        url = backend.location(),
                        error = %error_chain(&e),
                        "event store unreachable: dispatch goes on, events are buffered"
                    );
                }
            }
            Err(e) => {
                // The database refused the batch: not an outage. A few
                // tries, then the batch is dropped rather than blocking
                // every event behind it.
                refused += 1;
                if refused >= 3 {
                    lock(&writer.buffer).dropped += (rows.len() + hops.len()) as u64;
                    tracing::error!(
                        url = backend.location(),
                        events = rows.len(),
                        error = %error_chain(&e),
                        "event store refused a batch; its events are dropped"
                    );
                    return;
                }
            }
        }
        tokio::time::sleep(delay).await;
        delay = (delay * 2).min(Duration::from_secs(1));
    }
}

fn error_chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    text
}
