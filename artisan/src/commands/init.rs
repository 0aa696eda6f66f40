//! `artisan init`: gives a package its own artisan binary, the dependencies
//! its scaffolded code needs, the wiring, `.env.example`, and the
//! `register()` call in `main`. Run it again and nothing changes; every
//! file is written in one transaction, or none.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use syn::spanned::Spanned;

use crate::fsx::{Outcome, Transaction};
use crate::out;
use crate::project::Project;
use crate::scan::{self, ParseError};
use crate::wiring;

/// Where this artisan was built from: a checkout of the workspace gives
/// path dependencies (the app then builds against the same event-core);
/// an installed one gives crates.io versions.
const ARTISAN_DIR: &str = env!("CARGO_MANIFEST_DIR");
const VERSION: &str = env!("CARGO_PKG_VERSION");

pub fn init(manifest: Option<&Path>) -> Result<()> {
    let project = Project::open(manifest)?;
    let manifest_path = project.dir.join("Cargo.toml");
    let manifest_text = std::fs::read_to_string(&manifest_path)
        .with_context(|| format!("cannot read {}", manifest_path.display()))?;
    let package = package_name(&manifest_text, &manifest_path)?;
    let bin_path = project.dir.join("src/bin/artisan.rs");
    let bin_text = binary(&project, &package)?;

    let scan = scan::scan(&project, &[])?;
    let mut tx = Transaction::new();
    let wiring = wiring::rebuild(&project, &scan, &mut tx)?;

    let (manifest_new, added) = with_dependencies(&manifest_text, &manifest_path)?;
    if !added.is_empty() {
        tx.write(manifest_path.clone(), manifest_new);
    }
    let bin_kept = bin_path.exists()
        && std::fs::read_to_string(&bin_path).ok().as_deref() != Some(bin_text.as_str());
    if !bin_path.exists() {
        tx.write(bin_path.clone(), bin_text);
    }
    let env_example = project.dir.join(".env.example");
    if !env_example.exists() {
        tx.write(env_example.clone(), env_example_text());
    }
    let main_note = wire_main(&project, &package, &mut tx)?;

    let outcomes = tx.commit().map_err(|e| e.context("nothing was written"))?;
    let said = |path: &Path| outcomes.iter().find(|(p, _)| p == path).map(|(_, o)| *o);
    match said(&bin_path) {
        Some(Outcome::Created) => out::info(&format!(
            "Binary [{}] created: `cargo run --bin artisan -- list` runs this app's artisan.",
            project.rel(&bin_path)
        )),
        _ if bin_kept => out::warn(&format!(
            "[{}] exists and is kept as it is; delete it and run `artisan init` again for the \
             generated one.",
            project.rel(&bin_path)
        )),
        _ => out::info(&format!(
            "Binary [{}] is already there.",
            project.rel(&bin_path)
        )),
    }
    if added.is_empty() {
        out::info("Cargo.toml already has the dependencies the scaffolded code needs.");
    } else {
        out::info(&format!(
            "Cargo.toml: added {}.",
            added
                .iter()
                .map(|d| format!("`{d}`"))
                .collect::<Vec<_>>()
                .join(", ")
        ));
    }
    if said(&env_example) == Some(Outcome::Created) {
        out::info("[.env.example] created with the EVENTS_* settings and their defaults.");
    }
    match main_note {
        MainWiring::Added(rel) => out::info(&format!(
            "[{rel}] calls `event_registry::register()` at the start of `main` now."
        )),
        MainWiring::Already => {}
        MainWiring::Manual(message) => out::warn(&message),
    }
    let skip: Vec<PathBuf> = vec![
        bin_path,
        env_example,
        manifest_path,
        project
            .dir
            .join("src/main.rs")
            .canonicalize()
            .unwrap_or_default(),
    ];
    super::report_wiring(&project, &wiring, &outcomes, &skip, false);
    Ok(())
}

fn package_name(text: &str, path: &Path) -> Result<String> {
    let table: toml::Table =
        toml::from_str(text).with_context(|| format!("{} does not parse", path.display()))?;
    table
        .get("package")
        .and_then(|p| p.get("name"))
        .and_then(|n| n.as_str())
        .map(str::to_string)
        .with_context(|| format!("{} has no package name", path.display()))
}

