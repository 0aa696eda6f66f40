//! Pusher-protocol clients for the tests: sockets on a real
//! event-broadcast-server, subscribed as the app's auth endpoint would
//! sign them, and the dashboard's settings for that server.

use std::time::Duration;

use event_broadcast::signature::channel_auth;
use event_core::broadcasting::{BroadcastConfig, BroadcastConnection, Credentials};
use futures::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;

pub type Socket =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// `app_id`'s credentials: key `<app_id>-key`, secret `<app_id>-secret`.
pub fn credentials(app_id: &str) -> Credentials {
    Credentials {
        app_id: app_id.into(),
        key: format!("{app_id}-key"),
        secret: format!("{app_id}-secret"),
    }
}

/// The dashboard's broadcasting settings for `app_id`'s server on `port`.
pub fn settings(app_id: &str, port: u16) -> BroadcastConfig {
    let c = credentials(app_id);
    BroadcastConfig {
        connection: BroadcastConnection::Pusher,
        host: "127.0.0.1".into(),
        port,
        app_id: Some(c.app_id),
        app_key: Some(c.key),
        app_secret: Some(c.secret),
        ..BroadcastConfig::default()
    }
}

/// A real event-broadcast-server for `app_id` on a free port, and the
/// dashboard's settings for it.
pub async fn server(app_id: &str) -> (event_broadcast_server::Server, BroadcastConfig) {
    let mut config = event_broadcast_server::ServerConfig::new(credentials(app_id));
    config.port = 0;
    let server = event_broadcast_server::Server::bind(config)
        .await
        .expect("bind the broadcast server");
    let port = server.local_addr().port();
    (server, settings(app_id, port))
}

/// The next frame named `event` within 5 s.
pub async fn frame(socket: &mut Socket, event: &str) -> Value {
    let found = tokio::time::timeout(Duration::from_secs(5), async {
        while let Some(Ok(message)) = socket.next().await {
            if let Message::Text(text) = message {
                let frame: Value = serde_json::from_str(&text).unwrap();
                if frame["event"] == event {
                    return frame;
                }
            }
        }
        Value::Null
    })
    .await;
    found.unwrap_or_else(|_| panic!("no {event} within 5 s"))
}

/// A socket on `port` subscribed to `channel` (as `user` on a presence
/// channel), signed as the app's auth endpoint would.
pub async fn subscribed(app_id: &str, port: u16, channel: &str, user: Option<&str>) -> Socket {
    let c = credentials(app_id);
    let url = format!("ws://127.0.0.1:{port}/app/{}?protocol=7", c.key);
    let (mut socket, _) = tokio_tungstenite::connect_async(url)
        .await
        .expect("connect");
    let established = frame(&mut socket, "pusher:connection_established").await;
    let data: Value = serde_json::from_str(established["data"].as_str().unwrap()).unwrap();
    let socket_id = data["socket_id"].as_str().unwrap().to_string();
    let channel_data = user.map(|u| json!({ "user_id": u }).to_string());
    let mut subscribe = json!({
        "channel": channel,
        "auth": channel_auth(&c, &socket_id, channel, channel_data.as_deref()),
    });
    if let Some(d) = &channel_data {
        subscribe["channel_data"] = json!(d);
    }
    let message = json!({ "event": "pusher:subscribe", "data": subscribe });
    socket
        .send(Message::text(message.to_string()))
        .await
        .expect("subscribe");
    frame(&mut socket, "pusher_internal:subscription_succeeded").await;
    socket
}
