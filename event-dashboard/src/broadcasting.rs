//! The Broadcasting part: what the app's Pusher-protocol server says about
//! itself, read over its signed HTTP API when the dashboard has the app's
//! broadcasting settings (`DashboardState::push`): the nodes with their
//! health (`GET /apps/{id}/nodes`, event-broadcast-server's), the occupied
//! channels with their subscription counts, the members of each presence
//! channel across nodes.

use event_core::broadcasting::{BroadcastConfig, PusherBroadcaster};
use serde_json::{Value, json};

use crate::error::{DashboardError, with_causes};

/// At most this many channels are looked up one by one on a read; the
/// answer says when there were more.
pub(crate) const MAX_CHANNELS: usize = 100;

/// At most this many members are listed per presence channel.
pub(crate) const MAX_MEMBERS: usize = 100;

/// What an unconfigured dashboard says about broadcasting.
pub(crate) const HOW_TO_CONFIGURE: &str = "No broadcast server is configured: start the dashboard with EVENTS_BROADCAST_CONNECTION=pusher (or redis) and EVENTS_BROADCAST_HOST, _PORT, _APP_ID, _APP_KEY, _APP_SECRET naming your event-broadcast-server (`artisan dashboard` reads them; mounted: `DashboardState::push(&config.broadcast)`).";

/// Reads the server the dashboard pushes through. Cheap to clone (the
/// HTTP client is shared).
#[derive(Clone)]
pub(crate) struct ServerReader {
    client: PusherBroadcaster,
    app_id: String,
}

impl std::fmt::Debug for ServerReader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServerReader")
            .field("server", &self.client.base())
            .field("app_id", &self.app_id)
            .finish()
    }
}

/// Why the server could not be read: its error with its causes.
pub(crate) type ReadError = Box<dyn std::error::Error + Send + Sync>;

impl ServerReader {
    /// For the server of `config` (its HTTP API is on the host and port
    /// pages connect to, whichever connection the app publishes with).
    pub(crate) fn new(config: &BroadcastConfig) -> Result<Self, DashboardError> {
        let credentials = config
            .credentials("dashboard")
            .map_err(DashboardError::Push)?;
        let app_id = credentials.app_id.clone();
        let client = PusherBroadcaster::new(credentials, config).map_err(DashboardError::Push)?;
        Ok(Self { client, app_id })
    }

    async fn get(&self, path: &str, extra: &[(&str, &str)]) -> Result<Value, ReadError> {
        let extra: Vec<(String, String)> = extra
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        let path = format!("/apps/{}{path}", self.app_id);
        Ok(self.client.get_json(&path, &extra).await?)
    }

    /// `GET api/broadcasting`'s answer (docs/dashboard.md): the nodes (or
    /// why they could not be read: a server without the nodes endpoint),
    /// their totals, and the channels.
    pub(crate) async fn overview(&self) -> Result<Value, ReadError> {
        let listed = self.get("/channels", &[]).await?;
        let mut names: Vec<String> = listed["channels"]
            .as_object()
            .map(|m| m.keys().cloned().collect())
            .unwrap_or_default();
        names.sort();
        let truncated = names.len() > MAX_CHANNELS;
        names.truncate(MAX_CHANNELS);
        let mut reads = tokio::task::JoinSet::new();
        for (i, name) in names.into_iter().enumerate() {
            let reader = self.clone();
            reads.spawn(async move { (i, reader.channel(name).await) });
        }
        let mut channels = Vec::new();
        while let Some(done) = reads.join_next().await {
            let (i, channel) = done.map_err(|e| Box::new(e) as ReadError)?;
            channels.push((i, channel?));
        }
        channels.sort_by_key(|(i, _)| *i);
        let channels: Vec<Value> = channels.into_iter().map(|(_, c)| c).collect();

        let (nodes, nodes_error) = match self.get("/nodes", &[]).await {
            Ok(answer) => (answer["nodes"].clone(), Value::Null),
            Err(e) => (Value::Null, json!(with_causes(&*e))),
        };
        let alive: Vec<&Value> = nodes
            .as_array()
            .map(|n| n.iter().filter(|n| n["alive"] == true).collect())
            .unwrap_or_default();
        Ok(json!({
            "configured": true,
            "server": self.client.base(),
            "app_id": self.app_id,
            "nodes": nodes,
            "nodes_error": nodes_error,
            "connections": alive.iter().filter_map(|n| n["connections"].as_u64()).sum::<u64>(),
            "messages_per_second": alive.iter().filter_map(|n| n["messages_per_second"].as_f64()).sum::<f64>(),
            "channels": channels,
            "channels_truncated": truncated,
        }))
    }

    /// One channel: its subscription count and, for a presence channel,
    /// its member count and members (every node's, as the server counts them).
    async fn channel(&self, name: String) -> Result<Value, ReadError> {
        let encoded = encode(&name);
        let presence = name.starts_with("presence-");
        let info = if presence {
            "subscription_count,user_count"
        } else {
            "subscription_count"
        };
        let one = self
            .get(&format!("/channels/{encoded}"), &[("info", info)])
            .await?;
        let mut out = json!({
            "name": name,
            "presence": presence,
            "subscription_count": one["subscription_count"],
        });
        if presence {
            let users = self.get(&format!("/channels/{encoded}/users"), &[]).await?;
            let mut members: Vec<Value> = users["users"]
                .as_array()
                .map(|u| u.iter().map(|u| u["id"].clone()).collect())
                .unwrap_or_default();
            out["user_count"] = one["user_count"].clone();
            out["members_truncated"] = json!(members.len() > MAX_MEMBERS);
            members.truncate(MAX_MEMBERS);
            out["members"] = json!(members);
        }
        Ok(out)
    }
}

/// A channel name as a path segment: channel names are `[A-Za-z0-9_\-=@,.;]`,
/// of which `;` and `@` and `,` and `=` are escaped to be safe in a path.
fn encode(name: &str) -> String {
    name.chars()
        .map(|c| match c {
            'A'..='Z' | 'a'..='z' | '0'..='9' | '-' | '_' | '.' => c.to_string(),
            other => {
                let mut buf = [0u8; 4];
                other
                    .encode_utf8(&mut buf)
                    .bytes()
                    .map(|b| format!("%{b:02X}"))
                    .collect()
            }
        })
        .collect()
}
