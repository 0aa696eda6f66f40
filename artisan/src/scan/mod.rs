//! What is in `src/events/` and `src/listeners/`: a syn parse of every file.
//!
//! Events are structs with `#[derive(Event)]` (or a hand-written
//! `impl Event for T`); listeners are `#[listener(...)]` functions and impl
//! blocks. Only what artisan can wire without guessing is wired; everything
//! else is reported with the reason.

use std::collections::BTreeMap;
use std::path::PathBuf;

use anyhow::{Context, Result};
use event_macros_internals::ctxt::Ctxt;
use event_macros_internals::valid::ListenerKind;
use event_macros_internals::{ast, naming, valid};
use quote::ToTokens;

use crate::names::rust_ident;
use crate::project::{Folder, Project};

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
    pub construct: Option<String>,
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

const CACHE_VERSION: u32 = 3;

/// Parse results of unchanged files (same size and mtime, like cargo's
/// fingerprints), kept in the target dir. Only a speed-up: a missing or
/// unreadable cache means a full parse.
#[derive(Default, serde::Serialize, serde::Deserialize)]
struct Cache {
    version: u32,
    /// The artisan that wrote it: another version may scan differently.
    artisan: String,
    files: BTreeMap<String, CacheEntry>,
}

#[derive(Clone, serde::Serialize, serde::Deserialize)]
struct CacheEntry {
    len: u64,
    mtime_ns: u64,
    scan: FileScan,
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

fn load_cache(project: &Project) -> Cache {
    project
        .scan_cache
        .as_deref()
        .and_then(|path| std::fs::read(path).ok())
        .and_then(|bytes| serde_json::from_slice::<Cache>(&bytes).ok())
        .filter(|c| c.version == CACHE_VERSION && c.artisan == env!("CARGO_PKG_VERSION"))
        .unwrap_or_default()
}

fn save_cache(project: &Project, cache: &Cache) {
    let Some(path) = project.scan_cache.as_deref() else {
        return;
    };
    let Ok(bytes) = serde_json::to_vec(cache) else {
        return;
    };
    let mut tx = crate::fsx::Transaction::new();
    tx.write(path, String::from_utf8_lossy(&bytes).into_owned());
    // A read-only or missing target dir only costs speed next time.
    let _ = tx.commit();
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

/// The `.rs` files of a folder (not recursing), `mod.rs` included, sorted.
fn read_folder(
    project: &Project,
    folder: &Folder,
    overlay: &[(PathBuf, String)],
    notes: &mut Vec<String>,
) -> Result<Vec<(ModFile, Source)>> {
    // Keyed by file name: sorting strings is much cheaper than sorting paths.
    let mut files: BTreeMap<String, Source> = BTreeMap::new();
    match std::fs::read_dir(&folder.dir) {
        Ok(entries) => {
            for entry in entries {
                let entry =
                    entry.with_context(|| format!("cannot list {}", folder.dir.display()))?;
                let Ok(name) = entry.file_name().into_string() else {
                    continue;
                };
                // No stat for the common case: the type comes with the listing.
                let file_type = entry.file_type().ok();
                let meta = if file_type.is_some_and(|t| t.is_symlink()) {
                    std::fs::metadata(entry.path()).ok()
                } else {
                    None
                };
                let is_dir = meta
                    .as_ref()
                    .map(|m| m.is_dir())
                    .or(file_type.map(|t| t.is_dir()))
                    .unwrap_or(false);
                if is_dir {
                    notes.push(format!(
                        "{}/{name}/ is not scanned: artisan wires the .rs files directly in {}/",
                        project.rel(&folder.dir),
                        project.rel(&folder.dir)
                    ));
                    continue;
                }
                if !name.ends_with(".rs") {
                    continue;
                }
                let meta = match meta {
                    Some(m) => m,
                    None => entry
                        .metadata()
                        .with_context(|| format!("cannot read {}", entry.path().display()))?,
                };
                if !meta.is_file() {
                    continue;
                }
                let mtime_ns = meta
                    .modified()
                    .ok()
                    .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
                    .map(|d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX))
                    .unwrap_or_default();
                files.insert(
                    name,
                    Source::Disk {
                        len: meta.len(),
                        mtime_ns,
                    },
                );
            }
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => {
            return Err(e).with_context(|| format!("cannot list {}", folder.dir.display()));
        }
    }
    for (path, text) in overlay {
        if path.parent() == Some(folder.dir.as_path())
            && let Some(name) = path.file_name().and_then(|n| n.to_str())
        {
            files.insert(name.to_string(), Source::Text(text.clone()));
        }
    }
    let folder_rel = project.rel(&folder.dir);
    let mut out = Vec::with_capacity(files.len());
    for (name, source) in files {
        let stem = name.strip_suffix(".rs").unwrap_or(&name);
        let path = folder.dir.join(&name);
        let rel = format!("{folder_rel}/{name}");
        let module = if stem == "mod" {
            None
        } else {
            match module_name(stem) {
                Some(m) => Some(m),
                None => {
                    notes.push(format!(
                        "{rel} is skipped: `{stem}` is not a valid module name"
                    ));
                    continue;
                }
            }
        };
        out.push((ModFile { module, path, rel }, source));
    }
    Ok(out)
}

fn module_name(stem: &str) -> Option<String> {
    let valid = !stem.is_empty()
        && stem.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
        && !stem.starts_with(|c: char| c.is_ascii_digit());
    if valid { rust_ident(stem) } else { None }
}

fn line_of(span: proc_macro2::Span) -> usize {
    span.start().line
}

/// Does the derive list of `attrs` name `what` (as `what` or `path::what`)?
fn derives(attrs: &[syn::Attribute], what: &str) -> bool {
    attrs
        .iter()
        .filter(|a| a.path().is_ident("derive"))
        .any(|a| {
            let mut found = false;
            let _ = a.parse_nested_meta(|meta| {
                if meta.path.segments.last().is_some_and(|s| s.ident == what) {
                    found = true;
                }
                Ok(())
            });
            found
        })
}

fn find_attr<'a>(attrs: &'a [syn::Attribute], name: &str) -> Option<&'a syn::Attribute> {
    attrs
        .iter()
        .find(|a| a.path().segments.last().is_some_and(|s| s.ident == name))
}

