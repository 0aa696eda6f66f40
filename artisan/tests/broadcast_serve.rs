//! `artisan broadcast:serve`: serves on the given port, answers `/up`, stops
//! on SIGTERM; a missing credential is an error naming the variable.

use std::io::{Read, Write};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

fn get_up(port: u16) -> Option<String> {
    let mut tcp = std::net::TcpStream::connect(("127.0.0.1", port)).ok()?;
    tcp.write_all(b"GET /up HTTP/1.1\r\nhost: localhost\r\nconnection: close\r\n\r\n")
        .ok()?;
    let mut out = String::new();
    tcp.read_to_string(&mut out).ok()?;
    Some(out)
}

#[test]
fn broadcast_serve_answers_up_and_stops_on_sigterm() {
    let port = free_port();
    let dir = tempfile::tempdir().unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_artisan"))
        .args([
            "broadcast:serve",
            "--host",
            "127.0.0.1",
            "--port",
            &port.to_string(),
        ])
        .current_dir(dir.path())
        .env("EVENTS_BROADCAST_APP_ID", "1")
        .env("EVENTS_BROADCAST_APP_KEY", "key")
        .env("EVENTS_BROADCAST_APP_SECRET", "secret")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut answer = None;
    while Instant::now() < deadline && answer.is_none() {
        answer = get_up(port).filter(|a| a.starts_with("HTTP/1.1 200"));
        std::thread::sleep(Duration::from_millis(50));
    }
    let _ = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status();
    let status = child.wait().unwrap();
    let mut logs = String::new();
    child
        .stdout
        .take()
        .unwrap()
        .read_to_string(&mut logs)
        .unwrap();
    assert!(answer.is_some(), "GET /up answered 200; logs:\n{logs}");
    assert!(status.success(), "exits cleanly on SIGTERM: {status}");
    assert!(
        logs.contains(&format!("127.0.0.1:{port}")),
        "says where it listens:\n{logs}"
    );
}

#[test]
fn broadcast_serve_without_credentials_names_the_variable() {
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_artisan"))
        .args(["broadcast:serve", "--port", "0"])
        .current_dir(dir.path())
        .env_remove("EVENTS_BROADCAST_APP_ID")
        .output()
        .unwrap();
    assert!(!out.status.success());
    let text =
        String::from_utf8_lossy(&out.stderr).into_owned() + &String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("EVENTS_BROADCAST_APP_ID"), "{text}");
}
