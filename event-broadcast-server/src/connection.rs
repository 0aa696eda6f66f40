//! One WebSocket connection: `ws://host:port/app/{key}`, the protocol's
//! handshake, subscriptions, pings, client events and sign-in.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use axum::extract::ws::{CloseFrame, Message, Utf8Bytes, WebSocket};
use event_broadcast::channel::{ChannelKind, valid_channel_name};
use event_broadcast::signature;
use futures::{SinkExt, StreamExt};
use serde_json::Value;
use tokio::sync::mpsc;

use crate::hub::{Hub, MAX_WATCHLIST, kind, parse_channel_data};
use crate::limits::ClientEventBudget;
use crate::protocol::{self, ClientMessage, close};
use crate::socket::{Closer, SocketHandle};

/// Frames written before one flush.
const BATCH: usize = 64;

/// How long a closing connection may take to accept its close frame.
const CLOSE_GRACE: Duration = Duration::from_secs(5);

/// How long a connection closed for a message over the limit stays open
/// after its close frame, so the peer reads it before the TCP connection goes.
const TOO_BIG_LINGER: Duration = Duration::from_secs(1);

/// Refuses a connection: an error frame, then the close code.
pub(crate) async fn refuse(mut ws: WebSocket, code: u16, message: &str) {
    tracing::info!(code, %message, "refusing connection");
    let _ = ws
        .send(Message::Text(protocol::error(Some(code), message).into()))
        .await;
    let _ = ws
        .send(Message::Close(Some(CloseFrame {
            code,
            reason: Utf8Bytes::from(message),
        })))
        .await;
}

/// Serves one accepted connection until it closes.
pub(crate) async fn serve(ws: WebSocket, hub: Arc<Hub>) {
    let socket_id = hub.new_socket_id();
    let (handle, rx, closer) = SocketHandle::new(hub.config.socket_queue);
    hub.add_socket(&socket_id, handle.clone());
    let (sink, mut stream) = ws.split();
    let writer = tokio::spawn(write_loop(sink, rx, closer.clone()));
    handle.send(protocol::connection_established(&socket_id, hub.config.activity_timeout).into());
    read_loop(&mut stream, &hub, &socket_id, &handle, &closer).await;
    hub.remove_socket(&socket_id);
    hub.connections.fetch_sub(1, Ordering::Relaxed);
    let _ = writer.await;
    if closer
        .reason()
        .is_some_and(|(code, _)| code == close::MESSAGE_TOO_BIG)
    {
        // The rest of the big message is still arriving, unread: closing the
        // TCP connection now would reset it, and the peer could lose the
        // close frame. It gets a moment to read it (the unread bytes wait in
        // the kernel's buffer, not here).
        tokio::time::sleep(TOO_BIG_LINGER).await;
    }
    drop(stream);
}

async fn write_loop(
    mut sink: futures::stream::SplitSink<WebSocket, Message>,
    mut rx: mpsc::Receiver<Message>,
    closer: Arc<Closer>,
) {
    loop {
        tokio::select! {
            biased;
            () = closer.closed() => break,
            frame = rx.recv() => match frame {
                Some(frame) => {
                    // Write what is queued in one go, then flush. A peer that
                    // stops reading blocks this; a close request (its queue
                    // filled up meanwhile) ends it.
                    let write = async {
                        sink.feed(frame).await?;
                        for _ in 0..BATCH {
                            match rx.try_recv() {
                                Ok(next) => sink.feed(next).await?,
                                Err(_) => break,
                            }
                        }
                        sink.flush().await
                    };
                    tokio::select! {
                        sent = write => if sent.is_err() { return },
                        () = closer.closed() => break,
                    }
                }
                None => break,
            },
        }
    }
    // The close frame gets a few seconds; a peer that reads nothing is then
    // dropped with the TCP connection.
    let _ = tokio::time::timeout(CLOSE_GRACE, async {
        if let Some((code, reason)) = closer.reason() {
            let _ = sink
                .send(Message::Close(Some(CloseFrame {
                    code,
                    reason: Utf8Bytes::from(reason),
                })))
                .await;
        }
        let _ = sink.close().await;
    })
    .await;
}

