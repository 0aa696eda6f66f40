//! Refusals: every bad subscription, signature, key and frame in the issue's
//! list, each checked for what the client would notice.

mod common;

use std::time::Duration;

use common::*;
use event_broadcast::signature::{self, Credentials};
use event_broadcast_server::Server;
use futures::SinkExt;
use serde_json::{Value, json};
use tokio::io::AsyncWriteExt;

/// Subscribes with `auth`, expects `pusher:subscription_error`, then checks
/// that an event published on the channel does not reach the socket.
async fn refused(auth: Option<String>, channel: &str, channel_data: Option<&str>) {
    let server = server().await;
    let addr = server.local_addr();
    let mut c = connect(addr).await;
    subscribe(&mut c.ws, channel, auth.as_deref(), channel_data).await;
    let reply = next_json(&mut c.ws).await.unwrap();
    assert_eq!(reply["event"], "pusher:subscription_error", "{reply}");
    assert_eq!(reply["channel"], channel);
    let data: Value = serde_json::from_str(reply["data"].as_str().unwrap()).unwrap();
    assert_eq!(data["status"], 401);
    let body = json!({ "name": "secret", "channel": channel, "data": "{}" }).to_string();
    let (status, _) = signed(
        addr,
        "POST",
        "/apps/test-app/events",
        &[],
        Some(body.into_bytes()),
    )
    .await;
    assert_eq!(status, 200);
    assert!(
        next_json_within(&mut c.ws, Duration::from_millis(300))
            .await
            .is_none(),
        "a refused socket receives nothing on the channel"
    );
}

fn auth_for(socket_id: &str, channel: &str, data: Option<&str>) -> String {
    signature::channel_auth(&creds(), socket_id, channel, data)
}

#[tokio::test]
async fn subscription_without_auth_is_refused() {
    refused(None, "private-orders.1", None).await;
}

#[tokio::test]
async fn subscription_with_a_wrong_signature_is_refused() {
    refused(Some("test-key:deadbeef".into()), "private-orders.1", None).await;
}

#[tokio::test]
async fn subscription_signed_for_another_socket_is_refused() {
    refused(
        Some(auth_for("1.1", "private-orders.1", None)),
        "private-orders.1",
        None,
    )
    .await;
}

#[tokio::test]
async fn subscription_signed_for_another_channel_is_refused() {
    let server = server().await;
    let mut c = connect(server.local_addr()).await;
    let auth = auth_for(&c.socket_id, "private-orders.2", None);
    subscribe(&mut c.ws, "private-orders.1", Some(&auth), None).await;
    let reply = next_json(&mut c.ws).await.unwrap();
    assert_eq!(reply["event"], "pusher:subscription_error");
}

#[tokio::test]
async fn subscription_signed_with_another_key_is_refused() {
    let server = server().await;
    let mut c = connect(server.local_addr()).await;
    // The right secret under another key, and the right signature with the key swapped.
    let other = Credentials {
        key: "other-key".into(),
        ..creds()
    };
    for auth in [
        signature::channel_auth(&other, &c.socket_id, "private-a", None),
        auth_for(&c.socket_id, "private-a", None).replacen("test-key", "evil-key", 1),
    ] {
        subscribe(&mut c.ws, "private-a", Some(&auth), None).await;
        let reply = next_json(&mut c.ws).await.unwrap();
        assert_eq!(reply["event"], "pusher:subscription_error", "{auth}");
    }
}

