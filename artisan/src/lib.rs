//! artisan: Laravel-style scaffolding for event-core apps, and their queue
//! workers.
//!
//! Installed, `artisan` scaffolds anything that does not need the app's
//! code. `artisan init` gives a package its own binary, `src/bin/artisan.rs`,
//! which runs [`App`] with the app's job registry, so
//! `cargo run --bin artisan -- queue:work` runs the app's listeners:
//!
//! ```no_run
//! # mod event_registry {
//! #     use event_core::{boot::Runtime, config::EventsConfig};
//! #     pub async fn boot(config: &EventsConfig) -> anyhow::Result<Runtime> {
//! #         Ok(Runtime::start(config, event_core::event_dispatcher().await).await?)
//! #     }
//! #     pub fn job_registry() -> event_core::queue::JobRegistry { event_core::queue::JobRegistry::new() }
//! # }
//! fn main() -> std::process::ExitCode {
//!     event_artisan::App::new()
//!         .package(env!("CARGO_MANIFEST_DIR"))
//!         .boot(event_registry::boot)
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
use std::future::Future;
use std::path::PathBuf;
use std::pin::Pin;
use std::rc::Rc;

use clap::Parser;
use event_core::boot::Runtime;
use event_core::config::EventsConfig;

/// A mistake in what the user typed: exit code 2, like a clap usage error.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct UsageError(pub String);

/// The app's boot, type-erased: settings in, the booted runtime out.
type BootFn = Box<dyn Fn(EventsConfig) -> Pin<Box<dyn Future<Output = anyhow::Result<Runtime>>>>>;

/// What the app's own artisan binary knows that the installed one does not.
#[derive(Default)]
pub struct App {
    jobs: Option<Box<dyn Fn() -> event_core::queue::JobRegistry>>,
    boot: Option<BootFn>,
    package: Option<PathBuf>,
}

impl std::fmt::Debug for App {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("App")
            .field("jobs", &self.jobs.is_some())
            .field("boot", &self.boot.is_some())
            .field("package", &self.package)
            .finish()
    }
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

    /// The app's boot (`event_registry::boot`): `queue:work` and
    /// `event:replay` run it before their first job, so a job's listener
    /// runs in the app (its listeners registered, the queue, the event
    /// store and the broadcaster installed, the app's own hook run), and
    /// the store is flushed when they stop.
    pub fn boot<F>(mut self, boot: F) -> Self
    where
        F: AsyncFn(&EventsConfig) -> anyhow::Result<Runtime> + 'static,
    {
        let boot = Rc::new(boot);
        self.boot = Some(Box::new(move |config: EventsConfig| {
            let boot = boot.clone();
            Box::pin(async move { boot(&config).await })
        }));
        self
    }

    /// The app's package folder (`env!("CARGO_MANIFEST_DIR")`): the
    /// package commands work on, and whose `.env` they read, wherever the
    /// binary is started from (`--manifest-path` still wins). Ignored when
    /// the folder does not exist (a binary copied elsewhere).
    pub fn package(mut self, dir: impl Into<PathBuf>) -> Self {
        self.package = Some(dir.into());
        self
    }

    pub(crate) fn job_registry(&self) -> Option<event_core::queue::JobRegistry> {
        self.jobs.as_ref().map(|f| f())
    }

    /// The app booted with `config`, when the app gave its boot.
    pub(crate) fn booted(
        &self,
        config: &EventsConfig,
    ) -> Option<impl Future<Output = anyhow::Result<Runtime>> + use<>> {
        self.boot.as_ref().map(|boot| boot(config.clone()))
    }

    pub(crate) fn has_boot(&self) -> bool {
        self.boot.is_some()
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
        let mut cli = match cli::Cli::try_parse_from(args) {
            Ok(cli) => cli,
            Err(e) => {
                let _ = e.print();
                return e.exit_code();
            }
        };
        if cli.manifest_path.is_none()
            && let Some(dir) = &self.package
            && dir.join("Cargo.toml").is_file()
        {
            cli.manifest_path = Some(dir.join("Cargo.toml"));
        }
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
