//! The files artisan owns or touches besides the ones it scaffolds:
//! `mod.rs` of each folder (between markers), the generated registry, and
//! the `mod` lines of the crate root. All are rebuilt from a [`Scan`], never
//! patched, so renamed, deleted and hand-edited files are picked up.

use std::collections::BTreeSet;
use std::path::Path;

use anyhow::{Context, Result, bail};
use syn::spanned::Spanned;

use crate::fsx::Transaction;
use crate::project::{Folder, Project};
use crate::scan::{ModFile, ParseError, Scan, module_path};
use crate::templates;

pub const BEGIN: &str = "// artisan:begin";
pub const END: &str = "// artisan:end";

const MOD_HEADER: &str = "\
// The lines between `artisan:begin` and `artisan:end` are rebuilt by artisan
// from the files in this folder. Write your own items outside them.
";

/// What a regeneration decided, for the command to report.
#[derive(Debug, Default)]
pub struct Wiring {
    /// `(event type, listener type)` pairs `register_on` wires.
    pub wired: Vec<(String, String)>,
    /// Events in `job_registry()`.
    pub jobs: usize,
    pub notes: Vec<String>,
}

/// Queues new `mod.rs` files, the registry and the crate root's `mod` lines in `tx`.
pub fn rebuild(project: &Project, scan: &Scan, tx: &mut Transaction) -> Result<Wiring> {
    let mut wiring = Wiring {
        notes: scan.notes.clone(),
        ..Wiring::default()
    };
    let hidden_events = mod_rs(project, &project.events, &scan.event_files, tx, &mut wiring)?;
    let hidden_listeners = mod_rs(
        project,
        &project.listeners,
        &scan.listener_files,
        tx,
        &mut wiring,
    )?;
    registry(
        project,
        scan,
        &hidden_events,
        &hidden_listeners,
        tx,
        &mut wiring,
    )?;
    crate_root(project, tx)?;
    Ok(wiring)
}

/// Reads a file, or `None` if it does not exist.
fn read_optional(path: &Path) -> Result<Option<String>> {
    match std::fs::read_to_string(path) {
        Ok(text) => Ok(Some(text)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e).with_context(|| format!("cannot read {}", path.display())),
    }
}

/// Rebuilds the artisan block of a folder's `mod.rs`. Returns the modules a
/// hand-written `mod x;` keeps private, which the registry cannot name.
fn mod_rs(
    project: &Project,
    folder: &Folder,
    files: &[ModFile],
    tx: &mut Transaction,
    wiring: &mut Wiring,
) -> Result<BTreeSet<String>> {
    let path = folder.mod_rs();
    let rel = project.rel(&path);
    let existing = match tx.contents(&path) {
        Some(text) => Some(text.to_string()),
        None => read_optional(&path)?,
    };
    let (before, after) = match &existing {
        None => (format!("{MOD_HEADER}\n"), String::new()),
        Some(text) => split_markers(text, &rel)?,
    };

    // Parse the user's part (block blanked out, so line numbers match the file).
    let mut hidden = BTreeSet::new();
    let mut declared = BTreeSet::new();
    if existing.is_some() {
        let block_lines = existing
            .as_deref()
            .map(|t| t.lines().count())
            .unwrap_or(0)
            .saturating_sub(before.lines().count() + after.lines().count());
        let probe = format!("{before}{}{after}", "\n".repeat(block_lines));
        let file = syn::parse_file(&probe).map_err(|e| ParseError::from_syn(&rel, &e))?;
        for item in &file.items {
            if let syn::Item::Mod(m) = item {
                let name = m.ident.to_string();
                let bare = name.strip_prefix("r#").unwrap_or(&name).to_string();
                if matches!(m.vis, syn::Visibility::Inherited) {
                    hidden.insert(bare.clone());
                }
                declared.insert(bare);
            }
        }
    }
    for module in &hidden {
        if files
            .iter()
            .any(|f| f.module.as_deref().map(bare) == Some(module.as_str()))
        {
            wiring.notes.push(format!(
                "{rel} declares `mod {module};` without `pub`, so the registry cannot reach \
                 what it defines; make it `pub mod {module};`"
            ));
        }
    }

    let modules: Vec<&str> = files
        .iter()
        .filter_map(|f| f.module.as_deref())
        .filter(|m| !declared.contains(bare(m)))
        .collect();
    let mut context = tera::Context::new();
    context.insert("modules", &modules);
    let block = templates::render(project, "mod.rs.tera", &context)?;
    let new = if existing.is_none() || has_markers(existing.as_deref().unwrap_or_default()) {
        format!("{before}{BEGIN}\n{block}{END}\n{after}")
    } else {
        // A hand-written mod.rs: kept as it is, the block goes at its end.
        let mut text = before;
        if !text.is_empty() && !text.ends_with('\n') {
            text.push('\n');
        }
        if !text.is_empty() {
            text.push('\n');
        }
        format!("{text}{BEGIN}\n{block}{END}\n")
    };
    tx.write(path, new);
    Ok(hidden)
}

