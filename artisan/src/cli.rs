//! The command line. One module per command group in `commands/`; a new
//! command is a new variant here, a new file there and one match arm in
//! `commands::run`.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

pub use crate::commands::history::{EventHistory, StoreUrl};
pub use crate::commands::replay::EventReplay;

#[derive(Debug, Parser)]
#[command(
    name = "artisan",
    version,
    about = "Scaffold events and listeners for event-core apps, wire them up, and run their queue workers.",
    after_help = "Examples:\n  \
        artisan init\n  \
        cargo run --bin artisan -- make:event UserRegistered\n  \
        cargo run --bin artisan -- queue:work --stop-when-empty\n  \
        artisan make:event UserRegistered\n  \
        artisan make:listener SendWelcomeEmail --event UserRegistered --queued\n  \
        artisan event:list\n  \
        artisan queue:failed --url sqlite://jobs.db\n  \
        artisan --manifest-path ../shop/Cargo.toml event:generate"
)]
pub struct Cli {
    /// The package to work on (default: the one around the current folder).
    #[arg(long, global = true, value_name = "PATH")]
    pub manifest_path: Option<PathBuf>,

    /// Without a command, artisan lists the commands (like `artisan list`).
    #[command(subcommand)]
    pub command: Option<Command>,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// List the commands.
    #[command(name = "list", after_help = "Example:\n  artisan list")]
    List,

