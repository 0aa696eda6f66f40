//! `event:list` and `event:generate`.

use std::path::Path;

use anyhow::Result;
use event_core::config::EventsConfig;
use event_macros_internals::naming;

use crate::cli::EventList;
use crate::config::app_config;
use crate::fsx::Transaction;
use crate::out;
use crate::project::Project;
use crate::scan::{self, EventInfo, ListenerInfo};
use crate::wiring;

use super::{report_wiring, write_with_wiring};

pub fn generate(manifest: Option<&Path>) -> Result<()> {
    let project = Project::open(manifest)?;
    let (scan, wiring, outcomes) = write_with_wiring(&project, Vec::new())?;
    report_wiring(&project, &wiring, &outcomes, &[], true);
    out::info(&format!(
        "{} event(s), {} listener(s) wired by register(), {} event(s) in job_registry().",
        scan.events.len(),
        wiring.wired.len(),
        wiring.jobs
    ));
    Ok(())
}

#[derive(serde::Serialize)]
struct Listing<'a> {
    events: Vec<Row<'a>>,
    /// Hand-written `impl EventListener` types artisan cannot tie to an event.
    listeners_without_event: Vec<UnwiredRow<'a>>,
}

#[derive(serde::Serialize)]
struct Row<'a> {
    event: &'a str,
    name: &'a str,
    file: String,
    queued: bool,
    /// Where the runtime sends it when queued: its own, else the app's default.
    connection: Option<&'a str>,
    queue: Option<&'a str>,
    broadcast: Option<&'a str>,
    listeners: Vec<ListenerRow<'a>>,
}

#[derive(serde::Serialize)]
struct ListenerRow<'a> {
    listener: &'a str,
    file: String,
    queued: bool,
    connection: Option<&'a str>,
    queue: Option<&'a str>,
    wired: bool,
}

#[derive(serde::Serialize)]
struct UnwiredRow<'a> {
    listener: &'a str,
    file: String,
    /// Its `ShouldQueueListener` settings never reach a queue: its
    /// `EventListener` impl does not return them from `as_should_queue_listener`.
    should_queue_unreachable: bool,
}

/// Where a queued item goes: its own connection and queue, else the app's.
fn route<'a>(
    config: &'a EventsConfig,
    queued: bool,
    connection: &'a Option<String>,
    queue: &'a Option<String>,
) -> (Option<&'a str>, Option<&'a str>) {
    if !queued {
        return (None, None);
    }
    (
        Some(connection.as_deref().unwrap_or(&config.queue_connection)),
        Some(queue.as_deref().unwrap_or(&config.default_queue)),
    )
}