fn bare(module: &str) -> &str {
    module.strip_prefix("r#").unwrap_or(module)
}

fn is_marker(line: &str, marker: &str) -> bool {
    line.trim_start().starts_with(marker)
}

fn has_markers(text: &str) -> bool {
    text.lines().any(|l| is_marker(l, BEGIN))
}

/// The text before the begin marker and after the end marker. A file
/// without markers is all "before".
fn split_markers(text: &str, rel: &str) -> Result<(String, String)> {
    let begins: Vec<usize> = line_starts(text, BEGIN);
    let ends: Vec<usize> = line_starts(text, END);
    match (begins.as_slice(), ends.as_slice()) {
        ([], []) => Ok((text.to_string(), String::new())),
        ([b], [e]) if b < e => {
            let after_end = text[*e..]
                .find('\n')
                .map(|i| e + i + 1)
                .unwrap_or(text.len());
            Ok((text[..*b].to_string(), text[after_end..].to_string()))
        }
        _ => bail!(
            "{rel} has {} `{BEGIN}` and {} `{END}` lines; artisan needs exactly one pair, \
             begin before end, to know which lines are its own. Fix the markers (or delete \
             the file to let artisan write a new one); nothing was written",
            begins.len(),
            ends.len()
        ),
    }
}

/// Byte offsets of the lines that start (after indentation) with `marker`.
fn line_starts(text: &str, marker: &str) -> Vec<usize> {
    let mut out = Vec::new();
    let mut offset = 0;
    for line in text.split_inclusive('\n') {
        if is_marker(line, marker) {
            out.push(offset);
        }
        offset += line.len();
    }
    out
}

#[derive(serde::Serialize)]
struct Wire {
    event: String,
    listener: String,
}

#[derive(serde::Serialize)]
struct Job {
    event: String,
    listeners: Vec<String>,
}

fn registry(
    project: &Project,
    scan: &Scan,
    hidden_events: &BTreeSet<String>,
    hidden_listeners: &BTreeSet<String>,
    tx: &mut Transaction,
    wiring: &mut Wiring,
) -> Result<()> {
    let reachable = |module: &Option<String>, hidden: &BTreeSet<String>| {
        module.as_deref().is_none_or(|m| !hidden.contains(bare(m)))
    };
    let events = scan
        .events
        .iter()
        .filter(|e| reachable(&e.module, hidden_events));
    let mut by_type: std::collections::BTreeMap<&str, Vec<&crate::scan::EventInfo>> =
        std::collections::BTreeMap::new();
    for e in events {
        by_type.entry(e.type_name.as_str()).or_default().push(e);
    }
    let mut unique = Vec::new();
    for (type_name, twins) in by_type {
        if let [only] = twins.as_slice() {
            unique.push(*only);
        } else {
            let files: Vec<_> = twins.iter().map(|t| t.file.as_str()).collect();
            wiring.notes.push(format!(
                "{type_name} is defined {} times ({}); rename one. Listeners on it are not wired",
                twins.len(),
                files.join(", ")
            ));
        }
    }

    let mut by_event: std::collections::HashMap<&str, Vec<&crate::scan::ListenerInfo>> =
        std::collections::HashMap::new();
    for l in &scan.listeners {
        by_event.entry(l.event.as_str()).or_default().push(l);
    }
    let known: std::collections::HashSet<&str> =
        scan.events.iter().map(|e| e.type_name.as_str()).collect();

    let mut wires = Vec::new();
    let mut jobs: Vec<Job> = Vec::new();
    // `#[subscriber]` types, each subscribed once (all of its methods).
    let mut subscribers: Vec<String> = Vec::new();
    for l in &scan.listeners {
        if l.subscriber.is_none() || !reachable(&l.module, hidden_listeners) {
            continue;
        }
        let Some(construct) = &l.construct else {
            continue;
        };
        let expr = format!(
            "{}::{construct}",
            module_path(&project.listeners, &l.module)
        );
        if !subscribers.contains(&expr) {
            subscribers.push(expr);
        }
        wiring.wired.push((l.event.clone(), l.type_name.clone()));
    }
    for event in &unique {
        let event_path = format!(
            "{}::{}",
            module_path(&project.events, &event.module),
            event.type_name
        );
        let mut listeners = Vec::new();
        for l in by_event.get(event.type_name.as_str()).into_iter().flatten() {
            if l.subscriber.is_some() {
                continue;
            }
            let Some(construct) = &l.construct else {
                continue;
            };
            if !reachable(&l.module, hidden_listeners) {
                continue;
            }
            let expr = format!(
                "{}::{construct}",
                module_path(&project.listeners, &l.module)
            );
            wires.push(Wire {
                event: event_path.clone(),
                listener: expr.clone(),
            });
            wiring
                .wired
                .push((event.type_name.clone(), l.type_name.clone()));
            listeners.push(expr);
        }
        if event.deserialize {
            jobs.push(Job {
                event: event_path,
                listeners,
            });
        } else {
            wiring.notes.push(format!(
                "{} is not in job_registry(): it does not derive Deserialize, so a queue worker \
                 could not rebuild it",
                event.type_name
            ));
        }
    }
    for l in &scan.listeners {
        // A subscriber registers its methods itself, whatever their event.
        if l.subscriber.is_none() && !known.contains(l.event.as_str()) {
            wiring.notes.push(format!(
                "{}:{}: {} listens to {}, which is not an event in {}/; it is not wired",
                l.file,
                l.line,
                l.type_name,
                l.event,
                project.rel(&project.events.dir)
            ));
        }
    }
    wiring.jobs = jobs.len();

    let mut context = tera::Context::new();
    context.insert("events_dir", &project.rel(&project.events.dir));
    context.insert("listeners_dir", &project.rel(&project.listeners.dir));
    context.insert("wires", &wires);
    context.insert("jobs", &jobs);
    context.insert("subscribers", &subscribers);
    // The app's own hook, when its file is there (`artisan init` writes it).
    let provider = project.provider();
    let provider_name = (tx.contents(&provider).is_some() || provider.is_file())
        .then(|| {
            provider
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
        })
        .flatten();
    context.insert("provider", &provider_name);
    let text = templates::render(project, "event_registry.rs.tera", &context)?;
    tx.write(project.registry.clone(), text);
    Ok(())
}