    /// Give this package its own artisan (`cargo run --bin artisan -- ...`) and wire it up.
    #[command(
        name = "init",
        after_help = "Example:\n  artisan init\n  \
            cargo run --bin artisan -- make:event UserRegistered"
    )]
    Init,

    /// Run a queue worker with this app's listeners (through `cargo run --bin artisan`).
    #[command(
        name = "queue:work",
        after_help = "Examples:\n  \
            cargo run --bin artisan -- queue:work\n  \
            cargo run --bin artisan -- queue:work --queue payments,emails --concurrency 4\n  \
            cargo run --bin artisan -- queue:work --stop-when-empty"
    )]
    QueueWork(QueueWork),

    /// Show how many jobs wait on each queue, run, and failed.
    #[command(
        name = "queue:monitor",
        visible_alias = "queue:size",
        after_help = "Examples:\n  artisan queue:monitor\n  artisan queue:size --url sqlite://jobs.db --json"
    )]
    QueueMonitor(QueueMonitor),

    /// Show each queue's pending, delayed, running and failed jobs, the oldest wait, throughput and wait/run percentiles.
    #[command(
        name = "queue:stats",
        after_help = "Examples:\n  artisan queue:stats\n  artisan queue:stats --queue emails --window 1h --by-job\n  artisan queue:stats --json\n  artisan queue:stats --watch"
    )]
    QueueStats(QueueStats),

    /// Stop every worker from taking jobs of a queue (jobs are still accepted).
    #[command(
        name = "queue:pause",
        after_help = "Examples:\n  artisan queue:pause emails\n  artisan queue:pause redis:emails --url redis://127.0.0.1:6379"
    )]
    QueuePause(QueueName),

    /// Let workers take jobs of a paused queue again.
    #[command(
        name = "queue:resume",
        after_help = "Example:\n  artisan queue:resume emails"
    )]
    QueueResume(QueueName),

    /// Delete the jobs waiting on a queue (asks first unless --force).
    #[command(
        name = "queue:clear",
        after_help = "Examples:\n  artisan queue:clear emails\n  artisan queue:clear sqlite:emails --force"
    )]
    QueueClear(QueueClear),

    /// Make every running worker finish its jobs and exit (its process manager restarts it).
    #[command(
        name = "queue:restart",
        after_help = "Example:\n  artisan queue:restart"
    )]
    QueueRestart(QueueUrl),

    /// List the latest completed jobs: name, queue, wait, run time, attempts, worker.
    #[command(
        name = "queue:completed",
        after_help = "Examples:\n  artisan queue:completed --limit 20\n  artisan queue:completed --json"
    )]
    QueueCompleted(QueueCompleted),

    /// List the running workers: host, pid, queues, jobs, last heartbeat (stalled ones marked).
    #[command(
        name = "queue:workers",
        after_help = "Examples:\n  artisan queue:workers\n  artisan queue:workers --json"
    )]
    QueueWorkers(QueueWorkers),

    /// Create an event in src/events/ and wire it.
    #[command(
        name = "make:event",
        after_help = "Examples:\n  \
            artisan make:event UserRegistered\n  \
            artisan make:event OrderShipped --queued --queue orders\n  \
            artisan make:event MessagePosted --broadcast chat.{id}"
    )]
    MakeEvent(MakeEvent),

    /// Create a listener in src/listeners/ and wire it to its event.
    #[command(
        name = "make:listener",
        after_help = "Examples:\n  \
            artisan make:listener SendWelcomeEmail --event UserRegistered\n  \
            artisan make:listener ChargeCard --event OrderPlaced --queued --queue payments --test"
    )]
    MakeListener(MakeListener),

    /// Create a subscriber (one type listening to several events) in src/listeners/ and wire it.
    #[command(
        name = "make:subscriber",
        after_help = "Examples:\n  \
            artisan make:subscriber UserEvent --event UserLoggedIn --event UserLoggedOut\n  \
            artisan make:subscriber Audit --event OrderPlaced --queued"
    )]
    MakeSubscriber(MakeSubscriber),

    /// List the events and their listeners.
    #[command(
        name = "event:list",
        after_help = "Examples:\n  \
            artisan event:list\n  \
            artisan event:list --event User\n  \
            artisan event:list --json"
    )]
    EventList(EventList),

    /// Rebuild src/event_registry.rs and the mod.rs files from src/events/ and src/listeners/.
    #[command(
        name = "event:generate",
        after_help = "Example:\n  artisan event:generate"
    )]
    EventGenerate,

    /// Copy the templates to templates/artisan/, where they override the built-in ones.
    #[command(
        name = "stub:publish",
        after_help = "Example:\n  artisan stub:publish\n  \
            (then edit templates/artisan/event.rs.tera: make:event renders it from now on)"
    )]
    StubPublish(StubPublish),

    /// List the jobs that ran out of tries.
    #[command(
        name = "queue:failed",
        after_help = "Examples:\n  \
            artisan queue:failed --url sqlite://jobs.db\n  \
            EVENTS_QUEUE_URL=redis://127.0.0.1:6379 artisan queue:failed --json\n  \
            artisan queue:failed --search \"card declined\" --name ChargeCard --limit 20\n  \
            artisan queue:failed --groups"
    )]
    QueueFailed(QueueFailed),

    /// Push failed jobs back onto their queue, with fresh attempts.
    #[command(
        name = "queue:retry",
        after_help = "Examples:\n  \
            artisan queue:retry 01J9Z3K6Q8V0C2M4N6P8R0T2V4\n  \
            artisan queue:retry all --url sqlite://jobs.db"
    )]
    QueueRetry(QueueRetry),

    /// Delete one failed job.
    #[command(
        name = "queue:forget",
        after_help = "Example:\n  artisan queue:forget 01J9Z3K6Q8V0C2M4N6P8R0T2V4"
    )]
    QueueForget(QueueForget),

    /// Delete the failed jobs older than some hours (Laravel's `queue:prune-failed`).
    #[command(
        name = "queue:prune-failed",
        after_help = "Examples:\n  \
            artisan queue:prune-failed\n  \
            artisan queue:prune-failed --hours 48 --url sqlite://jobs.db"
    )]
    QueuePruneFailed(QueuePruneFailed),

    /// Delete every failed job.
    #[command(
        name = "queue:flush",
        after_help = "Example:\n  artisan queue:flush --url sqlite://jobs.db"
    )]
    QueueFlush(QueueUrl),

    /// Show the event store's history: a table, one chain as a tree, or JSON.
    #[command(
        name = "event:history",
        after_help = "Examples:\n  \
            artisan event:history --name OrderPlaced --since 1h\n  \
            artisan event:history --correlation 01J9Z3K6Q8V0C2M4N6P8R0T2V4\n  \
            artisan event:history --tag order --limit 20 --json --url postgres://app@db/app"
    )]
    EventHistory(EventHistory),

    /// Re-dispatch stored events to their listeners (through your app's own artisan binary).
    #[command(
        name = "event:replay",
        after_help = "Examples:\n  \
            cargo run --bin artisan -- event:replay 01J9Z3K6Q8V0C2M4N6P8R0T2V4\n  \
            cargo run --bin artisan -- event:replay --from 0 --name OrderPlaced --listener UpdateStats"
    )]
    EventReplay(EventReplay),

    /// Run the Pusher-protocol broadcasting server (WebSocket and HTTP API on one port).
    #[command(
        name = "broadcast:serve",
        after_help = "Examples:\n  \
            EVENTS_BROADCAST_APP_ID=1 EVENTS_BROADCAST_APP_KEY=key EVENTS_BROADCAST_APP_SECRET=secret \\\n    \
            artisan broadcast:serve --port 6001\n  \
            EVENTS_BROADCAST_REDIS_URL=redis://127.0.0.1:6379 artisan broadcast:serve  (join a cluster)"
    )]
    BroadcastServe(crate::commands::broadcast::BroadcastServe),

    /// Serve the queue and event dashboard in a browser (this machine only, with a one-time token).
    #[command(
        name = "dashboard",
        after_help = "Examples:\n  artisan dashboard\n  artisan dashboard --url sqlite://jobs.db --store-url sqlite://events.db --port 8400\n  artisan dashboard --read-only"
    )]
    Dashboard(crate::commands::dashboard::Dashboard),
}

