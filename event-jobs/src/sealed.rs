//! Encrypted queued listeners (Laravel's `ShouldBeEncrypted`): the payload
//! of an `encrypted` listener's job is sealed with the app's key
//! (`EVENTS_APP_KEY`) when the job is queued, and opened by the worker
//! that rebuilds it. One place for both, whatever the connection stores:
//! [`AppKeys::seal`] at enqueue, [`AppKeys::open`] at rebuild.
//!
//! XChaCha20-Poly1305 with a random 24-byte nonce per job; the job's id is
//! the associated data, so a sealed payload cannot be moved to another
//! job. The record names the key that sealed it (`key_id`, a fingerprint
//! of the key, never the key), so a worker tries that key first, and
//! `EVENTS_APP_PREVIOUS_KEYS` keeps jobs sealed before a key rotation
//! readable.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use chacha20poly1305::aead::{Aead, AeadCore, KeyInit, OsRng, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use event_kernel::config::{ConfigError, Vars, invalid, optional};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// The cipher a [`SealedPayload`] names.
pub(crate) const CIPHER: &str = "xchacha20poly1305";

/// The variable holding the app's key.
pub(crate) const APP_KEY_VAR: &str = "EVENTS_APP_KEY";

/// The variable holding the keys used before a rotation.
pub(crate) const PREVIOUS_KEYS_VAR: &str = "EVENTS_APP_PREVIOUS_KEYS";

/// An encrypted job payload, as stored in the envelope (`sealed`) in place
/// of the event's JSON.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SealedPayload {
    /// [`CIPHER`].
    pub cipher: String,
    /// Which key sealed it: the first 8 bytes of the key's SHA-256, in hex.
    pub key_id: String,
    /// The 24-byte nonce, base64.
    pub nonce: String,
    /// The event's JSON, encrypted and authenticated, base64.
    pub data: String,
}

/// One 32-byte key.
#[derive(Clone, PartialEq, Eq)]
struct AppKey {
    bytes: [u8; 32],
    id: String,
}

impl AppKey {
    fn parse(var: &'static str, text: &str) -> Result<Self, ConfigError> {
        // Laravel writes its keys as `base64:...`; both forms are read.
        let b64 = text.strip_prefix("base64:").unwrap_or(text);
        let decoded = STANDARD.decode(b64.trim()).map_err(|_| {
            invalid(
                var,
                "<hidden>",
                "not base64: make one with `openssl rand -base64 32`",
            )
        })?;
        let bytes: [u8; 32] = decoded.try_into().map_err(|bytes: Vec<u8>| {
            invalid(
                var,
                "<hidden>",
                &format!(
                    "a key is 32 bytes, this one is {}: make one with `openssl rand -base64 32`",
                    bytes.len()
                ),
            )
        })?;
        Ok(Self::new(bytes))
    }

    fn new(bytes: [u8; 32]) -> Self {
        let digest = Sha256::digest(bytes);
        let id = digest[..8].iter().map(|b| format!("{b:02x}")).collect();
        Self { bytes, id }
    }

    fn cipher(&self) -> XChaCha20Poly1305 {
        XChaCha20Poly1305::new(&self.bytes.into())
    }
}

/// The app's keys: `EVENTS_APP_KEY` (seals, and opens first) and
/// `EVENTS_APP_PREVIOUS_KEYS` (open only, tried after it). Its `Debug`
/// shows key ids, never keys.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct AppKeys {
    current: Option<AppKey>,
    previous: Vec<AppKey>,
}

impl std::fmt::Debug for AppKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AppKeys")
            .field("current", &self.current.as_ref().map(|k| &k.id))
            .field(
                "previous",
                &self.previous.iter().map(|k| &k.id).collect::<Vec<_>>(),
            )
            .finish()
    }
}

