//! Monitoring scenarios every connection passes: the figures a user reads
//! (`queue:stats`), pause and resume, workers, clear and restart.

use std::time::Duration;

use event_core::queue::monitor::{StatsQuery, WorkerState};
use event_core::queue::{Monitor, Queue};

use super::fixtures::{Sink, TestJobEvent, TestListener};
use std::path::PathBuf;

use super::{LIMIT, Proc, WORKER_BIN, eventually, job, lines, ms, producer, setup, start, worker};

fn monitor(queue: &Queue) -> Monitor {
    queue
        .monitor()
        .expect("a connection that keeps jobs has a monitor")
}

async fn figures(queue: &Queue, by_job: bool) -> event_core::queue::monitor::StatsReport {
    monitor(queue)
        .stats(&StatsQuery {
            queue: Some("events".into()),
            window: Duration::from_secs(300),
            by_job,
        })
        .await
        .expect("stats")
}

/// Pending, delayed, running and failed, and the age of the oldest ready
/// job, as jobs are queued, claimed, failed and finished.
pub async fn stats_follow_the_jobs(queue: Queue) {
    let sink = Sink::memory();
    let listener = TestListener::new("counted", sink.clone()).with(|o| o.tries = Some(1));
    let (dispatcher, registry) = setup(&queue, listener).await;
    // A second listener of the same event, due in a minute: each dispatch
    // queues one ready job and one delayed job.
    let later = TestListener::new("counted_later", sink.clone())
        .with(|o| o.delay = Some(chrono::Duration::seconds(60)));
    dispatcher
        .listen::<TestJobEvent>(std::sync::Arc::new(later))
        .await;
    for n in 1..=3 {
        dispatcher.dispatch(job(n)).await.expect("dispatch");
    }
    tokio::time::sleep(ms(300)).await;
    let q = &figures(&queue, false).await.queues[0];
    assert_eq!(q.queue, "events");
    assert_eq!(
        (q.pending, q.delayed, q.running, q.failed),
        (3, 3, 0, 0),
        "{q:?}"
    );
    assert!(
        q.oldest_pending_ms >= 250,
        "the oldest job waited 300 ms: {q:?}"
    );
    assert!(!q.paused);

    // Two slow jobs running at once, one failing at once.
    dispatcher
        .dispatch(TestJobEvent {
            sleep_ms: 1_500,
            ..job(6)
        })
        .await
        .expect("dispatch");
    dispatcher
        .dispatch(TestJobEvent {
            fail_times: 1,
            ..job(7)
        })
        .await
        .expect("dispatch");
    let running = start(worker(&queue, registry).concurrency(2));
    assert!(
        eventually(LIMIT, async || {
            let q = &figures(&queue, false).await.queues[0];
            q.failed == 1 && q.pending == 0 && q.running == 1
        })
        .await,
        "one failed, one running: {:?}",
        figures(&queue, false).await.queues
    );
    assert!(eventually(LIMIT, async || sink.of("success").len() == 4).await);
    running.stop().await;
    let q = &figures(&queue, false).await.queues[0];
    assert_eq!(
        (q.pending, q.delayed, q.running, q.failed),
        (0, 5, 0, 1),
        "{q:?}"
    );
    assert_eq!(q.oldest_pending_ms, 0);
    assert_eq!(q.processed_in_window, 4, "{q:?}");
    assert_eq!(q.failed_in_window, 1, "{q:?}");
}

