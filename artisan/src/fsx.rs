//! All-or-nothing writes: every file a command changes is staged in a temp
//! file beside its target first; only when all are staged are they renamed
//! into place. A failure before that leaves the package exactly as it was.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};

/// The files one command writes.
#[derive(Debug, Default)]
pub struct Transaction {
    writes: Vec<(PathBuf, String)>,
}

/// What happened to one file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Created,
    Updated,
    Unchanged,
}

impl Transaction {
    pub fn new() -> Self {
        Self::default()
    }

    /// Queues `contents` for `path`, replacing an earlier write to the same path.
    pub fn write(&mut self, path: impl Into<PathBuf>, contents: String) {
        let path = path.into();
        self.writes.retain(|(p, _)| *p != path);
        self.writes.push((path, contents));
    }

    pub fn contents(&self, path: &Path) -> Option<&str> {
        self.writes
            .iter()
            .find(|(p, _)| p == path)
            .map(|(_, c)| c.as_str())
    }

    /// Writes every queued file, or none. Files whose contents already match
    /// are not touched (same bytes, same mtime).
    ///
    /// Like cargo and rustfmt, it does not fsync: the rename protects against
    /// a failing or interrupted command, which is what leaves half-written
    /// source trees; a power cut is the file system's business.
    pub fn commit(self) -> Result<Vec<(PathBuf, Outcome)>> {
        let mut plan = Vec::new();
        for (path, contents) in self.writes {
            let outcome = match fs::read(&path) {
                Ok(old) if old == contents.as_bytes() => Outcome::Unchanged,
                Ok(_) => Outcome::Updated,
                // A missing folder (or a file where one should be) shows up
                // when staging, with a message that names the folder.
                Err(e)
                    if matches!(
                        e.kind(),
                        std::io::ErrorKind::NotFound | std::io::ErrorKind::NotADirectory
                    ) =>
                {
                    Outcome::Created
                }
                Err(e) => {
                    return Err(e).with_context(|| format!("cannot read {}", path.display()));
                }
            };
            plan.push((path, contents, outcome));
        }

        let mut created_dirs: Vec<PathBuf> = Vec::new();
        let staged = stage(&plan, &mut created_dirs);
        let staged = match staged {
            Ok(staged) => staged,
            Err(e) => {
                remove_dirs(&created_dirs);
                return Err(e);
            }
        };
        for (temp, path) in staged {
            // Renames within one directory; after all temp files were
            // created and written, this is the step that cannot run out of space.
            temp.persist(&path)
                .with_context(|| format!("cannot replace {}", path.display()))?;
        }
        Ok(plan.into_iter().map(|(p, _, o)| (p, o)).collect())
    }
}

type Staged = Vec<(tempfile::NamedTempFile, PathBuf)>;

fn stage(plan: &[(PathBuf, String, Outcome)], created_dirs: &mut Vec<PathBuf>) -> Result<Staged> {
    let mut staged = Vec::new();
    for (path, contents, outcome) in plan {
        if *outcome == Outcome::Unchanged {
            continue;
        }
        let dir = path
            .parent()
            .with_context(|| format!("{} has no parent folder", path.display()))?;
        create_dir_all(dir, created_dirs)?;
        let mut builder = tempfile::Builder::new();
        builder.prefix(".artisan-").suffix(".tmp");
        // A new file gets 0666 minus the user's umask, as any editor's
        // would (tempfile's own default is 0600).
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            builder.permissions(fs::Permissions::from_mode(0o666));
        }
        let mut temp = builder
            .tempfile_in(dir)
            .with_context(|| format!("cannot write in {}", dir.display()))?;
        temp.write_all(contents.as_bytes())
            .with_context(|| format!("cannot write {}", path.display()))?;
        if let Ok(meta) = fs::metadata(path) {
            // Keep the permissions of the file we replace.
            let _ = fs::set_permissions(temp.path(), meta.permissions());
        }
        staged.push((temp, path.clone()));
    }
    Ok(staged)
}

fn create_dir_all(dir: &Path, created: &mut Vec<PathBuf>) -> Result<()> {
    if dir.is_dir() {
        return Ok(());
    }
    if let Some(parent) = dir.parent() {
        create_dir_all(parent, created)?;
    }
    fs::create_dir(dir).with_context(|| format!("cannot create folder {}", dir.display()))?;
    created.push(dir.to_path_buf());
    Ok(())
}

fn remove_dirs(dirs: &[PathBuf]) {
    for dir in dirs.iter().rev() {
        let _ = fs::remove_dir(dir);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_failure_while_staging_leaves_nothing_behind() {
        let dir = tempfile::tempdir().unwrap();
        fs::write(dir.path().join("blocked"), "a file, not a folder").unwrap();
        fs::write(dir.path().join("kept.rs"), "old").unwrap();
        let mut tx = Transaction::new();
        tx.write(dir.path().join("kept.rs"), "new".to_string());
        tx.write(dir.path().join("fresh/deeper/a.rs"), "a".to_string());
        tx.write(dir.path().join("blocked/b.rs"), "b".to_string());
        let err = tx.commit().unwrap_err();
        assert!(
            format!("{err:#}").contains("cannot create folder"),
            "{err:#}"
        );
        let mut left: Vec<_> = fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        left.sort();
        assert_eq!(left, ["blocked", "kept.rs"]);
        assert_eq!(
            fs::read_to_string(dir.path().join("kept.rs")).unwrap(),
            "old"
        );
    }

    #[test]
    fn unchanged_files_are_not_rewritten() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("same.rs");
        fs::write(&path, "same").unwrap();
        let mut tx = Transaction::new();
        tx.write(&path, "same".to_string());
        tx.write(dir.path().join("new.rs"), "new".to_string());
        let outcomes = tx.commit().unwrap();
        assert_eq!(outcomes[0].1, Outcome::Unchanged);
        assert_eq!(outcomes[1].1, Outcome::Created);
    }
}