/// Why a payload could not be sealed or opened. The message names
/// `EVENTS_APP_KEY`: it is what the user has to set or fix.
#[derive(Debug, thiserror::Error)]
pub enum SealError {
    /// An `encrypted` listener's job, and no key to seal it with.
    #[error(
        "listener `{listener}` is `encrypted` but EVENTS_APP_KEY is not set: set it to a base64 32-byte key (`openssl rand -base64 32`); the job was not queued"
    )]
    NoKeyToSeal {
        /// The listener's name.
        listener: String,
    },
    /// A sealed job reached a worker with no key.
    #[error(
        "the job's payload is encrypted (key id {key_id}) and this worker has no EVENTS_APP_KEY: set it to the key the job was queued with (or list that key in EVENTS_APP_PREVIOUS_KEYS)"
    )]
    NoKeyToOpen {
        /// The key id the record names.
        key_id: String,
    },
    /// None of the worker's keys opens it (a wrong key, or a tampered record).
    #[error(
        "the job's payload is encrypted with key id {key_id}, which neither EVENTS_APP_KEY ({current}) nor EVENTS_APP_PREVIOUS_KEYS opens: give this worker the key the job was queued with"
    )]
    WrongKey {
        /// The key id the record names.
        key_id: String,
        /// The worker's current key id.
        current: String,
    },
    /// The record is not one this version writes.
    #[error("the job's encrypted payload is malformed: {0}")]
    Malformed(String),
    /// The event's JSON could not be written.
    #[error("the job's payload could not be written as JSON")]
    Json(#[source] serde_json::Error),
}

impl AppKeys {
    /// No key: an `encrypted` listener's job cannot be queued, nor a sealed
    /// one opened.
    pub fn none() -> Self {
        Self::default()
    }

