//! `artisan broadcast:serve`: serves on the given port, answers `/up`, stops
//! on SIGTERM; a missing credential or a bad value is an error naming the
//! variable; `EVENTS_BROADCAST_MAX_MESSAGE_BYTES` is the message limit.

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
    // Every variable to set, and no value the user never set.
    assert!(
        text.contains(
            "the broadcasting server (`artisan broadcast:serve`) needs EVENTS_BROADCAST_APP_ID, \
             which is not set: set EVENTS_BROADCAST_APP_ID, EVENTS_BROADCAST_APP_KEY and \
             EVENTS_BROADCAST_APP_SECRET"
        ),
        "{text}"
    );
    assert!(!text.contains("is `server`"), "{text}");
}

/// A WebSocket client written by hand (artisan's tests have no WebSocket
/// library): the handshake, then one frame header announcing `len` bytes.
/// Returns what the server sent back until it closed, and the close code.
fn announce_frame(port: u16, len: u64) -> (String, Option<u16>) {
    let mut tcp = std::net::TcpStream::connect(("127.0.0.1", port)).expect("connect");
    tcp.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    tcp.write_all(
        format!(
            "GET /app/key?protocol=7 HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUpgrade: websocket\r\n\
             Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\
             Sec-WebSocket-Version: 13\r\n\r\n"
        )
        .as_bytes(),
    )
    .unwrap();
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        tcp.read_exact(&mut byte).expect("the handshake's answer");
        head.push(byte[0]);
    }
    assert!(
        head.starts_with(b"HTTP/1.1 101"),
        "{}",
        String::from_utf8_lossy(&head)
    );
    // A text frame, masked with the key 0, of which only the header is sent.
    let mut frame = vec![0x81, 0x80 | 127];
    frame.extend(len.to_be_bytes());
    frame.extend([0, 0, 0, 0]);
    tcp.write_all(&frame).unwrap();
    let mut texts = String::new();
    loop {
        let mut header = [0u8; 2];
        if tcp.read_exact(&mut header).is_err() {
            return (texts, None);
        }
        let len = match header[1] & 0x7f {
            126 => {
                let mut n = [0u8; 2];
                tcp.read_exact(&mut n).unwrap();
                u64::from(u16::from_be_bytes(n))
            }
            127 => {
                let mut n = [0u8; 8];
                tcp.read_exact(&mut n).unwrap();
                u64::from_be_bytes(n)
            }
            n => u64::from(n),
        };
        let mut payload = vec![0u8; len as usize];
        tcp.read_exact(&mut payload).unwrap();
        match header[0] & 0x0f {
            0x1 => texts.push_str(&String::from_utf8_lossy(&payload)),
            0x8 => return (texts, Some(u16::from_be_bytes([payload[0], payload[1]]))),
            _ => {}
        }
    }
}

/// `EVENTS_BROADCAST_MAX_MESSAGE_BYTES` reaches the server: a frame just over
/// it (far under the 64 KiB default) is refused from its header with 1009.
#[test]
fn broadcast_serve_closes_a_message_over_the_configured_limit_with_1009() {
    let port = free_port();
    let dir = tempfile::tempdir().unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_artisan"))
        .args(["broadcast:serve", "--port", &port.to_string()])
        .current_dir(dir.path())
        .env("EVENTS_BROADCAST_APP_ID", "1")
        .env("EVENTS_BROADCAST_APP_KEY", "key")
        .env("EVENTS_BROADCAST_APP_SECRET", "secret")
        .env("EVENTS_BROADCAST_MAX_MESSAGE_BYTES", "2048")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    while Instant::now() < deadline && get_up(port).is_none() {
        std::thread::sleep(Duration::from_millis(50));
    }
    let over = announce_frame(port, 2049);
    let _ = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status();
    let _ = child.wait();
    assert!(over.0.contains("pusher:connection_established"), "{over:?}");
    assert_eq!(over.1, Some(1009), "{over:?}");
}

#[test]
fn broadcast_serve_with_a_bad_max_message_bytes_names_the_variable() {
    let dir = tempfile::tempdir().unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_artisan"))
        .args(["broadcast:serve", "--port", "0"])
        .current_dir(dir.path())
        .env("EVENTS_BROADCAST_APP_ID", "1")
        .env("EVENTS_BROADCAST_APP_KEY", "key")
        .env("EVENTS_BROADCAST_APP_SECRET", "secret")
        .env("EVENTS_BROADCAST_MAX_MESSAGE_BYTES", "64KiB")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // It must refuse to start, not serve with another limit.
    let deadline = Instant::now() + Duration::from_secs(10);
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break Some(status);
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let mut text = String::new();
    let _ = child.stderr.take().unwrap().read_to_string(&mut text);
    let _ = child.stdout.take().unwrap().read_to_string(&mut text);
    assert!(
        status.is_some_and(|s| !s.success()),
        "it started anyway: {text}"
    );
    assert!(
        text.contains("EVENTS_BROADCAST_MAX_MESSAGE_BYTES"),
        "{text}"
    );
}

#[test]
fn broadcast_serve_tls_flags_are_checked_by_name() {
    let dir = tempfile::tempdir().unwrap();
    let run = |args: &[&str]| {
        let out = Command::new(env!("CARGO_BIN_EXE_artisan"))
            .arg("broadcast:serve")
            .args(["--port", "0"])
            .args(args)
            .current_dir(dir.path())
            .env("EVENTS_BROADCAST_APP_ID", "1")
            .env("EVENTS_BROADCAST_APP_KEY", "key")
            .env("EVENTS_BROADCAST_APP_SECRET", "secret")
            .env_remove("EVENTS_BROADCAST_SERVER_TLS_CERT")
            .env_remove("EVENTS_BROADCAST_SERVER_TLS_KEY")
            .output()
            .unwrap();
        assert!(!out.status.success(), "started with {args:?}");
        String::from_utf8_lossy(&out.stderr).into_owned() + &String::from_utf8_lossy(&out.stdout)
    };
    let text = run(&["--tls-cert", "cert.pem"]);
    assert!(
        text.contains("--tls-cert is set but --tls-key is not"),
        "{text}"
    );
    std::fs::write(dir.path().join("bad.pem"), "not PEM").unwrap();
    let text = run(&["--tls-cert", "bad.pem", "--tls-key", "missing-key.pem"]);
    assert!(
        text.contains("--tls-cert") && text.contains("is not a PEM certificate"),
        "{text}"
    );
}
