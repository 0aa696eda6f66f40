//! Turning what a user types into Rust names, the way heck does it.
//!
//! `user_registered`, `user-registered`, `userRegistered`, `UserRegistered` and
//! `UserRegisteredEvent` are one event: `UserRegisteredEvent` in
//! `user_registered.rs`. Acronyms count as one word (Rust's naming
//! convention): `HTTPRequestFailed` is `HttpRequestFailedEvent`.

use heck::{ToSnakeCase, ToUpperCamelCase};

use crate::UsageError;

/// Names a scaffolded item goes by.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Names {
    /// `user_registered`: the file stem and, for listeners, the function name.
    pub snake: String,
    /// `user_registered` or `r#type`: `snake` as it must be written in Rust code.
    pub ident: String,
    /// `UserRegistered`: the name without the kind suffix.
    pub base: String,
    /// `UserRegisteredEvent` / `SendWelcomeEmailListener`: the type.
    pub type_name: String,
}

impl Names {
    /// The file this item lives in, relative to its folder.
    pub fn file_name(&self) -> String {
        format!("{}.rs", self.snake)
    }
}

/// Keywords of Rust 2024 (strict and reserved). A module may use them as a raw
/// identifier (`mod r#type;` reads `type.rs`).
const KEYWORDS: &[&str] = &[
    "as", "async", "await", "break", "const", "continue", "crate", "dyn", "else", "enum", "extern",
    "false", "fn", "for", "gen", "if", "impl", "in", "let", "loop", "match", "mod", "move", "mut",
    "pub", "ref", "return", "self", "static", "struct", "super", "trait", "true", "type", "unsafe",
    "use", "where", "while", "abstract", "become", "box", "do", "final", "macro", "override",
    "priv", "try", "typeof", "unsized", "virtual", "yield",
];

/// Keywords that cannot even be raw identifiers.
const NOT_RAW: &[&str] = &["self", "super", "crate"];

/// `ident` as it must be written in code: raw if it is a keyword.
pub fn rust_ident(snake: &str) -> Option<String> {
    if NOT_RAW.contains(&snake) {
        None
    } else if KEYWORDS.contains(&snake) {
        Some(format!("r#{snake}"))
    } else {
        Some(snake.to_string())
    }
}

/// The name of an event: `UserRegistered` -> `UserRegisteredEvent` in `user_registered.rs`.
pub fn event(input: &str) -> Result<Names, UsageError> {
    names(input, "Event", "event")
}

/// The name of a listener: `SendWelcomeEmail` -> fn `send_welcome_email`,
/// struct `SendWelcomeEmailListener`, in `send_welcome_email.rs`.
pub fn listener(input: &str) -> Result<Names, UsageError> {
    names(input, "Listener", "listener")
}

/// The name of a subscriber: `UserEvent` -> struct `UserEventSubscriber`,
/// in `user_event.rs`.
pub fn subscriber(input: &str) -> Result<Names, UsageError> {
    names(input, "Subscriber", "subscriber")
}

/// A listener's name as the CLI prints it: its type
/// (`shop::listeners::SendInvoiceListener` -> `SendInvoiceListener`), or a
/// subscriber's method with its type
/// (`shop::listeners::UserEventSubscriber::on_login` -> `UserEventSubscriber::on_login`).
pub fn short_listener(path: &str) -> &str {
    let Some((head, last)) = path.rsplit_once("::") else {
        return path;
    };
    if last.starts_with(|c: char| c.is_ascii_lowercase() || c == '_') {
        return match head.rfind("::") {
            Some(i) => &path[i + 2..],
            None => path,
        };
    }
    last
}