/// `src/bin/artisan.rs`. A library package's binary uses the library; a
/// binary-only package's cannot see `src/main.rs`'s modules, so it compiles
/// the events, listeners and registry itself.
fn binary(project: &Project, package: &str) -> Result<String> {
    let header = "//! This app's artisan: `cargo run --bin artisan -- <command>` (`list` shows them).\n\
                  //! Written by `artisan init`. It knows the app's listeners, so\n\
                  //! `cargo run --bin artisan -- queue:work` runs them.\n\n";
    let registry = &project.registry_mod;
    if project.is_lib {
        let krate = package.replace('-', "_");
        return Ok(format!(
            "{header}fn main() -> std::process::ExitCode {{\n    \
             event_artisan::App::new()\n        \
             .jobs({krate}::{registry}::job_registry)\n        \
             .run()\n}}\n"
        ));
    }
    let src = project.dir.join("src");
    let beside = |path: &Path| -> Result<String> {
        let name = path
            .strip_prefix(&src)
            .ok()
            .and_then(|p| p.to_str())
            .filter(|p| !p.contains('/'))
            .with_context(|| {
                format!(
                    "`artisan init` writes src/bin/artisan.rs, which reaches the app's modules in \
                     src/; {} is not there. Add the binary by hand (see the artisan README)",
                    path.display()
                )
            })?;
        Ok(format!("../{name}"))
    };
    let events = beside(&project.events.dir)?;
    let listeners = beside(&project.listeners.dir)?;
    let registry_file = beside(&project.registry)?;
    let (ev, li) = (&project.events.module, &project.listeners.module);
    Ok(format!(
        "{header}// A binary in src/bin/ cannot see src/main.rs's modules, so it compiles the\n\
         // events, listeners and registry too. If your listeners use other modules of\n\
         // the app, move the app's code into src/lib.rs and run `artisan init` again.\n\
         #[allow(dead_code)]\n#[path = \"{events}/mod.rs\"]\nmod {ev};\n\
         #[allow(dead_code)]\n#[path = \"{listeners}/mod.rs\"]\nmod {li};\n\
         #[path = \"{registry_file}\"]\nmod {registry};\n\n\
         fn main() -> std::process::ExitCode {{\n    \
         event_artisan::App::new()\n        \
         .jobs({registry}::job_registry)\n        \
         .run()\n}}\n"
    ))
}

/// The dependencies scaffolded code and the binary use, as `name = spec` lines.
fn wanted_dependencies() -> Vec<(&'static str, String)> {
    let artisan = Path::new(ARTISAN_DIR);
    let core = artisan.join("../event-core");
    let (core_spec, artisan_spec) = if core.join("Cargo.toml").is_file() {
        let core = core.canonicalize().unwrap_or(core);
        (
            format!("{{ path = {:?} }}", core.display().to_string()),
            format!("{{ path = {:?} }}", artisan.display().to_string()),
        )
    } else {
        (format!("\"{VERSION}\""), format!("\"{VERSION}\""))
    };
    vec![
        ("event-core", core_spec),
        ("event-artisan", artisan_spec),
        (
            "serde",
            "{ version = \"1\", features = [\"derive\"] }".to_string(),
        ),
        (
            "tokio",
            "{ version = \"1\", features = [\"full\"] }".to_string(),
        ),
        ("anyhow", "\"1\"".to_string()),
    ]
}

/// The manifest with the missing dependencies added under `[dependencies]`,
/// and their names. Everything else in it stays as written.
fn with_dependencies(text: &str, path: &Path) -> Result<(String, Vec<String>)> {
    let table: toml::Table =
        toml::from_str(text).with_context(|| format!("{} does not parse", path.display()))?;
    let deps = table.get("dependencies").and_then(|d| d.as_table());
    let has = |name: &str| {
        deps.is_some_and(|d| {
            d.contains_key(name)
                || d.values().any(|v| {
                    v.get("package")
                        .and_then(|p| p.as_str())
                        .is_some_and(|p| p == name)
                })
        })
    };
    let missing: Vec<(&str, String)> = wanted_dependencies()
        .into_iter()
        .filter(|(name, _)| !has(name))
        .collect();
    if missing.is_empty() {
        return Ok((text.to_string(), Vec::new()));
    }
    let lines: String = missing
        .iter()
        .map(|(name, spec)| format!("{name} = {spec}\n"))
        .collect();
    let mut out = String::with_capacity(text.len() + lines.len() + 16);
    let mut done = false;
    for line in text.split_inclusive('\n') {
        out.push_str(line);
        if !done && line.trim() == "[dependencies]" {
            if !line.ends_with('\n') {
                out.push('\n');
            }
            out.push_str(&lines);
            done = true;
        }
    }
    if !done {
        if !out.ends_with('\n') {
            out.push('\n');
        }
        out.push_str("\n[dependencies]\n");
        out.push_str(&lines);
    }
    toml::from_str::<toml::Table>(&out).with_context(|| {
        format!(
            "adding the dependencies would break {}; add them by hand:\n{lines}",
            path.display()
        )
    })?;
    Ok((
        out,
        missing.into_iter().map(|(n, _)| n.to_string()).collect(),
    ))
}

