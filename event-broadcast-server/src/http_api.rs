//! The HTTP API (`/apps/{id}/...`): publish events, query channels and
//! users, terminate a user's connections. Every request must be signed.

use std::collections::HashMap;
use std::sync::Arc;

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use event_broadcast::channel::{ChannelKind, valid_channel_name};
use event_broadcast::signature;
use serde::Deserialize;
use serde_json::{Value, json};

use crate::apps::Apps;
use crate::hub::Hub;
use crate::node_figures;

/// Requests signed longer ago (or ahead) than this are refused.
pub const MAX_CLOCK_SKEW_SECS: i64 = 600;
const MAX_CHANNELS: usize = 100;
const MAX_BATCH: usize = 10;

pub(crate) struct ApiError(StatusCode, String);

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        tracing::info!(status = %self.0, reason = %self.1, "HTTP API request refused");
        (self.0, Json(json!({ "error": self.1 }))).into_response()
    }
}

fn bad(message: impl Into<String>) -> ApiError {
    ApiError(StatusCode::BAD_REQUEST, message.into())
}

fn unauthorized(message: impl Into<String>) -> ApiError {
    ApiError(StatusCode::UNAUTHORIZED, message.into())
}

/// The app of `app_id`, or 404.
fn app(apps: &Apps, app_id: &str) -> Result<Arc<Hub>, ApiError> {
    apps.by_id(app_id)
        .cloned()
        .ok_or_else(|| ApiError(StatusCode::NOT_FOUND, format!("unknown app id `{app_id}`")))
}

/// Checks `auth_key`, `auth_timestamp`, `auth_version`, `body_md5` and
/// `auth_signature` (constant-time) and returns the query parameters.
fn authenticate(
    hub: &Hub,
    app_id: &str,
    method: &Method,
    uri: &Uri,
    body: &[u8],
) -> Result<HashMap<String, String>, ApiError> {
    if app_id != hub.config.credentials.app_id {
        return Err(ApiError(
            StatusCode::NOT_FOUND,
            format!("unknown app id `{app_id}`"),
        ));
    }
    let pairs: Vec<(String, String)> = form_urlencoded::parse(uri.query().unwrap_or("").as_bytes())
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect();
    let params: HashMap<String, String> = pairs.iter().cloned().collect();
    let get = |k: &str| params.get(k).map(String::as_str);
    let creds = &hub.config.credentials;
    match get("auth_key") {
        Some(key) if key == creds.key => {}
        Some(_) => return Err(unauthorized("unknown auth_key")),
        None => return Err(unauthorized("missing auth_key")),
    }
    if get("auth_version") != Some("1.0") {
        return Err(unauthorized("auth_version must be 1.0"));
    }
    let timestamp: i64 = get("auth_timestamp")
        .and_then(|t| t.parse().ok())
        .ok_or_else(|| unauthorized("missing or invalid auth_timestamp"))?;
    let skew = (chrono::Utc::now().timestamp() - timestamp).abs();
    if skew > MAX_CLOCK_SKEW_SECS {
        return Err(unauthorized(format!(
            "auth_timestamp is {skew} s away from the server's clock (at most {MAX_CLOCK_SKEW_SECS} s)"
        )));
    }
    if !body.is_empty() {
        match get("body_md5") {
            Some(md5) if md5.eq_ignore_ascii_case(&signature::body_md5(body)) => {}
            Some(_) => return Err(unauthorized("body_md5 does not match the body")),
            None => return Err(unauthorized("missing body_md5")),
        }
    }
    let given = get("auth_signature").ok_or_else(|| unauthorized("missing auth_signature"))?;
    let to_sign = signature::request_string_to_sign(method.as_str(), uri.path(), &pairs);
    if !signature::verify_hmac_hex(&creds.secret, &to_sign, given) {
        return Err(unauthorized("invalid auth_signature"));
    }
    Ok(params)
}

#[derive(Deserialize)]
struct Trigger {
    name: String,
    #[serde(default)]
    channels: Option<Vec<String>>,
    #[serde(default)]
    channel: Option<String>,
    data: Value,
    #[serde(default)]
    socket_id: Option<String>,
    /// Pusher's `info`: the attributes to answer per channel
    /// (`subscription_count`, `user_count`), comma-separated.
    #[serde(default)]
    info: Option<String>,
}

#[derive(Deserialize)]
struct Batch {
    batch: Vec<Trigger>,
}

