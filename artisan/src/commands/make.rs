//! `make:event`, `make:listener` and `make:subscriber`.

use std::path::{Path, PathBuf};

use anyhow::{Result, bail};

use crate::UsageError;
use crate::cli::{MakeEvent, MakeListener, MakeSubscriber};
use crate::names::{self, Names};
use crate::out;
use crate::project::Project;
use crate::scan;
use crate::templates;

use super::{report_wiring, write_scanned, write_with_wiring};

pub fn event(manifest: Option<&Path>, args: MakeEvent) -> Result<()> {
    let names = names::event(&args.name)?;
    let project = Project::open(manifest)?;
    let path = project.events.dir.join(names.file_name());
    refuse_existing(&project, "Event", &path, args.force)?;
    let text = render_event(&project, &names, args.queued, args.queue, args.broadcast)?;
    let files = vec![(path.clone(), text)];
    let scan = scan::scan(&project, &files)?;
    let rel = project.rel(&path);
    let twin = scan.events.iter().find(|e| {
        e.file != rel
            && (e.type_name == names.type_name
                || names::event(&e.type_name).is_ok_and(|n| n.type_name == names.type_name))
    });
    if let Some(twin) = twin
        && twin.type_name != names.type_name
    {
        bail!(
            "{} already exists as {} in {}; nothing was written",
            names.type_name,
            twin.type_name,
            twin.file
        );
    }
    refuse_twin(&project, &names, &path, twin.map(|e| &e.file))?;
    let (_, wiring, outcomes) = write_scanned(&project, scan, files)?;
    let verb = if args.force && existing_file(&outcomes, &path) {
        "overwritten"
    } else {
        "created"
    };
    out::info(&format!(
        "Event [{}] {verb} successfully.",
        project.rel(&path)
    ));
    report_wiring(&project, &wiring, &outcomes, &[path], false);
    Ok(())
}

pub fn listener(manifest: Option<&Path>, args: MakeListener) -> Result<()> {
    let names = names::listener(&args.name)?;
    let event = args.event.as_deref().map(names::event).transpose()?;
    let project = Project::open(manifest)?;
    let path = project.listeners.dir.join(names.file_name());
    refuse_existing(&project, "Listener", &path, args.force)?;
    let existing = scan::scan(&project, &[])?;
    refuse_twin(
        &project,
        &names,
        &path,
        existing.listener(&names.type_name).map(|l| &l.file),
    )?;

    let queued = args.queued || args.queue.is_some();
    if queued && event.is_none() {
        return Err(UsageError(format!(
            "a queued listener needs its event: a queue worker rebuilds the event before it \
             runs the listener. Pass --event, e.g. `artisan make:listener {} --event \
             UserRegistered --queued`; nothing was written",
            names.base
        ))
        .into());
    }
    // No `queue = ...` unless asked: the runtime then uses EVENTS_DEFAULT_QUEUE.
    let queue = args.queue.unwrap_or_default();
    let mut files = Vec::new();
    let mut new_event = None;
    let text = match &event {
        Some(event) => {
            let event_type;
            (event_type, new_event) = event_for(&project, &existing, event, &mut files)?;
            let mut context = tera::Context::new();
            context.insert("type_name", &names.type_name);
            context.insert("fn_name", &names.ident);
            context.insert("base", &names.base);
            context.insert("event_type", &event_type);
            context.insert("event_snake", &event.snake);
            context.insert("events_mod", &project.events.module);
            context.insert("registry_mod", &project.registry_mod);
            context.insert("queued", &queued);
            context.insert("queue", &queue);
            context.insert("queue_lit", &rust_string(&queue));
            context.insert("with_test", &args.test);
            templates::fit_width(
                &project,
                templates::render(&project, "listener.rs.tera", &context)?,
            )
        }
        None => {
            let mut context = tera::Context::new();
            context.insert("type_name", &names.type_name);
            context.insert("base", &names.base);
            templates::fit_width(
                &project,
                templates::render(&project, "listener_any.rs.tera", &context)?,
            )
        }
    };
    files.push((path.clone(), text));

    let (_, wiring, outcomes) = write_with_wiring(&project, files)?;
    if let (Some(event_path), Some(event)) = (&new_event, &event) {
        out::info(&format!(
            "Event [{}] created successfully ({} did not exist yet).",
            project.rel(event_path),
            event.type_name
        ));
    }
    let verb = if args.force && existing_file(&outcomes, &path) {
        "overwritten"
    } else {
        "created"
    };
    out::info(&format!(
        "Listener [{}] {verb} successfully.",
        project.rel(&path)
    ));
    if event.is_none() {
        out::warn(&format!(
            "{} is not wired to an event: register it yourself, or pass --event",
            names.type_name
        ));
    }
    let mut skip = vec![path];
    skip.extend(new_event);
    report_wiring(&project, &wiring, &outcomes, &skip, false);
    Ok(())
}

