//! The Pusher protocol v7 frames: what a client may send (parsed once, with
//! a clear refusal for anything else) and what the server sends back.

use serde::Deserialize;
use serde_json::Value;

/// Close codes, chosen for how pusher-js reacts to them.
pub mod close {
    /// Unknown app key: pusher-js does not reconnect.
    pub const UNKNOWN_APP: u16 = 4001;
    /// The app is over its connection quota (`Limits::max_connections`):
    /// pusher-js does not reconnect (4000-4099).
    pub const OVER_QUOTA: u16 = 4004;
    /// Unsupported protocol version.
    pub const UNSUPPORTED_PROTOCOL: u16 = 4007;
    /// Unauthorised (a bad `pusher:signin`).
    pub const UNAUTHORIZED: u16 = 4009;
    /// Over capacity, a slow consumer, or a server going away: pusher-js
    /// backs off before reconnecting.
    pub const OVER_CAPACITY: u16 = 4100;
    /// Generic reconnect-now (terminate_connections).
    pub const RECONNECT: u16 = 4200;
    /// The client did not answer our ping.
    pub const PONG_NOT_RECEIVED: u16 = 4201;
    /// Closed after inactivity.
    pub const INACTIVE: u16 = 4202;
    /// A frame WebSocket cannot read (WebSocket's "invalid payload").
    pub const MALFORMED: u16 = 1007;
    /// A message over the size limit (`EVENTS_BROADCAST_MAX_MESSAGE_BYTES`),
    /// WebSocket's "message too big": closed from the frame's header, before
    /// the message is read whole.
    pub const MESSAGE_TOO_BIG: u16 = 1009;
    /// Binary frames are not part of the protocol.
    pub const UNSUPPORTED_DATA: u16 = 1003;
}

/// The `pusher:error` code of a text frame that is not a protocol message
/// (not JSON, not an object, a missing field, an unknown event): the socket
/// stays open, as Laravel Reverb answers one ("Invalid message format").
pub const INVALID_MESSAGE: u16 = 4200;

/// The `pusher:error` code of a refused client event (over the app's rate
/// or payload limit): Pusher's "client event rejected due to rate limit".
pub const CLIENT_EVENT_REJECTED: u16 = 4301;

/// The `pusher:subscription_error` status of a channel name over the app's
/// limit (`{"type":"LimitReached"}`, as soketi answers).
pub const LIMIT_REACHED: u16 = 4009;

/// A message from a client.
#[derive(Debug, Clone, PartialEq)]
pub enum ClientMessage {
    /// `pusher:ping`: answered with `pusher:pong`.
    Ping,
    /// `pusher:pong`: the answer to our ping.
    Pong,
    /// `pusher:subscribe`.
    Subscribe {
        /// The full channel name.
        channel: String,
        /// `key:signature` from the app's auth route; required for private
        /// and presence channels.
        auth: Option<String>,
        /// A presence channel's member JSON, as the auth signed it.
        channel_data: Option<String>,
    },
    /// `pusher:unsubscribe`.
    Unsubscribe {
        /// The full channel name.
        channel: String,
    },
    /// `pusher:signin`: user authentication.
    Signin {
        /// `key:signature` over the socket id and `user_data`.
        auth: String,
        /// The user's JSON (with its `id`), as the auth signed it.
        user_data: String,
    },
    /// A `client-*` event.
    ClientEvent {
        /// The event name, `client-` included.
        event: String,
        /// The channel to send it on (private or presence, and only with
        /// `EVENTS_BROADCAST_CLIENT_EVENTS`).
        channel: String,
        /// The payload, passed on as is.
        data: Value,
    },
    /// Another `pusher:*` event (ignored, as Pusher does).
    Other {
        /// The full event name.
        event: String,
    },
}

/// Why a frame is not a protocol message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ParseError {
    /// Not JSON, or not an object with an `event` (serde's message).
    #[error("not a JSON object: {0}")]
    Json(String),
    /// A known event without a field it needs.
    #[error("`{event}` needs {what}")]
    Missing {
        /// The event name.
        event: String,
        /// The missing field, e.g. `data.channel`.
        what: &'static str,
    },
    /// An event that is neither `pusher:*` nor `client-*`.
    #[error("unknown event `{0}`: expected pusher:* or client-*")]
    Unknown(String),
}

#[derive(Deserialize)]
struct Frame {
    event: String,
    #[serde(default)]
    channel: Option<String>,
    #[serde(default)]
    data: Value,
}

/// `data` as pusher-js sends it: an object, or a JSON string of one.
fn data_object(data: Value) -> Value {
    match data {
        Value::String(s) => serde_json::from_str(&s).unwrap_or(Value::String(s)),
        other => other,
    }
}

fn string_field(data: &Value, key: &str) -> Option<String> {
    data.get(key).and_then(Value::as_str).map(str::to_string)
}

