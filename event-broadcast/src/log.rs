//! The `log` broadcaster (Laravel's `log` driver).

use anyhow::Result;
use async_trait::async_trait;

use event_kernel::broadcasting::{BroadcastMessage, Broadcaster};

/// Writes each broadcast to the `tracing` log at `info`, or to standard
/// error when the app installed no `tracing` subscriber (as the boot's
/// startup line does), so the default broadcaster is never silent.
#[derive(Debug, Default, Clone, Copy)]
pub struct LogBroadcaster;

#[async_trait]
impl Broadcaster for LogBroadcaster {
    async fn broadcast(&self, message: &BroadcastMessage) -> Result<()> {
        if tracing::dispatcher::has_been_set() {
            tracing::info!(
                channels = ?message.channels,
                event = %message.event,
                data = %message.data,
                socket_id = ?message.socket_id,
                "broadcasting"
            );
        } else {
            eprintln!("{}", line(message));
        }
        Ok(())
    }
}

/// The line written without a `tracing` subscriber.
fn line(message: &BroadcastMessage) -> String {
    let mut line = format!(
        "broadcasting {} on {}: {}",
        message.event,
        message.channels.join(", "),
        message.data
    );
    if let Some(socket) = &message.socket_id {
        line.push_str(&format!(" (not to socket {socket})"));
    }
    line
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_line_names_the_event_its_channels_and_its_data() {
        let message = BroadcastMessage {
            channels: vec!["orders".into(), "private-user.7".into()],
            event: "OrderShipped".into(),
            data: serde_json::json!({"order": 42}),
            socket_id: Some("123.456".into()),
        };
        assert_eq!(
            line(&message),
            r#"broadcasting OrderShipped on orders, private-user.7: {"order":42} (not to socket 123.456)"#
        );
    }
}
