//! The Pusher protocol's signatures: channel auth strings, user sign-in, and
//! signed HTTP API requests. One implementation, used by the app side (the
//! `pusher` broadcaster, [`ChannelAuthorizer`](super::ChannelAuthorizer)) and
//! by `event-broadcast-server`. Checks compare in constant time
//! (`Mac::verify_slice`).

use hmac::{Hmac, Mac};
use md5::{Digest, Md5};
use sha2::Sha256;

type HmacSha256 = Hmac<Sha256>;

/// The app's credentials: `EVENTS_BROADCAST_APP_ID` / `_KEY` / `_SECRET`.
#[derive(Clone, PartialEq, Eq)]
pub struct Credentials {
    /// `EVENTS_BROADCAST_APP_ID`: names the app in HTTP API paths.
    pub app_id: String,
    /// `EVENTS_BROADCAST_APP_KEY`: public; clients connect with it.
    pub key: String,
    /// `EVENTS_BROADCAST_APP_SECRET`: signs auths and API requests; never sent.
    pub secret: String,
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Credentials")
            .field("app_id", &self.app_id)
            .field("key", &self.key)
            .field("secret", &"<redacted>")
            .finish()
    }
}

/// `hex(HMAC-SHA256(secret, message))`.
pub fn hmac_hex(secret: &str, message: &str) -> String {
    hex::encode(mac(secret, message).finalize().into_bytes())
}

fn mac(secret: &str, message: &str) -> HmacSha256 {
    // HMAC takes a key of any length, so this cannot fail.
    let mut mac = <HmacSha256 as Mac>::new_from_slice(secret.as_bytes())
        .unwrap_or_else(|_| unreachable!("HMAC accepts keys of every length"));
    mac.update(message.as_bytes());
    mac
}

/// True when `signature_hex` is `hex(HMAC-SHA256(secret, message))`, compared
/// in constant time. Malformed hex is simply wrong.
pub fn verify_hmac_hex(secret: &str, message: &str, signature_hex: &str) -> bool {
    match hex::decode(signature_hex) {
        Ok(bytes) => mac(secret, message).verify_slice(&bytes).is_ok(),
        Err(_) => false,
    }
}

/// What a channel auth signs: `socket_id:channel[:channel_data]`.
pub fn channel_string_to_sign(
    socket_id: &str,
    channel: &str,
    channel_data: Option<&str>,
) -> String {
    match channel_data {
        Some(data) => format!("{socket_id}:{channel}:{data}"),
        None => format!("{socket_id}:{channel}"),
    }
}

/// The `auth` a browser sends to subscribe: `key:hex(HMAC-SHA256(secret,
/// socket_id:channel[:channel_data]))`.
pub fn channel_auth(
    credentials: &Credentials,
    socket_id: &str,
    channel: &str,
    channel_data: Option<&str>,
) -> String {
    let signature = hmac_hex(
        &credentials.secret,
        &channel_string_to_sign(socket_id, channel, channel_data),
    );
    format!("{}:{signature}", credentials.key)
}

/// Checks a subscription's `auth`: the key part must be ours and the
/// signature must cover this socket, this channel and this channel data.
pub fn verify_channel_auth(
    credentials: &Credentials,
    auth: &str,
    socket_id: &str,
    channel: &str,
    channel_data: Option<&str>,
) -> bool {
    let Some((key, signature)) = auth.split_once(':') else {
        return false;
    };
    // The key is public; comparing it in constant time still costs nothing.
    let key_ok = constant_time_eq(key.as_bytes(), credentials.key.as_bytes());
    let signature_ok = verify_hmac_hex(
        &credentials.secret,
        &channel_string_to_sign(socket_id, channel, channel_data),
        signature,
    );
    key_ok & signature_ok
}

/// The `auth` of `pusher:signin`: signs `socket_id::user::user_data`.
pub fn user_auth(credentials: &Credentials, socket_id: &str, user_data: &str) -> String {
    let signature = hmac_hex(
        &credentials.secret,
        &format!("{socket_id}::user::{user_data}"),
    );
    format!("{}:{signature}", credentials.key)
}

