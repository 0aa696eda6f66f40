//! A private `redis-server` on a spare loopback port.

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::services::spare_port;

/// A `redis-server` of the test's own, keeping nothing on disk; killed
/// (by PID) by [`PrivateRedis::stop`] or when dropped.
pub struct PrivateRedis {
    pub port: u16,
    child: Option<Child>,
}

impl PrivateRedis {
    /// Starts one on a spare port and waits until it takes connections.
    pub fn start() -> Self {
        Self::start_on(spare_port())
    }

    /// Starts one on `port` (again, after [`PrivateRedis::stop`]: the
    /// same address comes back, empty).
    pub fn start_on(port: u16) -> Self {
        Self::spawn(port, &["--port", &port.to_string()])
    }

    /// Starts one speaking TLS only, with `cert` (issued by the CA of
    /// `ca_file`), on a spare port: reach it at [`PrivateRedis::tls_url`].
    pub fn start_tls(cert: &crate::Issued, ca_file: &std::path::Path) -> Self {
        let port = spare_port();
        let path = |p: &std::path::Path| p.display().to_string();
        Self::spawn(
            port,
            &[
                "--port",
                "0",
                "--tls-port",
                &port.to_string(),
                "--tls-cert-file",
                &path(&cert.cert),
                "--tls-key-file",
                &path(&cert.key),
                "--tls-ca-cert-file",
                &path(ca_file),
                "--tls-auth-clients",
                "no",
            ],
        )
    }

    fn spawn(port: u16, args: &[&str]) -> Self {
        let child = Command::new("redis-server")
            .args(args)
            .args(["--bind", "127.0.0.1"])
            .args(["--save", "", "--appendonly", "no"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start redis-server (Debian's redis-server package)");
        let server = Self {
            port,
            child: Some(child),
        };
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
                return server;
            }
            std::thread::sleep(Duration::from_millis(25));
        }
        panic!("the private redis-server on port {port} did not come up");
    }

    /// `redis://127.0.0.1:<port>`.
    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    /// `rediss://localhost:<port>` (the name the test certificates are for).
    pub fn tls_url(&self) -> String {
        format!("rediss://localhost:{}", self.port)
    }

    /// Kills it (SIGKILL by PID) and waits until it is gone.
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Drop for PrivateRedis {
    fn drop(&mut self) {
        self.stop();
    }
}