/// Which queue connection: `--url`, else EVENTS_QUEUE_URL (environment or the package's .env).
#[derive(Debug, Args)]
pub struct QueueUrl {
    /// The connection's URL: sqlite://jobs.db or redis://127.0.0.1:6379[?prefix=app].
    #[arg(long, value_name = "URL")]
    pub url: Option<String>,
}

/// Which failed jobs: every filter given must hold.
#[derive(Debug, Args, Default)]
pub struct FailedFilter {
    /// Whose error holds every word of TEXT (case-insensitive).
    #[arg(long, value_name = "TEXT")]
    pub search: Option<String>,
    /// Carrying this tag.
    #[arg(long, value_name = "T")]
    pub tag: Option<String>,
    /// Of this listener (full path or its last segment) or queued event.
    #[arg(long, value_name = "N")]
    pub name: Option<String>,
    /// On this queue.
    #[arg(long = "queue", value_name = "Q")]
    pub on_queue: Option<String>,
    /// Of this event (the event store's id).
    #[arg(long = "event", value_name = "ID")]
    pub event_id: Option<String>,
    /// Of this correlation chain.
    #[arg(long = "correlation", value_name = "ID")]
    pub correlation_id: Option<String>,
    /// In this failure group (a fingerprint `queue:failed --groups` shows).
    #[arg(long, value_name = "FINGERPRINT")]
    pub group: Option<String>,
}

impl FailedFilter {
    /// True when some filter is given.
    pub fn any(&self) -> bool {
        self.search.is_some()
            || self.tag.is_some()
            || self.name.is_some()
            || self.on_queue.is_some()
            || self.event_id.is_some()
            || self.correlation_id.is_some()
            || self.group.is_some()
    }

    /// The query the failed store answers.
    pub fn query(&self) -> event_core::queue::FailedQuery {
        event_core::queue::FailedQuery {
            queue: self.on_queue.clone(),
            name: self.name.clone(),
            tag: self.tag.clone(),
            event_id: self.event_id.clone(),
            correlation_id: self.correlation_id.clone(),
            fingerprint: self.group.clone(),
            text: self.search.clone(),
            ..event_core::queue::FailedQuery::default()
        }
    }
}

