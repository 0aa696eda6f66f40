//! The broadcasting server under load, on loopback (a bench binary, not a
//! timed test): `cargo bench -p event-broadcast-server --bench fanout`.
//!
//! 1. 1,000 and 10,000 connections on one channel, ours beside a fair
//!    baseline in the same run: a bare tokio-tungstenite server that, like
//!    ours, writes to each socket from its own task, fed by a bounded queue
//!    per socket, with the same bytes, flushing when its queue is empty, and
//!    taking the events the same way as ours (JSON batches POSTed over HTTP;
//!    ours checks their signatures too). For each: delivery latency (from the
//!    publish until every client has the event, the HTTP request included)
//!    p50 / p99, and fan-out messages per second; the median of
//!    several rounds, and the ratio of ours to the baseline by the median of
//!    the rounds' ratios. The file-descriptor limit is raised first (both
//!    ends of every socket are in this process).
//! 2. RSS per idle connection of the server process, over 1,000 and 10,000.
//! 3. 1,000 clients reconnecting after a restart: time until all are subscribed.
//!
//! `FANOUT_QUICK=1` runs tiny numbers (a smoke run, to check it works).

use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use event_broadcast::signature::{self, Credentials};
use event_broadcast_server::{Server, ServerConfig};
use futures::{SinkExt, StreamExt};
use tokio::sync::{Barrier, mpsc};
use tokio_tungstenite::tungstenite::{Message, Utf8Bytes};

fn creds() -> Credentials {
    Credentials {
        app_id: "bench".into(),
        key: "bench-key".into(),
        secret: "bench-secret".into(),
    }
}

fn quick() -> bool {
    std::env::var_os("FANOUT_QUICK").is_some()
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    v[v.len() / 2]
}

/// Opens `n` clients subscribed to `channel` (500 at a time, so the accept
/// queue is not flooded); each reports every text frame whose event is
/// `bench` on `seen`.
async fn clients(
    addr: SocketAddr,
    n: usize,
    channel: &str,
    seen: mpsc::UnboundedSender<Instant>,
) -> Vec<tokio::task::JoinHandle<()>> {
    let mut tasks = Vec::with_capacity(n);
    let mut opened = 0;
    while opened < n {
        let k = 500.min(n - opened);
        tasks.extend(client_chunk(addr, k, channel, seen.clone()).await);
        opened += k;
    }
    tasks
}

async fn client_chunk(
    addr: SocketAddr,
    n: usize,
    channel: &str,
    seen: mpsc::UnboundedSender<Instant>,
) -> Vec<tokio::task::JoinHandle<()>> {
    let ready = Arc::new(Barrier::new(n + 1));
    let mut tasks = Vec::with_capacity(n);
    for _ in 0..n {
        let seen = seen.clone();
        let ready = ready.clone();
        let channel = channel.to_string();
        tasks.push(tokio::spawn(async move {
            let url = format!("ws://{addr}/app/bench-key?protocol=7");
            let (mut ws, _) = tokio_tungstenite::connect_async(url)
                .await
                .expect("connect");
            let sub =
                serde_json::json!({ "event": "pusher:subscribe", "data": { "channel": channel } });
            // The bare baseline ignores what clients send.
            let _ = ws.send(Message::Text(sub.to_string().into())).await;
            let mut announced = false;
            let mut ready = Some(ready);
            while let Some(Ok(msg)) = ws.next().await {
                if let Message::Text(t) = msg {
                    let t = t.as_str();
                    if t.contains("subscription_succeeded") || t.contains("\"bare-ready\"") {
                        if let Some(r) = ready.take() {
                            r.wait().await;
                        }
                        announced = true;
                    } else if announced && t.contains("\"bench\"") {
                        let _ = seen.send(Instant::now());
                    }
                }
            }
        }));
    }
    ready.wait().await;
    tasks
}

async fn publish_batch(client: &Http, addr: SocketAddr, events: usize) {
    let batch: Vec<_> = (0..events)
        .map(|i| serde_json::json!({ "channel": "bench", "name": "bench", "data": format!("{{\"n\":{i}}}") }))
        .collect();
    let body = serde_json::json!({ "batch": batch })
        .to_string()
        .into_bytes();
    let params = signature::sign_request(
        &creds(),
        "POST",
        "/apps/bench/batch_events",
        &[],
        Some(&body),
        chrono::Utc::now().timestamp(),
    );
    let query = form_urlencoded::Serializer::new(String::new())
        .extend_pairs(params)
        .finish();
    let req = hyper::Request::post(format!("http://{addr}/apps/bench/batch_events?{query}"))
        .header("content-type", "application/json")
        .body(http_body_util::Full::new(bytes::Bytes::from(body)))
        .expect("request");
    let resp = client.request(req).await.expect("HTTP API answers");
    assert!(resp.status().is_success(), "publish: {}", resp.status());
}

