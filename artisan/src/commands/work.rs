//! `queue:work`: a worker with the app's own job registry, through the app's
//! artisan binary (`cargo run --bin artisan -- queue:work`). Each job is
//! logged the way Laravel does it:
//!
//! ```text
//!   2026-12-01 12:00:00 SendWelcomeEmailListener ............. RUNNING
//!   2026-12-01 12:00:00 SendWelcomeEmailListener ........ 3.21ms DONE
//! ```

use std::io::IsTerminal;
use std::path::Path;
use std::time::Duration;

use anyhow::{Context, Result};
use event_core::queue::{self, Worker};
use tracing_subscriber::Layer as _;
use tracing_subscriber::layer::SubscriberExt;

use crate::UsageError;
use crate::cli::QueueWork;
use crate::config::app_config;
use crate::out;
use crate::project::Project;

pub fn work(manifest: Option<&Path>, app: &crate::App, args: QueueWork) -> Result<()> {
    let Some(registry) = app.job_registry() else {
        return Err(UsageError(
            "queue:work runs your app's listeners, so it runs in your app: \
             `cargo run --bin artisan -- queue:work` (run `artisan init` once to add that binary)"
                .to_string(),
        )
        .into());
    };
    let project = Project::open(manifest).ok();
    let mut config = app_config(project.as_ref())?;
    if let Some(connection) = &args.connection {
        config.queue_connection = connection.clone();
    }
    if config.queue_connection == "sync" || config.queue_connection == "memory" {
        return Err(UsageError(format!(
            "the `{}` connection has no jobs for a worker process: `sync` runs listeners \
             inline and `memory` lives inside the app. Set EVENTS_QUEUE_CONNECTION=sqlite \
             (with EVENTS_QUEUE_URL=sqlite://jobs.db) or redis, or pass --connection",
            config.queue_connection
        ))
        .into());
    }
    let queues = if args.queue.is_empty() {
        vec![config.default_queue.clone()]
    } else {
        args.queue.clone()
    };

    let log = JobLog;
    // Colour only on a terminal (and without NO_COLOR), as `out` does.
    let ansi = std::io::stdout().is_terminal() && std::env::var_os("NO_COLOR").is_none();
    let subscriber = tracing_subscriber::registry().with(log).with(
        tracing_subscriber::fmt::layer()
            .with_ansi(ansi)
            .with_target(false)
            .with_filter(tracing_subscriber::filter::filter_fn(|m| {
                m.target() != Worker::LOG_TARGET && *m.level() <= tracing::Level::WARN
            })),
    );
    // Global: jobs run on the runtime's worker threads. A second worker in
    // the same process (tests) keeps the first one's subscriber.
    let _ = tracing::subscriber::set_global_default(subscriber);

    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    rt.block_on(async {
        // The app's boot, when its binary gives it: the worker is the app.
        let runtime = match app.booted(&config) {
            Some(boot) => {
                let runtime = boot.await.context("cannot boot the app")?;
                out::info(&runtime.to_string());
                Some(runtime)
            }
            None => {
                out::warn(
                    "this artisan has no boot (`App::boot(event_registry::boot)`): what a job \
                     dispatches reaches no listener, store or broadcaster of the app. Run \
                     `artisan event:generate` and add `.boot(event_registry::boot)` to \
                     src/bin/artisan.rs",
                );
                None
            }
        };
        let connection = match &runtime {
            Some(runtime) => runtime.queue().clone(),
            None => queue::connect(&config)
                .await
                .context("cannot open the queue connection")?,
        };
        let registry = match &runtime {
            Some(runtime) => {
                let registry = registry.broadcaster(runtime.broadcaster());
                // Replay jobs (the standalone dashboard's) replay through
                // the app's listeners; without a store they fail saying so.
                match runtime.store() {
                    Some(store) => {
                        let replayer = store.replayer(std::sync::Arc::new(registry.clone()));
                        registry.replayer(replayer)
                    }
                    None => registry,
                }
            }
            None => registry,
        };
        out::info(&format!(
            "Processing jobs from the [{}] queue(s) on [{}].",
            queues.join(", "),
            connection.connection_name()
        ));
        // Laravel's `queue:work` options are the worker's own.
        let mut worker = Worker::new(connection, registry)
            .queues(queues)
            .concurrency(args.concurrency)
            .stop_when_empty(args.stop_when_empty);
        if let Some(jobs) = args.max_jobs {
            worker = worker.max_jobs(jobs);
        }
        if let Some(secs) = args.max_time {
            worker = worker.max_time(Duration::from_secs(secs));
        }
        if let Some(tries) = args.tries {
            worker = worker.tries(tries);
        }
        if !args.backoff.is_empty() {
            worker = worker.backoff(args.backoff.iter().map(|s| Duration::from_secs(*s)));
        }
        if let Some(secs) = args.timeout {
            worker = worker.timeout(Duration::from_secs(secs));
        }
        // Each attempt shows under its event in the dashboard's timeline.
        if let Some(recorder) = runtime
            .as_ref()
            .and_then(|r| r.store())
            .and_then(|s| s.recorder())
        {
            worker = worker.hops_to(recorder);
        }
        let report = worker.run_until(queue::shutdown_signal()).await?;
        out::info(&format!(
            "Worker stopped: {} done, {} retried, {} failed, {} handed back.",
            report.succeeded, report.retried, report.failed, report.released
        ));
        if let Some(runtime) = runtime {
            runtime.shutdown().await?;
        }
        anyhow::Ok(())
    })
}

