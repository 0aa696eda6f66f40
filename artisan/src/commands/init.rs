//! `artisan init`: gives a package its own artisan binary, the dependencies
//! its scaffolded code needs, the wiring, `.env.example`, and the
//! `register()` call in `main`. Run it again and nothing changes; every
//! file is written in one transaction, or none.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use quote::ToTokens;
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
    let provider = project.provider();
    if !provider.exists() {
        let text =
            crate::templates::render(&project, "event_provider.rs.tera", &tera::Context::new())?;
        tx.write(provider.clone(), text);
    }
    let wiring = wiring::rebuild(&project, &scan, &mut tx)?;

    let (manifest_new, mut added) = with_dependencies(&manifest_text, &manifest_path)?;
    let has_main = project.dir.join("src/main.rs").is_file();
    let (manifest_new, default_run) = with_default_run(&manifest_new, &package, has_main);
    if default_run {
        added.push(format!("default-run = \"{package}\""));
    }
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
    if said(&provider) == Some(Outcome::Created) {
        out::info(&format!(
            "[{}] created: your own setup, run by `boot` in main, queue:work and event:replay.",
            project.rel(&provider)
        ));
    }
    match main_note {
        MainWiring::Added(rel) => out::info(&format!(
            "[{rel}] boots the events at the start of `main` (`event_registry::boot`) and shuts \
             them down at its end now."
        )),
        MainWiring::Already => {}
        MainWiring::Manual(message) => out::warn(&message),
    }
    let skip: Vec<PathBuf> = vec![
        bin_path,
        provider,
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
             .package(env!(\"CARGO_MANIFEST_DIR\"))\n        \
             .boot({krate}::{registry}::boot)\n        \
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
         .package(env!(\"CARGO_MANIFEST_DIR\"))\n        \
         .boot({registry}::boot)\n        \
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
            format!(
                "{{ path = {:?}, default-features = false }}",
                artisan.display().to_string()
            ),
        )
    } else {
        (
            format!("\"{VERSION}\""),
            format!("{{ version = \"{VERSION}\", default-features = false }}"),
        )
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

/// `.env.example`: every variable the app's config reader reads, from its
/// own list (`event_core::config::variables`).
fn env_example_text() -> String {
    event_core::config::env_example()
}

/// The manifest with `default-run = "<package>"` under `[package]`, so
/// `cargo run` runs the app and not its artisan, and whether it was added
/// (not when the package has no `src/main.rs` or already says one).
fn with_default_run(text: &str, package: &str, has_main: bool) -> (String, bool) {
    let says = toml::from_str::<toml::Table>(text)
        .ok()
        .and_then(|t| t.get("package").and_then(|p| p.get("default-run")).cloned())
        .is_some();
    if !has_main || says {
        return (text.to_string(), false);
    }
    let mut out = String::with_capacity(text.len() + 32);
    let mut in_package = false;
    let mut done = false;
    for line in text.split_inclusive('\n') {
        let trimmed = line.trim();
        if !done && trimmed.starts_with('[') {
            if in_package {
                // The end of [package]: before the blank lines that close it.
                let kept = out.trim_end_matches('\n').len();
                let blank = out.split_off(kept);
                out.push_str(&format!("\ndefault-run = \"{package}\"\n"));
                out.push_str(blank.strip_prefix('\n').unwrap_or(&blank));
                done = true;
            }
            in_package = trimmed == "[package]";
        }
        out.push_str(line);
    }
    if in_package && !done {
        if !out.ends_with('\n') {
            out.push('\n');
        }
        out.push_str(&format!("default-run = \"{package}\"\n"));
        done = true;
    }
    (out, done)
}

enum MainWiring {
    Added(String),
    Already,
    /// Could not recognise `main`: what to add, and where.
    Manual(String),
}

/// Boots the events at the start of `main` and shuts them down at its end:
/// `cargo new`'s synchronous `main` becomes `#[tokio::main] async fn main()
/// -> anyhow::Result<()>`; an async `#[tokio::main]` one gets the two
/// lines. Where `main` has another shape, says exactly what to add.
fn wire_main(project: &Project, package: &str, tx: &mut Transaction) -> Result<MainWiring> {
    let main = project.dir.join("src/main.rs");
    let rel = project.rel(&main);
    let registry = &project.registry_mod;
    let path = if project.is_lib {
        format!("{}::{registry}", package.replace('-', "_"))
    } else {
        registry.clone()
    };
    let boot = format!("let events = {path}::boot(&{path}::config()?).await?;");
    let shutdown = "events.shutdown().await?;";
    let text = match tx.contents(&main) {
        Some(text) => text.to_string(),
        None => match std::fs::read_to_string(&main) {
            Ok(text) => text,
            Err(_) => {
                return Ok(MainWiring::Manual(format!(
                    "No src/main.rs: where your app starts, before it dispatches, add\n    \
                     {boot}\nand before it exits\n    {shutdown}"
                )));
            }
        },
    };
    if text.contains("boot(&") || text.contains("register().await") || text.contains("register_on(")
    {
        return Ok(MainWiring::Already);
    }
    let file = syn::parse_file(&text).map_err(|e| ParseError::from_syn(&rel, &e))?;
    let main_fn = file.items.iter().find_map(|item| match item {
        syn::Item::Fn(f) if f.sig.ident == "main" => Some(f),
        _ => None,
    });
    let manual = |why: &str| {
        MainWiring::Manual(format!(
            "{why}: make `main` in {rel} a `#[tokio::main] async fn main() -> anyhow::Result<()>` \
             that starts with\n    {boot}\nand ends with\n    {shutdown}\n    Ok(())\n\
             (boot connects the queue, the store and the broadcaster the .env names and \
             registers the listeners; shutdown writes what the store has not written yet)."
        ))
    };
    let Some(main_fn) = main_fn else {
        return Ok(manual("No `fn main` in src/main.rs"));
    };
    let is_tokio = main_fn
        .attrs
        .iter()
        .any(|a| a.path().segments.last().is_some_and(|s| s.ident == "main"));
    let returns = !matches!(main_fn.sig.output, syn::ReturnType::Default);
    let is_async = main_fn.sig.asyncness.is_some();
    let plain_sync = !is_async && !returns && main_fn.attrs.is_empty();
    if !(plain_sync || (is_async && is_tokio && returns)) {
        return Ok(manual(
            "`main` is neither `cargo new`'s nor an async `#[tokio::main]` fn returning a Result",
        ));
    }
    let body = main_fn.block.to_token_stream().to_string();
    if body.contains("return") {
        return Ok(manual("`main` returns early"));
    }
    let open = main_fn.block.brace_token.span.open().start();
    let close = main_fn.block.brace_token.span.close().start();
    let lines: Vec<&str> = text.split_inclusive('\n').collect();
    let (Some(open_line), Some(close_line)) = (
        lines.get(open.line.saturating_sub(1)),
        lines.get(close.line.saturating_sub(1)),
    ) else {
        return Ok(manual("`main` is laid out in a way artisan does not know"));
    };
    let after_brace: String = open_line.chars().skip(open.column + 1).collect();
    if !after_brace.trim().is_empty() || close_line.trim() != "}" || close.line <= open.line {
        return Ok(manual(
            "`main`'s body does not start and end on lines of its own",
        ));
    }
    // An async main keeps its tail expression (its `Ok(())`); shutdown goes
    // before it.
    let tail_line = match main_fn.block.stmts.last() {
        Some(syn::Stmt::Expr(expr, None)) if !plain_sync => {
            let start = expr.span().start();
            let own_line = lines
                .get(start.line.saturating_sub(1))
                .is_some_and(|l| l.chars().take(start.column).all(char::is_whitespace));
            if !own_line {
                return Ok(manual("`main`'s last expression does not start a line"));
            }
            start.line
        }
        _ if plain_sync => close.line,
        _ => {
            return Ok(manual(
                "`main` does not end with its result (e.g. `Ok(())`)",
            ));
        }
    };
    let indent = "    ";
    let mut new = String::with_capacity(text.len() + 200);
    let sig = main_fn.sig.fn_token.span.start();
    for (i, l) in lines.iter().enumerate() {
        let number = i + 1;
        if number == tail_line {
            new.push_str(&format!("{indent}{shutdown}\n"));
            if plain_sync {
                new.push_str(&format!("{indent}Ok(())\n"));
            }
        }
        if plain_sync && number == sig.line {
            let lead: String = l.chars().take(sig.column).collect();
            let rest: String = l.chars().skip(sig.column).collect();
            let rest = rest.replacen("fn main()", "async fn main() -> anyhow::Result<()>", 1);
            new.push_str(&format!("{lead}#[tokio::main]\n{lead}{rest}"));
        } else {
            new.push_str(l);
        }
        if number == open.line {
            if !l.ends_with('\n') {
                new.push('\n');
            }
            new.push_str(&format!("{indent}{boot}\n"));
        }
    }
    tx.write(main, new);
    Ok(MainWiring::Added(rel))
}