type Http = hyper_util::client::legacy::Client<
    hyper_util::client::legacy::connect::HttpConnector,
    http_body_util::Full<bytes::Bytes>,
>;

fn http() -> Http {
    hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new()).build_http()
}

/// Waits until `count` receipts arrived; returns the last one.
async fn drain(rx: &mut mpsc::UnboundedReceiver<Instant>, count: usize) -> Instant {
    let mut last = Instant::now();
    for _ in 0..count {
        last = tokio::time::timeout(Duration::from_secs(30), rx.recv())
            .await
            .expect("every client gets every event")
            .expect("open");
    }
    last
}

/// Ours: latency per publish until all n have it, and fan-out msgs/s.
async fn ours(n: usize, latency_rounds: usize, burst: usize) -> (Vec<Duration>, f64) {
    let mut config = ServerConfig::new(creds());
    config.port = 0;
    config.socket_queue = burst + 64;
    let server = Server::bind(config).await.expect("bind");
    let addr = server.local_addr();
    let (tx, mut rx) = mpsc::unbounded_channel();
    let tasks = clients(addr, n, "bench", tx).await;
    let client = http();
    let mut latencies = Vec::new();
    for _ in 0..latency_rounds {
        let t0 = Instant::now();
        publish_batch(&client, addr, 1).await;
        let last = drain(&mut rx, n).await;
        latencies.push(last - t0);
    }
    // Fan-out: `burst` events in batches of 10.
    let t0 = Instant::now();
    for _ in 0..burst / 10 {
        publish_batch(&client, addr, 10).await;
    }
    let last = drain(&mut rx, n * (burst / 10 * 10)).await;
    let rate = (n * (burst / 10 * 10)) as f64 / (last - t0).as_secs_f64();
    for t in tasks {
        t.abort();
    }
    let _ = server.shutdown().await;
    (latencies, rate)
}

/// The fair baseline: a bare tokio-tungstenite server where each socket has
/// its own writer task fed by a bounded queue (as ours), fed the same way
/// as ours: JSON batches POSTed over HTTP, each event framed once and its
/// shared bytes put on every queue. Returns what [`ours`] does.
async fn bare(n: usize, latency_rounds: usize, burst: usize) -> (Vec<Duration>, f64) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    let queue = burst + 64;
    let (queues_tx, mut queues_rx) = mpsc::unbounded_channel();
    let server = tokio::spawn(async move {
        while let Ok((tcp, _)) = listener.accept().await {
            let queues_tx = queues_tx.clone();
            tokio::spawn(async move {
                let ws = tokio_tungstenite::accept_async(tcp).await.expect("accept");
                let (mut sink, mut stream) = ws.split();
                let _ = sink
                    .send(Message::Text("{\"event\":\"bare-ready\"}".into()))
                    .await;
                let (tx, mut rx) = mpsc::channel::<Utf8Bytes>(queue);
                let _ = queues_tx.send(tx);
                // Its own writer task, as each of our sockets has, writing
                // what is queued and flushing once the queue is empty (as a
                // careful bare server would; ours batches the same way).
                tokio::spawn(async move {
                    while let Some(bytes) = rx.recv().await {
                        if sink.feed(Message::Text(bytes)).await.is_err() {
                            return;
                        }
                        while let Ok(more) = rx.try_recv() {
                            if sink.feed(Message::Text(more)).await.is_err() {
                                return;
                            }
                        }
                        if sink.flush().await.is_err() {
                            return;
                        }
                    }
                });
                while let Some(Ok(_)) = stream.next().await {}
            });
        }
    });
    let (tx, mut rx) = mpsc::unbounded_channel();
    let tasks = clients(addr, n, "bench", tx).await;
    let mut queues = Vec::with_capacity(n);
    for _ in 0..n {
        queues.push(queues_rx.recv().await.expect("a socket's queue"));
    }
    // The events come in as ours do: a JSON batch POSTed over HTTP, each
    // event framed once and its bytes put on every socket's queue (no
    // signature check, no channels, no protocol: only the same ingress).
    let queues = Arc::new(queues);
    let ingress = {
        let queues = queues.clone();
        axum::Router::new().route(
            "/apps/bench/batch_events",
            axum::routing::post(move |body: axum::body::Bytes| {
                let queues = queues.clone();
                async move {
                    let value: serde_json::Value =
                        serde_json::from_slice(&body).expect("a JSON batch");
                    for e in value["batch"].as_array().expect("a batch") {
                        let frame = event_broadcast_server::protocol::channel_event(
                            e["channel"].as_str().unwrap_or_default(),
                            e["name"].as_str().unwrap_or_default(),
                            e["data"].as_str().unwrap_or_default(),
                            None,
                        );
                        let bytes = Utf8Bytes::from(frame);
                        for q in queues.iter() {
                            let _ = q.try_send(bytes.clone());
                        }
                    }
                    "{}"
                }
            }),
        )
    };
    let http_listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let http_addr = http_listener.local_addr().expect("addr");
    let http_server = tokio::spawn(async move {
        let _ = axum::serve(http_listener, ingress).await;
    });
    let client = http();
    let mut latencies = Vec::new();
    for _ in 0..latency_rounds {
        let t0 = Instant::now();
        publish_batch(&client, http_addr, 1).await;
        let last = drain(&mut rx, n).await;
        latencies.push(last - t0);
    }
    // Fan-out: `burst` events in batches of 10, as for ours.
    let t0 = Instant::now();
    for _ in 0..burst / 10 {
        publish_batch(&client, http_addr, 10).await;
    }
    let events = burst / 10 * 10;
    let last = drain(&mut rx, n * events).await;
    for t in tasks {
        t.abort();
    }
    http_server.abort();
    server.abort();
    (latencies, (n * events) as f64 / (last - t0).as_secs_f64())
}