/// Validates an event and returns `(channels, data string)`.
fn check_trigger(hub: &Hub, t: &Trigger) -> Result<(Vec<String>, String), ApiError> {
    let channels = match (&t.channels, &t.channel) {
        (Some(c), _) => c.clone(),
        (None, Some(c)) => vec![c.clone()],
        (None, None) => return Err(bad("an event needs `channels` or `channel`")),
    };
    if channels.is_empty() || channels.len() > MAX_CHANNELS {
        return Err(bad(format!("between 1 and {MAX_CHANNELS} channels")));
    }
    if let Some(c) = channels.iter().find(|c| !valid_channel_name(c)) {
        return Err(bad(format!("invalid channel name `{c}`")));
    }
    if t.name.is_empty() || t.name.len() > 200 {
        return Err(bad("event name must be 1 to 200 characters"));
    }
    let data = match &t.data {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    };
    if data.len() > hub.config.max_event_bytes {
        return Err(ApiError(
            StatusCode::PAYLOAD_TOO_LARGE,
            format!("event data over {} bytes", hub.config.max_event_bytes),
        ));
    }
    Ok((channels, data))
}

/// The attributes a trigger's `info` asks for: `(subscription_count,
/// user_count)`; an unknown one is refused by name.
fn trigger_info(t: &Trigger) -> Result<(bool, bool), ApiError> {
    let (mut subscriptions, mut users) = (false, false);
    for asked in t.info.iter().flat_map(|i| i.split(',')).map(str::trim) {
        match asked {
            "subscription_count" => subscriptions = true,
            "user_count" => users = true,
            "" => {}
            other => {
                return Err(bad(format!(
                    "unknown info attribute `{other}` (subscription_count, user_count)"
                )));
            }
        }
    }
    Ok((subscriptions, users))
}

/// One channel's attributes after a trigger, counted over the cluster:
/// `subscription_count` (connections subscribed as the event went out)
/// and, on a presence channel, `user_count`.
fn channel_info(hub: &Hub, channel: &str, (subscriptions, users): (bool, bool)) -> Value {
    let (subs, members) = hub.channel_counts(channel);
    let mut info = serde_json::Map::new();
    if subscriptions {
        info.insert("subscription_count".into(), json!(subs));
    }
    if users && ChannelKind::of(channel) == ChannelKind::Presence {
        info.insert("user_count".into(), json!(members));
    }
    Value::Object(info)
}

pub(crate) async fn events(
    State(apps): State<Arc<Apps>>,
    Path(app_id): Path<String>,
    method: Method,
    uri: Uri,
    body: Bytes,
) -> Result<Json<Value>, ApiError> {
    let hub = app(&apps, &app_id)?;
    authenticate(&hub, &app_id, &method, &uri, &body)?;
    let trigger: Trigger =
        serde_json::from_slice(&body).map_err(|e| bad(format!("invalid event JSON: {e}")))?;
    let (channels, data) = check_trigger(&hub, &trigger)?;
    let info = trigger_info(&trigger)?;
    hub.broadcast(
        &channels,
        &trigger.name,
        &data,
        trigger.socket_id.as_deref(),
    );
    if trigger.info.is_none() {
        return Ok(Json(json!({})));
    }
    let counted: serde_json::Map<String, Value> = channels
        .iter()
        .map(|c| (c.clone(), channel_info(&hub, c, info)))
        .collect();
    Ok(Json(json!({ "channels": counted })))
}

pub(crate) async fn batch_events(
    State(apps): State<Arc<Apps>>,
    Path(app_id): Path<String>,
    method: Method,
    uri: Uri,
    body: Bytes,
) -> Result<Json<Value>, ApiError> {
    let hub = app(&apps, &app_id)?;
    authenticate(&hub, &app_id, &method, &uri, &body)?;
    let batch: Batch =
        serde_json::from_slice(&body).map_err(|e| bad(format!("invalid batch JSON: {e}")))?;
    if batch.batch.len() > MAX_BATCH {
        return Err(bad(format!("at most {MAX_BATCH} events per batch")));
    }
    // Check all before sending any: a bad batch sends nothing.
    let checked: Vec<_> = batch
        .batch
        .iter()
        .map(|t| {
            let (channels, data) = check_trigger(&hub, t)?;
            let info = trigger_info(t)?;
            if t.info.is_some() && channels.len() > 1 {
                return Err(bad(
                    "`info` in a batch needs one channel per event (its answer is that channel's)",
                ));
            }
            Ok((channels, data, info))
        })
        .collect::<Result<_, _>>()?;
    let mut answers = Vec::with_capacity(checked.len());
    for (t, (channels, data, info)) in batch.batch.iter().zip(checked) {
        hub.broadcast(&channels, &t.name, &data, t.socket_id.as_deref());
        answers.push(match &t.info {
            Some(_) => channel_info(&hub, &channels[0], info),
            None => json!({}),
        });
    }
    Ok(Json(json!({ "batch": answers })))
}

