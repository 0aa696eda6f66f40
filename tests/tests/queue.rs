//! Queue connections `memory` and `sqlite`, end to end: dispatch, workers,
//! every knob, the failed store, crashes and two worker processes.

mod queue_common;

use event_core::config::EventsConfig;
use event_core::queue::{self, Queue, QueueError};
use queue_common as common;

async fn sqlite_in(dir: &tempfile::TempDir) -> Queue {
    let url = format!("sqlite://{}/jobs.db", dir.path().display());
    Queue::open(&url).await.expect("open sqlite queue")
}

macro_rules! on_memory_and_sqlite {
    ($($scenario:ident),* $(,)?) => {
        mod memory {
            use super::*;
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $scenario() {
                    common::$scenario(Queue::memory()).await;
                }
            )*
        }
        mod sqlite {
            use super::*;
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $scenario() {
                    let dir = tempfile::tempdir().expect("temp dir");
                    common::$scenario(sqlite_in(&dir).await).await;
                }
            )*
        }
    };
}

common::every_scenario!(on_memory_and_sqlite);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_after_commit_and_a_queued_event_across_processes() {
    let dir = tempfile::tempdir().expect("temp dir");
    let url = format!("sqlite://{}/jobs.db", dir.path().display());
    common::after_commit_and_a_queued_event_across_processes(url, &dir.path().join("record.log"))
        .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_sigkill_mid_job_loses_nothing() {
    let dir = tempfile::tempdir().expect("temp dir");
    let url = format!("sqlite://{}/jobs.db", dir.path().display());
    common::sigkill_mid_job(url, dir.path().join("record.log")).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_ten_thousand_jobs_two_processes() {
    let dir = tempfile::tempdir().expect("temp dir");
    let url = format!("sqlite://{}/jobs.db", dir.path().display());
    common::ten_thousand_two_processes(url, dir.path().join("record.log")).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_pause_holds_two_worker_processes() {
    let dir = tempfile::tempdir().expect("temp dir");
    let url = format!("sqlite://{}/jobs.db", dir.path().display());
    common::pause_holds_two_worker_processes(url, dir.path().join("record.log")).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_a_killed_worker_is_shown_stalled() {
    let dir = tempfile::tempdir().expect("temp dir");
    let url = format!("sqlite://{}/jobs.db", dir.path().display());
    common::a_killed_worker_is_shown_stalled(url, dir.path().join("record.log")).await;
}

#[tokio::test]
async fn connection_comes_from_config() {
    let dir = tempfile::tempdir().expect("temp dir");
    let config =
        |vars: &[(&str, String)]| EventsConfig::from_vars(vars.iter().cloned()).expect("config");

    let sync = queue::connect(&EventsConfig::default())
        .await
        .expect("sync");
    assert_eq!(sync.connection_name(), "sync");
    assert!(matches!(sync.size().await, Err(QueueError::Sync)));

    let memory = queue::connect(&config(&[("EVENTS_QUEUE_CONNECTION", "memory".into())]))
        .await
        .expect("memory");
    assert_eq!(memory.connection_name(), "memory");

    let url = format!("sqlite://{}/from-config.db", dir.path().display());
    let sqlite = queue::connect(&config(&[
        ("EVENTS_QUEUE_CONNECTION", "sqlite".into()),
        ("EVENTS_QUEUE_URL", url),
        ("EVENTS_DEFAULT_QUEUE", "orders".into()),
        ("EVENTS_RETRY_ATTEMPTS", "5".into()),
        ("EVENTS_RETRY_DELAY_SECONDS", "7".into()),
    ]))
    .await
    .expect("sqlite");
    assert_eq!(sqlite.connection_name(), "sqlite");
    assert_eq!(sqlite.defaults().queue.as_deref(), Some("orders"));
    assert_eq!(sqlite.defaults().tries, Some(5));
    assert_eq!(
        sqlite.defaults().retry_delay,
        Some(chrono::Duration::seconds(7))
    );
}

#[tokio::test]
async fn bad_or_unreachable_urls_are_errors_naming_the_url() {
    let dir = tempfile::tempdir().expect("temp dir");
    let cases = [
        "ftp://example.com/jobs".to_string(),
        "sqlite://".to_string(),
        format!("sqlite://{}/no/such/dir/jobs.db", dir.path().display()),
        "redis://127.0.0.1:1".to_string(),
        "redis://:::bad".to_string(),
    ];
    for url in cases {
        let error = Queue::open(&url).await.expect_err(&url).to_string();
        assert!(error.contains(&url), "`{error}` should name `{url}`");
    }
    let missing = queue::connect(
        &EventsConfig::from_vars([("EVENTS_QUEUE_CONNECTION", "sqlite")]).expect("config"),
    )
    .await
    .expect_err("no URL");
    assert!(
        missing.to_string().contains("EVENTS_QUEUE_URL"),
        "{missing}"
    );
    let mismatch = queue::connect(
        &EventsConfig::from_vars([
            ("EVENTS_QUEUE_CONNECTION", "redis".to_string()),
            (
                "EVENTS_QUEUE_URL",
                format!("sqlite://{}/x.db", dir.path().display()),
            ),
        ])
        .expect("config"),
    )
    .await
    .expect_err("mismatch");
    assert!(mismatch.to_string().contains("x.db"), "{mismatch}");
}

/// Per-listener `connection` routes to another connection; `sync` runs
/// inline; an unknown one is an error naming it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_two_worker_processes_alert_once() {
    let dir = tempfile::tempdir().expect("temp dir");
    let url = format!("sqlite://{}/jobs.db", dir.path().display());
    common::two_worker_processes_alert_once(url, dir.path().join("record.log")).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn listener_connection_overrides_the_default() {
    use common::fixtures::{Sink, TestListener};
    let dir = tempfile::tempdir().expect("temp dir");
    let sqlite = sqlite_in(&dir).await;
    let memory = Queue::memory().with_connection("sqlite", sqlite.clone());
    let sink = Sink::memory();

    let (to_sqlite, _) = common::setup(
        &memory,
        TestListener::new("to-sqlite", sink.clone()).with(|o| o.connection = Some("sqlite".into())),
    )
    .await;
    to_sqlite.dispatch(common::job(1)).await.expect("dispatch");
    assert_eq!(sqlite.size().await.expect("size"), 1);
    assert_eq!(memory.size().await.expect("size"), 0);

    let (inline, _) = common::setup(
        &memory,
        TestListener::new("inline", sink.clone()).with(|o| o.connection = Some("sync".into())),
    )
    .await;
    inline.dispatch(common::job(2)).await.expect("dispatch");
    assert_eq!(sink.of("success"), vec![2], "ran inline");

    let (unknown, _) = common::setup(
        &memory,
        TestListener::new("lost", sink.clone()).with(|o| o.connection = Some("rabbitmq".into())),
    )
    .await;
    let error = unknown
        .dispatch(common::job(3))
        .await
        .expect_err("unknown connection");
    assert!(
        format!("{error:#}").contains("unknown queue connection `rabbitmq`"),
        "{error:#}"
    );
}

/// The `sync` connection runs queued listeners inline, like Laravel's.
#[tokio::test]
async fn sync_runs_inline() {
    use common::fixtures::{Sink, TestListener};
    let sink = Sink::memory();
    let (dispatcher, _) =
        common::setup(&Queue::sync(), TestListener::new("sync", sink.clone())).await;
    dispatcher.dispatch(common::job(1)).await.expect("dispatch");
    assert_eq!(sink.of("success"), vec![1]);
}

mod with_macros {
    use std::sync::Arc;

    use event_core::queue::{JobRegistry, Queue};
    use event_core::{Dispatcher, Event, listener};

    #[derive(Debug, Clone, serde::Serialize, serde::Deserialize, Event)]
    pub struct PaymentDueEvent {
        pub order: u64,
    }

    #[listener(event = PaymentDueEvent, queued, queue = "payments", tries = 4, backoff = [1, 5], timeout = 30, max_exceptions = 2)]
    async fn charge_card(event: &PaymentDueEvent) -> anyhow::Result<()> {
        let _ = event.order;
        Ok(())
    }

    /// The knobs `#[listener(...)]` declares reach the job envelope, and a
    /// worker runs the generated listener from the registry.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn listener_macro_knobs_reach_the_job() {
        let dir = tempfile::tempdir().expect("temp dir");
        let url = format!("sqlite://{}/jobs.db", dir.path().display());
        let queue = Queue::open(&url).await.expect("open");
        let dispatcher = Dispatcher::new();
        queue.install(&dispatcher).await;
        dispatcher
            .listen::<PaymentDueEvent>(Arc::new(ChargeCardListener))
            .await;
        dispatcher
            .dispatch(PaymentDueEvent { order: 42 })
            .await
            .expect("dispatch");
        let backend = queue.backend().expect("backend");
        let claimed = backend
            .fetch(
                &["payments".to_string()],
                1,
                std::time::Duration::from_millis(50),
                "t",
            )
            .await
            .expect("fetch");
        let envelope = &claimed[0].job.envelope;
        assert_eq!(envelope.event, "PaymentDue");
        assert_eq!(envelope.payload["order"], 42);
        assert_eq!(envelope.settings.tries, Some(4));
        assert_eq!(
            envelope.settings.backoff,
            vec![chrono::Duration::seconds(1), chrono::Duration::seconds(5)]
        );
        assert_eq!(
            envelope.settings.timeout,
            Some(chrono::Duration::seconds(30))
        );
        assert_eq!(envelope.settings.max_exceptions, Some(2));

        // The claim lapses (50 ms); a worker with the registry runs it.
        let registry = JobRegistry::new().listener::<PaymentDueEvent>(Arc::new(ChargeCardListener));
        let running = super::common::start(
            event_core::queue::Worker::new(queue.clone(), registry)
                .queues(["payments"])
                .poll_interval(std::time::Duration::from_millis(10))
                .visibility_timeout(std::time::Duration::from_millis(50)),
        );
        assert!(
            super::common::eventually(std::time::Duration::from_secs(20), async || {
                queue.size().await.unwrap_or(1) == 0
            })
            .await
        );
        let report = running.stop().await;
        assert_eq!(report.succeeded, 1);
    }
}

mod event_overrides {
    use std::sync::Arc;

    use event_core::queue::Queue;
    use event_core::{Dispatcher, Event, ShouldQueue};

    use super::common::fixtures::Sink;

    /// Records the name of every event it handles.
    struct Recorder(Sink);

    #[event_core::async_trait]
    impl event_core::EventListener for Recorder {
        async fn handle(&self, event: Arc<dyn Event>) -> anyhow::Result<()> {
            self.0.record(event.event_name(), 0);
            Ok(())
        }
    }

    #[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
    struct RoutedEvent {
        connection: String,
    }

    impl Event for RoutedEvent {
        fn event_name(&self) -> &'static str {
            "Routed"
        }
        fn to_json(&self) -> serde_json::Value {
            serde_json::json!({ "connection": self.connection })
        }
        fn should_queue(&self) -> bool {
            true
        }
        fn as_should_queue(&self) -> Option<&dyn ShouldQueue> {
            Some(self)
        }
    }

    impl ShouldQueue for RoutedEvent {
        fn queue_connection(&self) -> Option<&str> {
            Some(&self.connection)
        }
        fn queue(&self) -> Option<&str> {
            Some("routed")
        }
    }

    /// A queued event's own `connection` and `queue` override the default
    /// connection; `sync` runs its listeners inline.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn event_connection_and_queue_override_the_default() {
        let dir = tempfile::tempdir().expect("temp dir");
        let sqlite = super::sqlite_in(&dir).await;
        let memory = Queue::memory().with_connection("sqlite", sqlite.clone());
        let dispatcher = Dispatcher::new();
        memory.install(&dispatcher).await;
        let sink = Sink::memory();
        dispatcher
            .listen_pattern("Routed", Arc::new(Recorder(sink.clone())))
            .await;

        dispatcher
            .dispatch(RoutedEvent {
                connection: "sqlite".into(),
            })
            .await
            .expect("dispatch");
        assert_eq!(memory.size().await.expect("size"), 0);
        let claimed = sqlite
            .backend()
            .expect("backend")
            .fetch(
                &["routed".to_string()],
                5,
                std::time::Duration::from_secs(60),
                "t",
            )
            .await
            .expect("fetch");
        assert_eq!(
            claimed.len(),
            1,
            "written to the event's connection and queue"
        );
        assert_eq!(claimed[0].job.envelope.listener, None, "a queued event job");
        assert!(sink.of("Routed").is_empty(), "queued, not run");

        dispatcher
            .dispatch(RoutedEvent {
                connection: "sync".into(),
            })
            .await
            .expect("dispatch on sync");
        assert_eq!(sink.of("Routed").len(), 1, "ran inline");
        assert_eq!(sqlite.size().await.expect("size"), 1, "nothing more queued");
    }
}

/// SIGTERM: the worker process stops taking jobs, finishes the running one
/// and exits cleanly, leaving the next job to others.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_sigterm_finishes_the_running_job() {
    use common::fixtures::TestJobEvent;
    let dir = tempfile::tempdir().expect("temp dir");
    let url = format!("sqlite://{}/jobs.db", dir.path().display());
    let record = dir.path().join("record.log");
    let queue = Queue::open(&url).await.expect("open");
    let dispatcher = common::producer(&queue).await;
    dispatcher
        .dispatch(TestJobEvent {
            sleep_ms: 800,
            ..common::job(1)
        })
        .await
        .expect("dispatch");
    let mut worker = common::spawn_worker(&url, &record, 60_000, 1);
    assert!(
        common::eventually(std::time::Duration::from_secs(20), async || {
            common::lines(&record, "start").len() == 1
        })
        .await
    );
    dispatcher.dispatch(common::job(2)).await.expect("dispatch");
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(worker.0.id() as i32),
        nix::sys::signal::Signal::SIGTERM,
    )
    .expect("SIGTERM");
    let status = worker.0.wait().expect("worker exits");
    assert!(status.success(), "clean exit: {status}");
    assert_eq!(
        common::lines(&record, "success"),
        vec![1],
        "finished before exiting"
    );
    assert_eq!(
        queue.size().await.expect("size"),
        1,
        "job 1 acknowledged; job 2 left for another worker"
    );
}