/// Raises the soft file-descriptor limit to the hard one (both ends of
/// every socket are in this process); returns the limit now.
fn raise_nofile() -> u64 {
    use nix::sys::resource::{Resource, getrlimit, setrlimit};
    let Ok((soft, hard)) = getrlimit(Resource::RLIMIT_NOFILE) else {
        return 0;
    };
    if soft < hard {
        let _ = setrlimit(Resource::RLIMIT_NOFILE, hard, hard);
    }
    let (now, _) = getrlimit(Resource::RLIMIT_NOFILE).unwrap_or((soft, hard));
    println!("file descriptors: {now} (hard limit {hard})");
    now
}

fn rss_kb(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

struct Proc(Child);
impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn spawn_server(port: u16) -> Proc {
    Proc(
        Command::new(env!("CARGO_BIN_EXE_event-broadcast-server"))
            .args(["--host", "127.0.0.1", "--port", &port.to_string()])
            .env("EVENTS_BROADCAST_APP_ID", "bench")
            .env("EVENTS_BROADCAST_APP_KEY", "bench-key")
            .env("EVENTS_BROADCAST_APP_SECRET", "bench-secret")
            .env("RUST_LOG", "error")
            .stdout(Stdio::null())
            .spawn()
            .expect("server binary"),
    )
}

async fn wait_up(addr: SocketAddr) {
    for _ in 0..200 {
        if tokio::net::TcpStream::connect(addr).await.is_ok() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    panic!("server did not come up on {addr}");
}

async fn idle_connections(addr: SocketAddr, n: usize) -> Vec<tokio::task::JoinHandle<()>> {
    let (tx, _rx) = mpsc::unbounded_channel();
    clients(addr, n, "idle", tx).await
}

async fn rss_per_connection(counts: &[usize]) {
    for &n in counts {
        let port = free_port();
        let server = spawn_server(port);
        let addr: SocketAddr = ([127, 0, 0, 1], port).into();
        wait_up(addr).await;
        tokio::time::sleep(Duration::from_millis(300)).await;
        let before = rss_kb(server.0.id());
        let conns = idle_connections(addr, n).await;
        tokio::time::sleep(Duration::from_millis(500)).await;
        let after = rss_kb(server.0.id());
        let per = (after.saturating_sub(before) as f64 * 1024.0) / n as f64;
        println!(
            "idle RSS: {n:>6} connections: {before} kB -> {after} kB = {:.1} KB per connection (goal < 12 KB)",
            per / 1024.0
        );
        for c in conns {
            c.abort();
        }
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("port")
}

/// Clients that reconnect (with 0-250 ms jitter, as ours suggests) and
/// resubscribe; counts subscriptions.
async fn reconnecting(
    addr: SocketAddr,
    n: usize,
    subscribed: Arc<AtomicUsize>,
) -> Vec<tokio::task::JoinHandle<()>> {
    let mut tasks = Vec::new();
    for _ in 0..n {
        let subscribed = subscribed.clone();
        tasks.push(tokio::spawn(async move {
            loop {
                let url = format!("ws://{addr}/app/bench-key?protocol=7");
                if let Ok((mut ws, _)) = tokio_tungstenite::connect_async(url).await {
                    let sub = serde_json::json!({ "event": "pusher:subscribe", "data": { "channel": "r" } });
                    let _ = ws.send(Message::Text(sub.to_string().into())).await;
                    while let Some(Ok(msg)) = ws.next().await {
                        if let Message::Text(t) = msg
                            && t.as_str().contains("subscription_succeeded")
                        {
                            subscribed.fetch_add(1, Ordering::SeqCst);
                        }
                    }
                }
                tokio::time::sleep(Duration::from_millis(50 + rand::random::<u64>() % 200)).await;
            }
        }));
    }
    tasks
}

async fn reconnect_after_restart(n: usize) -> Duration {
    let port = free_port();
    let addr: SocketAddr = ([127, 0, 0, 1], port).into();
    let server = spawn_server(port);
    wait_up(addr).await;
    let subscribed = Arc::new(AtomicUsize::new(0));
    let tasks = reconnecting(addr, n, subscribed.clone()).await;
    while subscribed.load(Ordering::SeqCst) < n {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    drop(server); // SIGKILL: every client drops at once
    let t0 = Instant::now();
    subscribed.store(0, Ordering::SeqCst);
    let _server = spawn_server(port);
    while subscribed.load(Ordering::SeqCst) < n {
        assert!(
            t0.elapsed() < Duration::from_secs(60),
            "clients did not come back"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let took = t0.elapsed();
    for t in tasks {
        t.abort();
    }
    took
}

/// The median of each round's value.
fn median_of(rounds: &[(Vec<Duration>, f64)], f: impl Fn(&(Vec<Duration>, f64)) -> f64) -> f64 {
    median(&mut rounds.iter().map(f).collect::<Vec<_>>())
}

fn p(latencies: &[Duration], q: f64) -> f64 {
    let mut sorted = latencies.to_vec();
    sorted.sort();
    percentile(&sorted, q).as_secs_f64() * 1000.0
}

#[tokio::main]
async fn main() {
    let fds = raise_nofile();
    let (sizes, rounds, latency_rounds, burst): (&[usize], _, _, _) = if quick() {
        (&[50, 100], 2, 5, 20)
    } else {
        (&[1000, 10_000], 5, 50, 200)
    };
    for &wanted in sizes {
        // Two ends per socket, and room for the HTTP clients and the rest.
        let need = 2 * wanted as u64 + 1000;
        let n = if fds >= need {
            wanted
        } else {
            // The most whole thousands that fit, said as such.
            let fits = (fds.saturating_sub(1000) / 2 / 1000 * 1000) as usize;
            println!(
                "fan-out: {wanted} connections need about {need} file descriptors, the limit is {fds} (raise the hard limit: ulimit -Hn {need}); measuring {fits} instead"
            );
            if fits == 0 || sizes.contains(&fits) {
                continue;
            }
            fits
        };
        println!(
            "fan-out: {n} connections on one channel, {burst} events per round, {rounds} rounds"
        );
        let mut our_rounds = Vec::new();
        let mut bare_rounds = Vec::new();
        for round in 0..rounds {
            let o = ours(n, latency_rounds, burst).await;
            let b = bare(n, latency_rounds, burst).await;
            println!(
                "  round {round}: ours {:>10.0} msgs/s p50 {:>7.2} ms p99 {:>7.2} ms | baseline {:>10.0} msgs/s p50 {:>7.2} ms p99 {:>7.2} ms | ratio {:.2}",
                o.1,
                p(&o.0, 0.5),
                p(&o.0, 0.99),
                b.1,
                p(&b.0, 0.5),
                p(&b.0, 0.99),
                o.1 / b.1
            );
            our_rounds.push(o);
            bare_rounds.push(b);
        }
        let mut ratios: Vec<f64> = our_rounds
            .iter()
            .zip(&bare_rounds)
            .map(|(o, b)| o.1 / b.1)
            .collect();
        for (who, r) in [("ours", &our_rounds), ("baseline", &bare_rounds)] {
            println!(
                "  {n:>6} sockets, {who:<8}: median {:>10.0} msgs/s, delivery p50 {:.2} ms, p99 {:.2} ms",
                median_of(r, |x| x.1),
                median_of(r, |x| p(&x.0, 0.5)),
                median_of(r, |x| p(&x.0, 0.99)),
            );
        }
        println!(
            "  {n:>6} sockets: ours / baseline throughput, median of the rounds: {:.2} (goal >= 0.80; p99 goal < 100 ms at 10,000)",
            median(&mut ratios)
        );
    }
    let counts: &[usize] = if quick() { &[200] } else { &[1000, 10_000] };
    rss_per_connection(counts).await;
    let n = if quick() { 100 } else { 1000 };
    let took = reconnect_after_restart(n).await;
    println!("reconnect: {n} clients subscribed again {took:?} after a restart (goal < 5 s)");
}