/// The app's settings and their defaults (event-core's `EventsConfig`).
fn env_example_text() -> String {
    let d = event_core::config::EventsConfig::default();
    format!(
        "# event-core settings, with their defaults. Copy to .env (real environment\n\
         # variables win) and change what you need.\n\
         #\n\
         # sync runs queued listeners inline; sqlite (embedded, durable) or redis hand\n\
         # them to `cargo run --bin artisan -- queue:work`, e.g.\n\
         #   EVENTS_QUEUE_CONNECTION=sqlite\n\
         #   EVENTS_QUEUE_URL=sqlite://jobs.db\n\
         EVENTS_QUEUE_CONNECTION={}\n\
         EVENTS_QUEUE_URL=\n\
         EVENTS_DEFAULT_QUEUE={}\n\
         EVENTS_RETRY_ATTEMPTS={}\n\
         EVENTS_RETRY_DELAY_SECONDS={}\n\
         EVENTS_STORE_ENABLED={}\n\
         EVENTS_STORE_TABLE={}\n",
        d.queue_connection,
        d.default_queue,
        d.retry_attempts,
        d.retry_delay_seconds,
        d.store_enabled,
        d.store_table,
    )
}

enum MainWiring {
    Added(String),
    Already,
    /// Could not recognise `main`: what to add, and where.
    Manual(String),
}

/// Adds the `register()` call as the first statement of an async
/// `#[tokio::main]` `main`; otherwise says exactly what to add.
fn wire_main(project: &Project, package: &str, tx: &mut Transaction) -> Result<MainWiring> {
    let main = project.dir.join("src/main.rs");
    let rel = project.rel(&main);
    let registry = &project.registry_mod;
    let path = if project.is_lib {
        format!("{}::{registry}", package.replace('-', "_"))
    } else {
        registry.clone()
    };
    let call = format!("{path}::register().await");
    let text = match tx.contents(&main) {
        Some(text) => text.to_string(),
        None => match std::fs::read_to_string(&main) {
            Ok(text) => text,
            Err(_) => {
                return Ok(MainWiring::Manual(format!(
                    "No src/main.rs: call `{call}?;` where your app starts, before it \
                     dispatches (it connects the queue and registers the listeners)."
                )));
            }
        },
    };
    if text.contains("register().await") || text.contains("register_on(") {
        return Ok(MainWiring::Already);
    }
    let file = syn::parse_file(&text).map_err(|e| ParseError::from_syn(&rel, &e))?;
    let main_fn = file.items.iter().find_map(|item| match item {
        syn::Item::Fn(f) if f.sig.ident == "main" => Some(f),
        _ => None,
    });
    let manual = |why: &str| {
        MainWiring::Manual(format!(
            "{why}: add `{call}?;` as the first line of your async `main` in {rel} \
             (it connects the queue the .env names and registers the listeners)."
        ))
    };
    let Some(main_fn) = main_fn else {
        return Ok(manual("No `fn main` in src/main.rs"));
    };
    let is_tokio = main_fn
        .attrs
        .iter()
        .any(|a| a.path().segments.last().is_some_and(|s| s.ident == "main"));
    if main_fn.sig.asyncness.is_none() || !is_tokio {
        return Ok(manual("`main` is not an async `#[tokio::main]` fn"));
    }
    let open = main_fn.block.brace_token.span.open().start();
    let lines: Vec<&str> = text.split_inclusive('\n').collect();
    let Some(line) = lines.get(open.line.saturating_sub(1)) else {
        return Ok(manual("`main` is laid out in a way artisan does not know"));
    };
    let after_brace: String = line.chars().skip(open.column + 1).collect();
    if !after_brace.trim().is_empty() {
        return Ok(manual("`main`'s body does not start on its own line"));
    }
    let returns = !matches!(main_fn.sig.output, syn::ReturnType::Default);
    let indent = "    ";
    let statement = if returns {
        format!("{indent}{call}?;\n")
    } else {
        format!(
            "{indent}if let Err(e) = {call} {{\n{indent}{indent}eprintln!(\"cannot start the events: {{e:#}}\");\n{indent}{indent}std::process::exit(1);\n{indent}}}\n"
        )
    };
    let _ = main_fn.block.span();
    let mut new = String::with_capacity(text.len() + statement.len());
    for (i, l) in lines.iter().enumerate() {
        new.push_str(l);
        if i + 1 == open.line {
            if !l.ends_with('\n') {
                new.push('\n');
            }
            new.push_str(&statement);
        }
    }
    tx.write(main, new);
    Ok(MainWiring::Added(rel))
}