impl ClientMessage {
    /// Reads one text frame; `data` may be an object or a JSON string of one.
    /// The server answers an error with `pusher:error`
    /// [`INVALID_MESSAGE`] and keeps the socket open.
    pub fn parse(text: &str) -> Result<Self, ParseError> {
        let frame: Frame =
            serde_json::from_str(text).map_err(|e| ParseError::Json(e.to_string()))?;
        let missing = |what| ParseError::Missing {
            event: frame.event.clone(),
            what,
        };
        if frame.event.starts_with("client-") {
            let channel = frame.channel.clone().ok_or_else(|| missing("a channel"))?;
            return Ok(Self::ClientEvent {
                event: frame.event,
                channel,
                data: frame.data,
            });
        }
        let Some(name) = frame.event.strip_prefix("pusher:") else {
            return Err(ParseError::Unknown(frame.event));
        };
        let data = data_object(frame.data.clone());
        Ok(match name {
            "ping" => Self::Ping,
            "pong" => Self::Pong,
            "subscribe" => Self::Subscribe {
                channel: string_field(&data, "channel").ok_or_else(|| missing("data.channel"))?,
                auth: string_field(&data, "auth"),
                channel_data: string_field(&data, "channel_data"),
            },
            "unsubscribe" => Self::Unsubscribe {
                channel: string_field(&data, "channel").ok_or_else(|| missing("data.channel"))?,
            },
            "signin" => Self::Signin {
                auth: string_field(&data, "auth").ok_or_else(|| missing("data.auth"))?,
                user_data: string_field(&data, "user_data")
                    .ok_or_else(|| missing("data.user_data"))?,
            },
            _ => Self::Other { event: frame.event },
        })
    }
}

/// A server frame whose `data` is a JSON string (all `pusher:*` and
/// `pusher_internal:*` events, and broadcasts).
pub fn frame(event: &str, channel: Option<&str>, data: &str) -> String {
    let mut out = serde_json::json!({ "event": event, "data": data });
    if let Some(channel) = channel {
        out["channel"] = Value::String(channel.to_string());
    }
    out.to_string()
}

/// `pusher:connection_established`.
pub fn connection_established(socket_id: &str, activity_timeout: u64) -> String {
    let data = serde_json::json!({ "socket_id": socket_id, "activity_timeout": activity_timeout });
    frame("pusher:connection_established", None, &data.to_string())
}

/// `pusher:error` with a code (or `null`) and a message.
pub fn error(code: Option<u16>, message: &str) -> String {
    let data = serde_json::json!({ "code": code, "message": message });
    frame("pusher:error", None, &data.to_string())
}

/// `pusher:subscription_error` on `channel` (what Echo's `.error()` hears).
pub fn subscription_error(channel: &str, status: u16, message: &str) -> String {
    let data = serde_json::json!({ "type": "AuthError", "error": message, "status": status });
    frame(
        "pusher:subscription_error",
        Some(channel),
        &data.to_string(),
    )
}

/// An event on a channel; `user_id` on client events of presence channels.
pub fn channel_event(event: &str, channel: &str, data: &str, user_id: Option<&str>) -> String {
    let mut out = serde_json::json!({ "event": event, "channel": channel, "data": data });
    if let Some(user_id) = user_id {
        out["user_id"] = Value::String(user_id.to_string());
    }
    out.to_string()
}

/// A client event forwarded as sent (its `data` is the client's JSON).
pub fn client_event(event: &str, channel: &str, data: &Value, user_id: Option<&str>) -> String {
    let mut out = serde_json::json!({ "event": event, "channel": channel, "data": data });
    if let Some(user_id) = user_id {
        out["user_id"] = Value::String(user_id.to_string());
    }
    out.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_what_pusher_js_sends() {
        assert_eq!(
            ClientMessage::parse(r#"{"event":"pusher:ping","data":{}}"#),
            Ok(ClientMessage::Ping)
        );
        assert_eq!(
            ClientMessage::parse(
                r#"{"event":"pusher:subscribe","data":{"auth":"k:s","channel":"private-a"}}"#
            ),
            Ok(ClientMessage::Subscribe {
                channel: "private-a".into(),
                auth: Some("k:s".into()),
                channel_data: None
            })
        );
        assert!(matches!(
            ClientMessage::parse(r#"{"event":"pusher:subscribe","data":{}}"#),
            Err(ParseError::Missing { .. })
        ));
        assert!(matches!(
            ClientMessage::parse("nope"),
            Err(ParseError::Json(_))
        ));
        assert!(matches!(
            ClientMessage::parse(r#"{"event":"hello"}"#),
            Err(ParseError::Unknown(_))
        ));
    }

    #[test]
    fn connection_established_data_is_a_json_string() {
        let f: Value = serde_json::from_str(&connection_established("1.2", 30)).unwrap();
        assert_eq!(f["event"], "pusher:connection_established");
        let data: Value = serde_json::from_str(f["data"].as_str().unwrap()).unwrap();
        assert_eq!(data["socket_id"], "1.2");
        assert_eq!(data["activity_timeout"], 30);
    }
}