/// Checks a `pusher:signin` auth.
pub fn verify_user_auth(
    credentials: &Credentials,
    auth: &str,
    socket_id: &str,
    user_data: &str,
) -> bool {
    let Some((key, signature)) = auth.split_once(':') else {
        return false;
    };
    let key_ok = constant_time_eq(key.as_bytes(), credentials.key.as_bytes());
    let signature_ok = verify_hmac_hex(
        &credentials.secret,
        &format!("{socket_id}::user::{user_data}"),
        signature,
    );
    key_ok & signature_ok
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// `hex(md5(body))`, the HTTP API's `body_md5`.
pub fn body_md5(body: &[u8]) -> String {
    hex::encode(Md5::digest(body))
}

/// What an HTTP API request signs: `METHOD\npath\nk=v&...` with the query
/// parameters (without `auth_signature`) sorted by lower-cased key, values
/// as sent (not URL-encoded).
pub fn request_string_to_sign(method: &str, path: &str, params: &[(String, String)]) -> String {
    let mut params: Vec<(String, &str)> = params
        .iter()
        .filter(|(k, _)| k != "auth_signature")
        .map(|(k, v)| (k.to_ascii_lowercase(), v.as_str()))
        .collect();
    params.sort();
    let query: Vec<String> = params.iter().map(|(k, v)| format!("{k}={v}")).collect();
    format!(
        "{}\n{}\n{}",
        method.to_ascii_uppercase(),
        path,
        query.join("&")
    )
}

/// The query parameters of a signed HTTP API request: `extra` plus
/// `auth_key`, `auth_timestamp`, `auth_version`, `body_md5` (when there is a
/// body) and `auth_signature`.
pub fn sign_request(
    credentials: &Credentials,
    method: &str,
    path: &str,
    extra: &[(String, String)],
    body: Option<&[u8]>,
    timestamp: i64,
) -> Vec<(String, String)> {
    let mut params: Vec<(String, String)> = extra.to_vec();
    params.push(("auth_key".into(), credentials.key.clone()));
    params.push(("auth_timestamp".into(), timestamp.to_string()));
    params.push(("auth_version".into(), "1.0".into()));
    if let Some(body) = body {
        params.push(("body_md5".into(), body_md5(body)));
    }
    let signature = hmac_hex(
        &credentials.secret,
        &request_string_to_sign(method, path, &params),
    );
    params.push(("auth_signature".into(), signature));
    params
}

#[cfg(test)]
mod tests {
    use super::*;

    fn creds() -> Credentials {
        // The example from Pusher's channel authentication documentation.
        Credentials {
            app_id: "1".into(),
            key: "278d425bdf160c739803".into(),
            secret: "7ad3773142a6692b25b8".into(),
        }
    }

    #[test]
    fn channel_auth_matches_pushers_documented_example() {
        let auth = channel_auth(&creds(), "1234.1234", "private-foobar", None);
        assert_eq!(
            auth,
            "278d425bdf160c739803:58df8b0c36d6982b82c3ecf6b4662e34fe8c25bba48f5369f135bf843651c3a4"
        );
        assert!(verify_channel_auth(
            &creds(),
            &auth,
            "1234.1234",
            "private-foobar",
            None
        ));
        assert!(!verify_channel_auth(
            &creds(),
            &auth,
            "1234.1235",
            "private-foobar",
            None
        ));
        assert!(!verify_channel_auth(
            &creds(),
            &auth,
            "1234.1234",
            "private-other",
            None
        ));
        let other_key = auth.replacen("278d", "378d", 1);
        assert!(!verify_channel_auth(
            &creds(),
            &other_key,
            "1234.1234",
            "private-foobar",
            None
        ));
        assert!(!verify_channel_auth(
            &creds(),
            "garbage",
            "1234.1234",
            "private-foobar",
            None
        ));
    }

    #[test]
    fn request_signature_sorts_and_lowercases_parameters() {
        let params = vec![
            ("b".to_string(), "2".to_string()),
            ("A".to_string(), "1".to_string()),
            ("auth_signature".to_string(), "x".to_string()),
        ];
        assert_eq!(
            request_string_to_sign("post", "/apps/1/events", &params),
            "POST\n/apps/1/events\na=1&b=2"
        );
    }
}
