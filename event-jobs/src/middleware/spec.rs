//! Middleware strings (`throttle:N,M`, `rate_limited:NAME`,
//! `without_overlapping:KEY`, a registered name), parsed.

use crate::error::MiddlewareError;

/// A middleware string, parsed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Spec {
    Throttle {
        exceptions: u64,
        minutes: u64,
    },
    RateLimited(String),
    WithoutOverlapping(String),
    /// A [`JobMiddleware`] registered under this name.
    Custom(String),
}

impl Spec {
    /// Reads a middleware string with the one syntax the macros also check
    /// ([`event_macros_internals::middleware`]).
    pub(crate) fn parse(text: &str) -> Result<Self, MiddlewareError> {
        use event_macros_internals::middleware::{Middleware, SyntaxError, parse};
        match parse(text) {
            Ok(Middleware::Throttle {
                exceptions,
                minutes,
            }) => Ok(Spec::Throttle {
                exceptions,
                minutes,
            }),
            Ok(Middleware::RateLimited(name)) => Ok(Spec::RateLimited(name.to_string())),
            Ok(Middleware::WithoutOverlapping(key)) => {
                Ok(Spec::WithoutOverlapping(key.to_string()))
            }
            Ok(Middleware::Custom(name)) => Ok(Spec::Custom(name.to_string())),
            Err(SyntaxError::Malformed(reason)) => Err(MiddlewareError::Malformed {
                text: text.to_string(),
                reason,
            }),
            Err(SyntaxError::Unknown) => Err(MiddlewareError::Unknown(text.to_string())),
        }
    }
}

/// Checks the built-in middleware strings of a job (when it is queued; the
/// names of Rust middleware are checked by the worker's registry).
pub(crate) fn check(middleware: &[String]) -> Result<(), MiddlewareError> {
    for text in middleware {
        Spec::parse(text)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::Spec;
    use crate::error::MiddlewareError;

    #[test]
    fn parses_the_seed_strings_and_names_bad_ones() {
        assert_eq!(
            Spec::parse("throttle:10,1"),
            Ok(Spec::Throttle {
                exceptions: 10,
                minutes: 1
            })
        );
        assert_eq!(
            Spec::parse("rate_limited:emails"),
            Ok(Spec::RateLimited("emails".into()))
        );
        assert_eq!(
            Spec::parse("without_overlapping:order-1"),
            Ok(Spec::WithoutOverlapping("order-1".into()))
        );
        assert_eq!(Spec::parse("audit"), Ok(Spec::Custom("audit".into())));
        assert!(matches!(
            Spec::parse("throttle:ten,1"),
            Err(MiddlewareError::Malformed { .. })
        ));
        let unknown = Spec::parse("throtle:10,1").expect_err("unknown");
        assert!(unknown.to_string().contains("`throtle:10,1`"), "{unknown}");
    }
}
