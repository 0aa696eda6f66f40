//! A private PostgreSQL cluster in a temp directory, on a spare loopback port.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;

use crate::services::spare_port;

/// A PostgreSQL of the test's own, started and stopped by PID.
pub struct PrivatePostgres {
    bin: PathBuf,
    dir: tempfile::TempDir,
    pub port: u16,
    child: Option<Child>,
    /// TLS only: the server's certificate and key, in the data folder.
    tls: bool,
}

/// The newest `/usr/lib/postgresql/<version>/bin` with an `initdb`.
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

impl PrivatePostgres {
    /// Creates a cluster and starts it (call [`PrivatePostgres::ready`]
    /// before connecting); `None`, with a "skipped" line, when
    /// PostgreSQL's server binaries are not installed.
    pub fn start() -> Option<Self> {
        Self::start_with(None)
    }

    /// Like [`PrivatePostgres::start`], serving TLS with `cert` and
    /// refusing every TCP connection without it (`pg_hba.conf`: `hostssl`
    /// only); [`PrivatePostgres::ready`] checks it over the Unix socket.
    pub fn start_tls(cert: &crate::Issued) -> Option<Self> {
        Self::start_with(Some(cert))
    }

    fn start_with(cert: Option<&crate::Issued>) -> Option<Self> {
        let Some(bin) = server_bin() else {
            println!("skipped: no /usr/lib/postgresql/*/bin/initdb (Debian's postgresql package)");
            return None;
        };
        let dir = tempfile::tempdir().expect("temp dir");
        let mut initdb = Command::new(bin.join("initdb"));
        initdb
            .args(["-D", "data", "-U", "postgres", "--auth=trust", "-N"])
            .args(["-E", "UTF8"])
            .current_dir(dir.path())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        as_server_user(&mut initdb, dir.path());
        let status = initdb.status().expect("run initdb");
        assert!(status.success(), "initdb failed");
        if let Some(cert) = cert {
            let data = dir.path().join("data");
            std::fs::copy(&cert.cert, data.join("server.crt")).expect("copy the certificate");
            std::fs::copy(&cert.key, data.join("server.key")).expect("copy the key");
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(
                data.join("server.key"),
                std::fs::Permissions::from_mode(0o600),
            )
            .expect("the key is private");
            std::fs::write(
                data.join("pg_hba.conf"),
                "local all all trust\nhostssl all all 127.0.0.1/32 trust\nhostnossl all all 0.0.0.0/0 reject\n",
            )
            .expect("write pg_hba.conf");
        }
        let mut server = Self {
            bin,
            dir,
            port: spare_port(),
            child: None,
            tls: cert.is_some(),
        };
        server.up();
        Some(server)
    }

    /// `postgres://postgres@127.0.0.1:<port>/postgres`.
    pub fn url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/postgres", self.port)
    }

    /// Over the Unix socket in its folder (no TLS needed there).
    fn socket_url(&self) -> String {
        format!(
            "host={} port={} user=postgres dbname=postgres",
            self.dir.path().display(),
            self.port
        )
    }

    /// Starts the server on its data directory (again, after a stop).
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
        if self.tls {
            postgres.args(["-c", "ssl=on", "-c", "ssl_cert_file=server.crt"]);
            postgres.args(["-c", "ssl_key_file=server.key"]);
        }
        as_server_user(&mut postgres, self.dir.path());
        self.child = Some(postgres.spawn().expect("start postgres"));
    }

    /// Stops the server, moves its next transaction id to `next` (64 bits:
    /// epoch and 32-bit id) with `pg_resetwal`, creating the commit-log
    /// segment that id needs, and starts it again (call
    /// [`PrivatePostgres::ready`]). Run `VACUUM FREEZE` in every database
    /// you connect to first: a row from before the move would otherwise
    /// look newer than the transactions after it.
    pub fn move_next_xid(&mut self, next: u64) {
        self.down();
        let (epoch, xid) = (next >> 32, next as u32);
        assert!(xid >= 3, "ids 0..3 are reserved");
        // 4 transactions a byte, 8 kB pages, 32 pages a segment.
        let segment = self
            .dir
            .path()
            .join(format!("data/pg_xact/{:04X}", xid / (4 * 8192 * 32)));
        if !segment.exists() {
            std::fs::write(&segment, vec![0u8; 8192 * 32]).expect("create the pg_xact segment");
        }
        let mut reset = Command::new(self.bin.join("pg_resetwal"));
        reset
            .args([
                "-D",
                "data",
                "-e",
                &epoch.to_string(),
                "-x",
                &xid.to_string(),
            ])
            .current_dir(self.dir.path())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        as_server_user(&mut reset, self.dir.path());
        assert!(
            reset.status().expect("run pg_resetwal").success(),
            "pg_resetwal failed"
        );
        self.up();
    }

    /// Fast shutdown (SIGINT to the postmaster: sessions are ended),
    /// waiting until it has exited.
    pub fn down(&mut self) {
        self.signal(Signal::SIGINT);
    }

    /// Immediate shutdown (SIGQUIT: no checkpoint, connections drop at
    /// once, as in a crash), waiting until it has exited.
    pub fn crash(&mut self) {
        self.signal(Signal::SIGQUIT);
    }

    fn signal(&mut self, signal: Signal) {
        if let Some(mut child) = self.child.take() {
            let _ = kill(Pid::from_raw(child.id() as i32), signal);
            let _ = child.wait();
        }
    }

    /// Waits until the server takes connections.
    pub async fn ready(&self) {
        for _ in 0..400 {
            // A TLS-only server refuses plain TCP: ask over its Unix socket.
            let url = if self.tls {
                self.socket_url()
            } else {
                self.url()
            };
            if tokio_postgres::connect(&url, tokio_postgres::NoTls)
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

impl Drop for PrivatePostgres {
    fn drop(&mut self) {
        self.down();
    }
}
