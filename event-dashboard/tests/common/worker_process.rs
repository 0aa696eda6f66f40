//! A worker in a separate OS process, as an app's `queue:work` runs beside
//! the dashboard: the test executable started again to run only its
//! ignored `separate_worker_process` test, which, given the queue and store
//! URLs in its environment, runs a real `Worker` over `payments` and the
//! default queue (where replay jobs go) with the tests' `ChargeCard`
//! listener, the store's replayer and hop reports. No second build: the
//! worker is the code under test, compiled once into the test executable.
//!
//! The test tells it which cards go through (`pay N` on its stdin, answered
//! `paid N`), and ends it by its PID; it also ends when its stdin closes,
//! so a test process that dies leaves no worker behind.

use std::process::Stdio;
use std::sync::Arc;
use std::time::Duration;

use event_core::prelude::*;
use event_core::queue::{Queue, Worker};
use event_core::store::EventStore;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader, Lines};
use tokio::process::{Child, ChildStdin, ChildStdout};

use super::{ChargeCard, ChargeCardListener};

/// The ignored test that is the worker's entry point (it must exist in the
/// test binary that starts the worker, calling [`run_from_env`]).
pub const ENTRY: &str = "separate_worker_process";
const QUEUE_URL: &str = "EVENTS_DASHBOARD_TEST_WORKER_QUEUE_URL";
const STORE_URL: &str = "EVENTS_DASHBOARD_TEST_WORKER_STORE_URL";

/// The running worker process.
pub struct WorkerProcess {
    child: Child,
    stdin: ChildStdin,
    lines: Lines<BufReader<ChildStdout>>,
    pid: u32,
}

impl WorkerProcess {
    /// Starts the worker on `queue_url`, reporting to and replaying from the
    /// sqlite store at `store_url`; returns once it runs.
    pub async fn start(queue_url: &str, store_url: &str) -> Self {
        let exe = std::env::current_exe().expect("the test executable");
        let mut child = tokio::process::Command::new(exe)
            .args([
                "--exact",
                ENTRY,
                "--ignored",
                "--nocapture",
                "--test-threads=1",
            ])
            .env(QUEUE_URL, queue_url)
            .env(STORE_URL, store_url)
            .env_remove("RUST_TEST_THREADS")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .expect("start the worker process");
        let pid = child.id().expect("the worker's pid");
        let stdin = child.stdin.take().unwrap();
        let lines = BufReader::new(child.stdout.take().unwrap()).lines();
        let mut worker = Self {
            child,
            stdin,
            lines,
            pid,
        };
        worker.expect("WORKER READY").await;
        worker
    }

    pub fn pid(&self) -> u32 {
        self.pid
    }

    /// Lets `order`'s card go through on the worker from now on.
    pub async fn make_payable(&mut self, order: u64) {
        self.stdin
            .write_all(format!("pay {order}\n").as_bytes())
            .await
            .expect("tell the worker");
        self.expect(&format!("paid {order}")).await;
    }

    /// Reads the worker's output until `line` (the test harness may print
    /// the test's name before it on the same line; what else it prints is
    /// the harness's own).
    async fn expect(&mut self, line: &str) {
        let wait = tokio::time::timeout(Duration::from_secs(30), async {
            while let Some(got) = self.lines.next_line().await.expect("read the worker") {
                if got.ends_with(line) {
                    return true;
                }
                println!("worker {}: {got}", self.pid);
            }
            false
        });
        assert!(
            wait.await.unwrap_or(false),
            "the worker process {} never said {line:?}",
            self.pid
        );
    }

    /// Kills the process by its PID and reaps it: nothing is left running.
    pub async fn kill(mut self) {
        let killed = std::process::Command::new("kill")
            .args(["-KILL", &self.pid.to_string()])
            .status()
            .expect("run kill");
        assert!(killed.success(), "kill {}", self.pid);
        self.child.wait().await.expect("reap the worker");
        assert!(
            !std::path::Path::new(&format!("/proc/{}", self.pid)).exists(),
            "the worker process {} is still there",
            self.pid
        );
    }
}

/// The worker process's body, when the environment names a queue (a test
/// started it); otherwise it returns at once.
pub fn run_from_env() {
    let (Ok(queue_url), Ok(store_url)) = (std::env::var(QUEUE_URL), std::env::var(STORE_URL))
    else {
        println!("{ENTRY}: started only by the browser tests, as their worker");
        return;
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("a runtime");
    runtime.block_on(async move {
        let queue = Queue::open(&queue_url).await.expect("open the queue");
        let store = EventStore::open(&store_url, "events")
            .await
            .expect("open the store");
        let listener: Arc<dyn EventListener> = Arc::new(ChargeCardListener);
        let app = Arc::new(JobRegistry::new().listener::<ChargeCard>(listener));
        let registry = Arc::new((*app).clone().replayer(store.replayer(app.clone())));
        let worker = Worker::new(queue.clone(), registry)
            .hops_to(store.recorder().expect("an enabled store"))
            .queues(["payments", queue.default_queue()])
            .poll_interval(Duration::from_millis(20));
        // Until stdin closes: `pay N` lets order N's card go through.
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        tokio::spawn(async move {
            let mut lines = BufReader::new(tokio::io::stdin()).lines();
            while let Ok(Some(line)) = lines.next_line().await {
                if let Some(order) = line.strip_prefix("pay ").and_then(|n| n.parse().ok()) {
                    super::make_payable(order);
                    println!("paid {order}");
                }
            }
            let _ = stop.send(());
        });
        println!("WORKER READY");
        worker
            .run_until(async move {
                let _ = stopped.await;
            })
            .await
            .expect("the worker runs");
        store.flush().await.expect("flush the store");
    });
}
