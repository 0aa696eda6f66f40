//! The scan cache: parse results of unchanged files (same size and
//! mtime, like cargo's fingerprints), kept in the target dir.

use std::collections::BTreeMap;

use super::FileScan;
use crate::project::Project;

pub(super) const CACHE_VERSION: u32 = 4;

/// Parse results of unchanged files (same size and mtime, like cargo's
/// fingerprints), kept in the target dir. Only a speed-up: a missing or
/// unreadable cache means a full parse.
#[derive(Default, serde::Serialize, serde::Deserialize)]
pub(super) struct Cache {
    pub(super) version: u32,
    /// The artisan that wrote it: another version may scan differently.
    pub(super) artisan: String,
    pub(super) files: BTreeMap<String, CacheEntry>,
}

#[derive(Clone, serde::Serialize, serde::Deserialize)]
pub(super) struct CacheEntry {
    pub(super) len: u64,
    pub(super) mtime_ns: u64,
    pub(super) scan: FileScan,
}

pub(super) fn load_cache(project: &Project) -> Cache {
    project
        .scan_cache
        .as_deref()
        .and_then(|path| std::fs::read(path).ok())
        .and_then(|bytes| serde_json::from_slice::<Cache>(&bytes).ok())
        .filter(|c| c.version == CACHE_VERSION && c.artisan == env!("CARGO_PKG_VERSION"))
        .unwrap_or_default()
}

pub(super) fn save_cache(project: &Project, cache: &Cache) {
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