/// The mistakes the macro will report for an item, as one line each, with
/// the line they point at (the item's own when the error has no place).
fn macro_errors(error: syn::Error, fallback_line: usize) -> Vec<(usize, String)> {
    error
        .into_iter()
        .map(|e| {
            let line = e.span().start().line;
            let line = if line == 0 { fallback_line } else { line };
            (line, e.to_string().replace('\n', "; "))
        })
        .collect()
}

fn collect_events(file: &ModFile, items: &[syn::Item], scan: &mut Scan) {
    let rel = file.rel.clone();
    for item in items {
        match item {
            syn::Item::Struct(s) if derives(&s.attrs, "Event") => {
                let type_name = s.ident.to_string();
                let line = line_of(s.ident.span());
                if !s.generics.params.is_empty() {
                    scan.notes.push(format!(
                        "{rel}: {type_name} is generic, so artisan cannot name it in the \
                         registry; register its listeners by hand"
                    ));
                    continue;
                }
                // The macro's own parser and rules: what it compiles is what we list.
                let input = syn::DeriveInput::from(s.clone());
                let mut cx = Ctxt::new();
                let parsed = ast::event_input(&mut cx, &input);
                let broadcast = parsed
                    .as_ref()
                    .and_then(|p| p.attrs.broadcast.as_ref().map(|l| l.value()));
                let model = parsed.map(|p| valid::event(&mut cx, p));
                if let Err(e) = cx.check() {
                    for (at, message) in macro_errors(e, line) {
                        scan.notes.push(format!(
                            "{rel}:{at}: {type_name} does not compile, so it is not wired: {message}"
                        ));
                    }
                    continue;
                }
                let Some(model) = model else { continue };
                scan.events.push(EventInfo {
                    name: model.name,
                    module: file.module.clone(),
                    file: rel.clone(),
                    line,
                    queued: model.queued.is_some(),
                    queue: model.queue,
                    connection: model.connection,
                    broadcast,
                    deserialize: derives(&s.attrs, "Deserialize"),
                    type_name,
                });
            }
            syn::Item::Impl(imp) if is_trait_impl(imp, "Event") => {
                let Some(type_name) = self_type_name(imp) else {
                    continue;
                };
                let deserialize = items.iter().any(|i| match i {
                    syn::Item::Struct(s) => {
                        s.ident == type_name && derives(&s.attrs, "Deserialize")
                    }
                    syn::Item::Enum(e) => e.ident == type_name && derives(&e.attrs, "Deserialize"),
                    _ => false,
                });
                scan.events.push(EventInfo {
                    name: literal_event_name(imp)
                        .unwrap_or_else(|| naming::conventional_event_name(&type_name)),
                    module: file.module.clone(),
                    file: rel.clone(),
                    line: line_of(imp.impl_token.span),
                    queued: false,
                    queue: None,
                    connection: None,
                    broadcast: None,
                    deserialize,
                    type_name,
                });
            }
            _ => {}
        }
    }
}