/// Wait and run times of a known workload come back within their bucket,
/// per queue and per job name.
pub async fn stats_measure_wait_and_run(queue: Queue) {
    let sink = Sink::memory();
    let (dispatcher, registry) = setup(&queue, TestListener::new("timed", sink.clone())).await;
    for n in 1..=4 {
        dispatcher
            .dispatch(TestJobEvent {
                sleep_ms: 250,
                ..job(n)
            })
            .await
            .expect("dispatch");
    }
    // Left waiting 600 ms before any worker runs.
    tokio::time::sleep(ms(600)).await;
    let running = start(worker(&queue, registry).concurrency(4));
    assert!(eventually(LIMIT, async || sink.of("success").len() == 4).await);
    // A stopped worker has handed its figures over.
    running.stop().await;
    let report = figures(&queue, true).await;
    let q = &report.queues[0];
    assert_eq!(q.processed_in_window, 4, "{q:?}");
    let wait = q.wait_ms.p50.expect("a wait was measured");
    assert!(
        (500..=1_000).contains(&wait),
        "waited ~600 ms, p50 {wait}: {q:?}"
    );
    let run = q.run_ms.p50.expect("a run time was measured");
    assert!((200..=500).contains(&run), "ran ~250 ms, p50 {run}: {q:?}");
    assert!(q.processed_per_minute > 0.0);
    let by_job = report
        .jobs
        .iter()
        .find(|j| j.job == "timed")
        .expect("figures of the listener `timed`");
    assert_eq!(by_job.processed_in_window, 4);
    assert_eq!(by_job.run_ms.p50, q.run_ms.p50);

    // The four are listed among the recently completed, newest first.
    let completed = monitor(&queue)
        .completed(10, None)
        .await
        .expect("completed");
    assert_eq!(completed.len(), 4, "{completed:?}");
    for job in &completed {
        assert_eq!((job.name.as_str(), job.queue.as_str()), ("timed", "events"));
        assert!(job.wait_ms >= 500 && job.run_ms >= 200, "{job:?}");
        assert_eq!(job.attempts, 1);
        assert!(
            job.worker.contains(&std::process::id().to_string()),
            "{job:?}"
        );
    }
    assert!(
        completed
            .windows(2)
            .all(|w| w[0].done_at_ms >= w[1].done_at_ms)
    );
}

/// A paused queue takes jobs but no worker claims them; resumed, they run.
pub async fn pause_holds_jobs_until_resumed(queue: Queue) {
    let sink = Sink::memory();
    let (dispatcher, registry) = setup(&queue, TestListener::new("held", sink.clone())).await;
    let monitor = monitor(&queue);
    monitor.pause("events").await.expect("pause");
    let running = start(worker(&queue, registry));
    // The worker reads the paused queues every second.
    tokio::time::sleep(ms(1_200)).await;
    dispatcher
        .dispatch(job(1))
        .await
        .expect("a paused queue accepts jobs");
    tokio::time::sleep(ms(1_500)).await;
    assert!(sink.of("start").is_empty(), "a paused queue's job ran");
    let q = &figures(&queue, false).await.queues[0];
    assert!(q.paused, "{q:?}");
    assert_eq!(q.pending, 1, "{q:?}");
    assert_eq!(
        monitor.signals().await.expect("signals").paused,
        vec!["events"]
    );

    monitor.resume("events").await.expect("resume");
    assert!(
        eventually(ms(3_000), async || sink.of("success").len() == 1).await,
        "resumed, the job runs within a second or two"
    );
    assert!(!figures(&queue, false).await.queues[0].paused);
    running.stop().await;
}

/// A running worker is listed with what it reads; stopped, it is gone.
pub async fn workers_are_listed_while_they_run(queue: Queue) {
    let sink = Sink::memory();
    let (dispatcher, registry) = setup(&queue, TestListener::new("beat", sink.clone())).await;
    let monitor = monitor(&queue);
    let running = start(
        worker(&queue, registry)
            .concurrency(3)
            .heartbeat_every(ms(1_000)),
    );
    dispatcher.dispatch(job(1)).await.expect("dispatch");
    assert!(eventually(LIMIT, async || sink.of("success").len() == 1).await);
    assert!(
        eventually(LIMIT, async || {
            monitor
                .workers()
                .await
                .is_ok_and(|w| w.len() == 1 && w[0].beat.processed == 1)
        })
        .await,
        "{:?}",
        monitor.workers().await
    );
    let listed = monitor.workers().await.expect("workers");
    let me = &listed[0];
    assert_eq!(me.state, WorkerState::Alive);
    assert_eq!(me.beat.queues, vec!["events"]);
    assert_eq!(me.beat.concurrency, 3);
    assert_eq!(me.beat.pid, std::process::id());
    running.stop().await;
    assert!(
        monitor.workers().await.expect("workers").is_empty(),
        "a worker that stopped unregisters"
    );
}

