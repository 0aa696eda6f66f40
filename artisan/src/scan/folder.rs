//! Reading a scanned folder: its `.rs` files (not recursing), on disk or
//! about to be written, with their module names.

use std::collections::BTreeMap;
use std::path::PathBuf;

use anyhow::{Context, Result};

use super::{ModFile, Source};
use crate::names::rust_ident;
use crate::project::{Folder, Project};

/// The `.rs` files of a folder (not recursing), `mod.rs` included, sorted.
pub(super) fn read_folder(
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
