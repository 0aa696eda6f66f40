//! The cargo package artisan works on: found by walking up to `Cargo.toml`,
//! like cargo, or named with `--manifest-path`. Paths can be changed in
//! `[package.metadata.artisan]`:
//!
//! ```toml
//! [package.metadata.artisan]
//! events = "src/domain_events"      # default "src/events"
//! listeners = "src/handlers"        # default "src/listeners"
//! registry = "src/wiring.rs"        # default "src/event_registry.rs"
//! root = "src/main.rs"              # default: src/lib.rs if present, else src/main.rs
//! templates = "templates/artisan"   # where stub:publish copies the templates
//! ```

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use serde::Deserialize;

use crate::names::rust_ident;

#[derive(Debug, Clone)]
pub struct Project {
    /// The folder holding `Cargo.toml`.
    pub dir: PathBuf,
    /// The crate root: `src/main.rs` or `src/lib.rs`.
    pub crate_root: PathBuf,
    /// True when the crate root is a library (modules are added as `pub mod`).
    pub is_lib: bool,
    pub events: Folder,
    pub listeners: Folder,
    pub registry: PathBuf,
    /// The registry's module name (`event_registry`).
    pub registry_mod: String,
    pub templates: PathBuf,
    /// Where scan results of unchanged files are kept between runs.
    pub scan_cache: Option<PathBuf>,
    /// The package's edition, for rustfmt.
    pub edition: String,
}

/// A module folder artisan fills: `src/events/` is `crate::events`.
#[derive(Debug, Clone)]
pub struct Folder {
    pub dir: PathBuf,
    /// The module name as written in code.
    pub module: String,
}

impl Folder {
    pub fn mod_rs(&self) -> PathBuf {
        self.dir.join("mod.rs")
    }
}

#[derive(Deserialize)]
struct Manifest {
    package: Option<Package>,
    workspace: Option<toml::Value>,
}

#[derive(Deserialize)]
struct Package {
    #[serde(default)]
    metadata: Option<Metadata>,
    /// A string, or `{ workspace = true }`.
    edition: Option<toml::Value>,
}

#[derive(Deserialize)]
struct Metadata {
    artisan: Option<Settings>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct Settings {
    events: Option<PathBuf>,
    listeners: Option<PathBuf>,
    registry: Option<PathBuf>,
    root: Option<PathBuf>,
    templates: Option<PathBuf>,
}

/// The manifest nearest to `start`, walking up like cargo.
pub fn find_manifest(start: &Path) -> Result<PathBuf> {
    for dir in start.ancestors() {
        let candidate = dir.join("Cargo.toml");
        if candidate.is_file() {
            return Ok(candidate);
        }
    }
    bail!(
        "could not find `Cargo.toml` in `{}` or any parent folder; run artisan inside a cargo \
         package or pass --manifest-path path/to/Cargo.toml",
        start.display()
    )
}

impl Project {
    /// Opens the package of `manifest_path`, or the one around the current folder.
    pub fn open(manifest_path: Option<&Path>) -> Result<Project> {
        let manifest = match manifest_path {
            Some(p) if p.is_dir() => p.join("Cargo.toml"),
            Some(p) => p.to_path_buf(),
            None => {
                let cwd = std::env::current_dir().context("cannot read the current folder")?;
                find_manifest(&cwd)?
            }
        };
        Project::from_manifest(&manifest)
    }