/// Writes what the subscriber formats into a shared buffer.
#[derive(Clone, Default)]
struct Logs(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);

impl std::io::Write for Logs {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(bytes);
        Ok(bytes.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

struct LoggingListener;

#[event_core::async_trait]
impl event_core::EventListener for LoggingListener {
    async fn handle(&self, _event: std::sync::Arc<dyn event_core::Event>) -> anyhow::Result<()> {
        tracing::info!("inside the job");
        Ok(())
    }
    fn should_queue(&self) -> bool {
        true
    }
    fn listener_name(&self) -> &str {
        "logging"
    }
}

/// Every line a listener logs while its job runs carries the job's span:
/// its id (stored connections), name, queue and attempt.
#[tokio::test]
async fn each_job_runs_in_a_span_naming_it() {
    let dir = tempfile::tempdir().expect("temp dir");
    for queue in [Queue::memory(), sqlite_in(&dir).await] {
        let logs = Logs::default();
        let writer = logs.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_writer(move || writer.clone())
            .with_ansi(false)
            .finish();
        let _guard = tracing::subscriber::set_default(subscriber);
        let dispatcher = event_core::Dispatcher::new();
        queue.install(&dispatcher).await;
        let listener: std::sync::Arc<dyn event_core::EventListener> =
            std::sync::Arc::new(LoggingListener);
        dispatcher
            .listen::<common::fixtures::TestJobEvent>(listener.clone())
            .await;
        dispatcher.dispatch(common::job(1)).await.expect("dispatch");
        let registry =
            queue::JobRegistry::new().listener::<common::fixtures::TestJobEvent>(listener);
        let report = queue::Worker::new(queue.clone(), registry)
            .stop_when_empty(true)
            .run()
            .await
            .expect("worker");
        assert_eq!(report.succeeded, 1);
        let text = String::from_utf8(logs.0.lock().unwrap().clone()).expect("utf-8");
        let line = text
            .lines()
            .find(|l| l.contains("inside the job"))
            .unwrap_or_else(|| panic!("the listener's line is missing:\n{text}"));
        assert!(line.contains("queue.job{"), "{line}");
        assert!(line.contains("job.name=\"logging\""), "{line}");
        assert!(
            line.contains(&format!("job.queue=\"{}\"", queue.default_queue())),
            "{line}"
        );
        assert!(line.contains("job.attempt=1"), "{line}");
        if queue.connection_name() == "sqlite" {
            assert!(line.contains("job.id=01"), "a stored job's ULID: {line}");
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_job_controls_in_a_worker_process() {
    let dir = tempfile::tempdir().expect("temp dir");
    let url = format!("sqlite://{}/jobs.db", dir.path().display());
    common::job_controls_in_a_worker_process(url, &dir.path().join("record.log")).await;
}

/// Outside a job run by a worker (a listener run at dispatch, the `sync`
/// connection) `CurrentJob` is an error naming the call, never a silent
/// no-op.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn current_job_outside_a_worker_is_an_error() {
    use common::fixtures::{Sink, TestJobEvent, TestListener};
    use event_core::queue::{CurrentJob, JobControlError};
    assert_eq!(
        CurrentJob::get(),
        Err(JobControlError::NotInJob { call: "get" })
    );
    for queue in [Queue::sync(), Queue::memory()] {
        let sync = queue.connection_name() == "sync";
        let sink = Sink::memory();
        // Not queued (memory) or queued on `sync`: run at dispatch.
        let listener = TestListener::new("inline", sink.clone()).with(|o| o.queued = sync);
        let (dispatcher, _) = common::setup(&queue, listener).await;
        let error = dispatcher
            .dispatch(TestJobEvent {
                delete: true,
                ..common::job(1)
            })
            .await
            .expect_err("CurrentJob outside a queued job is an error");
        let message = format!("{error:#}");
        assert!(
            message.contains("`CurrentJob::get` called outside a queued job"),
            "{}: {message}",
            queue.connection_name()
        );
        assert!(sink.of("deleted").is_empty());
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_encrypted_job_across_processes() {
    let dir = tempfile::tempdir().expect("temp dir");
    let url = format!("sqlite://{}/jobs.db", dir.path().display());
    common::encrypted_job_across_processes(url, &dir.path().join("record.log")).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_unique_job_across_processes() {
    let dir = tempfile::tempdir().expect("temp dir");
    let url = format!("sqlite://{}/jobs.db", dir.path().display());
    common::unique_job_across_processes(url, &dir.path().join("record.log")).await;
}

/// A unique listener routed to `connection = "sync"` runs inline under a
/// lock of this process: a dispatch while the same id runs does not run it
/// again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sync_unique_listener_does_not_run_twice_at_once() {
    use common::fixtures::{Sink, TestJobEvent, TestListener};
    fn by_number(event: &dyn event_core::Event) -> Option<String> {
        event
            .downcast_ref::<TestJobEvent>()
            .map(|e| e.n.to_string())
    }
    let sink = Sink::memory();
    let listener = TestListener::new("sync-unique", sink.clone()).with(|o| {
        o.connection = Some("sync".into());
        o.unique = Some(event_core::UniqueJob {
            id: by_number,
            lock_for: None,
            until_processing: false,
        })
    });
    let (dispatcher, _) = common::setup(&Queue::memory(), listener).await;
    let slow = TestJobEvent {
        sleep_ms: 400,
        ..common::job(1)
    };
    let first = tokio::spawn({
        let dispatcher = dispatcher.clone();
        let slow = slow.clone();
        async move { dispatcher.dispatch(slow).await }
    });
    assert!(common::eventually(common::ms(5_000), async || sink.of("start").len() == 1).await);
    dispatcher.dispatch(slow.clone()).await.expect("dispatch");
    first.await.expect("task").expect("dispatch");
    assert_eq!(sink.of("success"), vec![1], "the second did not run");
    dispatcher.dispatch(slow).await.expect("dispatch");
    assert_eq!(sink.of("success"), vec![1, 1], "freed when the first ended");
}
