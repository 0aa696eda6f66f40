//! Answering the browser's channel auth request (Laravel's
//! `Broadcast::channel('orders.{id}', fn ($user, $id) => ...)` and the
//! `POST /broadcasting/auth` route).

use std::collections::HashMap;

use serde::Serialize;

use crate::channel::{ChannelKind, valid_channel_name, valid_socket_id};
use crate::encryption::MasterKey;
use crate::signature::{self, Credentials};

/// A presence channel member: the id that makes it one member however many
/// sockets it has, and what others see about it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PresenceMember {
    /// The member's id: sockets with the same one count as one member.
    pub user_id: String,
    /// What other members see about it (`members.me.info` in pusher-js).
    pub user_info: serde_json::Value,
}

/// The JSON body the browser's auth request is answered with.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AuthResponse {
    /// `key:signature`, which the server checks on `pusher:subscribe`.
    pub auth: String,
    /// A presence channel's member, as the JSON string the signature covers.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub channel_data: Option<String>,
    /// A `private-encrypted-` channel's key (base64), which pusher-js
    /// decrypts the channel's events with.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub shared_secret: Option<String>,
}

/// Why an auth request is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AuthError {
    /// A missing or malformed `socket_id` / `channel_name` (400).
    #[error("bad auth request: {0}")]
    BadRequest(String),
    /// The channel has no `private-` / `presence-` prefix (400).
    #[error("channel `{0}` is public: it needs no auth")]
    Public(String),
    /// No `channel` / `presence` rule matches the channel's name (403).
    #[error("no channel rule matches `{0}`")]
    NoRule(String),
    /// The matching rule refused the current user (403).
    #[error("the current user may not join `{0}`")]
    Forbidden(String),
    /// A `private-encrypted-` channel, and the authorizer has no master key (403).
    #[error(
        "`{0}` is a private-encrypted channel and the authorizer has no master key: set \
         EVENTS_BROADCAST_ENCRYPTION_MASTER_KEY (ChannelAuthorizer::from_config reads it)"
    )]
    Encrypted(String),
}

impl AuthError {
    /// The HTTP status to answer with (400 for malformed requests, else 403).
    pub fn status(&self) -> u16 {
        match self {
            Self::BadRequest(_) | Self::Public(_) => 400,
            _ => 403,
        }
    }
}

/// The values a pattern's `{placeholders}` matched.
pub type Params = HashMap<String, String>;

type PrivateCheck<U> = Box<dyn Fn(&U, &Params) -> bool + Send + Sync>;
type PresenceCheck<U> = Box<dyn Fn(&U, &Params) -> Option<PresenceMember> + Send + Sync>;

enum Check<U> {
    Private(PrivateCheck<U>),
    Presence(PresenceCheck<U>),
}

struct Rule<U> {
    pattern: Vec<Segment>,
    check: Check<U>,
}

#[derive(Debug)]
enum Segment {
    Literal(String),
    Param(String),
}

/// Channel-authorisation rules for the current user `U`, and the signer that
/// turns an allowed request into the `auth` string the server checks.
///
/// ```
/// use event_broadcast::{ChannelAuthorizer, PresenceMember};
/// use event_broadcast::signature::Credentials;
///
/// struct User { id: u64, name: String }
///
/// let auth = ChannelAuthorizer::new(Credentials {
///     app_id: "1".into(), key: "app-key".into(), secret: "app-secret".into(),
/// })
/// .channel("orders.{id}", |user: &User, p| p["id"] == user.id.to_string())
/// .presence("chat.{room}", |user: &User, _| Some(PresenceMember {
///     user_id: user.id.to_string(),
///     user_info: serde_json::json!({ "name": user.name }),
/// }));
///
/// let ada = User { id: 7, name: "Ada".into() };
/// assert!(auth.authorize(&ada, "1.2", "private-orders.7").is_ok());
/// assert!(auth.authorize(&ada, "1.2", "private-orders.8").is_err());
/// ```
pub struct ChannelAuthorizer<U> {
    credentials: Credentials,
    rules: Vec<Rule<U>>,
    master_key: Option<MasterKey>,
}

impl<U> std::fmt::Debug for ChannelAuthorizer<U> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ChannelAuthorizer")
            .field("app_id", &self.credentials.app_id)
            .field("rules", &self.rules.len())
            .finish_non_exhaustive()
    }
}

