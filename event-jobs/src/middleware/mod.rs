//! Job middleware: what wraps an attempt at a job (Laravel's job middleware).
//!
//! A listener names them in its settings (`#[listener(middleware =
//! ["throttle:10,1"])]`, or the seed's `ShouldQueueListener::middleware()`):
//!
//! | string | what it does |
//! |---|---|
//! | `throttle:N,M` | Laravel's `ThrottlesExceptions`: after N failed attempts within M minutes, further attempts are held back until the M minutes are over |
//! | `rate_limited:NAME` | at most the limit named `NAME` ([`JobRegistry::rate_limit`]) of attempts per period, counted across every worker of the connection |
//! | `without_overlapping:KEY` | one job with this key runs at a time, across worker processes |
//! | any other name | a [`JobMiddleware`] written in Rust, registered with [`JobRegistry::middleware`] |
//!
//! A job held back is put back on its queue for when it may run; like
//! Laravel's `release()`, that uses one of its tries (give held-back jobs
//! enough `tries`). The counters and locks live in the connection's storage
//! ([`MiddlewareStore`]: `Backend::middleware_store`), so on `sqlite` and `redis` every
//! worker process shares them.

mod api;
pub(crate) mod run;
pub(crate) mod spec;
pub(crate) mod store;

pub use api::{JobInfo, JobMiddleware, Next, RateLimit, Release};
pub use store::MiddlewareStore;