#[tokio::test]
async fn presence_with_tampered_channel_data_is_refused() {
    let server = server().await;
    let mut c = connect(server.local_addr()).await;
    let auth = auth_for(&c.socket_id, "presence-room", Some(r#"{"user_id":"1"}"#));
    subscribe(
        &mut c.ws,
        "presence-room",
        Some(&auth),
        Some(r#"{"user_id":"admin"}"#),
    )
    .await;
    let reply = next_json(&mut c.ws).await.unwrap();
    assert_eq!(reply["event"], "pusher:subscription_error");
}

#[tokio::test]
async fn unknown_app_key_closes_with_4001() {
    let server = server().await;
    let Err((mut ws, frame)) = connect_key(server.local_addr(), "nope").await else {
        panic!("an unknown key must not connect");
    };
    assert_eq!(frame["event"], "pusher:error");
    assert_eq!(close_code(&mut ws).await, Some(4001));
}

fn signed_query(body: &[u8], timestamp: i64) -> Vec<(String, String)> {
    signature::sign_request(
        &creds(),
        "POST",
        "/apps/test-app/events",
        &[],
        Some(body),
        timestamp,
    )
}

async fn post_with(server: &Server, params: Vec<(String, String)>, body: Vec<u8>) -> u16 {
    let query = form_urlencoded::Serializer::new(String::new())
        .extend_pairs(params)
        .finish();
    http(
        server.local_addr(),
        "POST",
        &format!("/apps/test-app/events?{query}"),
        Some(body),
    )
    .await
    .0
}

fn event_body() -> Vec<u8> {
    json!({ "name": "x", "channel": "news", "data": "{}" })
        .to_string()
        .into_bytes()
}

#[tokio::test]
async fn http_publish_with_a_bad_signature_is_401() {
    let server = server().await;
    let body = event_body();
    let mut params = signed_query(&body, chrono::Utc::now().timestamp());
    params.last_mut().unwrap().1 = "0".repeat(64);
    assert_eq!(post_with(&server, params, body.clone()).await, 401);
    let mut params = signed_query(&body, chrono::Utc::now().timestamp());
    params.retain(|(k, _)| k != "auth_signature");
    assert_eq!(post_with(&server, params, body).await, 401);
}

#[tokio::test]
async fn http_publish_with_a_wrong_body_md5_is_401() {
    let server = server().await;
    let body = event_body();
    let params = signed_query(&body, chrono::Utc::now().timestamp());
    let mut tampered = body.clone();
    tampered.extend_from_slice(b" ");
    assert_eq!(post_with(&server, params, tampered).await, 401);
}

#[tokio::test]
async fn http_publish_older_than_600_s_is_401() {
    let server = server().await;
    let body = event_body();
    let old = chrono::Utc::now().timestamp() - 601;
    assert_eq!(
        post_with(&server, signed_query(&body, old), body.clone()).await,
        401
    );
    let recent = chrono::Utc::now().timestamp() - 500;
    assert_eq!(
        post_with(&server, signed_query(&body, recent), body).await,
        200
    );
}

#[tokio::test]
async fn http_publish_with_another_key_or_app_is_refused() {
    let server = server().await;
    let body = event_body();
    let other = Credentials {
        key: "k2".into(),
        ..creds()
    };
    let params = signature::sign_request(
        &other,
        "POST",
        "/apps/test-app/events",
        &[],
        Some(&body),
        chrono::Utc::now().timestamp(),
    );
    assert_eq!(post_with(&server, params, body.clone()).await, 401);
    let (status, _) = signed(
        server.local_addr(),
        "POST",
        "/apps/other-app/events",
        &[],
        Some(body),
    )
    .await;
    assert_eq!(status, 404);
}

/// Reads `client`'s frames until a `Headline` on `news` with this `n`.
async fn headline(ws: &mut Ws, n: u64) -> bool {
    while let Some(frame) = next_json(ws).await {
        if frame["event"] == "Headline"
            && frame["channel"] == "news"
            && serde_json::from_str::<Value>(frame["data"].as_str().unwrap_or(""))
                .is_ok_and(|d| d["n"] == n)
        {
            return true;
        }
    }
    false
}

/// A subscribed socket next to the bad ones: it keeps receiving.
async fn keeps_receiving(addr: std::net::SocketAddr, good: &mut Client2, n: u64) {
    publish(addr, "news", "Headline", &json!({ "n": n })).await;
    assert!(
        headline(&mut good.ws, n).await,
        "the healthy socket did not get headline {n}"
    );
}

/// A text frame that is not a protocol message (not JSON, truncated JSON,
/// not an object, a message missing its fields, an unknown event) gets a
/// `pusher:error` with code 4200 (Reverb's "invalid message format"), and
/// the socket stays usable: it answers pings and still gets its channel's
/// broadcasts, as does a healthy socket beside it.
#[tokio::test]
async fn malformed_messages_get_a_pusher_error_and_the_socket_stays_usable() {
    let server = server().await;
    let addr = server.local_addr();
    let mut good = connect(addr).await;
    subscribed(&mut good, "news", None).await;
    let mut c = connect(addr).await;
    subscribed(&mut c, "news", None).await;
    for (n, bad) in [
        "not json",
        r#"{"event":"pusher:subscribe","data":{"channel":"ne"#,
        r#"{"event":"pusher:ping","#,
        "",
        "[1,2]",
        r#"{"event":"pusher:subscribe"}"#,
        r#"{"event":"hello"}"#,
    ]
    .into_iter()
    .enumerate()
    {
        c.ws.send(tokio_tungstenite::tungstenite::Message::Text(bad.into()))
            .await
            .unwrap();
        let reply = next_json(&mut c.ws)
            .await
            .unwrap_or_else(|| panic!("no answer to {bad:?}"));
        assert_eq!(reply["event"], "pusher:error", "{bad:?}: {reply}");
        let data: Value = serde_json::from_str(reply["data"].as_str().unwrap()).unwrap();
        assert_eq!(data["code"], 4200, "{bad:?}: {reply}");
        assert!(
            data["message"]
                .as_str()
                .is_some_and(|m| m.starts_with("invalid message format")),
            "{bad:?}: {reply}"
        );
        send(&mut c.ws, json!({ "event": "pusher:ping", "data": {} })).await;
        assert_eq!(
            next_json(&mut c.ws).await.unwrap()["event"],
            "pusher:pong",
            "{bad:?}"
        );
        keeps_receiving(addr, &mut good, n as u64).await;
        assert!(headline(&mut c.ws, n as u64).await, "{bad:?}");
    }
    assert_eq!(server.connections(), 2);
}

/// A 4 MiB message from a tokio-tungstenite client, over the 64 KiB
/// default: that socket is closed with 1009 (message too big), the healthy
/// one beside it keeps receiving.
#[tokio::test]
async fn an_oversized_message_closes_that_socket_with_1009() {
    let server = server().await;
    let addr = server.local_addr();
    let mut good = connect(addr).await;
    subscribed(&mut good, "news", None).await;
    let big = connect(addr).await;
    let (mut tx, mut rx) = futures::StreamExt::split(big.ws);
    let huge = json!({ "event": "pusher:ping", "data": "x".repeat(4 << 20) }).to_string();
    // The peer may stop reading before it is all sent: send on its own task.
    let sending = tokio::spawn(async move {
        let _ = tx
            .send(tokio_tungstenite::tungstenite::Message::Text(huge.into()))
            .await;
        tx
    });
    let code = tokio::time::timeout(Duration::from_secs(10), async {
        while let Some(Ok(message)) = futures::StreamExt::next(&mut rx).await {
            if let tokio_tungstenite::tungstenite::Message::Close(frame) = message {
                return frame.map(|f| u16::from(f.code));
            }
        }
        None
    })
    .await
    .expect("an answer within 10 s");
    sending.abort();
    assert_eq!(code, Some(1009));
    keeps_receiving(addr, &mut good, 1).await;
    assert!(
        eventually(Duration::from_secs(5), async || server.connections() == 1).await,
        "the oversized socket is gone: {} open",
        server.connections()
    );
}

/// A frame whose header announces more than the limit is refused from its
/// header, before its payload arrives (memory stays bounded): 1009 with
/// 1 KiB of a 4 MiB frame sent. A message in fragments, each under the
/// limit but over it together, is refused as soon as it passes it.
#[tokio::test]
async fn a_frame_over_the_limit_is_refused_before_it_is_buffered() {
    let server = server().await;
    let addr = server.local_addr();
    let mut good = connect(addr).await;
    subscribed(&mut good, "news", None).await;

    let mut tcp = raw_connect(addr).await;
    tcp.write_all(&frame_header(0x1, true, 4 << 20))
        .await
        .unwrap();
    tcp.write_all(&[b' '; 1024]).await.unwrap();
    let mut ws = as_client(tcp).await;
    assert_eq!(
        next_json(&mut ws).await.unwrap()["event"],
        "pusher:connection_established"
    );
    assert_eq!(close_code(&mut ws).await, Some(1009));
    keeps_receiving(addr, &mut good, 1).await;

    let mut tcp = raw_connect(addr).await;
    let part = vec![b' '; 40 * 1024];
    tcp.write_all(&frame_header(0x1, false, part.len() as u64))
        .await
        .unwrap();
    tcp.write_all(&part).await.unwrap();
    tcp.write_all(&frame_header(0x0, false, part.len() as u64))
        .await
        .unwrap();
    tcp.write_all(&part).await.unwrap();
    let mut ws = as_client(tcp).await;
    assert_eq!(
        next_json(&mut ws).await.unwrap()["event"],
        "pusher:connection_established"
    );
    assert_eq!(close_code(&mut ws).await, Some(1009));
    keeps_receiving(addr, &mut good, 2).await;
}

/// One server frame read by hand: its opcode and payload.
async fn server_frame(read: &mut tokio::net::tcp::OwnedReadHalf) -> std::io::Result<(u8, Vec<u8>)> {
    use tokio::io::AsyncReadExt;
    let first = read.read_u8().await?;
    let len = match read.read_u8().await? & 0x7f {
        126 => u64::from(read.read_u16().await?),
        127 => read.read_u64().await?,
        n => u64::from(n),
    };
    let mut payload = vec![0; len as usize];
    read.read_exact(&mut payload).await?;
    Ok((first & 0x0f, payload))
}

/// A peer still sending its big message when the server refuses it (as
/// pusher-js in Node, which drops a connection whose writes fail before it
/// reads what is left) gets the 1009 close frame and no reset right after
/// it: closing a TCP connection with unread input resets it, so the server
/// keeps it open for a moment.
#[tokio::test]
async fn a_peer_still_sending_is_not_reset_right_after_the_1009_close() {
    let server = server().await;
    let addr = server.local_addr();
    let (mut read, mut write) = raw_connect(addr).await.into_split();
    let writer = tokio::spawn(async move {
        write.write_all(&frame_header(0x1, true, 64 << 20)).await?;
        let chunk = vec![b' '; 64 * 1024];
        for _ in 0..1024 {
            write.write_all(&chunk).await?;
        }
        std::io::Result::Ok(())
    });
    let code = tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            let (opcode, payload) = server_frame(&mut read).await.expect("a server frame");
            if opcode == 0x8 {
                return u16::from_be_bytes([payload[0], payload[1]]);
            }
        }
    })
    .await
    .expect("a close frame within 10 s");
    assert_eq!(code, 1009);
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(
        !writer.is_finished(),
        "the peer's writes ended within 200 ms of the close frame: {:?}",
        writer.await
    );
    writer.abort();
}

