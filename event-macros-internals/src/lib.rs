//! The attribute language of `#[derive(Event)]` / `#[event(...)]` and
//! `#[listener(...)]`, shared by event-macros and the artisan CLI so the two
//! can never read an attribute differently (serde_derive_internals is the
//! model).
//!
//! - [`naming`]: the conventions (event names, listener struct names); no
//!   dependency beyond heck, so event-core uses it at run time too.
//! - [`middleware`]: the job middleware strings (`throttle:N,M`, ...), read
//!   by the macros at compile time and by event-core's worker.
//! - with the `parse` feature (default): `ast` + `attr` read syn input into
//!   plain structs, `valid` checks every rule and builds the models the
//!   macros expand, `ctxt` collects every error of one input.
//!
//! Not a public API for other crates: versions move with event-macros.

pub mod middleware;
pub mod naming;

#[cfg(feature = "parse")]
pub mod ast;
#[cfg(feature = "parse")]
pub mod attr;
#[cfg(feature = "parse")]
pub mod ctxt;
#[cfg(feature = "parse")]
mod debug;
#[cfg(feature = "parse")]
pub mod valid;
