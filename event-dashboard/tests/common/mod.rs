//! What the dashboard's tests share: a real sqlite queue, a queued
//! listener that fails on demand, a real worker, and requests to the
//! router as a browser on this machine would send them.
#![allow(dead_code, unreachable_pub)]

pub mod browser;
pub mod pusher;
pub mod shop;
pub mod standalone;
pub mod worker_process;

use std::collections::HashSet;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::http::{HeaderMap, Method, Request, StatusCode};
use event_core::prelude::*;
use event_core::queue::{Queue, Worker};
use serde_json::Value;
use tower::ServiceExt;

/// Orders whose card goes through; every other one is declined.
static PAYABLE: Mutex<Option<HashSet<u64>>> = Mutex::new(None);

/// Order numbers no other test of this process uses (which cards go
/// through is shared by the process).
pub fn orders<const N: usize>() -> [u64; N] {
    static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1_000);
    let first = NEXT.fetch_add(N as u64, std::sync::atomic::Ordering::Relaxed);
    std::array::from_fn(|i| first + i as u64)
}

/// Lets `order` be charged from now on.
pub fn make_payable(order: u64) {
    PAYABLE
        .lock()
        .unwrap()
        .get_or_insert_with(HashSet::new)
        .insert(order);
}

/// An order to charge: a queued listener runs it on the `payments` queue.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize, Event)]
pub struct ChargeCard {
    /// The order.
    pub order: u64,
}

#[listener(event = ChargeCard, queued, queue = "payments", tries = 1)]
async fn charge_card(event: &ChargeCard) -> anyhow::Result<()> {
    let payable = PAYABLE
        .lock()
        .unwrap()
        .as_ref()
        .is_some_and(|p| p.contains(&event.order));
    if payable {
        Ok(())
    } else {
        anyhow::bail!("card declined for order {}", event.order)
    }
}

/// A sqlite queue in a temporary folder, a dispatcher writing to it and the
/// registry a worker runs its jobs with.
pub struct App {
    pub dir: tempfile::TempDir,
    pub url: String,
    pub queue: Queue,
    pub dispatcher: Dispatcher,
    pub registry: Arc<JobRegistry>,
}

impl App {
    /// On a sqlite file of its own.
    pub async fn new() -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        let url = format!("sqlite://{}", dir.path().join("jobs.db").display());
        Self::open(dir, url).await
    }

    /// On the connection at `url` (a redis prefix or postgres schema of the
    /// test's own).
    pub async fn open(dir: tempfile::TempDir, url: String) -> Self {
        let queue = Queue::open(&url).await.expect("open the sqlite queue");
        let dispatcher = Dispatcher::new();
        queue.install(&dispatcher).await;
        let listener: Arc<dyn EventListener> = Arc::new(ChargeCardListener);
        dispatcher.listen::<ChargeCard>(listener.clone()).await;
        let registry = Arc::new(JobRegistry::new().listener::<ChargeCard>(listener));
        Self {
            dir,
            url,
            queue,
            dispatcher,
            registry,
        }
    }

    /// The sqlite event store's URL, in the app's folder.
    pub fn store_url(&self) -> String {
        format!("sqlite://{}", self.dir.path().join("events.db").display())
    }

    /// The event store at [`App::store_url`].
    pub async fn store(&self) -> event_core::store::EventStore {
        event_core::store::EventStore::open(&self.store_url(), "events")
            .await
            .expect("open the store")
    }

    /// Waits (up to 15 s) until the connection holds `n` failed jobs.
    pub async fn wait_failed(&self, n: u64, what: &str) {
        let failed = self.queue.failed().unwrap();
        assert!(
            eventually(Duration::from_secs(15), async || failed
                .count(&Default::default())
                .await
                .unwrap()
                == n)
            .await,
            "{what}: not {n} failed job(s) within 15 s"
        );
    }

    pub async fn charge(&self, order: u64) {
        self.dispatcher
            .dispatch(ChargeCard { order })
            .await
            .expect("dispatch");
    }

    /// A real worker on `payments`, polling every 20 ms, until dropped.
    pub fn worker(&self) -> Running {
        let worker = Worker::new(self.queue.clone(), self.registry.clone())
            .queues(["payments"])
            .poll_interval(Duration::from_millis(20));
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let handle = tokio::spawn(async move {
            worker
                .run_until(async move {
                    let _ = rx.await;
                })
                .await
                .expect("the worker runs");
        });
        Running {
            stop: Some(tx),
            handle: Some(handle),
        }
    }
}