/// Prints the worker's per-job events (event-core's [`Worker::LOG_TARGET`]) and
struct JobLog;

#[derive(Default)]
struct JobFields {
    name: String,
    status: String,
    reason: String,
    micros: Option<u64>,
}

impl tracing::field::Visit for JobFields {
    fn record_str(&mut self, field: &tracing::field::Field, value: &str) {
        match field.name() {
            "name" => self.name = value.to_string(),
            "status" => self.status = value.to_string(),
            "reason" => self.reason = value.to_string(),
            _ => {}
        }
    }

    fn record_u64(&mut self, field: &tracing::field::Field, value: u64) {
        if field.name() == "micros" {
            self.micros = Some(value);
        }
    }

    fn record_debug(&mut self, field: &tracing::field::Field, value: &dyn std::fmt::Debug) {
        self.record_str(field, &format!("{value:?}"));
    }
}

impl<S: tracing::Subscriber> tracing_subscriber::Layer<S> for JobLog {
    fn on_event(&self, event: &tracing::Event<'_>, _: tracing_subscriber::layer::Context<'_, S>) {
        if event.metadata().target() != Worker::LOG_TARGET {
            return;
        }
        let mut fields = JobFields::default();
        event.record(&mut fields);
        out::plain(&job_line(&fields));
        if !fields.reason.is_empty() {
            let dim = out::dim();
            out::plain(&format!(
                "  {dim}{}{dim:#}",
                fields.reason.replace('\n', " ")
            ));
        }
    }
}

/// `  2026-12-01 12:00:00 SendWelcomeEmailListener ..... 3.21ms DONE`
fn job_line(fields: &JobFields) -> String {
    let time = event_core::chrono::Local::now().format("%Y-%m-%d %H:%M:%S");
    let name = crate::names::short_listener(&fields.name);
    let took = fields
        .micros
        .map(|us| format!("{:.2}ms ", us as f64 / 1000.0))
        .unwrap_or_default();
    let tail = format!("{took}{}", fields.status);
    let width: usize = 76;
    let dots = width
        .saturating_sub(time.to_string().len() + name.len() + tail.len() + 3)
        .max(3);
    let dim = out::dim();
    let style = match fields.status.as_str() {
        "DONE" => out::green(),
        "FAIL" => out::red(),
        _ => out::yellow(),
    };
    format!(
        "  {time} {name} {dim}{}{dim:#} {took}{style}{}{style:#}",
        ".".repeat(dots),
        fields.status
    )
}