impl<U> ChannelAuthorizer<U> {
    /// An authorizer with no rules yet: it refuses every channel until
    /// [`channel`](Self::channel) / [`presence`](Self::presence) add some.
    pub fn new(credentials: Credentials) -> Self {
        Self {
            credentials,
            rules: Vec::new(),
            master_key: None,
        }
    }

    /// An authorizer for the app `config` describes: its credentials
    /// (`EVENTS_BROADCAST_APP_ID` / `_KEY` / `_SECRET`, required) and, when
    /// set, `EVENTS_BROADCAST_ENCRYPTION_MASTER_KEY` for `private-encrypted-`
    /// channels.
    pub fn from_config(config: &crate::BroadcastConfig) -> Result<Self, crate::ConnectError> {
        let mut out = Self::new(config.credentials("authorizer")?);
        out.master_key.clone_from(&config.encryption_master_key);
        Ok(out)
    }

    /// The master key `private-encrypted-` channels' keys come from
    /// (without one they are refused with [`AuthError::Encrypted`]).
    pub fn encryption_master_key(mut self, key: MasterKey) -> Self {
        self.master_key = Some(key);
        self
    }

    /// A rule for `private-{pattern}` (and `private-encrypted-`) channels:
    /// `allow(user, params)` decides.
    pub fn channel(
        mut self,
        pattern: &str,
        allow: impl Fn(&U, &Params) -> bool + Send + Sync + 'static,
    ) -> Self {
        self.rules.push(Rule {
            pattern: parse_pattern(pattern),
            check: Check::Private(Box::new(allow)),
        });
        self
    }

    /// A rule for `presence-{pattern}` channels: `member(user, params)`
    /// returns the member the user joins as, or `None` to refuse.
    pub fn presence(
        mut self,
        pattern: &str,
        member: impl Fn(&U, &Params) -> Option<PresenceMember> + Send + Sync + 'static,
    ) -> Self {
        self.rules.push(Rule {
            pattern: parse_pattern(pattern),
            check: Check::Presence(Box::new(member)),
        });
        self
    }

    /// The credentials auth strings are signed with.
    pub fn credentials(&self) -> &Credentials {
        &self.credentials
    }

    /// Decides whether `user` may subscribe `socket_id` to `channel` and, if
    /// so, signs the subscription.
    pub fn authorize(
        &self,
        user: &U,
        socket_id: &str,
        channel: &str,
    ) -> Result<AuthResponse, AuthError> {
        if !valid_socket_id(socket_id) {
            return Err(AuthError::BadRequest(format!(
                "invalid socket_id `{socket_id}`"
            )));
        }
        if !valid_channel_name(channel) {
            return Err(AuthError::BadRequest(format!(
                "invalid channel_name `{channel}`"
            )));
        }
        let kind = ChannelKind::of(channel);
        let shared_secret = match kind {
            ChannelKind::Public => return Err(AuthError::Public(channel.to_string())),
            ChannelKind::PrivateEncrypted => match &self.master_key {
                Some(key) => Some(key.shared_secret(channel)),
                None => return Err(AuthError::Encrypted(channel.to_string())),
            },
            _ => None,
        };
        let name = ChannelKind::strip(channel);
        for rule in &self.rules {
            let Some(params) = match_pattern(&rule.pattern, name) else {
                continue;
            };
            match (&rule.check, kind) {
                (Check::Private(allow), ChannelKind::Private | ChannelKind::PrivateEncrypted) => {
                    if !allow(user, &params) {
                        return Err(AuthError::Forbidden(channel.to_string()));
                    }
                    return Ok(AuthResponse {
                        auth: signature::channel_auth(&self.credentials, socket_id, channel, None),
                        channel_data: None,
                        shared_secret,
                    });
                }
                (Check::Presence(member), ChannelKind::Presence) => {
                    let Some(member) = member(user, &params) else {
                        return Err(AuthError::Forbidden(channel.to_string()));
                    };
                    let data = serde_json::to_string(&member)
                        .map_err(|e| AuthError::BadRequest(e.to_string()))?;
                    return Ok(AuthResponse {
                        auth: signature::channel_auth(
                            &self.credentials,
                            socket_id,
                            channel,
                            Some(&data),
                        ),
                        channel_data: Some(data),
                        shared_secret: None,
                    });
                }
                _ => continue,
            }
        }
        Err(AuthError::NoRule(channel.to_string()))
    }