pub fn list(manifest: Option<&Path>, args: EventList) -> Result<()> {
    let project = Project::open(manifest)?;
    let config = app_config(Some(&project))?;
    let scan = scan::scan(&project, &[])?;
    let filter = args.event.as_deref().map(str::to_lowercase);
    let mut events: Vec<&EventInfo> = scan
        .events
        .iter()
        .filter(|e| {
            filter.as_deref().is_none_or(|f| {
                e.type_name.to_lowercase().contains(f) || e.name.to_lowercase().contains(f)
            })
        })
        .collect();
    events.sort_by(|a, b| a.type_name.cmp(&b.type_name));

    // What the registry wires, to mark listeners it skips.
    let mut tx = Transaction::new();
    let wiring = wiring::rebuild(&project, &scan, &mut tx)?;
    let generated = project.registry.is_file();
    let stale = generated
        && [
            &project.registry,
            &project.events.mod_rs(),
            &project.listeners.mod_rs(),
        ]
        .iter()
        .any(|p| tx.contents(p).map(str::as_bytes) != std::fs::read(p).ok().as_deref());

    let mut by_event: std::collections::HashMap<&str, Vec<&ListenerInfo>> =
        std::collections::HashMap::new();
    for l in &scan.listeners {
        by_event.entry(l.event.as_str()).or_default().push(l);
    }
    let wired: std::collections::HashSet<(&str, &str)> = wiring
        .wired
        .iter()
        .map(|(e, l)| (e.as_str(), l.as_str()))
        .collect();

    let rows: Vec<Row> = events
        .iter()
        .map(|e| {
            let (connection, queue) = route(&config, e.queued, &e.connection, &e.queue);
            Row {
                event: &e.type_name,
                name: &e.name,
                file: scan::location(&e.file, e.line),
                queued: e.queued,
                connection,
                queue,
                broadcast: e.broadcast.as_deref(),
                listeners: by_event
                    .get(e.type_name.as_str())
                    .into_iter()
                    .flatten()
                    .map(|l| listener_row(&config, l, &wired))
                    .collect(),
            }
        })
        .collect();
    let unwired: Vec<UnwiredRow> = if filter.is_none() {
        scan.unwired
            .iter()
            .map(|u| UnwiredRow {
                listener: &u.type_name,
                file: scan::location(&u.file, u.line),
                should_queue_unreachable: u.should_queue_unreachable,
            })
            .collect()
    } else {
        Vec::new()
    };

    if args.json {
        let listing = Listing {
            events: rows,
            listeners_without_event: unwired,
        };
        out::plain(&serde_json::to_string_pretty(&listing)?);
        return Ok(());
    }
    if rows.is_empty() {
        let what = match &args.event {
            Some(f) => format!("Your package has no events matching \"{f}\"."),
            None => "Your package has no events yet: try `artisan make:event UserRegistered`."
                .to_string(),
        };
        out::info(&what);
    }
    let width: usize = 76;
    let dim = out::dim();
    let bold = out::bold();
    let yellow = out::yellow();
    out::plain("");
    for row in &rows {
        let mut head = row.event.to_string();
        if row.name != naming::conventional_event_name(row.event) {
            head = format!("{head} (\"{}\")", row.name);
        }
        let mut tags = Vec::new();
        if let (Some(connection), Some(queue)) = (row.connection, row.queue) {
            tags.push(format!("queued: {connection}/{queue}"));
        }
        if let Some(channel) = row.broadcast {
            tags.push(format!("broadcast: {channel}"));
        }
        let plain = if tags.is_empty() {
            String::new()
        } else {
            format!(" ({})", tags.join(", "))
        };
        let dots = width
            .saturating_sub(head.len() + plain.chars().count() + row.file.len() + 4)
            .max(3);
        let tags = if plain.is_empty() {
            plain
        } else {
            format!("{yellow}{plain}{yellow:#}")
        };
        out::plain(&format!(
            "  {bold}{head}{bold:#}{tags} {dim}{}{dim:#} {}",
            ".".repeat(dots),
            row.file
        ));
        for l in &row.listeners {
            let mut tag = String::new();
            if let (Some(connection), Some(queue)) = (l.connection, l.queue) {
                tag = format!(" {yellow}(queued: {connection}/{queue}){yellow:#}");
            }
            if !l.wired {
                tag.push_str(&format!(" {dim}(not wired){dim:#}"));
            }
            out::plain(&format!("  ⇂ {}{tag}", l.listener));
        }
        out::plain("");
    }
    if !unwired.is_empty() {
        out::plain(&format!(
            "  {bold}Listeners without an event{bold:#} {dim}(they implement EventListener by hand; register them yourself){dim:#}"
        ));
        for l in &unwired {
            let mut tag = String::new();
            if l.should_queue_unreachable {
                tag = format!(
                    " {yellow}(its ShouldQueueListener settings are unreachable: return `Some(self)` from `as_should_queue_listener`){yellow:#}"
                );
            }
            out::plain(&format!("  ⇂ {} ({}){tag}", l.listener, l.file));
        }
        out::plain("");
    }
    if stale {
        out::warn("The registry is out of date: run `artisan event:generate`.");
    } else if !generated && !scan.events.is_empty() {
        out::info(&format!(
            "[{}] is not generated yet: run `artisan event:generate`.",
            project.rel(&project.registry)
        ));
    }
    for note in &wiring.notes {
        out::warn(note);
    }
    Ok(())
}

fn listener_row<'a>(
    config: &'a EventsConfig,
    l: &'a ListenerInfo,
    wired: &std::collections::HashSet<(&str, &str)>,
) -> ListenerRow<'a> {
    let (connection, queue) = route(config, l.queued, &l.connection, &l.queue);
    ListenerRow {
        listener: &l.type_name,
        file: scan::location(&l.file, l.line),
        queued: l.queued,
        connection,
        queue,
        wired: wired.contains(&(l.event.as_str(), l.type_name.as_str())),
    }
}
