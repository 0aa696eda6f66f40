//! `private-encrypted-` channels, Pusher's end-to-end encryption: the app
//! holds a 32-byte master key (`EVENTS_BROADCAST_ENCRYPTION_MASTER_KEY`,
//! base64); a channel's key is SHA-256 of the channel name followed by the
//! master key; the authorizer hands it to the subscribing client as
//! `shared_secret`, the broadcasters encrypt each event's data with it
//! (NaCl secretbox: XSalsa20-Poly1305, a random 24-byte nonce), and the
//! server relays `{"nonce", "ciphertext"}` without ever seeing the data.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use crypto_secretbox::XSalsa20Poly1305;
use crypto_secretbox::aead::{Aead, AeadCore, KeyInit, OsRng};
use event_kernel::config::{ConfigError, invalid};
use sha2::{Digest, Sha256};

use crate::channel::ChannelKind;

/// The variable the master key is read from.
pub const MASTER_KEY_VAR: &str = "EVENTS_BROADCAST_ENCRYPTION_MASTER_KEY";

/// The app's encryption master key: 32 bytes, never printed.
#[derive(Clone, PartialEq, Eq)]
pub struct MasterKey([u8; 32]);

impl std::fmt::Debug for MasterKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("MasterKey(***)")
    }
}

impl MasterKey {
    /// The key from its base64 (standard alphabet, padded), as Pusher's
    /// SDKs take it (`encryptionMasterKeyBase64`); anything but 32 bytes
    /// is an error naming `EVENTS_BROADCAST_ENCRYPTION_MASTER_KEY`.
    pub fn from_base64(value: &str) -> Result<Self, ConfigError> {
        let shown = "(hidden)";
        let bytes = STANDARD.decode(value.trim()).map_err(|_| {
            invalid(
                MASTER_KEY_VAR,
                shown,
                "is not base64 (make one with `openssl rand -base64 32`)",
            )
        })?;
        let key: [u8; 32] = bytes.try_into().map_err(|_| {
            invalid(
                MASTER_KEY_VAR,
                shown,
                "must be 32 bytes, base64-encoded (`openssl rand -base64 32`)",
            )
        })?;
        Ok(Self(key))
    }

    /// The key from its 32 bytes.
    pub fn from_bytes(bytes: [u8; 32]) -> Self {
        Self(bytes)
    }

    /// `channel`'s key: SHA-256 of the channel name, then the master key.
    fn channel_key(&self, channel: &str) -> [u8; 32] {
        let mut hash = Sha256::new();
        hash.update(channel.as_bytes());
        hash.update(self.0);
        hash.finalize().into()
    }

    /// What the auth response carries for `channel`: its key, base64.
    pub fn shared_secret(&self, channel: &str) -> String {
        STANDARD.encode(self.channel_key(channel))
    }

    /// `plaintext` (an event's data as JSON) sealed for `channel`, as the
    /// JSON string pusher-js decrypts: `{"nonce": .., "ciphertext": ..}`.
    pub fn encrypt(&self, channel: &str, plaintext: &str) -> String {
        let cipher = XSalsa20Poly1305::new(&self.channel_key(channel).into());
        let nonce = XSalsa20Poly1305::generate_nonce(&mut OsRng);
        // Sealing into a Vec does not fail (no buffer limit to hit).
        let ciphertext = cipher
            .encrypt(&nonce, plaintext.as_bytes())
            .unwrap_or_default();
        serde_json::json!({
            "nonce": STANDARD.encode(nonce),
            "ciphertext": STANDARD.encode(ciphertext),
        })
        .to_string()
    }

    /// Opens what [`encrypt`](Self::encrypt) sealed for `channel`; `None`
    /// when it was sealed with another key or is not such a payload.
    pub fn decrypt(&self, channel: &str, payload: &str) -> Option<String> {
        let value: serde_json::Value = serde_json::from_str(payload).ok()?;
        let nonce = STANDARD.decode(value["nonce"].as_str()?).ok()?;
        let ciphertext = STANDARD.decode(value["ciphertext"].as_str()?).ok()?;
        if nonce.len() != 24 {
            return None;
        }
        let cipher = XSalsa20Poly1305::new(&self.channel_key(channel).into());
        let plain = cipher
            .decrypt(nonce.as_slice().into(), ciphertext.as_slice())
            .ok()?;
        String::from_utf8(plain).ok()
    }
}