/// A running worker: `stop().await` ends it cleanly.
pub struct Running {
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    handle: Option<tokio::task::JoinHandle<()>>,
}

impl Running {
    pub async fn stop(mut self) {
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
        if let Some(h) = self.handle.take() {
            h.await.expect("the worker task");
        }
    }
}

/// An answer: status, headers, JSON body (`Null` when not JSON).
#[derive(Debug)]
pub struct Answer {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub json: Value,
    pub text: String,
}

/// Sends one request to `router`, from `peer`, with `headers`.
pub async fn send(
    router: &axum::Router,
    method: Method,
    uri: &str,
    headers: &[(&str, &str)],
    peer: SocketAddr,
) -> Answer {
    let mut request = Request::builder().method(method).uri(uri);
    for (k, v) in headers {
        request = request.header(*k, *v);
    }
    let mut request = request.body(Body::empty()).expect("request");
    request.extensions_mut().insert(ConnectInfo(peer));
    let response = router.clone().oneshot(request).await.expect("infallible");
    let status = response.status();
    let headers = response.headers().clone();
    let bytes = axum::body::to_bytes(response.into_body(), 16 << 20)
        .await
        .expect("body");
    let text = String::from_utf8_lossy(&bytes).into_owned();
    Answer {
        status,
        headers,
        json: serde_json::from_str(&text).unwrap_or(Value::Null),
        text,
    }
}

pub fn loopback() -> SocketAddr {
    "127.0.0.1:50000".parse().unwrap()
}

/// A client on another machine.
pub fn remote() -> SocketAddr {
    "10.1.2.3:40000".parse().unwrap()
}

/// A page's own request: same-origin, from this machine.
pub async fn get(router: &axum::Router, uri: &str) -> Answer {
    send(
        router,
        Method::GET,
        uri,
        &[("sec-fetch-site", "same-origin")],
        loopback(),
    )
    .await
}

pub async fn post(router: &axum::Router, uri: &str) -> Answer {
    send(
        router,
        Method::POST,
        uri,
        &[("sec-fetch-site", "same-origin")],
        loopback(),
    )
    .await
}

/// The chain `correlation` (read through `dashboard`) holds a replay of
/// the event `origin` that ran the `ChargeCard` listener.
pub async fn assert_replay_ran_the_listener(
    dashboard: &axum::Router,
    correlation: &str,
    origin: &str,
) {
    let chain = get(dashboard, &format!("/api/chains/{correlation}")).await;
    let replay = chain.json["events"]
        .as_array()
        .unwrap_or_else(|| panic!("{}", chain.text))
        .iter()
        .find(|e| e["replay_of"] == origin)
        .unwrap_or_else(|| panic!("the replay is in the chain: {}", chain.text))
        .clone();
    assert!(
        replay["metadata"]["replayed_listeners"][0]
            .as_str()
            .is_some_and(|l| l.ends_with("::ChargeCardListener")),
        "the worker ran the listener: {}",
        chain.text
    );
}

/// Polls `check` every 50 ms until it holds or `limit` passes.
pub async fn eventually(limit: Duration, mut check: impl AsyncFnMut() -> bool) -> bool {
    let start = Instant::now();
    loop {
        if check().await {
            return true;
        }
        if start.elapsed() > limit {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