    /// Keys from base64 text: the current one, then the previous ones
    /// (what `EVENTS_APP_KEY` and `EVENTS_APP_PREVIOUS_KEYS` hold).
    pub fn new<'a>(
        current: &str,
        previous: impl IntoIterator<Item = &'a str>,
    ) -> Result<Self, ConfigError> {
        Ok(Self {
            current: Some(AppKey::parse(APP_KEY_VAR, current)?),
            previous: previous
                .into_iter()
                .map(|k| AppKey::parse(PREVIOUS_KEYS_VAR, k))
                .collect::<Result<_, _>>()?,
        })
    }

    /// `EVENTS_APP_KEY` and `EVENTS_APP_PREVIOUS_KEYS` (comma-separated)
    /// of `vars`; a bad key is an error naming its variable. Previous keys
    /// without a current one are refused: nothing could seal new jobs.
    pub fn from_vars(vars: &Vars) -> Result<Self, ConfigError> {
        let current = vars.get(APP_KEY_VAR).cloned().and_then(optional);
        let previous = vars.get(PREVIOUS_KEYS_VAR).cloned().and_then(optional);
        let previous: Vec<AppKey> = previous
            .iter()
            .flat_map(|list| list.split(','))
            .map(str::trim)
            .filter(|k| !k.is_empty())
            .map(|k| AppKey::parse(PREVIOUS_KEYS_VAR, k))
            .collect::<Result<_, _>>()?;
        let current = current
            .map(|k| AppKey::parse(APP_KEY_VAR, &k))
            .transpose()?;
        if current.is_none() && !previous.is_empty() {
            return Err(invalid(
                PREVIOUS_KEYS_VAR,
                "<hidden>",
                "previous keys without EVENTS_APP_KEY: set EVENTS_APP_KEY to the current key",
            ));
        }
        Ok(Self { current, previous })
    }

    /// True when a current key is set.
    pub fn is_set(&self) -> bool {
        self.current.is_some()
    }

    /// The current key's id (what new records name), if any.
    pub fn current_id(&self) -> Option<&str> {
        self.current.as_ref().map(|k| k.id.as_str())
    }

    /// Seals `payload` (the event's JSON) for the job `job_id` of
    /// `listener`, with the current key and a fresh random nonce.
    pub fn seal(
        &self,
        listener: &str,
        job_id: &str,
        payload: &serde_json::Value,
    ) -> Result<SealedPayload, SealError> {
        let key = self
            .current
            .as_ref()
            .ok_or_else(|| SealError::NoKeyToSeal {
                listener: listener.to_string(),
            })?;
        let plain = serde_json::to_vec(payload).map_err(SealError::Json)?;
        let nonce = XChaCha20Poly1305::generate_nonce(&mut OsRng);
        let data = key
            .cipher()
            .encrypt(
                &nonce,
                Payload {
                    msg: &plain,
                    aad: job_id.as_bytes(),
                },
            )
            .map_err(|_| SealError::Malformed("encryption failed".to_string()))?;
        Ok(SealedPayload {
            cipher: CIPHER.to_string(),
            key_id: key.id.clone(),
            nonce: STANDARD.encode(nonce),
            data: STANDARD.encode(data),
        })
    }

    /// Opens the payload of job `job_id`: the key the record names first,
    /// then the current key and the previous ones in order.
    pub fn open(
        &self,
        job_id: &str,
        sealed: &SealedPayload,
    ) -> Result<serde_json::Value, SealError> {
        if sealed.cipher != CIPHER {
            return Err(SealError::Malformed(format!(
                "cipher `{}`, expected `{CIPHER}`",
                sealed.cipher
            )));
        }
        let Some(current) = &self.current else {
            return Err(SealError::NoKeyToOpen {
                key_id: sealed.key_id.clone(),
            });
        };
        let nonce = STANDARD
            .decode(&sealed.nonce)
            .ok()
            .filter(|n| n.len() == 24)
            .ok_or_else(|| SealError::Malformed("the nonce is not 24 bytes of base64".into()))?;
        let data = STANDARD
            .decode(&sealed.data)
            .map_err(|_| SealError::Malformed("the data is not base64".into()))?;
        let nonce = XNonce::from_slice(&nonce);
        let keys = std::iter::once(current).chain(&self.previous);
        let (named, others): (Vec<&AppKey>, Vec<&AppKey>) =
            keys.partition(|k| k.id == sealed.key_id);
        for key in named.into_iter().chain(others) {
            let opened = key.cipher().decrypt(
                nonce,
                Payload {
                    msg: &data,
                    aad: job_id.as_bytes(),
                },
            );
            if let Ok(plain) = opened {
                return serde_json::from_slice(&plain)
                    .map_err(|e| SealError::Malformed(format!("not JSON once opened: {e}")));
            }
        }
        Err(SealError::WrongKey {
            key_id: sealed.key_id.clone(),
            current: current.id.clone(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const OLD: &str = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";
    const NEW: &str = "ICEiIyQlJicoKSorLC0uLzAxMjM0NTY3ODk6Ozw9Pj8=";

    fn vars(pairs: &[(&str, &str)]) -> Vars {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn sealed_payload_opens_with_its_key_and_the_rotated_list() {
        let old = AppKeys::new(OLD, []).unwrap();
        let value = serde_json::json!({"secret": "card 4242"});
        let sealed = old.seal("l", "job-1", &value).unwrap();
        assert!(!sealed.data.contains("4242"));
        assert_eq!(old.open("job-1", &sealed).unwrap(), value);
        // Another job id: refused (the id is authenticated).
        assert!(matches!(
            old.open("job-2", &sealed),
            Err(SealError::WrongKey { .. })
        ));
        let rotated = AppKeys::from_vars(&vars(&[
            (APP_KEY_VAR, NEW),
            (PREVIOUS_KEYS_VAR, &format!(" {OLD} ,")),
        ]))
        .unwrap();
        assert_eq!(rotated.open("job-1", &sealed).unwrap(), value);
        let new_only = AppKeys::new(NEW, []).unwrap();
        let error = new_only.open("job-1", &sealed).unwrap_err().to_string();
        assert!(error.contains("EVENTS_APP_KEY"), "{error}");
        let error = AppKeys::none().open("job-1", &sealed).unwrap_err();
        assert!(error.to_string().contains("EVENTS_APP_KEY"), "{error}");
    }

    #[test]
    fn a_bad_key_names_its_variable_and_hides_its_value() {
        let error = AppKeys::from_vars(&vars(&[(APP_KEY_VAR, "c2hvcnQ=")])).unwrap_err();
        let text = error.to_string();
        assert!(
            text.contains("EVENTS_APP_KEY") && text.contains("32 bytes"),
            "{text}"
        );
        assert!(!text.contains("c2hvcnQ"), "{text}");
        let error = AppKeys::from_vars(&vars(&[(PREVIOUS_KEYS_VAR, OLD)])).unwrap_err();
        assert!(error.to_string().contains("EVENTS_APP_PREVIOUS_KEYS"));
        let laravel = AppKeys::from_vars(&vars(&[(APP_KEY_VAR, &format!("base64:{OLD}"))]));
        assert_eq!(laravel.unwrap(), AppKeys::new(OLD, []).unwrap());
        assert!(!format!("{:?}", AppKeys::new(OLD, []).unwrap()).contains(OLD));
    }
}