/// Adds `mod events; mod listeners; mod event_registry;` to the crate root
/// where missing, before its first item. Nothing else in it changes.
fn crate_root(project: &Project, tx: &mut Transaction) -> Result<()> {
    let path = &project.crate_root;
    let rel = project.rel(path);
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read the crate root {rel}"))?;
    let file = syn::parse_file(&text).map_err(|e| ParseError::from_syn(&rel, &e))?;
    let declared: BTreeSet<String> = file
        .items
        .iter()
        .filter_map(|i| match i {
            syn::Item::Mod(m) => Some(bare(&m.ident.to_string()).to_string()),
            _ => None,
        })
        .collect();
    let mut wanted = [
        project.events.module.clone(),
        project.listeners.module.clone(),
        project.registry_mod.clone(),
    ];
    wanted.sort_by(|a, b| bare(a).cmp(bare(b)));
    let vis = if project.is_lib { "pub " } else { "" };
    let missing: String = wanted
        .iter()
        .filter(|m| !declared.contains(bare(m)))
        .map(|m| format!("{vis}mod {m};\n"))
        .collect();
    if missing.is_empty() {
        return Ok(());
    }
    let first_line = file.items.first().map(|item| {
        let attr_line = item_attrs(item)
            .iter()
            .filter(|a| matches!(a.style, syn::AttrStyle::Outer))
            .map(|a| a.span().start().line)
            .min();
        let own = item.span().start().line;
        attr_line.map_or(own, |a| a.min(own))
    });
    let new = match first_line {
        Some(line) => {
            let mut out = String::with_capacity(text.len() + missing.len() + 1);
            for (i, l) in text.split_inclusive('\n').enumerate() {
                if i + 1 == line {
                    out.push_str(&missing);
                    out.push('\n');
                }
                out.push_str(l);
            }
            out
        }
        None => {
            let mut out = text.clone();
            if !out.is_empty() && !out.ends_with('\n') {
                out.push('\n');
            }
            if !out.trim().is_empty() {
                out.push('\n');
            }
            out.push_str(&missing);
            out
        }
    };
    tx.write(path.clone(), new);
    Ok(())
}

fn item_attrs(item: &syn::Item) -> &[syn::Attribute] {
    match item {
        syn::Item::Const(i) => &i.attrs,
        syn::Item::Enum(i) => &i.attrs,
        syn::Item::ExternCrate(i) => &i.attrs,
        syn::Item::Fn(i) => &i.attrs,
        syn::Item::ForeignMod(i) => &i.attrs,
        syn::Item::Impl(i) => &i.attrs,
        syn::Item::Macro(i) => &i.attrs,
        syn::Item::Mod(i) => &i.attrs,
        syn::Item::Static(i) => &i.attrs,
        syn::Item::Struct(i) => &i.attrs,
        syn::Item::Trait(i) => &i.attrs,
        syn::Item::TraitAlias(i) => &i.attrs,
        syn::Item::Type(i) => &i.attrs,
        syn::Item::Union(i) => &i.attrs,
        syn::Item::Use(i) => &i.attrs,
        _ => &[],
    }
}
