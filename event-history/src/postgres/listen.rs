//! Waking readers of the PostgreSQL backend: each batch NOTIFYs the
//! table's channel, and one LISTEN task per store bumps `appended` on
//! every notification and after every (re)connect, so readers catch up on
//! what they missed.

use std::sync::{Arc, Weak};
use std::time::Duration;

use event_tls::postgres::MakeRustlsConnect;
use futures::StreamExt;
use tokio::sync::watch;
use tokio_postgres::AsyncMessage;

use super::PostgresStore;

impl PostgresStore {
    pub(super) fn channel(&self) -> String {
        format!("{}_appended", self.table)
    }

    /// Starts the LISTEN task once: it bumps `appended` on every NOTIFY and
    /// after every (re)connect, so readers catch up on what they missed.
    pub(super) fn start_listener(&self) {
        let mut slot = self.listener.lock().unwrap_or_else(|e| e.into_inner());
        if slot.is_some() {
            return;
        }
        let appended = Arc::downgrade(&self.appended);
        let config = self.config.clone();
        let tls = self.tls.clone();
        let channel = self.channel();
        let url = self.url.clone();
        *slot = Some(tokio::spawn(listen_loop(
            config, tls, channel, url, appended,
        )));
    }
}

async fn listen_loop(
    config: tokio_postgres::Config,
    tls: MakeRustlsConnect,
    channel: String,
    url: String,
    appended: Weak<watch::Sender<u64>>,
) {
    let mut delay = Duration::from_millis(100);
    loop {
        if appended.strong_count() == 0 {
            return;
        }
        match config.connect(tls.clone()).await {
            Err(e) => {
                tracing::debug!(url = %url, error = %e, "event store LISTEN connection failed; retrying");
            }
            Ok((client, mut connection)) => {
                let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
                let driver = tokio::spawn(async move {
                    let mut messages =
                        futures::stream::poll_fn(move |cx| connection.poll_message(cx));
                    while let Some(message) = messages.next().await {
                        match message {
                            Ok(AsyncMessage::Notification(_)) => {
                                if tx.send(()).is_err() {
                                    return;
                                }
                            }
                            Ok(_) => {}
                            Err(_) => return,
                        }
                    }
                });
                if client
                    .batch_execute(&format!("LISTEN {channel}"))
                    .await
                    .is_ok()
                {
                    delay = Duration::from_millis(100);
                    // Connected (again): whatever was appended meanwhile is read now.
                    match appended.upgrade() {
                        Some(sender) => sender.send_modify(|n| *n += 1),
                        None => return,
                    }
                    while rx.recv().await.is_some() {
                        match appended.upgrade() {
                            Some(sender) => sender.send_modify(|n| *n += 1),
                            None => return,
                        }
                    }
                }
                driver.abort();
            }
        }
        tokio::time::sleep(delay).await;
        delay = (delay * 2).min(Duration::from_secs(2));
    }
}