/// `max_message_bytes` is the limit: just under passes, just over is 1009.
#[tokio::test]
async fn the_message_limit_is_the_configured_one() {
    let mut config = config();
    config.max_message_bytes = 4096;
    let server = Server::bind(config).await.unwrap();
    let addr = server.local_addr();
    let mut c = connect(addr).await;
    let ping = |len: usize| {
        let frame = json!({ "event": "pusher:ping", "data": "" }).to_string();
        json!({ "event": "pusher:ping", "data": "x".repeat(len - frame.len()) }).to_string()
    };
    c.ws.send(tokio_tungstenite::tungstenite::Message::Text(
        ping(4096).into(),
    ))
    .await
    .unwrap();
    assert_eq!(next_json(&mut c.ws).await.unwrap()["event"], "pusher:pong");
    c.ws.send(tokio_tungstenite::tungstenite::Message::Text(
        ping(4097).into(),
    ))
    .await
    .unwrap();
    assert_eq!(close_code(&mut c.ws).await, Some(1009));
}

async fn whisper(client_events: bool, channel: &str, subscribe_first: bool) -> (Value, bool) {
    let mut config = config();
    config.client_events = client_events;
    let server = Server::bind(config).await.unwrap();
    let addr = server.local_addr();
    let mut a = connect(addr).await;
    let mut b = connect(addr).await;
    subscribed(&mut b, channel, None).await;
    if subscribe_first {
        subscribed(&mut a, channel, None).await;
    }
    send(
        &mut a.ws,
        json!({ "event": "client-hi", "channel": channel, "data": {} }),
    )
    .await;
    let reply = next_json_within(&mut a.ws, Duration::from_millis(500))
        .await
        .unwrap_or(Value::Null);
    let heard = next_json_within(&mut b.ws, Duration::from_millis(300))
        .await
        .is_some();
    (reply, heard)
}

