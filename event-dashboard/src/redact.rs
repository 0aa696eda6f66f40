//! Redaction: what the pages and endpoints must not show of a payload
//! (passwords, card numbers, tokens), taken out before it leaves the server.

use std::collections::BTreeSet;
use std::sync::Arc;

use serde_json::Value;

/// Changes a payload before it is shown: a failed job's envelope
/// (`api/failed/{key}`) and each stored event's `payload` (`api/events`,
/// `api/events/{id}`, `api/chains/{id}`).
pub type Redactor = Arc<dyn Fn(&mut Value) + Send + Sync>;

/// What replaces a redacted value.
pub const REDACTED: &str = "[redacted]";

/// A [`Redactor`] that replaces the value of every object field named one
/// of `names` (ASCII case ignored), at any depth, with [`REDACTED`].
pub fn fields<I, S>(names: I) -> Redactor
where
    I: IntoIterator<Item = S>,
    S: AsRef<str>,
{
    let names: BTreeSet<String> = names
        .into_iter()
        .map(|n| n.as_ref().to_ascii_lowercase())
        .collect();
    Arc::new(move |value| hide(value, &names))
}

fn hide(value: &mut Value, names: &BTreeSet<String>) {
    match value {
        Value::Object(map) => {
            for (key, v) in map.iter_mut() {
                if names.contains(&key.to_ascii_lowercase()) {
                    *v = Value::String(REDACTED.into());
                } else {
                    hide(v, names);
                }
            }
        }
        Value::Array(items) => items.iter_mut().for_each(|v| hide(v, names)),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn named_fields_are_hidden_at_any_depth() {
        let redact = fields(["password", "Card_Number"]);
        let mut v = json!({
            "user": {"email": "a@b.c", "PASSWORD": "hunter2"},
            "cards": [{"card_number": "4242", "brand": "visa"}],
            "password_hint": "kept",
        });
        redact(&mut v);
        assert_eq!(
            v,
            json!({
                "user": {"email": "a@b.c", "PASSWORD": REDACTED},
                "cards": [{"card_number": REDACTED, "brand": "visa"}],
                "password_hint": "kept",
            })
        );
    }
}