/// An encrypted channel was broadcast to without a master key.
#[derive(Debug, thiserror::Error)]
#[error(
    "`{channel}` is a private-encrypted channel: set EVENTS_BROADCAST_ENCRYPTION_MASTER_KEY \
     (32 bytes, base64; the same as the authorizer's) so the broadcaster can encrypt for it"
)]
pub struct NoMasterKey {
    /// The channel.
    pub channel: String,
}

/// What one broadcast sends: the channels that take the data as it is,
/// together, and each encrypted channel alone with its own ciphertext
/// (Pusher's HTTP API takes one encrypted channel per trigger). Nothing is
/// sent when an encrypted channel has no key.
#[cfg_attr(not(any(feature = "pusher", feature = "redis")), allow(dead_code))]
pub(crate) fn payloads(
    channels: &[String],
    data: &str,
    key: Option<&MasterKey>,
) -> Result<Vec<(Vec<String>, String)>, NoMasterKey> {
    let (encrypted, plain): (Vec<&String>, Vec<&String>) = channels
        .iter()
        .partition(|c| ChannelKind::of(c) == ChannelKind::PrivateEncrypted);
    let mut out = Vec::with_capacity(encrypted.len() + 1);
    if !plain.is_empty() {
        out.push((plain.into_iter().cloned().collect(), data.to_string()));
    }
    for channel in encrypted {
        let key = key.ok_or_else(|| NoMasterKey {
            channel: channel.clone(),
        })?;
        out.push((vec![channel.clone()], key.encrypt(channel, data)));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sealed_payload_opens_with_its_channel_key_only() {
        let key = MasterKey::from_bytes([7; 32]);
        let sealed = key.encrypt("private-encrypted-a", r#"{"n":1}"#);
        assert!(!sealed.contains(r#""n":1"#));
        assert_eq!(
            key.decrypt("private-encrypted-a", &sealed).as_deref(),
            Some(r#"{"n":1}"#)
        );
        assert_eq!(key.decrypt("private-encrypted-b", &sealed), None);
        assert_eq!(
            MasterKey::from_bytes([8; 32]).decrypt("private-encrypted-a", &sealed),
            None
        );
    }

    #[test]
    fn the_channel_key_is_sha256_of_name_then_master_key() {
        // Pusher's SDKs: sha256(channel_name + master_key).
        let key = MasterKey::from_bytes([0; 32]);
        let mut expected = Sha256::new();
        expected.update(b"private-encrypted-x");
        expected.update([0u8; 32]);
        assert_eq!(
            key.shared_secret("private-encrypted-x"),
            STANDARD.encode(expected.finalize())
        );
    }

    #[test]
    fn bad_master_keys_name_the_variable_and_hide_the_value() {
        for bad in ["not base64!", "c2hvcnQ=", ""] {
            let err = MasterKey::from_base64(bad).unwrap_err().to_string();
            assert!(err.contains(MASTER_KEY_VAR), "{err}");
            assert!(bad.is_empty() || !err.contains(bad), "{err}");
        }
        assert!(MasterKey::from_base64(&STANDARD.encode([1u8; 32])).is_ok());
    }

    #[test]
    fn encrypted_channels_go_alone_and_need_a_key() {
        let key = MasterKey::from_bytes([1; 32]);
        let channels: Vec<String> = ["news", "private-encrypted-a", "private-b"]
            .map(String::from)
            .to_vec();
        let sent = payloads(&channels, "{}", Some(&key)).unwrap();
        assert_eq!(sent.len(), 2);
        assert_eq!(
            sent[0],
            (vec!["news".into(), "private-b".into()], "{}".into())
        );
        assert_eq!(sent[1].0, vec!["private-encrypted-a".to_string()]);
        let err = payloads(&channels, "{}", None).unwrap_err();
        assert!(
            err.to_string()
                .contains("EVENTS_BROADCAST_ENCRYPTION_MASTER_KEY")
        );
    }
}