    pub fn from_manifest(manifest: &Path) -> Result<Project> {
        let text = std::fs::read_to_string(manifest)
            .with_context(|| format!("cannot read {}", manifest.display()))?;
        let parsed: Manifest = toml::from_str(&text)
            .with_context(|| format!("{} is not a valid Cargo.toml", manifest.display()))?;
        let dir = manifest.parent().map(Path::to_path_buf).unwrap_or_default();
        let dir = if dir.as_os_str().is_empty() {
            PathBuf::from(".")
        } else {
            dir
        };
        let Some(package) = parsed.package else {
            if parsed.workspace.is_some() {
                bail!(
                    "{} is a workspace manifest, not a package; run artisan inside a member or \
                     pass --manifest-path member/Cargo.toml",
                    manifest.display()
                );
            }
            bail!("{} has no [package] section", manifest.display());
        };
        let edition = package
            .edition
            .as_ref()
            .and_then(|e| e.as_str())
            .unwrap_or("2024")
            .to_string();
        let settings = package.metadata.and_then(|m| m.artisan).unwrap_or_default();

        let crate_root = match settings.root {
            Some(root) => dir.join(root),
            None if dir.join("src/lib.rs").is_file() => dir.join("src/lib.rs"),
            None if dir.join("src/main.rs").is_file() => dir.join("src/main.rs"),
            None => bail!(
                "{} has neither src/lib.rs nor src/main.rs; set `root` in \
                 [package.metadata.artisan]",
                dir.display()
            ),
        };
        if !crate_root.is_file() {
            bail!("the crate root {} does not exist", crate_root.display());
        }
        let is_lib = crate_root.file_name().is_some_and(|n| n == "lib.rs");
        let src = crate_root
            .parent()
            .map(Path::to_path_buf)
            .unwrap_or_else(|| dir.clone());

        let folder = |configured: Option<PathBuf>, default: &str, key: &str| -> Result<Folder> {
            let path = dir.join(configured.unwrap_or_else(|| PathBuf::from(default)));
            let module = module_next_to(&path, &src, key)?;
            Ok(Folder { dir: path, module })
        };
        let events = folder(settings.events, "src/events", "events")?;
        let listeners = folder(settings.listeners, "src/listeners", "listeners")?;
        let registry = dir.join(
            settings
                .registry
                .unwrap_or_else(|| PathBuf::from("src/event_registry.rs")),
        );
        if registry.extension().is_none_or(|e| e != "rs") {
            bail!("`registry` in [package.metadata.artisan] must name a .rs file");
        }
        let registry_mod = module_next_to(&registry.with_extension(""), &src, "registry")?;
        let templates = dir.join(
            settings
                .templates
                .unwrap_or_else(|| PathBuf::from("templates/artisan")),
        );
        let scan_cache = Some(scan_cache_path(&dir));
        Ok(Project {
            edition,
            scan_cache,
            dir,
            crate_root,
            is_lib,
            events,
            listeners,
            registry,
            registry_mod,
            templates,
        })
    }

    /// The app's own boot hook, `event_provider.rs` beside the registry
    /// (Laravel's service provider): `artisan init` writes it, the registry's
    /// `boot` runs it when it is there.
    pub fn provider(&self) -> PathBuf {
        self.registry.with_file_name("event_provider.rs")
    }

    /// `path` relative to the package, with `/`, for messages.
    pub fn rel(&self, path: &Path) -> String {
        let rel = path.strip_prefix(&self.dir).unwrap_or(path);
        rel.to_string_lossy().replace('\\', "/")
    }
}

/// The module name of `path`, which must sit beside the crate root.
fn module_next_to(path: &Path, src: &Path, key: &str) -> Result<String> {
    let parent_ok = path.parent().is_some_and(|p| same_dir(p, src));
    let stem = path
        .file_name()
        .and_then(|s| s.to_str())
        .unwrap_or_default();
    let valid = !stem.is_empty()
        && stem.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
        && !stem.starts_with(|c: char| c.is_ascii_digit());
    if !parent_ok || !valid {
        bail!(
            "`{key}` must be a module beside the crate root ({}): `{}` is not",
            src.display(),
            path.display()
        );
    }
    rust_ident(stem).with_context(|| format!("`{key}`: `{stem}` cannot be a module name"))
}

fn same_dir(a: &Path, b: &Path) -> bool {
    a == b
        || match (a.canonicalize(), b.canonicalize()) {
            (Ok(a), Ok(b)) => a == b,
            _ => false,
        }
}

/// `<target dir>/artisan/scan-<package>.json`. The target dir is found
/// the way cargo finds it, except for `.cargo/config.toml`: `CARGO_TARGET_DIR`,
/// else `target/` of the enclosing workspace, else of the package.
fn scan_cache_path(package: &Path) -> PathBuf {
    let package = package
        .canonicalize()
        .unwrap_or_else(|_| package.to_path_buf());
    let target = ["CARGO_TARGET_DIR", "CARGO_BUILD_TARGET_DIR"]
        .iter()
        .find_map(|v| std::env::var_os(v).filter(|s| !s.is_empty()))
        .map(PathBuf::from)
        .map(|t| {
            if t.is_absolute() {
                t
            } else {
                std::env::current_dir().unwrap_or_default().join(t)
            }
        })
        .unwrap_or_else(|| workspace_root(&package).join("target"));
    // One file per package: the hash tells packages of the same name apart.
    let mut hasher = std::hash::DefaultHasher::new();
    std::hash::Hash::hash(&package, &mut hasher);
    let name = package
        .file_name()
        .and_then(|n| n.to_str())
        .unwrap_or("package");
    target.join("artisan").join(format!(
        "scan-{name}-{:016x}.json",
        std::hash::Hasher::finish(&hasher)
    ))
}

/// The nearest folder above `package` whose Cargo.toml has `[workspace]`, or `package`.
fn workspace_root(package: &Path) -> PathBuf {
    for dir in package.ancestors() {
        let Ok(text) = std::fs::read_to_string(dir.join("Cargo.toml")) else {
            continue;
        };
        if text.contains("[workspace")
            && toml::from_str::<Manifest>(&text).is_ok_and(|m| m.workspace.is_some())
        {
            return dir.to_path_buf();
        }
    }
    package.to_path_buf()
}
