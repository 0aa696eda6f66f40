//! Presence channels: members across the cluster (a user may join with
//! several sockets on several nodes), the frames that announce them, and
//! the `channel_data` a subscription carries.

use std::collections::HashSet;

use axum::extract::ws::Utf8Bytes;
use serde_json::{Value, json};

use super::Channel;
use crate::protocol;

/// A presence member: its info and every socket (on any node) it joined with.
#[derive(Debug, Clone)]
pub(super) struct Member {
    pub(super) info: Value,
    pub(super) sockets: HashSet<(String, String)>,
}

/// Adds a member socket; true when the user is new to the channel.
pub(super) fn join_member(
    ch: &mut Channel,
    node: &str,
    socket_id: &str,
    user_id: &str,
    info: &Value,
) -> bool {
    let key = (node.to_string(), socket_id.to_string());
    match ch.members.get_mut(user_id) {
        Some(member) => {
            member.sockets.insert(key);
            false
        }
        None => {
            ch.members.insert(
                user_id.to_string(),
                Member {
                    info: info.clone(),
                    sockets: HashSet::from([key]),
                },
            );
            true
        }
    }
}

/// Removes a member socket; true when it was the user's last one.
pub(super) fn leave_member(ch: &mut Channel, node: &str, socket_id: &str, user_id: &str) -> bool {
    let Some(member) = ch.members.get_mut(user_id) else {
        return false;
    };
    member
        .sockets
        .remove(&(node.to_string(), socket_id.to_string()));
    if member.sockets.is_empty() {
        ch.members.remove(user_id);
        true
    } else {
        false
    }
}

pub(super) fn presence_data(ch: &Channel) -> String {
    let mut ids: Vec<&String> = ch.members.keys().collect();
    ids.sort();
    let hash: serde_json::Map<String, Value> = ch
        .members
        .iter()
        .map(|(id, m)| (id.clone(), m.info.clone()))
        .collect();
    json!({ "presence": { "ids": ids, "hash": hash, "count": ch.members.len() } }).to_string()
}

pub(super) fn member_added(channel: &str, user_id: &str, info: &Value) -> Utf8Bytes {
    let data = json!({ "user_id": user_id, "user_info": info }).to_string();
    Utf8Bytes::from(protocol::frame(
        "pusher_internal:member_added",
        Some(channel),
        &data,
    ))
}

pub(super) fn member_removed(channel: &str, user_id: &str) -> Utf8Bytes {
    let data = json!({ "user_id": user_id }).to_string();
    Utf8Bytes::from(protocol::frame(
        "pusher_internal:member_removed",
        Some(channel),
        &data,
    ))
}

/// Presence `channel_data`: `{"user_id": "..." | n, "user_info": {...}}`.
pub(crate) fn parse_channel_data(data: &str) -> Option<(String, Value)> {
    let value: Value = serde_json::from_str(data).ok()?;
    let user_id = match value.get("user_id")? {
        Value::String(s) if !s.is_empty() => s.clone(),
        Value::Number(n) => n.to_string(),
        _ => return None,
    };
    let info = value.get("user_info").cloned().unwrap_or(Value::Null);
    Some((user_id, info))
}
