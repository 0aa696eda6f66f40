//! artisan: Laravel-style scaffolding for event-core apps, and their queue
//! workers.
//!
//! Installed, `artisan` scaffolds anything that does not need the app's
//! code. `artisan init` gives a package its own binary, `src/bin/artisan.rs`,
//! which runs [`App`] with the app's job registry, so
//! `cargo run --bin artisan -- queue:work` runs the app's listeners:
//!
//! ```no_run
//! # mod event_registry { pub fn job_registry() -> event_core::queue::JobRegistry { event_core::queue::JobRegistry::new() } }
//! fn main() -> std::process::ExitCode {
//!     event_artisan::App::new()
//!         .jobs(event_registry::job_registry)
//!         .run()
//! }
//! ```
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

/// What the app's own artisan binary knows that the installed one does not.
#[derive(Default)]
pub struct App {
    jobs: Option<Box<dyn Fn() -> event_core::queue::JobRegistry>>,
}

impl App {
    pub fn new() -> Self {
        Self::default()
    }

    /// The app's job registry (`event_registry::job_registry`): what
    /// `queue:work` rebuilds jobs with.
    pub fn jobs(mut self, registry: impl Fn() -> event_core::queue::JobRegistry + 'static) -> Self {
        self.jobs = Some(Box::new(registry));
        self
    }

    pub(crate) fn job_registry(&self) -> Option<event_core::queue::JobRegistry> {
        self.jobs.as_ref().map(|f| f())
    }

    /// Runs the command line of this process.
    pub fn run(self) -> std::process::ExitCode {
        let code = self.run_with(std::env::args_os());
        std::process::ExitCode::from(u8::try_from(code).unwrap_or(1))
    }

    /// Runs artisan with `args` (the first is the program name) and returns
    /// the process exit code.
    pub fn run_with<I, T>(self, args: I) -> i32
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
        finish(commands::run(cli, &self))
    }
}

/// Runs the installed artisan with `args` (the first is the program name)
/// and returns the process exit code.
pub fn run<I, T>(args: I) -> i32
where
    I: IntoIterator<Item = T>,
    T: Into<OsString> + Clone,
{
    App::new().run_with(args)
}

fn finish(result: anyhow::Result<()>) -> i32 {
    match result {
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

pub use commands::replay::event_replay;
pub use fsx::{Outcome, Transaction};