/// The event type `--event` means, and the file of the event to create
/// (added to `files`) when there is none yet.
fn event_for(
    project: &Project,
    existing: &scan::Scan,
    event: &Names,
    files: &mut Vec<(PathBuf, String)>,
) -> Result<(String, Option<PathBuf>)> {
    // An event spelt another way by hand (`HTTPRequestFailedEvent`)
    // is still the one meant by `--event HTTPRequestFailed`.
    let known = existing
        .event(&event.type_name)
        .or_else(|| {
            existing
                .events
                .iter()
                .find(|e| names::event(&e.type_name).is_ok_and(|n| n.type_name == event.type_name))
        })
        .map(|e| e.type_name.clone());
    if let Some(known) = known {
        return Ok((known, None));
    }
    let event_path = project.events.dir.join(event.file_name());
    if files.iter().any(|(p, _)| *p == event_path) {
        return Ok((event.type_name.clone(), None));
    }
    refuse_existing(project, "Event", &event_path, false).map_err(|e| {
        e.context(format!(
            "{} is not an event artisan recognises, and its file is taken",
            event.type_name
        ))
    })?;
    files.push((
        event_path.clone(),
        render_event(project, event, false, None, None)?,
    ));
    Ok((event.type_name.clone(), Some(event_path)))
}

#[derive(serde::Serialize)]
struct SubscribedEvent {
    /// `UserLoggedInEvent`.
    event_type: String,
    /// `on_user_logged_in`.
    method: String,
}

pub fn subscriber(manifest: Option<&Path>, args: MakeSubscriber) -> Result<()> {
    let names = names::subscriber(&args.name)?;
    let events = args
        .event
        .iter()
        .map(|e| names::event(e))
        .collect::<Result<Vec<_>, _>>()?;
    if events.is_empty() {
        return Err(UsageError(format!(
            "a subscriber listens to at least one event: pass --event once per event, e.g. \
             `artisan make:subscriber {} --event UserLoggedIn --event UserLoggedOut`; nothing \
             was written",
            names.base
        ))
        .into());
    }
    let project = Project::open(manifest)?;
    let path = project.listeners.dir.join(names.file_name());
    refuse_existing(&project, "Subscriber", &path, args.force)?;
    let existing = scan::scan(&project, &[])?;
    let twin = existing
        .listeners
        .iter()
        .find(|l| l.subscriber.as_deref() == Some(names.type_name.as_str()))
        .map(|l| &l.file);
    refuse_twin(&project, &names, &path, twin)?;

    let mut files = Vec::new();
    let mut created = Vec::new();
    let mut subscribed: Vec<SubscribedEvent> = Vec::new();
    for event in &events {
        let (event_type, new_event) = event_for(&project, &existing, event, &mut files)?;
        created.extend(new_event);
        let method = format!("on_{}", event.snake);
        if !subscribed.iter().any(|s| s.method == method) {
            subscribed.push(SubscribedEvent { event_type, method });
        }
    }
    let mut context = tera::Context::new();
    context.insert("type_name", &names.type_name);
    context.insert("events_mod", &project.events.module);
    context.insert("events", &subscribed);
    context.insert("queued", &args.queued);
    let text = templates::fit_width(
        &project,
        templates::render(&project, "subscriber.rs.tera", &context)?,
    );
    files.push((path.clone(), text));

    let (_, wiring, outcomes) = write_with_wiring(&project, files)?;
    for event_path in &created {
        out::info(&format!(
            "Event [{}] created successfully (it did not exist yet).",
            project.rel(event_path)
        ));
    }
    let verb = if args.force && existing_file(&outcomes, &path) {
        "overwritten"
    } else {
        "created"
    };
    out::info(&format!(
        "Subscriber [{}] {verb} successfully.",
        project.rel(&path)
    ));
    let mut skip = vec![path];
    skip.extend(created);
    report_wiring(&project, &wiring, &outcomes, &skip, false);
    Ok(())
}

fn render_event(
    project: &Project,
    names: &Names,
    queued: bool,
    queue: Option<String>,
    broadcast: Option<String>,
) -> Result<String> {
    let mut event_args = Vec::new();
    if queued || queue.is_some() {
        event_args.push("queued".to_string());
    }
    if let Some(queue) = queue {
        event_args.push(format!("queue = {}", rust_string(&queue)));
    }
    if let Some(channel) = broadcast {
        let channel = if channel.is_empty() {
            names.snake.clone()
        } else {
            channel
        };
        event_args.push(format!("broadcast = {}", rust_string(&channel)));
    }
    let mut context = tera::Context::new();
    context.insert("type_name", &names.type_name);
    context.insert("base", &names.base);
    context.insert("event_args", &event_args.join(", "));
    Ok(templates::fit_width(
        project,
        templates::render(project, "event.rs.tera", &context)?,
    ))
}

/// A Rust string literal for `s`.
fn rust_string(s: &str) -> String {
    format!("{s:?}")
}

fn refuse_existing(project: &Project, kind: &str, path: &Path, force: bool) -> Result<()> {
    if !force && path.exists() {
        bail!(
            "{kind} [{}] already exists; nothing was written. Pass --force to overwrite it.",
            project.rel(path)
        );
    }
    Ok(())
}

/// Refuses a second type of the same name in another file: the glob
/// re-exports would make the name ambiguous and the package would not build.
fn refuse_twin(project: &Project, names: &Names, path: &Path, twin: Option<&String>) -> Result<()> {
    if let Some(file) = twin
        && *file != project.rel(path)
    {
        bail!(
            "{} is already defined in {file}; nothing was written",
            names.type_name
        );
    }
    Ok(())
}

fn existing_file(outcomes: &[(PathBuf, crate::fsx::Outcome)], path: &Path) -> bool {
    outcomes
        .iter()
        .any(|(p, o)| p == path && *o != crate::fsx::Outcome::Created)
}
