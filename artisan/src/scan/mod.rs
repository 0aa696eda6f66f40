//! What is in `src/events/` and `src/listeners/`: a syn parse of every file.
//!
//! Events are structs with `#[derive(Event)]` (or a hand-written
//! `impl Event for T`); listeners are `#[listener(...)]` functions and impl
//! blocks, and `#[subscriber]` impl blocks (each `#[listen]` method a
//! listener). Only what artisan can wire without guessing is wired; everything
//! else is reported with the reason.

mod cache;
mod events;
mod folder;
mod listeners;
mod subscribers;
mod syntax;

use std::collections::BTreeMap;
use std::path::PathBuf;

use anyhow::{Context, Result};

use crate::project::{Folder, Project};

use cache::{CACHE_VERSION, Cache, CacheEntry, load_cache, save_cache};
use events::collect_events;
use folder::read_folder;
use listeners::collect_listeners;
/// One `.rs` file of a scanned folder.
#[derive(Debug, Clone)]
pub struct ModFile {
    /// The module as written in code (`user_registered`, `r#type`); `None` for `mod.rs`.
    pub module: Option<String>,
    pub path: PathBuf,
    /// `path` relative to the package, for messages and the cache.
    pub rel: String,
}

#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct EventInfo {
    /// The Rust type, `UserRegisteredEvent`.
    pub type_name: String,
    /// The event name listeners and queues see, `UserRegistered`.
    pub name: String,
    pub module: Option<String>,
    pub file: String,
    pub line: usize,
    pub queued: bool,
    pub queue: Option<String>,
    pub connection: Option<String>,
    pub broadcast: Option<String>,
    /// Derives `Deserialize`, so queue workers can rebuild it.
    pub deserialize: bool,
}

#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct ListenerInfo {
    /// The type registered, `SendWelcomeEmailListener`.
    pub type_name: String,
    /// The event type named in `#[listener(event = ...)]` (its last path segment).
    pub event: String,
    pub module: Option<String>,
    pub file: String,
    pub line: usize,
    pub queued: bool,
    pub queue: Option<String>,
    pub connection: Option<String>,
    /// How the registry builds it: `Name` or `Name::default()`; `None` when it cannot.
    /// For a subscriber's method, how the subscriber is built.
    pub construct: Option<String>,
    /// A `#[listen]` method's `#[subscriber]` type (`type_name` is then
    /// `Subscriber::method`): the registry subscribes the type once.
    #[serde(default)]
    pub subscriber: Option<String>,
}

/// A file that did not parse.
#[derive(Debug, thiserror::Error)]
#[error("{file}:{line}:{column}: {message}")]
pub struct ParseError {
    pub file: String,
    pub line: usize,
    pub column: usize,
    pub message: String,
}

impl ParseError {
    /// `file:line:column: what was expected`, in plain words.
    pub fn from_syn(file: &str, e: &syn::Error) -> ParseError {
        let start = e.span().start();
        let raw = e.to_string();
        // syn's wording when the text does not even split into tokens.
        let message = if raw == "cannot parse string into token stream" || raw.contains("lex error")
        {
            "this is not valid Rust yet: a bracket, brace or parenthesis is not closed (or \
             closed twice), or a string, character or comment is not terminated"
                .to_string()
        } else if let Some(what) = raw.strip_prefix("expected ") {
            format!("expected {what} here; fix the file and run artisan again")
        } else {
            format!("{raw}; fix the file and run artisan again")
        };
        ParseError {
            file: file.to_string(),
            line: start.line.max(1),
            column: start.column + 1,
            message,
        }
    }
}

#[derive(Debug, Default)]
pub struct Scan {
    pub event_files: Vec<ModFile>,
    pub listener_files: Vec<ModFile>,
    pub events: Vec<EventInfo>,
    pub listeners: Vec<ListenerInfo>,
    /// Things seen but not wired, with the reason.
    pub notes: Vec<String>,
    /// Hand-written `impl EventListener` types: artisan cannot tell their
    /// event, so `event:list` shows them apart.
    pub unwired: Vec<UnwiredListener>,
}

/// A hand-written `impl EventListener for T`.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct UnwiredListener {
    pub type_name: String,
    pub file: String,
    pub line: usize,
    /// It implements `ShouldQueueListener`, but its `EventListener` impl does
    /// not return it from `as_should_queue_listener`: registered as
    /// `Arc<dyn EventListener>`, a queue never sees those settings.
    pub should_queue_unreachable: bool,
}

impl Scan {
    pub fn event(&self, type_name: &str) -> Option<&EventInfo> {
        self.events.iter().find(|e| e.type_name == type_name)
    }

    pub fn listener(&self, type_name: &str) -> Option<&ListenerInfo> {
        self.listeners.iter().find(|l| l.type_name == type_name)
    }
}

/// Where a file's text comes from.
#[derive(Debug)]
enum Source {
    /// About to be written by this command.
    Text(String),
    /// On disk, with the size and mtime the cache is keyed on.
    Disk { len: u64, mtime_ns: u64 },
}

/// What one file holds; cached per file between runs.
#[derive(Debug, Clone, Default, serde::Serialize, serde::Deserialize)]
struct FileScan {
    events: Vec<EventInfo>,
    listeners: Vec<ListenerInfo>,
    notes: Vec<String>,
    unwired: Vec<UnwiredListener>,
}