/// Clearing one queue removes its waiting jobs only.
pub async fn clear_empties_one_queue(queue: Queue) {
    let sink = Sink::memory();
    let (dispatcher, _registry) = setup(&queue, TestListener::new("cleared", sink.clone())).await;
    for n in 1..=3 {
        dispatcher.dispatch(job(n)).await.expect("dispatch");
    }
    let other =
        TestListener::new("elsewhere", sink.clone()).with(|o| o.queue = Some("other".into()));
    dispatcher
        .listen::<TestJobEvent>(std::sync::Arc::new(other))
        .await;
    let monitor = monitor(&queue);
    let before = monitor.gauges().await.expect("gauges");
    let pending = |gauges: &[event_core::queue::monitor::QueueGauge], name: &str| {
        gauges
            .iter()
            .find(|g| g.queue == name)
            .map_or(0, |g| g.pending)
    };
    assert_eq!(pending(&before, "events"), 3);
    dispatcher.dispatch(job(4)).await.expect("dispatch to both");
    let before = monitor.gauges().await.expect("gauges");
    assert_eq!(
        (pending(&before, "events"), pending(&before, "other")),
        (4, 1)
    );
    assert_eq!(monitor.clear("events").await.expect("clear"), 4);
    let after = monitor.gauges().await.expect("gauges");
    assert_eq!(
        (pending(&after, "events"), pending(&after, "other")),
        (0, 1)
    );
}

/// `restart` makes running workers finish and exit.
pub async fn restart_stops_running_workers(queue: Queue) {
    let sink = Sink::memory();
    let (_dispatcher, registry) = setup(&queue, TestListener::new("restarted", sink)).await;
    let handle = tokio::spawn(worker(&queue, registry).run_until(std::future::pending()));
    tokio::time::sleep(ms(300)).await;
    monitor(&queue).restart().await.expect("restart");
    let ended = tokio::time::timeout(ms(5_000), handle).await;
    assert!(
        matches!(ended, Ok(Ok(Ok(_)))),
        "the worker exits after a restart request: {ended:?}"
    );
}

/// A worker process beating every `beat_ms`.
fn spawn_beating_worker(url: &str, record: &std::path::Path, beat_ms: u64) -> Proc {
    let child = std::process::Command::new(WORKER_BIN)
        .args([url, &record.display().to_string(), "30000", "2"])
        .env("QUEUE_WORKER_HEARTBEAT_MS", beat_ms.to_string())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::inherit())
        .spawn()
        .expect("start queue_worker");
    Proc(child)
}

fn signal(proc: &Proc, signal: nix::sys::signal::Signal) {
    nix::sys::signal::kill(nix::unistd::Pid::from_raw(proc.0.id() as i32), signal)
        .expect("signal the worker");
}

/// Pausing a queue stops two worker processes from claiming within a
/// second; resuming lets them run everything. (Stored connections.)
pub async fn pause_holds_two_worker_processes(url: String, record: PathBuf) {
    let queue = Queue::open(&url).await.expect("open");
    let monitor = monitor(&queue);
    let workers = [
        spawn_beating_worker(&url, &record, 500),
        spawn_beating_worker(&url, &record, 500),
    ];
    assert!(
        eventually(LIMIT, async || monitor
            .workers()
            .await
            .is_ok_and(|w| w.len() == 2))
        .await,
        "both workers register"
    );
    monitor.pause("events").await.expect("pause");
    tokio::time::sleep(ms(1_100)).await;
    let dispatcher = producer(&queue).await;
    for n in 1..=10 {
        dispatcher.dispatch(job(n)).await.expect("dispatch");
    }
    tokio::time::sleep(ms(1_500)).await;
    assert!(
        lines(&record, "start").is_empty(),
        "a worker claimed from a paused queue"
    );
    let q = &figures(&queue, false).await.queues[0];
    assert_eq!((q.pending, q.paused), (10, true), "{q:?}");
    monitor.resume("events").await.expect("resume");
    assert!(
        eventually(LIMIT, async || lines(&record, "success").len() == 10).await,
        "resumed, the two workers run the ten jobs"
    );
    for w in &workers {
        signal(w, nix::sys::signal::Signal::SIGTERM);
    }
}

