//! One connected socket as the rest of the server sees it: a bounded queue
//! of frames and a way to close it. A full queue closes the socket (it is too
//! slow); it never makes the sender wait.

use std::sync::Arc;
use std::sync::Mutex;

use axum::extract::ws::{Message, Utf8Bytes};
use tokio::sync::{Notify, mpsc};

/// A handle to a socket's writer.
#[derive(Debug, Clone)]
pub(crate) struct SocketHandle {
    tx: mpsc::Sender<Message>,
    closer: Arc<Closer>,
}

#[derive(Debug, Default)]
pub(crate) struct Closer {
    reason: Mutex<Option<(u16, String)>>,
    notify: Notify,
}

impl Closer {
    /// The close code and reason, once someone asked to close.
    pub(crate) fn reason(&self) -> Option<(u16, String)> {
        self.reason
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    pub(crate) async fn closed(&self) {
        loop {
            let notified = self.notify.notified();
            if self.reason().is_some() {
                return;
            }
            notified.await;
        }
    }
}

/// What `send` did with a frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Sent {
    Queued,
    /// The queue was full: the socket is being closed.
    TooSlow,
    /// The socket is gone.
    Gone,
}

impl SocketHandle {
    pub(crate) fn new(queue: usize) -> (Self, mpsc::Receiver<Message>, Arc<Closer>) {
        let (tx, rx) = mpsc::channel(queue.max(1));
        let closer = Arc::new(Closer::default());
        (
            Self {
                tx,
                closer: closer.clone(),
            },
            rx,
            closer,
        )
    }

    /// Queues a text frame (cloning `Utf8Bytes` shares the encoded bytes).
    pub(crate) fn send(&self, frame: Utf8Bytes) -> Sent {
        match self.tx.try_send(Message::Text(frame)) {
            Ok(()) => Sent::Queued,
            Err(mpsc::error::TrySendError::Full(_)) => {
                self.close(
                    crate::protocol::close::OVER_CAPACITY,
                    "too slow: the socket's queue is full",
                );
                Sent::TooSlow
            }
            Err(mpsc::error::TrySendError::Closed(_)) => Sent::Gone,
        }
    }

    /// Asks the writer to send a close frame and stop (first reason wins).
    pub(crate) fn close(&self, code: u16, reason: &str) {
        {
            let mut slot = self.closer.reason.lock().unwrap_or_else(|e| e.into_inner());
            if slot.is_none() {
                *slot = Some((code, reason.to_string()));
            }
        }
        self.closer.notify.notify_waiters();
    }
}