async fn read_loop(
    stream: &mut futures::stream::SplitStream<WebSocket>,
    hub: &Arc<Hub>,
    socket_id: &str,
    handle: &SocketHandle,
    closer: &Arc<Closer>,
) {
    let activity = Duration::from_secs(hub.config.activity_timeout);
    let mut pinged = false;
    let mut budget = ClientEventBudget::new(&hub.config.limits);
    loop {
        let wait = if pinged {
            hub.config.pong_timeout
        } else {
            activity
        };
        let next = tokio::select! {
            () = closer.closed() => return,
            next = tokio::time::timeout(wait, stream.next()) => next,
        };
        let message = match next {
            Err(_elapsed) if pinged => {
                tracing::info!(socket_id, "no pong in time; closing with 4201");
                handle.close(close::PONG_NOT_RECEIVED, "pong not received");
                return;
            }
            Err(_elapsed) => {
                pinged = true;
                handle.send(protocol::frame("pusher:ping", None, "{}").into());
                continue;
            }
            Ok(None) => return,
            Ok(Some(Err(error))) => {
                // Oversized or broken frames end up here: this socket only.
                // A frame over the limit is refused from its header (and a
                // fragmented message as soon as it passes the limit), so the
                // message is never buffered whole.
                if too_big(&error) {
                    tracing::info!(socket_id, %error, "closing a connection after a message over the size limit");
                    handle.close(close::MESSAGE_TOO_BIG, "message too big");
                } else {
                    tracing::info!(socket_id, %error, "closing a connection after a WebSocket error");
                    handle.close(close::MALFORMED, "invalid frame");
                }
                return;
            }
            Ok(Some(Ok(message))) => message,
        };
        pinged = false;
        match message {
            Message::Text(text) => on_text(hub, socket_id, handle, &mut budget, text.as_str()),
            Message::Binary(_) => {
                handle.close(close::UNSUPPORTED_DATA, "binary frames are not supported");
                return;
            }
            Message::Ping(_) | Message::Pong(_) => {}
            Message::Close(_) => return,
        }
    }
}