/// A worker killed with SIGKILL stops beating: listed as stalled after
/// three beats, dropped after twenty. (Stored connections.)
pub async fn a_killed_worker_is_shown_stalled(url: String, record: PathBuf) {
    use event_core::queue::monitor::{AlertRules, WorkerStalled};
    let queue = Queue::open(&url).await.expect("open");
    let monitor = monitor(&queue);
    let mut killed = spawn_beating_worker(&url, &record, 200);
    let pid = killed.0.id();
    assert!(
        eventually(LIMIT, async || {
            monitor.workers().await.is_ok_and(|w| {
                w.len() == 1 && w[0].state == WorkerState::Alive && w[0].beat.pid == pid
            })
        })
        .await,
        "the worker registers: {:?}",
        monitor.workers().await
    );
    // A worker of this process watches for stalled ones.
    let alerts = event_core::Dispatcher::new();
    let seen = std::sync::Arc::new(Recorded::default());
    alerts.listen::<WorkerStalled>(seen.clone()).await;
    let watcher = start(
        worker(&queue, event_core::queue::JobRegistry::new())
            .queues(["elsewhere"])
            .heartbeat_every(ms(200))
            .alerts(AlertRules {
                stalled_workers: true,
                ..AlertRules::default()
            })
            .alerts_to(alerts),
    );
    signal(&killed, nix::sys::signal::Signal::SIGKILL);
    let _ = killed.0.wait();
    let stalled = |w: &[event_core::queue::monitor::WorkerStatus]| {
        w.iter()
            .any(|w| w.beat.pid == pid && w.state == WorkerState::Stalled)
    };
    assert!(
        eventually(ms(3_000), async || monitor
            .workers()
            .await
            .is_ok_and(|w| stalled(&w)))
        .await,
        "stalled after three missed beats: {:?}",
        monitor.workers().await
    );
    assert!(
        eventually(ms(3_000), async || seen.of::<WorkerStalled>().len() == 1).await,
        "WorkerStalled is dispatched"
    );
    let told = &seen.of::<WorkerStalled>()[0];
    assert_eq!(told.pid, pid);
    assert_eq!(told.queues, vec!["events"]);
    assert!(
        eventually(ms(8_000), async || {
            monitor
                .workers()
                .await
                .is_ok_and(|w| w.iter().all(|w| w.beat.pid != pid))
        })
        .await,
        "dropped after twenty: {:?}",
        monitor.workers().await
    );
    assert_eq!(seen.of::<WorkerStalled>().len(), 1, "told once");
    watcher.stop().await;
}

