//! Waking idle workers: one connection per process LISTENs on the schema's
//! channel (through the connection's message stream), and every NOTIFY bumps
//! a generation that waiting workers watch. While that connection is down,
//! workers poll.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use super::options::DriverConfig;
use futures::StreamExt;
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio_postgres::AsyncMessage;

/// Shared by the backend and its LISTEN task.
pub(super) struct Wake {
    /// Bumped by every notification, by the LISTEN connection coming up or
    /// going down, and by jobs this process puts back.
    generation: watch::Sender<u64>,
    /// The LISTEN connection is up: waiting needs no polling.
    listening: AtomicBool,
    /// The generation when the latest fetch began: a bump after it means
    /// that fetch may have missed jobs.
    seen: AtomicU64,
    /// Bumped by a notification that the paused queues or the restart
    /// request changed (payload [`SIGNALS`]), and by the LISTEN connection
    /// coming up or going down: while it stays the same, what was read
    /// of them still holds.
    signals: AtomicU64,
    task: Mutex<Option<JoinHandle<()>>>,
}

/// The payload of the notification sent when pause or restart change.
pub(super) const SIGNALS: &str = "signals";

impl Wake {
    pub(super) fn new() -> Self {
        Self {
            generation: watch::Sender::new(0),
            listening: AtomicBool::new(false),
            seen: AtomicU64::new(0),
            signals: AtomicU64::new(0),
            task: Mutex::new(None),
        }
    }

    pub(super) fn bump(&self) {
        self.generation.send_modify(|g| *g += 1);
    }

    /// Called as a fetch begins.
    pub(super) fn fetching(&self) {
        self.seen.store(*self.generation.borrow(), Ordering::SeqCst);
    }

    pub(super) fn listening(&self) -> bool {
        self.listening.load(Ordering::SeqCst)
    }

    /// The signals generation (see [`Wake::signals`]).
    pub(super) fn signals_generation(&self) -> u64 {
        self.signals.load(Ordering::SeqCst)
    }

    fn signals_changed(&self) {
        self.signals.fetch_add(1, Ordering::SeqCst);
    }

    /// Starts the LISTEN task unless it runs (it ends with its runtime).
    pub(super) fn ensure_listening(self: &Arc<Self>, config: &DriverConfig, channel: &str) {
        let mut task = self.task.lock().unwrap_or_else(|e| e.into_inner());
        if task.as_ref().is_some_and(|t| !t.is_finished()) {
            return;
        }
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            return;
        };
        let wake = Arc::downgrade(self);
        *task = Some(runtime.spawn(listen_loop(wake, config.clone(), channel.to_string())));
    }

    /// Waits until a bump after the latest fetch began, or `limit`.
    pub(super) async fn until_bumped(&self, limit: Duration) {
        let seen = self.seen.load(Ordering::SeqCst);
        let mut changes = self.generation.subscribe();
        let _ = tokio::time::timeout(limit, changes.wait_for(|g| *g != seen)).await;
    }

    /// Waits until the LISTEN connection is up, or `limit`.
    pub(super) async fn until_listening(&self, limit: Duration) {
        let mut changes = self.generation.subscribe();
        let _ = tokio::time::timeout(limit, changes.wait_for(|_| self.listening())).await;
    }

    /// True when a bump happened since the latest fetch began.
    pub(super) fn bumped(&self) -> bool {
        *self.generation.borrow() != self.seen.load(Ordering::SeqCst)
    }

    pub(super) fn stop(&self) {
        if let Some(task) = self.task.lock().unwrap_or_else(|e| e.into_inner()).take() {
            task.abort();
        }
    }
}

async fn listen_loop(wake: std::sync::Weak<Wake>, config: DriverConfig, channel: String) {
    let mut pause = Duration::from_millis(50);
    loop {
        let outcome = listen_once(&wake, &config, &channel).await;
        let Some(w) = wake.upgrade() else { return };
        if w.listening.swap(false, Ordering::SeqCst) {
            // Waiters fall back to polling until we are back.
            w.signals_changed();
            w.bump();
            pause = Duration::from_millis(50);
        }
        drop(w);
        match outcome {
            Ok(()) => {
                tracing::warn!(%channel, "the queue's LISTEN connection closed; reconnecting")
            }
            Err(e) => {
                tracing::warn!(%channel, error = %e, pause_ms = pause.as_millis() as u64, "the queue's LISTEN connection failed; workers poll until it is back")
            }
        }
        tokio::time::sleep(pause).await;
        pause = (pause * 2).min(Duration::from_secs(5));
    }
}

/// One LISTEN session, until its connection ends.
async fn listen_once(
    wake: &std::sync::Weak<Wake>,
    config: &DriverConfig,
    channel: &str,
) -> Result<(), tokio_postgres::Error> {
    let (client, mut connection) = config.settings.connect(config.tls.clone()).await?;
    let mut messages = futures::stream::poll_fn(move |cx| connection.poll_message(cx));
    let listen = format!("LISTEN \"{channel}\"");
    {
        let subscribe = client.batch_execute(&listen);
        tokio::pin!(subscribe);
        // The LISTEN completes only while the connection is driven.
        loop {
            tokio::select! {
                done = &mut subscribe => { done?; break; }
                message = messages.next() => match message {
                    Some(Ok(_)) => {}
                    Some(Err(e)) => return Err(e),
                    None => return Ok(()),
                },
            }
        }
    }
    match wake.upgrade() {
        Some(w) => {
            w.listening.store(true, Ordering::SeqCst);
            // Jobs (and signals) may have come while nobody listened.
            w.signals_changed();
            w.bump();
        }
        None => return Ok(()),
    }
    while let Some(message) = messages.next().await {
        match message {
            Ok(AsyncMessage::Notification(n)) => match wake.upgrade() {
                Some(w) => {
                    if n.payload() == SIGNALS {
                        w.signals_changed();
                    }
                    w.bump()
                }
                None => return Ok(()),
            },
            Ok(_) => {}
            Err(e) => return Err(e),
        }
    }
    drop(client);
    Ok(())
}
