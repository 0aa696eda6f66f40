//! Webhooks: signed, batched, retried after a failure, and sent once.

mod common;

use std::time::Duration;

use common::*;
use event_broadcast_server::Server;

#[tokio::test]
async fn channel_and_member_webhooks_are_signed_and_retried() {
    let (url, got) = webhook_receiver(2).await;
    let mut config = config();
    config.webhook_url = Some(url);
    config.webhook_retry = Duration::from_millis(50);
    let server = Server::bind(config).await.unwrap();
    let addr = server.local_addr();
    let mut a = connect(addr).await;
    subscribed(&mut a, "presence-room", Some(r#"{"user_id":"1"}"#)).await;
    let mut a2 = connect(addr).await;
    subscribed(&mut a2, "presence-room", Some(r#"{"user_id":"1"}"#)).await;
    assert!(
        eventually(Duration::from_secs(5), async || webhook_names(&got).len()
            >= 2)
        .await,
        "delivered after two refused attempts: {:?}",
        webhook_names(&got)
    );
    drop(a);
    drop(a2);
    assert!(
        eventually(Duration::from_secs(5), async || webhook_names(&got).len()
            >= 4)
        .await,
        "{:?}",
        webhook_names(&got)
    );
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(
        webhook_names(&got),
        vec![
            "channel_occupied presence-room",
            "member_added presence-room 1",
            "member_removed presence-room 1",
            "channel_vacated presence-room",
        ],
        "one member_added for two sockets of one user"
    );
}