/// Failed jobs found by name, text and group, newest first and paged by a
/// key; grouped by fingerprint; retried and forgotten in bulk by filter.
pub async fn failed_jobs_are_searched_grouped_and_handled_in_bulk(queue: Queue) {
    use event_core::queue::FailedQuery;
    let sink = Sink::memory();
    let charger = TestListener::new("charger", sink.clone()).with(|o| o.tries = Some(1));
    let (dispatcher, mut registry) = setup(&queue, charger).await;
    let mailer: std::sync::Arc<dyn event_core::EventListener> = std::sync::Arc::new(
        TestListener::new("app::listeners::Mailer", sink.clone()).with(|o| o.tries = Some(1)),
    );
    dispatcher.listen::<TestJobEvent>(mailer.clone()).await;
    registry = registry.listener::<TestJobEvent>(mailer);
    for n in 1..=6 {
        dispatcher
            .dispatch(TestJobEvent {
                fail_times: 9,
                ..job(n)
            })
            .await
            .expect("dispatch");
    }
    dispatcher
        .dispatch(TestJobEvent {
            panic: true,
            ..job(7)
        })
        .await
        .expect("dispatch");
    let store = queue.failed().expect("a failed store");
    let running = start(worker(&queue, registry).concurrency(4));
    assert!(
        eventually(LIMIT, async || store
            .list()
            .await
            .is_ok_and(|l| l.len() == 14))
        .await,
        "14 jobs fail"
    );
    running.stop().await;

    let by = |change: &dyn Fn(&mut FailedQuery)| {
        let mut q = FailedQuery::default();
        change(&mut q);
        q
    };
    // By name (full, or its last segment), three at a time, newest first.
    let mut seen = Vec::new();
    let mut query = by(&|q| {
        q.name = Some("Mailer".into());
        q.limit = 3;
    });
    loop {
        let page = store.search(&query).await.expect("search");
        assert!(page.jobs.len() <= 3);
        seen.extend(page.jobs.iter().map(|j| (j.failed_at, j.id.clone())));
        assert!(
            page.jobs
                .iter()
                .all(|j| j.payload.listener.as_deref() == Some("app::listeners::Mailer"))
        );
        match page.next {
            Some(next) => query.after = Some(next),
            None => break,
        }
    }
    assert_eq!(seen.len(), 7, "{seen:?}");
    let mut newest_first = seen.clone();
    newest_first.sort_by(|a, b| b.cmp(a));
    assert_eq!(seen, newest_first, "newest first, no row twice");
    assert_eq!(
        store
            .count(&by(&|q| q.name = Some("app::listeners::Mailer".into())))
            .await
            .expect("count"),
        7
    );
    // By the words of the error.
    assert_eq!(
        store
            .count(&by(&|q| q.text = Some("PANICKED".into())))
            .await
            .expect("count"),
        2
    );
    assert_eq!(
        store
            .count(&by(&|q| q.text = Some("on purpose attempt".into())))
            .await
            .expect("count"),
        12
    );
    assert_eq!(
        store.count(&FailedQuery::default()).await.expect("count"),
        14
    );

    // Grouped: name × kind × message with the numbers taken out.
    let groups = store.groups().await.expect("groups");
    let mut counts: Vec<(String, String, u64)> = groups
        .iter()
        .map(|g| (g.name.clone(), g.kind.clone(), g.count))
        .collect();
    counts.sort();
    assert_eq!(
        counts,
        [
            ("app::listeners::Mailer".to_string(), "error".to_string(), 6),
            ("app::listeners::Mailer".to_string(), "panic".to_string(), 1),
            ("charger".to_string(), "error".to_string(), 6),
            ("charger".to_string(), "panic".to_string(), 1),
        ],
        "{groups:?}"
    );
    let charger_errors = groups
        .iter()
        .find(|g| g.name == "charger" && g.kind == "error")
        .expect("the group");
    assert!(
        charger_errors
            .message
            .contains("fails attempt # on purpose"),
        "{charger_errors:?}"
    );
    assert!(charger_errors.first_seen_ms <= charger_errors.last_seen_ms);

    // Bulk: retry one group (fresh attempts), forget by text.
    let group = by(&|q| q.fingerprint = Some(charger_errors.fingerprint.clone()));
    assert_eq!(store.count(&group).await.expect("count"), 6);
    assert_eq!(store.retry_matching(&group).await.expect("retry"), 6);
    assert_eq!(
        store.count(&FailedQuery::default()).await.expect("count"),
        8
    );
    let pending = monitor(&queue).gauges().await.expect("gauges");
    assert_eq!(
        pending.iter().map(|g| g.pending).sum::<u64>(),
        6,
        "{pending:?}"
    );
    let panicked = by(&|q| q.text = Some("panicked".into()));
    assert_eq!(store.forget_matching(&panicked).await.expect("forget"), 2);
    assert_eq!(
        store.count(&FailedQuery::default()).await.expect("count"),
        6
    );
    let groups = store.groups().await.expect("groups");
    assert_eq!(groups.len(), 1, "emptied groups are gone: {groups:?}");
    assert_eq!(groups[0].count, 6);
}

/// Records the events dispatched to it.
#[derive(Default)]
struct Recorded(std::sync::Mutex<Vec<std::sync::Arc<dyn event_core::Event>>>);

#[event_core::async_trait]
impl event_core::EventListener for Recorded {
    async fn handle(&self, event: std::sync::Arc<dyn event_core::Event>) -> anyhow::Result<()> {
        self.0.lock().unwrap().push(event);
        Ok(())
    }
}

impl Recorded {
    fn of<T: event_core::Event + Clone>(&self) -> Vec<T> {
        self.0
            .lock()
            .unwrap()
            .iter()
            .filter_map(|e| e.downcast_ref::<T>().cloned())
            .collect()
    }
}