#[derive(Debug, Args)]
pub struct QueueFailed {
    #[command(flatten)]
    pub queue: QueueUrl,
    #[command(flatten)]
    pub filter: FailedFilter,
    /// At most this many, newest first (up to 1000).
    #[arg(long, value_name = "N", default_value_t = 50)]
    pub limit: usize,
    /// The page after this one (the `--after` the last page printed).
    #[arg(long, value_name = "CURSOR")]
    pub after: Option<event_core::queue::FailedCursor>,
    /// Show the failure groups (same job, kind of error and message) with their counts.
    #[arg(long)]
    pub groups: bool,
    /// Print JSON: [{"id": ..., "event": ..., "listener": ..., "reason": ..., "history": [every attempt]}] (with --groups: the groups).
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct QueueMonitor {
    #[command(flatten)]
    pub queue: QueueUrl,
    /// Print JSON: {"queues": [{"queue": ..., "waiting": N}], "waiting": N, "running": N, "failed": N}.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct QueueRetry {
    /// Failed job IDs, or `all` (or none, with filters).
    #[arg(value_name = "ID|all", required_unless_present_any = ["search", "tag", "name", "on_queue", "event_id", "correlation_id", "group"])]
    pub ids: Vec<String>,
    /// Retry every failed job these filters match (the count is shown first).
    #[command(flatten)]
    pub filter: FailedFilter,
    #[command(flatten)]
    pub queue: QueueUrl,
}

#[derive(Debug, Args)]
pub struct QueuePruneFailed {
    /// Delete the failed jobs that failed more than this many hours ago.
    #[arg(long, value_name = "N", default_value_t = 24)]
    pub hours: u64,
    #[command(flatten)]
    pub queue: QueueUrl,
}

#[derive(Debug, Args)]
pub struct QueueForget {
    /// The failed job's ID (or none, with filters).
    #[arg(required_unless_present_any = ["search", "tag", "name", "on_queue", "event_id", "correlation_id", "group"])]
    pub id: Option<String>,
    /// Delete every failed job these filters match (the count is shown
    /// first; asks unless --force).
    #[command(flatten)]
    pub filter: FailedFilter,
    /// Do not ask before deleting what the filters match.
    #[arg(long)]
    pub force: bool,
    #[command(flatten)]
    pub queue: QueueUrl,
}

#[derive(Debug, Args)]
pub struct MakeEvent {
    /// The event, in any case: UserRegistered, user_registered, user-registered...
    pub name: String,
    /// Queue the event's listeners (`#[event(queued)]`).
    #[arg(long)]
    pub queued: bool,
    /// The queue to put it on (implies --queued).
    #[arg(long, value_name = "QUEUE")]
    pub queue: Option<String>,
    /// Broadcast the event, on CHANNEL (default: the event's snake_case name).
    /// Fields are interpolated: `users.{id}`.
    #[arg(long, value_name = "CHANNEL", num_args = 0..=1, default_missing_value = "")]
    pub broadcast: Option<String>,
    /// Overwrite the event file if it exists.
    #[arg(long)]
    pub force: bool,
}

#[derive(Debug, Args)]
pub struct MakeListener {
    /// The listener, in any case: SendWelcomeEmail, send_welcome_email...
    pub name: String,
    /// The event it handles; created too if it does not exist.
    #[arg(long, value_name = "EVENT")]
    pub event: Option<String>,
    /// Run it on a queue worker (needs --event: a worker rebuilds its event).
    #[arg(long)]
    pub queued: bool,
    /// The queue to put it on (implies --queued; default: EVENTS_DEFAULT_QUEUE).
    #[arg(long, value_name = "QUEUE")]
    pub queue: Option<String>,
    /// Also write tests for it (in the listener file, under #[cfg(test)]).
    #[arg(long)]
    pub test: bool,
    /// Overwrite the listener file if it exists.
    #[arg(long)]
    pub force: bool,
}

#[derive(Debug, Args)]
pub struct MakeSubscriber {
    /// The subscriber, in any case: UserEvent, user_event_subscriber...
    pub name: String,
    /// An event it listens to (one `#[listen]` method each); repeat it.
    /// Created too if it does not exist.
    #[arg(long, value_name = "EVENT", required = true)]
    pub event: Vec<String>,
    /// Run every method on a queue worker.
    #[arg(long)]
    pub queued: bool,
    /// Overwrite the subscriber file if it exists.
    #[arg(long)]
    pub force: bool,
}

#[derive(Debug, Args)]
pub struct EventList {
    /// Only events whose name contains this (case-insensitive).
    #[arg(long, value_name = "SUBSTRING")]
    pub event: Option<String>,
    /// Print JSON: [{"event": ..., "listeners": [...]}].
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct StubPublish {
    /// Overwrite templates already published.
    #[arg(long)]
    pub force: bool,
}

#[derive(Debug, Args)]
pub struct QueueWork {
    /// The connection to work (default: EVENTS_QUEUE_CONNECTION).
    #[arg(long, value_name = "C")]
    pub connection: Option<String>,
    /// The queues to take jobs from, in order of preference (default: EVENTS_DEFAULT_QUEUE).
    #[arg(long, value_name = "a,b", value_delimiter = ',')]
    pub queue: Vec<String>,
    /// Jobs run at the same time.
    #[arg(long, value_name = "N", default_value_t = 1)]
    pub concurrency: usize,
    /// Attempts in all for jobs whose listener or event declares no `tries`
    /// (default: EVENTS_RETRY_ATTEMPTS); a declared value wins. 0: no limit.
    #[arg(long, value_name = "N")]
    pub tries: Option<u32>,
    /// Seconds an attempt may run, for jobs whose listener or event declares
    /// no `timeout` (default: none); a declared value wins. 0: none.
    #[arg(long, value_name = "S")]
    pub timeout: Option<u64>,
    /// Seconds to wait before retrying a failed attempt, for jobs whose
    /// listener or event declares no `backoff`: one value, or one per retry
    /// (`1,5,10`, the last repeating) (default: EVENTS_RETRY_DELAY_SECONDS);
    /// a declared value wins.
    #[arg(long, value_name = "S[,S..]", value_delimiter = ',')]
    pub backoff: Vec<u64>,
    /// Stop once no job waits or runs.
    #[arg(long)]
    pub stop_when_empty: bool,
    /// Stop after this many jobs finished (done or failed for good).
    #[arg(long, value_name = "N")]
    pub max_jobs: Option<u64>,
    /// Stop after this many seconds.
    #[arg(long, value_name = "S")]
    pub max_time: Option<u64>,
}

/// `queue:stats`.
#[derive(Debug, Args)]
pub struct QueueStats {
    #[command(flatten)]
    pub queue: QueueUrl,
    /// Only this queue.
    #[arg(long = "queue", value_name = "Q")]
    pub only: Option<String>,
    /// How far back throughput and times go: 5m, 1h, 24h (up to 90d).
    #[arg(long, value_name = "W", default_value = "5m", value_parser = parse_window_arg)]
    pub window: std::time::Duration,
    /// Also the figures per job (listener) name.
    #[arg(long)]
    pub by_job: bool,
    /// Print the documented JSON (docs/queues.md).
    #[arg(long)]
    pub json: bool,
    /// Redraw every second until ctrl-c.
    #[arg(long)]
    pub watch: bool,
}

fn parse_window_arg(text: &str) -> Result<std::time::Duration, String> {
    event_core::queue::monitor::parse_window(text)
}

/// `queue:pause`, `queue:resume`.
#[derive(Debug, Args)]
pub struct QueueName {
    /// The queue, optionally with its connection: `emails` or `redis:emails`.
    #[arg(value_name = "[CONNECTION:]QUEUE")]
    pub name: String,
    #[command(flatten)]
    pub queue: QueueUrl,
}

/// `queue:clear`.
#[derive(Debug, Args)]
pub struct QueueClear {
    /// The queue, optionally with its connection: `emails` or `redis:emails`.
    #[arg(value_name = "[CONNECTION:]QUEUE")]
    pub name: String,
    #[command(flatten)]
    pub queue: QueueUrl,
    /// Do not ask before deleting.
    #[arg(long)]
    pub force: bool,
}

/// `queue:workers`.
#[derive(Debug, Args)]
pub struct QueueWorkers {
    #[command(flatten)]
    pub queue: QueueUrl,
    /// Print JSON: [{"id", "host", "pid", "queues", "state", ...}].
    #[arg(long)]
    pub json: bool,
}

/// `queue:completed`.
#[derive(Debug, Args)]
pub struct QueueCompleted {
    #[command(flatten)]
    pub queue: QueueUrl,
    /// At most this many, newest first (up to 1000).
    #[arg(long, value_name = "N", default_value_t = 50)]
    pub limit: usize,
    /// Print JSON: [{"id", "name", "queue", "wait_ms", "run_ms", "attempts", "worker", "done_at_ms"}].
    #[arg(long)]
    pub json: bool,
}