    /// [`authorize`](Self::authorize) for the form body pusher-js and Echo
    /// post (`socket_id=...&channel_name=...`).
    pub fn authorize_form(&self, user: &U, body: &[u8]) -> Result<AuthResponse, AuthError> {
        let mut socket_id = None;
        let mut channel = None;
        for (k, v) in form_urlencoded::parse(body) {
            match &*k {
                "socket_id" => socket_id = Some(v.into_owned()),
                "channel_name" => channel = Some(v.into_owned()),
                _ => {}
            }
        }
        let socket_id = socket_id.ok_or_else(|| AuthError::BadRequest("no socket_id".into()))?;
        let channel = channel.ok_or_else(|| AuthError::BadRequest("no channel_name".into()))?;
        self.authorize(user, &socket_id, &channel)
    }
}

fn parse_pattern(pattern: &str) -> Vec<Segment> {
    let mut out = Vec::new();
    let mut rest = pattern;
    while let Some(start) = rest.find('{') {
        let Some(len) = rest[start..].find('}') else {
            break;
        };
        if start > 0 {
            out.push(Segment::Literal(rest[..start].to_string()));
        }
        out.push(Segment::Param(rest[start + 1..start + len].to_string()));
        rest = &rest[start + len + 1..];
    }
    if !rest.is_empty() {
        out.push(Segment::Literal(rest.to_string()));
    }
    out
}

/// A placeholder matches one dot-free, non-empty part of the name.
fn match_pattern(pattern: &[Segment], name: &str) -> Option<Params> {
    let mut params = Params::new();
    let mut rest = name;
    for (i, segment) in pattern.iter().enumerate() {
        match segment {
            Segment::Literal(lit) => rest = rest.strip_prefix(lit.as_str())?,
            Segment::Param(param) => {
                let end = match pattern.get(i + 1) {
                    Some(Segment::Literal(next)) => rest.find(next.as_str())?,
                    _ => rest.len(),
                };
                let value = &rest[..end];
                if value.is_empty() || value.contains('.') {
                    return None;
                }
                params.insert(param.clone(), value.to_string());
                rest = &rest[end..];
            }
        }
    }
    rest.is_empty().then_some(params)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn patterns_match_whole_names() {
        let p = parse_pattern("orders.{id}");
        assert_eq!(match_pattern(&p, "orders.7").unwrap()["id"], "7");
        assert!(match_pattern(&p, "orders.7.x").is_none());
        assert!(match_pattern(&p, "orders.").is_none());
        assert!(match_pattern(&p, "xorders.7").is_none());
        let p = parse_pattern("team.{team}.chat.{room}");
        let m = match_pattern(&p, "team.a.chat.b").unwrap();
        assert_eq!((m["team"].as_str(), m["room"].as_str()), ("a", "b"));
    }

    #[test]
    fn encrypted_channels_get_their_key_only_with_a_master_key() {
        let credentials = Credentials {
            app_id: "1".into(),
            key: "k".into(),
            secret: "s".into(),
        };
        let rules = |a: ChannelAuthorizer<u64>| {
            a.channel("orders.{id}", |user: &u64, p| p["id"] == user.to_string())
        };
        let without = rules(ChannelAuthorizer::new(credentials.clone()));
        let err = without
            .authorize(&7, "1.2", "private-encrypted-orders.7")
            .unwrap_err();
        assert_eq!(err.status(), 403);
        assert!(
            err.to_string()
                .contains("EVENTS_BROADCAST_ENCRYPTION_MASTER_KEY"),
            "{err}"
        );

        let key = MasterKey::from_bytes([3; 32]);
        let with = rules(ChannelAuthorizer::new(credentials).encryption_master_key(key.clone()));
        let answer = with
            .authorize(&7, "1.2", "private-encrypted-orders.7")
            .unwrap();
        assert_eq!(
            answer.shared_secret.as_deref(),
            Some(key.shared_secret("private-encrypted-orders.7").as_str())
        );
        // The rule still decides, and plain private channels carry no key.
        assert!(
            with.authorize(&8, "1.2", "private-encrypted-orders.7")
                .is_err()
        );
        let private = with.authorize(&7, "1.2", "private-orders.7").unwrap();
        assert_eq!(private.shared_secret, None);
        assert!(
            !serde_json::to_string(&private)
                .unwrap()
                .contains("shared_secret")
        );
    }
}