/// With two workers running, a queue's long wait and its failure spike are
/// dispatched once per crossing: again only after the condition cleared.
pub async fn alerts_fire_once_per_crossing(queue: Queue) {
    use event_core::queue::monitor::{AlertRules, QueueFailureSpike, QueueLongWait, Threshold};
    let sink = Sink::memory();
    let listener = TestListener::new("alerted", sink.clone()).with(|o| o.tries = Some(1));
    let (dispatcher, registry) = setup(&queue, listener).await;
    let alerts = event_core::Dispatcher::new();
    let seen = std::sync::Arc::new(Recorded::default());
    alerts.listen::<QueueLongWait>(seen.clone()).await;
    alerts.listen::<QueueFailureSpike>(seen.clone()).await;
    let rules = AlertRules {
        wait_seconds: Threshold::parse("1").expect("threshold"),
        failures_per_minute: Threshold::parse("1").expect("threshold"),
        stalled_workers: false,
    };
    let workers: Vec<_> = (0..2)
        .map(|_| {
            start(
                worker(&queue, registry.clone())
                    .heartbeat_every(ms(200))
                    .alerts(rules.clone())
                    .alerts_to(alerts.clone()),
            )
        })
        .collect();
    let monitor = monitor(&queue);

    // A paused queue's job waits past the threshold: one alert.
    monitor.pause("events").await.expect("pause");
    tokio::time::sleep(ms(1_100)).await;
    dispatcher.dispatch(job(1)).await.expect("dispatch");
    assert!(
        eventually(LIMIT, async || seen.of::<QueueLongWait>().len() == 1).await,
        "the long wait is told"
    );
    tokio::time::sleep(ms(1_500)).await;
    let told = seen.of::<QueueLongWait>();
    assert_eq!(
        told.len(),
        1,
        "once per crossing, by one of the two workers: {told:?}"
    );
    assert_eq!(told[0].queue, "events");
    assert_eq!(told[0].threshold_seconds, 1);
    assert!(told[0].oldest_pending_ms > 1_000, "{told:?}");
    assert_eq!(told[0].connection, queue.connection_name());

    // Cleared when the queue drains; a new crossing is told again.
    monitor.resume("events").await.expect("resume");
    assert!(eventually(LIMIT, async || sink.of("success").len() == 1).await);
    tokio::time::sleep(ms(800)).await;
    monitor.pause("events").await.expect("pause");
    tokio::time::sleep(ms(1_100)).await;
    dispatcher.dispatch(job(2)).await.expect("dispatch");
    assert!(
        eventually(LIMIT, async || seen.of::<QueueLongWait>().len() == 2).await,
        "the second crossing is told: {:?}",
        seen.of::<QueueLongWait>()
    );
    monitor.resume("events").await.expect("resume");

    // Six failures in five minutes: 1.2 a minute, over the threshold of 1.
    for n in 10..16 {
        dispatcher
            .dispatch(TestJobEvent {
                fail_times: 9,
                ..job(n)
            })
            .await
            .expect("dispatch");
    }
    assert!(
        eventually(LIMIT, async || seen.of::<QueueFailureSpike>().len() == 1).await,
        "the failure spike is told"
    );
    tokio::time::sleep(ms(1_000)).await;
    let spikes = seen.of::<QueueFailureSpike>();
    assert_eq!(spikes.len(), 1, "{spikes:?}");
    assert!(spikes[0].failed_per_minute > 1.0, "{spikes:?}");
    for w in workers {
        w.stop().await;
    }
}

/// Two worker processes with `EVENTS_QUEUE_WAIT_ALERT_SECONDS=1`: a paused
/// queue's job waits past it, and exactly one of them dispatches
/// `QueueLongWait`, once. (Stored connections.)
pub async fn two_worker_processes_alert_once(url: String, record: PathBuf) {
    let queue = Queue::open(&url).await.expect("open");
    let monitor = monitor(&queue);
    monitor.pause("events").await.expect("pause");
    let spawn = || {
        let child = std::process::Command::new(WORKER_BIN)
            .args([url.as_str(), &record.display().to_string(), "30000", "2"])
            .env("QUEUE_WORKER_HEARTBEAT_MS", "200")
            .env("EVENTS_QUEUE_WAIT_ALERT_SECONDS", "1")
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::inherit())
            .spawn()
            .expect("start queue_worker");
        Proc(child)
    };
    let workers = [spawn(), spawn()];
    assert!(
        eventually(LIMIT, async || monitor
            .workers()
            .await
            .is_ok_and(|w| w.len() == 2))
        .await,
        "both workers register"
    );
    let dispatcher = producer(&queue).await;
    dispatcher.dispatch(job(1)).await.expect("dispatch");
    assert!(
        eventually(LIMIT, async || lines(&record, "alert").len() == 1).await,
        "one of the workers tells the long wait"
    );
    tokio::time::sleep(ms(2_000)).await;
    let alerts = lines(&record, "alert");
    assert_eq!(
        alerts.len(),
        1,
        "told once by one process, not by each: {alerts:?}"
    );
    let pids: Vec<u64> = workers.iter().map(|w| u64::from(w.0.id())).collect();
    assert!(pids.contains(&alerts[0]), "{alerts:?} from {pids:?}");
    monitor.resume("events").await.expect("resume");
    assert!(eventually(LIMIT, async || lines(&record, "success").len() == 1).await);
    for w in &workers {
        signal(w, nix::sys::signal::Signal::SIGTERM);
    }
}