#[tokio::test]
async fn client_events_are_refused_unless_enabled() {
    let (reply, heard) = whisper(false, "private-a", true).await;
    assert_eq!(reply["event"], "pusher:error");
    assert!(!heard);
}

#[tokio::test]
async fn client_events_are_refused_on_public_channels() {
    let (reply, heard) = whisper(true, "public-a", true).await;
    assert_eq!(reply["event"], "pusher:error");
    assert!(!heard);
}

#[tokio::test]
async fn client_events_are_refused_from_unsubscribed_sockets() {
    let (reply, heard) = whisper(true, "private-a", false).await;
    assert_eq!(reply["event"], "pusher:error");
    assert!(!heard);
    let (reply, heard) = whisper(true, "private-a", true).await;
    assert!(reply.is_null(), "the sender hears nothing back: {reply}");
    assert!(heard);
}

#[tokio::test]
async fn a_bad_signin_closes_with_4009_and_a_good_one_succeeds() {
    let server = server().await;
    let mut c = connect(server.local_addr()).await;
    let user_data = r#"{"id":"9"}"#;
    let auth = signature::user_auth(&creds(), &c.socket_id, user_data);
    send(
        &mut c.ws,
        json!({ "event": "pusher:signin", "data": { "auth": auth, "user_data": user_data } }),
    )
    .await;
    assert_eq!(
        next_json(&mut c.ws).await.unwrap()["event"],
        "pusher:signin_success"
    );
    let mut bad = connect(server.local_addr()).await;
    send(
        &mut bad.ws,
        json!({ "event": "pusher:signin", "data": { "auth": auth, "user_data": user_data } }),
    )
    .await;
    assert_eq!(close_code(&mut bad.ws).await, Some(4009));
}