/// `"legacy"` from a hand-written `fn event_name(&self) -> &'static str { "legacy" }`.
fn literal_event_name(imp: &syn::ItemImpl) -> Option<String> {
    imp.items.iter().find_map(|item| match item {
        syn::ImplItem::Fn(f) if f.sig.ident == "event_name" => match f.block.stmts.as_slice() {
            [
                syn::Stmt::Expr(
                    syn::Expr::Lit(syn::ExprLit {
                        lit: syn::Lit::Str(s),
                        ..
                    }),
                    None,
                ),
            ] => Some(s.value()),
            _ => None,
        },
        _ => None,
    })
}

fn is_trait_impl(imp: &syn::ItemImpl, name: &str) -> bool {
    imp.trait_
        .as_ref()
        .is_some_and(|(_, path, _)| path.segments.last().is_some_and(|s| s.ident == name))
}

fn self_type_name(imp: &syn::ItemImpl) -> Option<String> {
    match &*imp.self_ty {
        syn::Type::Path(p) if p.qself.is_none() => {
            p.path.segments.last().map(|s| s.ident.to_string())
        }
        _ => None,
    }
}

fn collect_listeners(file: &ModFile, items: &[syn::Item], scan: &mut Scan) {
    let rel = file.rel.clone();
    let hand_written = hand_written_listeners(items);
    for item in items {
        let (attr, tokens, construct_of, line) = match item {
            syn::Item::Fn(f) => {
                let Some(attr) = find_attr(&f.attrs, "listener") else {
                    continue;
                };
                (attr, f.to_token_stream(), None, line_of(f.sig.ident.span()))
            }
            syn::Item::Impl(imp) if imp.trait_.is_none() => {
                let Some(attr) = find_attr(&imp.attrs, "listener") else {
                    continue;
                };
                (
                    attr,
                    imp.to_token_stream(),
                    self_type_name(imp),
                    line_of(imp.impl_token.span),
                )
            }
            syn::Item::Impl(imp) if is_trait_impl(imp, "EventListener") => {
                if let Some(type_name) = self_type_name(imp) {
                    let unreachable = hand_written
                        .get(type_name.as_str())
                        .is_some_and(|h| h.should_queue_impl && !h.opts_in);
                    scan.unwired.push(UnwiredListener {
                        type_name,
                        file: rel.clone(),
                        line: line_of(imp.impl_token.span),
                        should_queue_unreachable: unreachable,
                    });
                }
                continue;
            }
            _ => continue,
        };
        // The macro's own parser and rules, on the same tokens it gets.
        let args = match &attr.meta {
            syn::Meta::List(list) => list.tokens.clone(),
            _ => proc_macro2::TokenStream::new(),
        };
        let mut cx = Ctxt::new();
        let attrs = ast::listener_attrs(&mut cx, args);
        let model = match ast::listener_item(tokens) {
            Ok(parsed) => valid::listener(&mut cx, attrs, &parsed),
            Err(e) => {
                cx.syn_error(e);
                None
            }
        };
        let shown = construct_of.clone().unwrap_or_else(|| match item {
            syn::Item::Fn(f) => naming::listener_type_name(&f.sig.ident.to_string()),
            _ => String::new(),
        });
        if let Err(e) = cx.check() {
            for (at, message) in macro_errors(e, line) {
                scan.notes.push(format!(
                    "{rel}:{at}: {shown} does not compile, so it is not wired: {message}"
                ));
            }
            continue;
        }
        let Some(model) = model else { continue };
        let (type_name, construct) = match &model.kind {
            ListenerKind::Fn { listener, .. } => {
                let name = listener.to_string();
                (name.clone(), Some(name))
            }
            ListenerKind::Impl { .. } => {
                let type_name = shown.clone();
                let construct = construct_expr(items, &type_name);
                if construct.is_none() {
                    scan.notes.push(format!(
                        "{rel}: {type_name} is not wired: artisan can build only unit structs \
                         or types that derive Default; register it by hand"
                    ));
                }
                (type_name, construct)
            }
        };
        let Some(event) = last_ident(&model.event) else {
            scan.notes.push(format!(
                "{rel}: {type_name} listens to a type artisan cannot name, so it is not wired"
            ));
            continue;
        };
        scan.listeners.push(ListenerInfo {
            type_name,
            event,
            module: file.module.clone(),
            file: rel.clone(),
            line,
            queued: model.knobs.queued,
            queue: model.knobs.queue,
            connection: model.knobs.connection,
            construct,
        });
    }
}