/// Ten thousand failed jobs: a page by name, counts by text and by group,
/// and a bulk retry of one name's two thousand, in batches.
pub async fn ten_thousand_failed_jobs_are_searched_and_retried(queue: Queue) {
    use event_core::queue::{FailedJob, FailedQuery, JobEnvelope, JobSettings};
    let store = queue.failed().expect("a failed store");
    let now = chrono::Utc::now().timestamp_millis();
    let names = ["Charge", "Invoice", "Welcome", "Stats", "Slack"];
    let mut tasks = tokio::task::JoinSet::new();
    for chunk in 0..20usize {
        let store = store.clone();
        tasks.spawn(async move {
            for n in chunk * 500..(chunk + 1) * 500 {
                let envelope = JobEnvelope {
                    id: format!("job-{n:05}"),
                    event: "OrderPlaced".into(),
                    payload: serde_json::json!({ "n": n }),
                    listener: Some(format!("app::listeners::{}", names[n % 5])),
                    queue: "events".into(),
                    attempts: 0,
                    exceptions: 0,
                    settings: JobSettings::default(),
                    priority: 0,
                    available_at: now,
                    created_at: now,
                    event_id: None,
                    correlation_id: None,
                    retried_at: None,
                    traceparent: None,
                    sealed: None,
                    history: Vec::new(),
                };
                store
                    .restore(FailedJob {
                        id: envelope.id.clone(),
                        queue: "events".into(),
                        reason: format!("declined: order {n} (code {})", n % 10),
                        attempts: 3,
                        failed_at: now - 10_000 + n as i64,
                        payload: envelope,
                    })
                    .await
                    .expect("store a failed job");
            }
        });
    }
    while let Some(done) = tasks.join_next().await {
        done.expect("seeding task");
    }
    assert_eq!(
        store.count(&FailedQuery::default()).await.expect("count"),
        10_000
    );
    let page = store
        .search(&FailedQuery {
            name: Some("Invoice".into()),
            ..FailedQuery::default()
        })
        .await
        .expect("search");
    assert_eq!(page.jobs.len(), 50);
    assert_eq!(page.jobs[0].id, "job-09996", "newest first");
    assert!(page.next.is_some());
    let code_seven = FailedQuery {
        text: Some("code 7".into()),
        ..FailedQuery::default()
    };
    assert_eq!(store.count(&code_seven).await.expect("count"), 1_000);
    let groups = store.groups().await.expect("groups");
    assert_eq!(
        groups.iter().map(|g| g.count).sum::<u64>(),
        10_000,
        "{groups:?}"
    );
    let invoices = FailedQuery {
        name: Some("app::listeners::Invoice".into()),
        ..FailedQuery::default()
    };
    assert_eq!(store.count(&invoices).await.expect("count"), 2_000);
    assert_eq!(store.retry_matching(&invoices).await.expect("retry"), 2_000);
    assert_eq!(
        store.count(&FailedQuery::default()).await.expect("count"),
        8_000
    );
    let gauges = monitor(&queue).gauges().await.expect("gauges");
    let events = gauges
        .iter()
        .find(|g| g.queue == "events")
        .expect("the queue");
    assert_eq!(
        (events.pending, events.failed),
        (2_000, 8_000),
        "{events:?}"
    );
}
