//! `event:replay <id>` / `event:replay --from POSITION [--name X] [--listener L]`:
//! stored events re-dispatched to their listeners.
//!
//! Replaying needs the app's own listeners, so it runs through the app's
//! artisan binary (`src/bin/artisan.rs`, which passes the app's
//! `event_registry::job_registry()`): [`event_replay`] is the command, taking
//! that registry. The standalone `artisan` says so instead of guessing.

use std::path::Path;

use anyhow::{Context, Result};
use clap::Args;
use event_core::queue::JobRegistry;
use event_core::store::{ReplayReport, Skipped, replay_choice};

use super::history::{StoreUrl, open_store, runtime};
use crate::UsageError;
use crate::out;

#[derive(Debug, Args)]
pub struct EventReplay {
    /// The stored event to replay (its id); or use --from.
    #[arg(
        value_name = "ID",
        required_unless_present = "from",
        conflicts_with = "from"
    )]
    pub id: Option<String>,
    /// Replay every event after this position, in pages.
    #[arg(long, value_name = "POSITION")]
    pub from: Option<i64>,
    /// With --from: only events of this name.
    #[arg(long, value_name = "NAME", requires = "from")]
    pub name: Option<String>,
    /// Only this listener (its name, or the last `::` segment of it).
    #[arg(long, value_name = "LISTENER")]
    pub listener: Option<String>,
    /// Print which listeners would run and which are skipped, and stop.
    #[arg(long)]
    pub dry_run: bool,
    #[command(flatten)]
    pub store: StoreUrl,
}

/// The standalone binary has no listeners to replay to.
pub fn without_registry(_args: EventReplay) -> Result<()> {
    Err(UsageError(
        "event:replay runs your app's listeners, so it needs your app's own artisan binary: \
         `artisan init` writes src/bin/artisan.rs, then `cargo run --bin artisan -- event:replay ...`"
            .to_string(),
    )
    .into())
}

/// Runs `event:replay` with the app's registry.
pub fn event_replay(
    manifest: Option<&Path>,
    args: EventReplay,
    registry: &JobRegistry,
) -> Result<()> {
    replay(manifest, args, registry, &crate::App::new())
}

/// Runs `event:replay` in the app: booted with its boot when it gives one,
/// so what its listeners dispatch reaches the app's listeners, queue and
/// broadcaster; the store is flushed at the end.
pub(crate) fn replay(
    manifest: Option<&Path>,
    args: EventReplay,
    registry: &JobRegistry,
    app: &crate::App,
) -> Result<()> {
    let report = runtime()?.block_on(async {
        let names = match (&args.id, &args.name) {
            (Some(id), _) => {
                let store = open_store(manifest, &args.store).await?;
                let record = store
                    .get(id)
                    .await?
                    .ok_or_else(|| UsageError(format!("no event with id `{id}` in the store")))?;
                vec![record.name]
            }
            (None, Some(name)) => vec![name.clone()],
            (None, None) => registry.event_names().map(str::to_string).collect(),
        };
        plan(&names, registry, args.listener.as_deref());
        if args.dry_run {
            out::info("--dry-run: nothing was replayed.");
            return anyhow::Ok(None);
        }
        let booted = if app.has_boot() {
            let project = crate::project::Project::open(manifest).ok();
            let config = crate::config::app_config(project.as_ref())?;
            match app.booted(&config) {
                Some(boot) => Some(boot.await.context("cannot boot the app")?),
                None => None,
            }
        } else {
            None
        };
        let report = replay_with(manifest, &args, registry).await;
        if let Some(booted) = booted {
            booted.shutdown().await?;
        }
        report.map(Some)
    })?;
    let Some(report) = report else {
        return Ok(());
    };
    print(&report);
    if report.failures.is_empty() {
        Ok(())
    } else {
        Err(anyhow::anyhow!(
            "{} listener call(s) failed during the replay",
            report.failures.len()
        ))
    }
}

async fn replay_with(
    manifest: Option<&Path>,
    args: &EventReplay,
    registry: &JobRegistry,
) -> Result<ReplayReport> {
    {
        let store = open_store(manifest, &args.store).await?;
        let report = match (&args.id, args.from) {
            (Some(id), _) => {
                match store
                    .replay_event(id, args.listener.as_deref(), registry)
                    .await
                {
                    Err(event_core::store::StoreError::NotFound(id)) => {
                        return Err(
                            UsageError(format!("no event with id `{id}` in the store")).into()
                        );
                    }
                    Err(e @ event_core::store::StoreError::UnknownListener { .. }) => {
                        return Err(UsageError(e.to_string()).into());
                    }
                    other => other?,
                }
            }
            (None, Some(from)) => {
                let mut replay = store.replay_from(from);
                if let Some(name) = &args.name {
                    replay = replay.name(name);
                }
                if let Some(listener) = &args.listener {
                    replay = replay.listener(listener);
                }
                replay.run(registry).await?
            }
            (None, None) => unreachable!("clap requires ID or --from"),
        };
        anyhow::Ok(report)
    }
}

/// Before anything runs: for each event name, the listeners the replay
/// runs and those it skips, and why (`replay_choice`, the replay's own rule).
fn plan(names: &[String], registry: &JobRegistry, wanted: Option<&str>) {
    out::info("The replay runs these listeners and skips the others:");
    for name in names {
        let listeners = registry.listeners_of(name);
        out::plain(&format!("  {name}"));
        if listeners.is_empty() {
            out::plain("    (no listener)");
        }
        for listener in listeners {
            let line = match replay_choice(listener.as_ref(), wanted) {
                Ok(()) => format!("    run   {}", listener.listener_name()),
                Err(Skipped::NotReplayable) => format!(
                    "    skip  {} (replayable = false)",
                    listener.listener_name()
                ),
                Err(Skipped::NotChosen) => {
                    format!("    skip  {} (not --listener)", listener.listener_name())
                }
            };
            out::plain(&line);
        }
    }
}

fn print(report: &ReplayReport) {
    out::info(&format!(
        "Replayed {} event(s): {} listener call(s), {} skipped (opted out of replays or not --listener).",
        report.events, report.listeners_run, report.listeners_skipped
    ));
    for failure in &report.failures {
        out::error(&format!(
            "event {}{}: {}",
            failure.event_id,
            failure
                .listener
                .as_deref()
                .map(|l| format!(" / {l}"))
                .unwrap_or_default(),
            failure.error
        ));
    }
}
