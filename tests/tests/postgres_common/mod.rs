//! What the postgres tests share: a schema per test, dropped after, a
//! connection of the test's own, and a private server to stop and start.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use event_core::queue::postgres::tokio_postgres;

/// The test server's URL, or `None` (test skipped).
pub fn base_url() -> Option<String> {
    match std::env::var("EVENTS_TEST_POSTGRES_URL") {
        Ok(url) => Some(url),
        Err(_) => {
            println!("skipped: set EVENTS_TEST_POSTGRES_URL");
            None
        }
    }
}

/// A connection of the test's own, for looking at and tampering with tables.
pub async fn sql(url: &str) -> tokio_postgres::Client {
    let (client, connection) = tokio_postgres::connect(url, tokio_postgres::NoTls)
        .await
        .expect("connect to the test PostgreSQL");
    tokio::spawn(connection);
    client
}

/// A fresh schema for one test; dropped when the test ends, passed or not.
pub struct Schema {
    pub base: String,
    pub name: String,
    /// The queue URL naming the schema.
    pub url: String,
}

impl Schema {
    pub fn new() -> Option<Self> {
        let base = base_url()?;
        let name = format!(
            "test_{}",
            event_core::ulid::Ulid::new().to_string().to_lowercase()
        );
        let sep = if base.contains('?') { '&' } else { '?' };
        let url = format!("{base}{sep}schema={name}");
        Some(Self { base, name, url })
    }

    pub fn table(&self, table: &str) -> String {
        format!("\"{}\".{table}", self.name)
    }
}

impl Drop for Schema {
    fn drop(&mut self) {
        let (base, name) = (self.base.clone(), self.name.clone());
        // Its own thread and runtime: this runs inside the test's runtime,
        // and also when the test panicked.
        let _ = std::thread::spawn(move || {
            let Ok(runtime) = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            else {
                return;
            };
            runtime.block_on(async {
                if let Ok((client, connection)) =
                    tokio_postgres::connect(&base, tokio_postgres::NoTls).await
                {
                    tokio::spawn(connection);
                    let _ = client
                        .batch_execute(&format!("DROP SCHEMA IF EXISTS \"{name}\" CASCADE"))
                        .await;
                }
            });
        })
        .join();
    }
}

/// A private PostgreSQL on a spare loopback port, in a temp directory,
/// started and stopped by the test (by PID).
pub struct PrivateServer {
    bin: PathBuf,
    dir: tempfile::TempDir,
    pub port: u16,
    child: Option<Child>,
}

/// The newest `/usr/lib/postgresql/<version>/bin`.
fn server_bin() -> Option<PathBuf> {
    let mut versions: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .ok()?
        .filter_map(|e| e.ok())
        .filter_map(|e| {
            let version = e.file_name().to_str()?.parse().ok()?;
            let bin = e.path().join("bin");
            bin.join("initdb").exists().then_some((version, bin))
        })
        .collect();
    versions.sort();
    versions.pop().map(|(_, bin)| bin)
}

/// PostgreSQL refuses to run as root: as root, run it as `postgres`.
fn as_server_user(command: &mut Command, dir: &Path) {
    use std::os::unix::process::CommandExt;
    let id = |args: &[&str]| -> u32 {
        let out = Command::new("id").args(args).output().expect("run id");
        String::from_utf8_lossy(&out.stdout)
            .trim()
            .parse()
            .expect("a user id")
    };
    if id(&["-u"]) == 0 {
        let (uid, gid) = (id(&["-u", "postgres"]), id(&["-g", "postgres"]));
        for entry in walk(dir) {
            std::os::unix::fs::chown(&entry, Some(uid), Some(gid)).expect("chown");
        }
        command.uid(uid).gid(gid);
    }
}

fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut out = vec![dir.to_path_buf()];
    if let Ok(entries) = std::fs::read_dir(dir) {
        for e in entries.flatten() {
            let path = e.path();
            if path.is_dir() {
                out.extend(walk(&path));
            } else {
                out.push(path);
            }
        }
    }
    out
}

impl PrivateServer {
    /// Creates a cluster and starts it; `None` when PostgreSQL's binaries
    /// are not installed.
    pub fn start() -> Option<Self> {
        let Some(bin) = server_bin() else {
            println!("skipped: no /usr/lib/postgresql/*/bin/initdb");
            return None;
        };
        let dir = tempfile::tempdir().expect("temp dir");
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("spare port")
            .port();
        let mut initdb = Command::new(bin.join("initdb"));
        initdb
            .args([
                "-D",
                "data",
                "-U",
                "postgres",
                "--auth=trust",
                "-N",
                "-E",
                "UTF8",
            ])
            .current_dir(dir.path())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        as_server_user(&mut initdb, dir.path());
        let status = initdb.status().expect("run initdb");
        assert!(status.success(), "initdb failed");
        let mut server = Self {
            bin,
            dir,
            port,
            child: None,
        };
        server.up();
        Some(server)
    }

    pub fn url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/postgres", self.port)
    }

    /// Starts the server on its data directory.
    pub fn up(&mut self) {
        let mut postgres = Command::new(self.bin.join("postgres"));
        postgres
            .args(["-D", "data", "-p", &self.port.to_string()])
            .args(["-c", "listen_addresses=127.0.0.1", "-c", "fsync=off"])
            .args([
                "-c",
                &format!("unix_socket_directories={}", self.dir.path().display()),
            ])
            .current_dir(self.dir.path())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        as_server_user(&mut postgres, self.dir.path());
        self.child = Some(postgres.spawn().expect("start postgres"));
    }

    /// Fast shutdown (SIGINT to the postmaster: clients are disconnected),
    /// waiting until it has exited.
    pub fn down(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = nix::sys::signal::kill(
                nix::unistd::Pid::from_raw(child.id() as i32),
                nix::sys::signal::Signal::SIGINT,
            );
            let _ = child.wait();
        }
    }

    /// Waits until the server takes connections.
    pub async fn ready(&self) {
        for _ in 0..400 {
            if tokio_postgres::connect(&self.url(), tokio_postgres::NoTls)
                .await
                .is_ok()
            {
                return;
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
        panic!(
            "the private PostgreSQL on port {} did not come up",
            self.port
        );
    }
}

impl Drop for PrivateServer {
    fn drop(&mut self) {
        self.down();
    }
}