/// Files to scan, with their text. `overlay` holds files about to be written:
/// they are scanned as if they were on disk already.
pub fn scan(project: &Project, overlay: &[(PathBuf, String)]) -> Result<Scan> {
    let mut scan = Scan::default();
    let events = read_folder(project, &project.events, overlay, &mut scan.notes)?;
    let listeners = read_folder(project, &project.listeners, overlay, &mut scan.notes)?;

    let cache = load_cache(project);
    let files: Vec<(bool, &ModFile, &Source)> = events
        .iter()
        .map(|(f, s)| (true, f, s))
        .chain(listeners.iter().map(|(f, s)| (false, f, s)))
        .collect();
    let mut results: Vec<Option<FileScan>> = files
        .iter()
        .map(|(_, file, source)| match source {
            Source::Disk { len, mtime_ns } => cache
                .files
                .get(&file.rel)
                .filter(|e| e.len == *len && e.mtime_ns == *mtime_ns)
                .map(|e| e.scan.clone()),
            Source::Text(_) => None,
        })
        .collect();
    let todo: Vec<usize> = (0..files.len()).filter(|i| results[*i].is_none()).collect();
    let parsed = scan_all(&files, &todo)?;

    // Cache what was parsed from disk, unless it changed within the last
    // two seconds (it may change again within the same mtime tick).
    let racy = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos().saturating_sub(2_000_000_000))
        .unwrap_or_default();
    let mut fresh = Cache {
        version: CACHE_VERSION,
        artisan: env!("CARGO_PKG_VERSION").to_string(),
        files: BTreeMap::new(),
    };
    for (i, part) in todo.into_iter().zip(parsed) {
        results[i] = Some(part);
    }
    for ((_, file, source), part) in files.iter().zip(&results) {
        let (Source::Disk { len, mtime_ns }, Some(part)) = (source, part) else {
            continue;
        };
        if u128::from(*mtime_ns) < racy {
            fresh.files.insert(
                file.rel.clone(),
                CacheEntry {
                    len: *len,
                    mtime_ns: *mtime_ns,
                    scan: part.clone(),
                },
            );
        }
    }
    let changed = fresh.files.len() != cache.files.len()
        || fresh.files.iter().any(|(k, v)| {
            cache
                .files
                .get(k)
                .is_none_or(|c| c.len != v.len || c.mtime_ns != v.mtime_ns)
        });
    if changed {
        save_cache(project, &fresh);
    }

    for part in results.into_iter().flatten() {
        scan.events.extend(part.events);
        scan.listeners.extend(part.listeners);
        scan.notes.extend(part.notes);
        scan.unwired.extend(part.unwired);
    }
    scan.event_files = events.into_iter().map(|(f, _)| f).collect();
    scan.listener_files = listeners.into_iter().map(|(f, _)| f).collect();
    Ok(scan)
}

/// Reads and parses `todo` (indexes into `files`) on all cores; syn trees
/// stay on their thread. The first error in file order wins.
fn scan_all(files: &[(bool, &ModFile, &Source)], todo: &[usize]) -> Result<Vec<FileScan>> {
    if todo.is_empty() {
        return Ok(Vec::new());
    }
    let threads = std::thread::available_parallelism()
        .map(usize::from)
        .unwrap_or(1)
        .min(todo.len().div_ceil(64));
    let chunk = todo.len().div_ceil(threads.max(1)).max(1);
    let results: Vec<Result<FileScan>> = if threads <= 1 {
        todo.iter().map(|i| scan_file(files[*i])).collect()
    } else {
        std::thread::scope(|s| {
            let handles: Vec<_> = todo
                .chunks(chunk)
                .map(|part| {
                    s.spawn(move || {
                        part.iter()
                            .map(|i| scan_file(files[*i]))
                            .collect::<Vec<_>>()
                    })
                })
                .collect();
            handles
                .into_iter()
                .flat_map(|h| h.join().unwrap_or_default())
                .collect()
        })
    };
    if results.len() != todo.len() {
        anyhow::bail!("a parser thread panicked");
    }
    results.into_iter().collect()
}

fn scan_file((is_event, file, source): (bool, &ModFile, &Source)) -> Result<FileScan> {
    let disk;
    let text = match source {
        Source::Text(text) => text.as_str(),
        Source::Disk { .. } => {
            disk = std::fs::read_to_string(&file.path)
                .with_context(|| format!("cannot read {}", file.path.display()))?;
            disk.as_str()
        }
    };
    let items = syn::parse_file(text)
        .map(|f| f.items)
        .map_err(|e| ParseError::from_syn(&file.rel, &e))?;
    let mut part = Scan::default();
    if is_event {
        collect_events(file, &items, &mut part);
    } else {
        collect_listeners(file, &items, &mut part);
    }
    Ok(FileScan {
        events: part.events,
        listeners: part.listeners,
        notes: part.notes,
        unwired: part.unwired,
    })
}

/// Makes the `file:line` of `path` for messages.
pub fn location(file: &str, line: usize) -> String {
    format!("{file}:{line}")
}

/// The folder-relative module path of a scanned item: `crate::events::user_registered`.
pub fn module_path(folder: &Folder, module: &Option<String>) -> String {
    match module {
        Some(m) => format!("crate::{}::{m}", folder.module),
        None => format!("crate::{}", folder.module),
    }
}
