//! One module per command group: `make:*`, `event:*`, `stub:*`, `queue:*`,
//! `init`, `queue:work`.

pub(crate) mod broadcast;
pub(crate) mod dashboard;
mod event;
pub(crate) mod history;
mod init;
mod make;
pub(crate) mod operate;
mod queue;
pub(crate) mod replay;
mod stub;
mod work;

use std::path::PathBuf;

use anyhow::Result;

use crate::cli::{Cli, Command};
use crate::fsx::{Outcome, Transaction};
use crate::out;
use crate::project::Project;
use crate::scan::{self, Scan};
use crate::wiring::{self, Wiring};

pub fn run(cli: Cli, app: &crate::App) -> Result<()> {
    let manifest = cli.manifest_path.as_deref();
    let Some(command) = cli.command else {
        return list();
    };
    match command {
        Command::List => list(),
        Command::Init => init::init(manifest),
        Command::QueueWork(args) => work::work(manifest, app, args),
        Command::QueueMonitor(args) => queue::monitor(manifest, args),
        Command::QueueStats(args) => operate::stats(manifest, args),
        Command::QueuePause(args) => operate::pause(manifest, args, true),
        Command::QueueResume(args) => operate::pause(manifest, args, false),
        Command::QueueClear(args) => operate::clear(manifest, args),
        Command::QueueRestart(args) => operate::restart(manifest, args),
        Command::QueueWorkers(args) => operate::workers(manifest, args),
        Command::QueueCompleted(args) => operate::completed(manifest, args),
        Command::MakeEvent(args) => make::event(manifest, args),
        Command::MakeListener(args) => make::listener(manifest, args),
        Command::MakeSubscriber(args) => make::subscriber(manifest, args),
        Command::EventList(args) => event::list(manifest, args),
        Command::EventGenerate => event::generate(manifest),
        Command::StubPublish(args) => stub::publish(manifest, args),
        Command::QueueFailed(args) => queue::failed(manifest, args),
        Command::QueueRetry(args) => queue::retry(manifest, args),
        Command::QueueForget(args) => queue::forget(manifest, args),
        Command::QueueFlush(args) => queue::flush(manifest, args),
        Command::QueuePruneFailed(args) => queue::prune_failed(manifest, args),
        Command::EventHistory(args) => history::history(manifest, args),
        Command::EventReplay(args) => match app.job_registry() {
            Some(registry) => replay::replay(manifest, args, &registry, app),
            None => replay::without_registry(args),
        },
        Command::BroadcastServe(args) => broadcast::serve(args),
        Command::Dashboard(args) => dashboard::dashboard(manifest, args),
    }
}

/// `artisan list` and bare `artisan`: the commands, on stdout, exit 0 (like
/// `php artisan` and cargo).
fn list() -> Result<()> {
    use clap::CommandFactory;
    let help = Cli::command().render_help();
    out::plain(&help.ansi().to_string());
    Ok(())
}

/// What [`write_with_wiring`] did: the scan, the wiring and each file's outcome.
pub(crate) type Written = (Scan, Wiring, Vec<(PathBuf, Outcome)>);

/// Scans with `new_files` in place, queues them and the rebuilt wiring, and
/// writes everything or nothing.
pub(crate) fn write_with_wiring(
    project: &Project,
    new_files: Vec<(PathBuf, String)>,
) -> Result<Written> {
    let scan = scan::scan(project, &new_files)?;
    write_scanned(project, scan, new_files)
}

/// [`write_with_wiring`] with a scan already made with `new_files` in place.
pub(crate) fn write_scanned(
    project: &Project,
    scan: Scan,
    new_files: Vec<(PathBuf, String)>,
) -> Result<Written> {
    let mut tx = Transaction::new();
    for (path, text) in new_files {
        tx.write(path, text);
    }
    let wiring =
        wiring::rebuild(project, &scan, &mut tx).map_err(|e| e.context("nothing was written"))?;
    let outcomes = tx.commit().map_err(|e| e.context("nothing was written"))?;
    Ok((scan, wiring, outcomes))
}

/// Reports the wiring files that changed (or all, with `verbose`) and the notes.
pub(crate) fn report_wiring(
    project: &Project,
    wiring: &Wiring,
    outcomes: &[(PathBuf, Outcome)],
    skip: &[PathBuf],
    verbose: bool,
) {
    for (path, outcome) in outcomes {
        if skip.contains(path) {
            continue;
        }
        let kind = if *path == project.registry {
            "Registry"
        } else if *path == project.crate_root {
            "Crate root"
        } else {
            "Module"
        };
        let rel = project.rel(path);
        match outcome {
            Outcome::Created => out::info(&format!("{kind} [{rel}] created.")),
            Outcome::Updated => out::info(&format!("{kind} [{rel}] updated.")),
            Outcome::Unchanged if verbose => out::info(&format!("{kind} [{rel}] is up to date.")),
            Outcome::Unchanged => {}
        }
    }
    for note in &wiring.notes {
        out::warn(note);
    }
}
