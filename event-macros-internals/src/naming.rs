//! The naming conventions, in one place: what the macros generate, what the
//! runtime assumes for hand-written events and what artisan shows.

use heck::ToUpperCamelCase;

/// The name the convention gives a type: its last path segment, generics
/// dropped, without a trailing `Event` (`shop::OrderProcessedEvent` ->
/// `OrderProcessed`). A type called exactly `Event` keeps its name, and so
/// does `EventScheduled`; a raw identifier (`r#Type`) loses its `r#`.
pub fn conventional_event_name(type_name: &str) -> String {
    let without_generics = type_name.split('<').next().unwrap_or(type_name);
    let last = without_generics
        .rsplit("::")
        .next()
        .unwrap_or(without_generics)
        .trim();
    let last = last.strip_prefix("r#").unwrap_or(last);
    match last.strip_suffix("Event") {
        Some(stem) if !stem.is_empty() => stem.to_string(),
        _ => last.to_string(),
    }
}

/// The unit struct `#[listener]` generates for an `async fn`:
/// `send_welcome_email` -> `SendWelcomeEmailListener`.
pub fn listener_type_name(function: &str) -> String {
    let function = function.strip_prefix("r#").unwrap_or(function);
    format!("{}Listener", function.to_upper_camel_case())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn event_names_follow_the_convention() {
        assert_eq!(
            conventional_event_name("shop::OrderProcessedEvent"),
            "OrderProcessed"
        );
        assert_eq!(
            conventional_event_name("a::b::Wrapped<alloc::string::String>"),
            "Wrapped"
        );
        assert_eq!(
            conventional_event_name("x::EventScheduled"),
            "EventScheduled"
        );
        assert_eq!(conventional_event_name("Event"), "Event");
        assert_eq!(conventional_event_name("r#TypeEvent"), "Type");
    }

    #[test]
    fn listener_structs_are_the_camel_case_fn_name() {
        assert_eq!(
            listener_type_name("send_welcome_email"),
            "SendWelcomeEmailListener"
        );
        assert_eq!(listener_type_name("r#match"), "MatchListener");
    }
}