/// What a file says about its hand-written listener types.
#[derive(Default)]
struct HandWritten {
    /// `impl ShouldQueueListener for T` is there.
    should_queue_impl: bool,
    /// `impl EventListener for T` overrides `as_should_queue_listener`, so a
    /// queue can reach those settings through `Arc<dyn EventListener>`.
    opts_in: bool,
}

fn hand_written_listeners(items: &[syn::Item]) -> BTreeMap<String, HandWritten> {
    let mut out: BTreeMap<String, HandWritten> = BTreeMap::new();
    for item in items {
        let syn::Item::Impl(imp) = item else { continue };
        let Some(type_name) = self_type_name(imp) else {
            continue;
        };
        if is_trait_impl(imp, "ShouldQueueListener") {
            out.entry(type_name).or_default().should_queue_impl = true;
        } else if is_trait_impl(imp, "EventListener") {
            let opts_in = imp.items.iter().any(
                |i| matches!(i, syn::ImplItem::Fn(f) if f.sig.ident == "as_should_queue_listener"),
            );
            out.entry(type_name).or_default().opts_in |= opts_in;
        }
    }
    out
}

/// The last name of a type path: `crate::events::X` -> `X`.
fn last_ident(ty: &syn::Type) -> Option<String> {
    match ty {
        syn::Type::Path(p) if p.qself.is_none() => {
            p.path.segments.last().map(|s| s.ident.to_string())
        }
        syn::Type::Group(g) => last_ident(&g.elem),
        syn::Type::Paren(p) => last_ident(&p.elem),
        _ => None,
    }
}

/// `Name` for a unit struct, `Name::default()` for one deriving Default.
fn construct_expr(items: &[syn::Item], type_name: &str) -> Option<String> {
    items.iter().find_map(|item| match item {
        syn::Item::Struct(s) if s.ident == type_name => {
            if matches!(s.fields, syn::Fields::Unit) {
                Some(type_name.to_string())
            } else if derives(&s.attrs, "Default") {
                Some(format!("{type_name}::default()"))
            } else {
                None
            }
        }
        _ => None,
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