fn wants(params: &HashMap<String, String>, what: &str) -> bool {
    params
        .get("info")
        .is_some_and(|i| i.split(',').any(|x| x.trim() == what))
}

pub(crate) async fn channels(
    State(apps): State<Arc<Apps>>,
    Path(app_id): Path<String>,
    method: Method,
    uri: Uri,
) -> Result<Json<Value>, ApiError> {
    let hub = app(&apps, &app_id)?;
    let params = authenticate(&hub, &app_id, &method, &uri, b"")?;
    let prefix = params.get("filter_by_prefix").cloned().unwrap_or_default();
    let user_count = wants(&params, "user_count");
    if user_count && !prefix.starts_with("presence-") {
        return Err(bad("info=user_count needs filter_by_prefix=presence-"));
    }
    let subscription_count = wants(&params, "subscription_count");
    let mut out = serde_json::Map::new();
    for (name, subs, users) in hub.channels() {
        if !name.starts_with(&prefix) {
            continue;
        }
        let mut info = serde_json::Map::new();
        if user_count {
            info.insert("user_count".into(), json!(users));
        }
        if subscription_count {
            info.insert("subscription_count".into(), json!(subs));
        }
        out.insert(name, Value::Object(info));
    }
    Ok(Json(json!({ "channels": out })))
}

pub(crate) async fn channel(
    State(apps): State<Arc<Apps>>,
    Path((app_id, name)): Path<(String, String)>,
    method: Method,
    uri: Uri,
) -> Result<Json<Value>, ApiError> {
    let hub = app(&apps, &app_id)?;
    let params = authenticate(&hub, &app_id, &method, &uri, b"")?;
    if !valid_channel_name(&name) {
        return Err(bad(format!("invalid channel name `{name}`")));
    }
    let presence = ChannelKind::of(&name) == ChannelKind::Presence;
    if wants(&params, "user_count") && !presence {
        return Err(bad("user_count is only available for presence channels"));
    }
    let (subs, users) = hub.channel_counts(&name);
    let mut out = json!({ "occupied": subs > 0 || users > 0 });
    if wants(&params, "subscription_count") {
        out["subscription_count"] = json!(subs);
    }
    if wants(&params, "user_count") {
        out["user_count"] = json!(users);
    }
    Ok(Json(out))
}

pub(crate) async fn users(
    State(apps): State<Arc<Apps>>,
    Path((app_id, name)): Path<(String, String)>,
    method: Method,
    uri: Uri,
) -> Result<Json<Value>, ApiError> {
    let hub = app(&apps, &app_id)?;
    authenticate(&hub, &app_id, &method, &uri, b"")?;
    if ChannelKind::of(&name) != ChannelKind::Presence {
        return Err(bad("users are only available for presence channels"));
    }
    let users: Vec<Value> = hub
        .users(&name)
        .into_iter()
        .map(|id| json!({ "id": id }))
        .collect();
    Ok(Json(json!({ "users": users })))
}

pub(crate) async fn terminate(
    State(apps): State<Arc<Apps>>,
    Path((app_id, user_id)): Path<(String, String)>,
    method: Method,
    uri: Uri,
    body: Bytes,
) -> Result<Json<Value>, ApiError> {
    let hub = app(&apps, &app_id)?;
    authenticate(&hub, &app_id, &method, &uri, &body)?;
    hub.terminate_user(&user_id);
    Ok(Json(json!({})))
}

/// `GET /apps/{id}/nodes`: every node of the cluster with its figures (this
/// one alone without a cluster); see [`node_figures`].
pub(crate) async fn nodes(
    State(apps): State<Arc<Apps>>,
    Path(app_id): Path<String>,
    method: Method,
    uri: Uri,
) -> Result<Json<Value>, ApiError> {
    let hub = app(&apps, &app_id)?;
    authenticate(&hub, &app_id, &method, &uri, b"")?;
    let nodes = match hub.cluster() {
        None => vec![node_figures::mine(&hub)],
        Some(link) => {
            let unavailable = |e: redis::RedisError| {
                ApiError(
                    StatusCode::SERVICE_UNAVAILABLE,
                    format!("the cluster's Redis cannot be read: {e}"),
                )
            };
            let mut conn = link.reader().await.map_err(unavailable)?;
            node_figures::cluster(&hub, &mut conn)
                .await
                .map_err(unavailable)?
        }
    };
    Ok(Json(json!({ "nodes": nodes })))
}
