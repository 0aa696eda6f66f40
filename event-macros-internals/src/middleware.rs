//! The job middleware strings, in one place: what `#[listener(middleware =
//! [..])]` accepts at compile time, what the runtime runs and what artisan
//! shows. No dependency, so event-core parses with it at run time too.
//!
//! | string | meaning |
//! |---|---|
//! | `throttle:N,M` | after N failed attempts, hold the job back for M minutes |
//! | `rate_limited:NAME` | at most the limit named `NAME` of attempts per period |
//! | `without_overlapping:KEY` | one job with this key runs at a time |
//! | any other word | middleware written in Rust, registered under that name |

/// A middleware string, read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Middleware<'a> {
    /// `throttle:N,M`: after N failed attempts, hold the job back M minutes.
    Throttle {
        /// N: failed attempts before the job is held back (at least 1).
        exceptions: u64,
        /// M: how long it is held back, in minutes (at least 1).
        minutes: u64,
    },
    /// `rate_limited:NAME`: attempts limited by the limit registered as `NAME`.
    RateLimited(&'a str),
    /// `without_overlapping:KEY`: one job with this key runs at a time.
    WithoutOverlapping(&'a str),
    /// Middleware written in Rust, registered under this name.
    Custom(&'a str),
}

/// Why a middleware string cannot be used.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SyntaxError {
    /// Not a built-in and not a plain name.
    Unknown,
    /// A built-in with a wrong argument; says what it needs.
    Malformed(&'static str),
}

/// What every message about a bad middleware string lists.
pub const EXPECTED: &str = "`throttle:N,M` (N exceptions, M minutes), `rate_limited:NAME`, \
     `without_overlapping:KEY`, or the name of a `JobMiddleware`";

/// Reads one middleware string.
pub fn parse(text: &str) -> Result<Middleware<'_>, SyntaxError> {
    let (name, args) = match text.split_once(':') {
        Some((name, args)) => (name.trim(), Some(args.trim())),
        None => (text.trim(), None),
    };
    match (name, args) {
        ("throttle", Some(args)) => {
            let (n, m) = args.split_once(',').ok_or(SyntaxError::Malformed(
                "expected `throttle:N,M` (N exceptions, M minutes)",
            ))?;
            let number = |s: &str| s.trim().parse::<u64>().ok().filter(|n| *n > 0);
            match (number(n), number(m)) {
                (Some(exceptions), Some(minutes)) => Ok(Middleware::Throttle {
                    exceptions,
                    minutes,
                }),
                _ => Err(SyntaxError::Malformed(
                    "N and M must be whole numbers above 0",
                )),
            }
        }
        ("rate_limited", Some(limit)) if !limit.is_empty() => Ok(Middleware::RateLimited(limit)),
        ("without_overlapping", Some(key)) if !key.is_empty() => {
            Ok(Middleware::WithoutOverlapping(key))
        }
        ("throttle" | "rate_limited" | "without_overlapping", _) => {
            Err(SyntaxError::Malformed("it needs its argument after `:`"))
        }
        (name, None) if !name.is_empty() && !name.contains(char::is_whitespace) => {
            Ok(Middleware::Custom(name))
        }
        _ => Err(SyntaxError::Unknown),
    }
}

#[cfg(test)]
mod tests {
    use super::{Middleware, SyntaxError, parse};

    #[test]
    fn reads_the_seed_strings() {
        assert_eq!(
            parse("throttle:10,1"),
            Ok(Middleware::Throttle {
                exceptions: 10,
                minutes: 1
            })
        );
        assert_eq!(
            parse("rate_limited:emails"),
            Ok(Middleware::RateLimited("emails"))
        );
        assert_eq!(
            parse("without_overlapping: order "),
            Ok(Middleware::WithoutOverlapping("order"))
        );
        assert_eq!(parse("audit"), Ok(Middleware::Custom("audit")));
    }

    #[test]
    fn names_what_is_wrong() {
        assert!(matches!(
            parse("throttle:10"),
            Err(SyntaxError::Malformed(_))
        ));
        assert!(matches!(
            parse("throttle:0,1"),
            Err(SyntaxError::Malformed(_))
        ));
        assert!(matches!(
            parse("rate_limited:"),
            Err(SyntaxError::Malformed(_))
        ));
        assert!(matches!(parse("throttle"), Err(SyntaxError::Malformed(_))));
        assert_eq!(parse("retry:3"), Err(SyntaxError::Unknown));
        assert_eq!(parse("two words"), Err(SyntaxError::Unknown));
        assert_eq!(parse(""), Err(SyntaxError::Unknown));
    }
}
