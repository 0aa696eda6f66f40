//! artisan: Laravel-style scaffolding for event-core apps.
//!
//! `artisan make:event UserRegistered`, `artisan make:listener SendWelcomeEmail
//! --event UserRegistered`, `artisan event:list`, `artisan event:generate`,
//! `artisan stub:publish`. Every command that writes rebuilds the wiring
//! (`src/events/mod.rs`, `src/listeners/mod.rs`, `src/event_registry.rs`) from
//! a syn scan, and writes all files or none.

pub mod cli;
mod commands;
pub mod config;
mod fsx;
pub mod names;
mod out;
pub mod project;
pub mod scan;
pub mod templates;
pub mod wiring;

use std::ffi::OsString;

use clap::Parser;

/// A mistake in what the user typed: exit code 2, like a clap usage error.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct UsageError(pub String);

/// Runs artisan with `args` (the first is the program name) and returns the
/// process exit code.
pub fn run<I, T>(args: I) -> i32
where
    I: IntoIterator<Item = T>,
    T: Into<OsString> + Clone,
{
    let cli = match cli::Cli::try_parse_from(args) {
        Ok(cli) => cli,
        Err(e) => {
            let _ = e.print();
            return e.exit_code();
        }
    };
    match commands::run(cli) {
        Ok(()) => 0,
        Err(e) => {
            let code = if e.downcast_ref::<UsageError>().is_some() {
                2
            } else {
                1
            };
            out::error(&format!("{e:#}"));
            code
        }
    }
}

pub use fsx::{Outcome, Transaction};
