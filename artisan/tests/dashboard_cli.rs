//! `artisan dashboard`: serves the pages on the queue `--url` names, prints
//! a URL with its token, answers that URL and refuses a request without it.

mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Command, Stdio};
use std::time::Duration;

/// GET `path` on `addr`; the status line and the body.
fn get(addr: &str, path: &str) -> (String, String) {
    let mut stream = TcpStream::connect(addr).expect("connect to the dashboard");
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut answer = String::new();
    stream.read_to_string(&mut answer).unwrap();
    let status = answer.lines().next().unwrap_or_default().to_string();
    let body = answer
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_string())
        .unwrap_or_default();
    (status, body)
}

#[test]
fn it_serves_the_queue_behind_a_token() {
    let dir = tempfile::tempdir().expect("temp dir");
    let url = format!("sqlite://{}/jobs.db", dir.path().display());
    let mut child = Command::new(env!("CARGO_BIN_EXE_artisan"))
        .args([
            "dashboard",
            "--port",
            "0",
            "--url",
            &url,
            "--token",
            "s3cret",
        ])
        .current_dir(dir.path())
        .env_remove("EVENTS_QUEUE_URL")
        .env("EVENTS_STORE_ENABLED", "false")
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("start artisan dashboard");
    let mut lines = BufReader::new(child.stdout.take().expect("stdout")).lines();
    let shown = lines
        .by_ref()
        .map_while(Result::ok)
        .find(|l| l.contains("The dashboard is at"))
        .expect("it prints where it is");
    let at = shown.split("http://").nth(1).expect("an http URL");
    let addr = at.split('/').next().expect("host:port").to_string();
    assert!(shown.contains("token=s3cret"), "{shown}");
    assert!(addr.starts_with("127.0.0.1:"), "loopback only: {shown}");

    let (status, _) = get(&addr, "/api/queues");
    assert!(status.contains("401"), "no token, no figures: {status}");
    let (status, body) = get(&addr, "/api/queues?token=s3cret");
    assert!(
        status.contains("200") || status.contains("303") || status.contains("302"),
        "{status}\n{body}"
    );
    let _ = child.kill();
    let _ = child.wait();
}

#[test]
fn without_a_queue_it_refuses_by_name() {
    let dir = tempfile::tempdir().expect("temp dir");
    let out = common::run_in(
        dir.path(),
        &["dashboard", "--port", "0"],
        &[("!EVENTS_QUEUE_URL", "")],
    );
    assert_eq!(out.code, 2, "{}", out.all());
    assert!(out.all().contains("no queue to show"), "{}", out.all());
}

/// `--redact password`: a stored event's password never leaves the server.
#[test]
fn redacted_fields_are_not_served() {
    let dir = tempfile::tempdir().expect("temp dir");
    let store_url = format!("sqlite://{}/events.db", dir.path().display());
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(async {
        let store = event_core::store::EventStore::open(&store_url, "events")
            .await
            .expect("open the store");
        let event = event_core::store::NewEvent::new(
            "UserSignedUp",
            serde_json::json!({"email": "ada@example.com", "password": "hunter2"}),
        );
        store
            .append(event, event_core::store::ExpectedVersion::Any)
            .await
            .expect("append");
    });
    let url = format!("sqlite://{}/jobs.db", dir.path().display());
    let mut child = Command::new(env!("CARGO_BIN_EXE_artisan"))
        .args([
            "dashboard",
            "--port",
            "0",
            "--url",
            &url,
            "--store-url",
            &store_url,
            "--token",
            "s3cret",
            "--redact",
            "password,card_number",
        ])
        .current_dir(dir.path())
        .env_remove("EVENTS_QUEUE_URL")
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("start artisan dashboard");
    let mut lines = BufReader::new(child.stdout.take().expect("stdout")).lines();
    let shown = lines
        .by_ref()
        .map_while(Result::ok)
        .find(|l| l.contains("The dashboard is at"))
        .expect("it prints where it is");
    let addr = shown
        .split("http://")
        .nth(1)
        .unwrap()
        .split('/')
        .next()
        .unwrap()
        .to_string();
    let mut stream = TcpStream::connect(&addr).expect("connect");
    write!(
        stream,
        "GET /api/events?name=UserSignedUp HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer s3cret\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut answer = String::new();
    stream.read_to_string(&mut answer).unwrap();
    let _ = child.kill();
    let _ = child.wait();
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    assert!(
        answer.contains("ada@example.com"),
        "the event is served: {answer}"
    );
    assert!(!answer.contains("hunter2"), "the password is not: {answer}");
    assert!(answer.contains("[redacted]"), "{answer}");
}