fn names(input: &str, suffix: &str, kind: &str) -> Result<Names, UsageError> {
    let trimmed = input.trim();
    if trimmed.is_empty() {
        return Err(UsageError(format!(
            "the {kind} name is empty; try `UserRegistered`"
        )));
    }
    if let Some(bad) = trimmed
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | ' ')))
    {
        return Err(UsageError(format!(
            "the {kind} name `{input}` contains `{bad}`; use ASCII letters, digits, `-`, `_` or spaces"
        )));
    }
    if trimmed.starts_with('-') {
        return Err(UsageError(format!(
            "the {kind} name `{input}` starts with `-`, like an option; names start with a \
             letter, e.g. `UserRegistered`"
        )));
    }
    if trimmed.starts_with(|c: char| c.is_ascii_digit()) {
        return Err(UsageError(format!(
            "the {kind} name `{input}` starts with a digit; Rust names cannot"
        )));
    }
    let mut snake = trimmed.to_snake_case();
    let suffix_snake = format!("_{}", suffix.to_snake_case());
    if let Some(stripped) = snake.strip_suffix(&suffix_snake)
        && !stripped.is_empty()
    {
        snake = stripped.to_string();
    }
    if snake.is_empty() || snake.starts_with(|c: char| c.is_ascii_digit()) {
        return Err(UsageError(format!(
            "the {kind} name `{input}` has no letters to build a Rust name from"
        )));
    }
    let ident = rust_ident(&snake).ok_or_else(|| {
        UsageError(format!(
            "the {kind} name `{input}` would make a module named `{snake}`, a Rust keyword that \
             cannot be a module name; pick another name (e.g. `{}{suffix}`)",
            snake.to_upper_camel_case()
        ))
    })?;
    let base = snake.to_upper_camel_case();
    let type_name = format!("{base}{suffix}");
    Ok(Names {
        snake,
        ident,
        base,
        type_name,
    })
}

#[cfg(test)]
mod short_listener_tests {
    use super::short_listener;

    #[test]
    fn short_names() {
        assert_eq!(short_listener("shop::listeners::X::XListener"), "XListener");
        assert_eq!(
            short_listener("shop::listeners::u::UserEventSubscriber::on_login"),
            "UserEventSubscriber::on_login"
        );
        assert_eq!(short_listener("audit-login"), "audit-login");
        assert_eq!(short_listener("Sub::on_x"), "Sub::on_x");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spellings_of_one_event_agree() {
        for input in [
            "user_registered",
            "user-registered",
            "userRegistered",
            "UserRegistered",
            "UserRegisteredEvent",
            "user registered",
            "user_registered_event",
        ] {
            let n = event(input).unwrap();
            assert_eq!(n.type_name, "UserRegisteredEvent", "{input}");
            assert_eq!(n.file_name(), "user_registered.rs", "{input}");
        }
    }

    #[test]
    fn acronyms_are_one_word() {
        let n = event("HTTPRequestFailed").unwrap();
        assert_eq!(n.type_name, "HttpRequestFailedEvent");
        assert_eq!(n.snake, "http_request_failed");
    }

    #[test]
    fn listeners_strip_their_suffix() {
        let n = listener("SendWelcomeEmailListener").unwrap();
        assert_eq!(n.snake, "send_welcome_email");
        assert_eq!(n.type_name, "SendWelcomeEmailListener");
    }

    #[test]
    fn keywords_become_raw_identifiers_or_are_refused() {
        assert_eq!(event("Type").unwrap().ident, "r#type");
        assert_eq!(event("Match").unwrap().ident, "r#match");
        assert_eq!(event("Gen").unwrap().ident, "r#gen");
        let err = event("Self").unwrap_err();
        assert!(err.0.contains("keyword"), "{err}");
    }

    #[test]
    fn bad_names_are_refused() {
        for input in [
            "",
            "   ",
            "9Lives",
            "user.registered",
            "user/registered",
            "héllo",
            "___",
            "-Foo",
            "--force",
        ] {
            assert!(event(input).is_err(), "{input:?} was accepted");
        }
    }

    #[test]
    fn a_lone_suffix_is_kept() {
        assert_eq!(event("Event").unwrap().type_name, "EventEvent");
    }
}