/// Whether a read error is a message over the size limit (tungstenite's
/// capacity error, under axum's).
fn too_big(error: &axum::Error) -> bool {
    let mut cause: Option<&(dyn std::error::Error + 'static)> = Some(error);
    while let Some(e) = cause {
        if e.is::<tungstenite::error::CapacityError>()
            || matches!(
                e.downcast_ref::<tungstenite::Error>(),
                Some(tungstenite::Error::Capacity(_))
            )
        {
            return true;
        }
        cause = e.source();
    }
    false
}

/// Handles one text frame. One that is not a protocol message is answered
/// with `pusher:error` (code 4200); the socket stays open.
fn on_text(
    hub: &Arc<Hub>,
    socket_id: &str,
    handle: &SocketHandle,
    budget: &mut ClientEventBudget,
    text: &str,
) {
    let message = match ClientMessage::parse(text) {
        Ok(message) => message,
        Err(reason) => {
            // The reason can quote the client's event name: shortened.
            let reason: String = reason.to_string().chars().take(200).collect();
            tracing::info!(socket_id, %reason, "answering a bad message with pusher:error");
            let message = format!("invalid message format: {reason}");
            handle.send(protocol::error(Some(protocol::INVALID_MESSAGE), &message).into());
            return;
        }
    };
    match message {
        ClientMessage::Ping => {
            handle.send(protocol::frame("pusher:pong", None, "{}").into());
        }
        ClientMessage::Pong | ClientMessage::Other { .. } => {}
        ClientMessage::Subscribe {
            channel,
            auth,
            channel_data,
        } => subscribe(hub, socket_id, handle, &channel, auth, channel_data),
        ClientMessage::Unsubscribe { channel } => hub.unsubscribe(socket_id, &channel),
        ClientMessage::Signin { auth, user_data } => {
            signin(hub, socket_id, handle, &auth, &user_data);
        }
        ClientMessage::ClientEvent {
            event,
            channel,
            data,
        } => {
            if budget.take() {
                client_event(hub, socket_id, handle, &event, &channel, &data);
            } else {
                tracing::info!(
                    socket_id,
                    channel,
                    event,
                    "client event over the rate limit"
                );
                let message = format!(
                    "client event rejected due to rate limit ({} per second)",
                    hub.config.limits.max_client_events_per_second.unwrap_or(0)
                );
                handle
                    .send(protocol::error(Some(protocol::CLIENT_EVENT_REJECTED), &message).into());
            }
        }
    }
}

fn subscribe(
    hub: &Arc<Hub>,
    socket_id: &str,
    handle: &SocketHandle,
    channel: &str,
    auth: Option<String>,
    channel_data: Option<String>,
) {
    let refuse = |status: u16, why: &str| {
        tracing::info!(socket_id, channel, why, "subscription refused");
        handle.send(protocol::subscription_error(channel, status, why).into());
    };
    if !valid_channel_name(channel) {
        return refuse(400, "invalid channel name");
    }
    if let Some(max) = hub.config.limits.max_channel_name_length
        && channel.len() > max
    {
        tracing::info!(
            socket_id,
            channel,
            max,
            "subscription refused: channel name too long"
        );
        let data = serde_json::json!({
            "type": "LimitReached",
            "error": format!("the channel name is longer than {max} characters"),
            "status": protocol::LIMIT_REACHED,
        });
        handle.send(
            protocol::frame(
                "pusher:subscription_error",
                Some(channel),
                &data.to_string(),
            )
            .into(),
        );
        return;
    }
    let kind = kind(channel);
    let member = if kind.needs_auth() {
        let Some(auth) = auth else {
            return refuse(401, "this channel needs an auth signature");
        };
        let data = match kind {
            ChannelKind::Presence => channel_data.as_deref(),
            _ => None,
        };
        if kind == ChannelKind::Presence && data.is_none() {
            return refuse(401, "a presence channel needs channel_data");
        }
        if !signature::verify_channel_auth(&hub.config.credentials, &auth, socket_id, channel, data)
        {
            return refuse(401, "invalid signature");
        }
        match data {
            Some(data) => match parse_channel_data(data) {
                Some(member) => Some(member),
                None => return refuse(400, "channel_data needs a user_id"),
            },
            None => None,
        }
    } else {
        None
    };
    if let Some(done) = hub.subscribe(socket_id, channel, member) {
        handle.send(
            protocol::frame(
                "pusher_internal:subscription_succeeded",
                Some(channel),
                &done.data,
            )
            .into(),
        );
        // After the success frame: a cache channel's last event (or
        // cache_miss), and the new subscriber's count.
        hub.replay_cache(channel, handle);
        hub.local_count_changed(channel);
    }
}

/// A user id as `user_data` may give it: a non-empty string or a number.
fn user_id_of(value: Option<&Value>) -> Option<String> {
    match value? {
        Value::String(s) if !s.is_empty() => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

/// `user_data`'s `watchlist`: user ids, at most [`MAX_WATCHLIST`]; `None`
/// when it is there and not that.
fn watchlist_of(user: &Value) -> Option<Vec<String>> {
    let Some(list) = user.get("watchlist") else {
        return Some(Vec::new());
    };
    let list = list.as_array()?;
    if list.len() > MAX_WATCHLIST {
        return None;
    }
    list.iter().map(|v| user_id_of(Some(v))).collect()
}

fn signin(hub: &Arc<Hub>, socket_id: &str, handle: &SocketHandle, auth: &str, user_data: &str) {
    let user = serde_json::from_str::<Value>(user_data).unwrap_or(Value::Null);
    let user_id = user_id_of(user.get("id"));
    let valid = signature::verify_user_auth(&hub.config.credentials, auth, socket_id, user_data);
    let Some(watchlist) = watchlist_of(&user) else {
        tracing::info!(socket_id, "sign-in refused: bad watchlist");
        let message =
            format!("invalid sign-in: `watchlist` must list at most {MAX_WATCHLIST} user ids");
        handle.send(protocol::error(Some(close::UNAUTHORIZED), &message).into());
        handle.close(close::UNAUTHORIZED, "invalid sign-in: bad watchlist");
        return;
    };
    match user_id {
        Some(user_id) if valid => {
            let data = serde_json::json!({ "user_data": user_data }).to_string();
            handle.send(protocol::frame("pusher:signin_success", None, &data).into());
            // After the success: the watched users online now.
            hub.sign_in(socket_id, user_id, watchlist);
        }
        _ => {
            tracing::info!(socket_id, "sign-in refused");
            handle.send(protocol::error(Some(close::UNAUTHORIZED), "invalid sign-in").into());
            handle.close(close::UNAUTHORIZED, "invalid sign-in");
        }
    }
}

fn client_event(
    hub: &Arc<Hub>,
    socket_id: &str,
    handle: &SocketHandle,
    event: &str,
    channel: &str,
    data: &Value,
) {
    let why = if !hub.config.client_events {
        Some("client events are not enabled (EVENTS_BROADCAST_CLIENT_EVENTS)")
    } else if !kind(channel).allows_client_events() {
        Some("client events are only allowed on private and presence channels")
    } else if !hub.is_subscribed(socket_id, channel) {
        Some("subscribe to the channel before sending client events")
    } else if event.len() > 200 {
        Some("event name too long")
    } else {
        None
    };
    // Over the app's payload limit: Pusher's code for a refused client event.
    let too_big = data.to_string().len() > hub.config.max_event_bytes;
    let (code, why) = match why {
        Some(why) => (None, why),
        None if too_big => (
            Some(protocol::CLIENT_EVENT_REJECTED),
            "client event data too large",
        ),
        None => return hub.client_event(socket_id, channel, event, data),
    };
    tracing::info!(socket_id, channel, event, why, "client event refused");
    let message = format!("client event rejected: {why}");
    handle.send(protocol::error(code, &message).into());
}
