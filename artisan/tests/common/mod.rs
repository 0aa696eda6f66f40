//! Helpers for the CLI tests: a throwaway cargo package and the artisan binary.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// The workspace root (parent of `artisan/`).
pub fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("artisan/ has a parent")
        .to_path_buf()
}

/// A fresh `cargo new`-like package in a temp dir, depending on event-core,
/// serde, tokio and anyhow only.
pub struct Pkg {
    pub dir: tempfile::TempDir,
}

impl Pkg {
    pub fn new() -> Pkg {
        Self::with_manifest_extra("")
    }

    pub fn with_manifest_extra(extra: &str) -> Pkg {
        let dir = tempfile::Builder::new()
            .prefix("artisan-test-")
            .tempdir()
            .expect("temp dir");
        let core = workspace().join("event-core");
        std::fs::write(
            dir.path().join("Cargo.toml"),
            format!(
                "[package]\nname = \"shop\"\nversion = \"0.1.0\"\nedition = \"2024\"\n\n\
                 [dependencies]\nevent-core = {{ path = {core:?} }}\n\
                 serde = {{ version = \"1\", features = [\"derive\"] }}\n\
                 tokio = {{ version = \"1\", features = [\"full\"] }}\n\
                 anyhow = \"1\"\n{extra}"
            ),
        )
        .expect("write Cargo.toml");
        std::fs::create_dir(dir.path().join("src")).expect("src");
        std::fs::write(
            dir.path().join("src/main.rs"),
            "fn main() {\n    println!(\"Hello, world!\");\n}\n",
        )
        .expect("main.rs");
        Pkg { dir }
    }

    /// A fresh package with the workspace's `Cargo.lock`, so an end-to-end
    /// build resolves the versions the workspace is tested with.
    pub fn with_workspace_lock() -> Pkg {
        let pkg = Self::new();
        if let Ok(lock) = std::fs::read(workspace().join("Cargo.lock")) {
            std::fs::write(pkg.file("Cargo.lock"), lock).expect("write lock");
        }
        pkg
    }

    /// Replaces `from` (which must be there) with `to` in the file `rel`.
    pub fn replace(&self, rel: &str, from: &str, to: &str) {
        let text = self.read(rel);
        assert!(text.contains(from), "{rel} has no {from:?}:\n{text}");
        self.write(rel, &text.replacen(from, to, 1));
    }

    /// Gives the scaffolded listener in `rel` the body `body` (in place of
    /// its `let _ = event;`).
    pub fn listener_body(&self, rel: &str, body: &str) {
        self.replace(rel, "    let _ = event;\n", body);
    }

    /// The scaffolded `main` runs `code` where it printed "Hello, world!".
    pub fn main_runs(&self, code: &str) {
        self.replace("src/main.rs", "    println!(\"Hello, world!\");\n", code);
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    pub fn file(&self, rel: &str) -> PathBuf {
        self.dir.path().join(rel)
    }

    pub fn read(&self, rel: &str) -> String {
        std::fs::read_to_string(self.file(rel)).unwrap_or_else(|e| panic!("read {rel}: {e}"))
    }

    pub fn write(&self, rel: &str, text: &str) {
        let path = self.file(rel);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).expect("mkdir");
        }
        std::fs::write(path, text).expect("write");
    }

    pub fn exists(&self, rel: &str) -> bool {
        self.file(rel).exists()
    }

    /// Runs artisan in the package folder.
    pub fn artisan(&self, args: &[&str]) -> Run {
        run_in(self.path(), args, &[])
    }

    /// Every file under the package (path -> bytes), to prove nothing changed.
    /// `target/` (build output and artisan's scan cache) is left out.
    pub fn snapshot(&self) -> BTreeMap<String, Vec<u8>> {
        let mut out = BTreeMap::new();
        walk(self.path(), self.path(), &mut out);
        out
    }
}

fn walk(root: &Path, dir: &Path, out: &mut BTreeMap<String, Vec<u8>>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if dir == root && entry.file_name() == "target" {
            continue;
        }
        if path.is_dir() {
            out.insert(rel(root, &path) + "/", Vec::new());
            walk(root, &path, out);
        } else if let Ok(bytes) = std::fs::read(&path) {
            out.insert(rel(root, &path), bytes);
        }
    }
}

fn rel(root: &Path, path: &Path) -> String {
    path.strip_prefix(root)
        .unwrap_or(path)
        .to_string_lossy()
        .replace('\\', "/")
}

pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    pub fn ok(self) -> Run {
        assert_eq!(
            self.code, 0,
            "artisan failed\nstdout:\n{}\nstderr:\n{}",
            self.stdout, self.stderr
        );
        self
    }

    pub fn all(&self) -> String {
        format!("{}{}", self.stdout, self.stderr)
    }
}

/// Runs the artisan binary in `dir` with `NO_COLOR` set and `env` added.
pub fn run_in(dir: &Path, args: &[&str], env: &[(&str, &str)]) -> Run {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_artisan"));
    cmd.args(args)
        .current_dir(dir)
        .env_remove("CLICOLOR_FORCE")
        .env_remove("CLICOLOR")
        // The scan cache goes to the package's own target/.
        .env_remove("CARGO_TARGET_DIR")
        .env_remove("CARGO_BUILD_TARGET_DIR")
        .env("NO_COLOR", "1");
    for (k, v) in env {
        // `("!NO_COLOR", "")` removes a variable.
        match k.strip_prefix('!') {
            Some(name) => cmd.env_remove(name),
            None => cmd.env(k, v),
        };
    }
    let Output {
        status,
        stdout,
        stderr,
    } = cmd.output().expect("run artisan");
    Run {
        code: status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&stdout).into_owned(),
        stderr: String::from_utf8_lossy(&stderr).into_owned(),
    }
}

/// Runs artisan in `pkg`, which must refuse: exit `code`, `message` in what
/// it prints, and not one file of the package changed.
pub fn assert_refused(pkg: &Pkg, args: &[&str], code: i32, message: &str) -> Run {
    let before = pkg.snapshot();
    let run = pkg.artisan(args);
    assert_eq!(
        run.code,
        code,
        "artisan {args:?} exited {} instead of {code}\n{}",
        run.code,
        run.all()
    );
    assert!(
        run.all().contains(message),
        "artisan {args:?} did not say {message:?}:\n{}",
        run.all()
    );
    assert_eq!(pkg.snapshot(), before, "artisan {args:?} changed files");
    run
}

// ----- building scaffolded packages (end-to-end tests) -----------------

/// The one cargo target dir every scaffolded package builds in
/// (`$CARGO_TARGET_DIR/e2e`, else `<workspace>/target/e2e`), so only the
/// first build compiles event-core's dependencies.
pub fn target_dir() -> PathBuf {
    match std::env::var_os("CARGO_TARGET_DIR") {
        Some(dir) => PathBuf::from(dir).join("e2e"),
        None => workspace().join("target/e2e"),
    }
}

/// Runs cargo in the package; returns (success, stdout, stderr).
pub fn cargo(pkg: &Pkg, args: &[&str]) -> (bool, String, String) {
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let out = Command::new(cargo)
        .args(args)
        .current_dir(pkg.path())
        .env("CARGO_TARGET_DIR", target_dir())
        .env("CARGO_TERM_COLOR", "never")
        .env_remove("RUSTFLAGS")
        .output()
        .expect("run cargo");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

pub fn must(pkg: &Pkg, args: &[&str]) -> (String, String) {
    let (ok, stdout, stderr) = cargo(pkg, args);
    assert!(
        ok,
        "cargo {args:?} failed\nstdout:\n{stdout}\nstderr:\n{stderr}"
    );
    (stdout, stderr)
}

/// Runs the package's own artisan (`cargo run -q --bin artisan -- ARGS`);
/// panics unless it succeeds; (stdout, stderr).
pub fn app_artisan(pkg: &Pkg, args: &[&str]) -> (String, String) {
    let mut all = vec!["run", "-q", "--bin", "artisan", "--"];
    all.extend_from_slice(args);
    must(pkg, &all)
}

/// Runs the package's binary `bin` (built by `cargo build` in
/// [`target_dir`]) in `cwd` with `args` and `env` added; panics unless it
/// succeeds; what it printed (stdout then stderr).
pub fn run_built(bin: &str, cwd: &Path, args: &[&str], env: &[(&str, &str)]) -> String {
    let out = Command::new(target_dir().join("debug").join(bin))
        .args(args)
        .current_dir(cwd)
        .env("NO_COLOR", "1")
        .envs(env.iter().copied())
        .output()
        .unwrap_or_else(|e| panic!("run the app's {bin}: {e}"));
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "{bin} {args:?} failed:\n{text}");
    text
}

/// Warnings cargo reports for the scaffolded package itself.
pub fn own_warnings(stderr: &str) -> Vec<&str> {
    stderr
        .lines()
        .filter(|l| l.starts_with("warning") && !l.contains("generated 0 warnings"))
        .collect()
}
