//! `queue:stats`, `queue:pause`, `queue:resume`, `queue:workers`,
//! `queue:clear`, `queue:restart`: seeing and steering a connection's
//! queues, through event-core's [`Monitor`] (the figures each connection
//! keeps as jobs are written; nothing here counts jobs).

use std::io::IsTerminal;
use std::path::Path;
use std::time::Duration;

use anyhow::{Context, Result};
use event_core::queue::Monitor;
use event_core::queue::monitor::{Percentiles, StatsQuery, StatsReport, WorkerState};

use super::queue::{open_queue, queue_url, redact_password, runtime};
use crate::UsageError;
use crate::cli::{QueueClear, QueueCompleted, QueueName, QueueStats, QueueUrl, QueueWorkers};
use crate::out;

const CONNECTIONS: [&str; 4] = ["memory", "sqlite", "redis", "postgres"];

/// Opens the connection's monitor; the memory connection lives in the
/// app's process, where `queue.monitor()` reads it.
async fn open_monitor(manifest: Option<&Path>, given: &QueueUrl) -> Result<(Monitor, String)> {
    let (url, source) = queue_url(manifest, given)?;
    if url.trim() == "memory" || url.starts_with("memory:") {
        return Err(UsageError(format!(
            "the `memory` connection (from {source}) lives inside your app's process: read it \
             from Rust with `queue.monitor()`, or point --url at a sqlite, redis or postgres queue"
        ))
        .into());
    }
    let queue = open_queue(&url, &source).await?;
    let monitor = queue
        .monitor()
        .with_context(|| format!("the queue from {source} keeps no jobs to monitor"))?;
    Ok((monitor, redact_password(&url)))
}

/// `redis:emails` -> `emails`, checking the connection is the one `--url`
/// names; `emails` -> `emails`.
fn queue_name<'a>(name: &'a str, monitor: &Monitor) -> Result<&'a str> {
    let (connection, queue) = match name.split_once(':') {
        Some((c, q)) if CONNECTIONS.contains(&c) => (Some(c), q),
        _ => (None, name),
    };
    if queue.trim().is_empty() {
        return Err(UsageError(format!(
            "`{name}` names no queue: write e.g. `emails` or `redis:emails`"
        ))
        .into());
    }
    if let Some(connection) = connection
        && connection != monitor.connection()
    {
        return Err(UsageError(format!(
            "`{name}` names the `{connection}` connection, but the queue URL is a `{}` one; \
             pass --url for the {connection} connection",
            monitor.connection()
        ))
        .into());
    }
    Ok(queue)
}

pub fn stats(manifest: Option<&Path>, args: QueueStats) -> Result<()> {
    let rt = runtime()?;
    let query = StatsQuery {
        queue: args.only.clone(),
        window: args.window,
        by_job: args.by_job,
    };
    rt.block_on(async {
        let (monitor, url) = open_monitor(manifest, &args.queue).await?;
        loop {
            let report = monitor.stats(&query).await?;
            let text = if args.json {
                serde_json::to_string_pretty(&report)?
            } else {
                render(&report, &url, args.watch)
            };
            if args.watch && std::io::stdout().is_terminal() {
                // Clear the screen, cursor home: redraw in place.
                print!("\x1b[2J\x1b[H");
            }
            out::plain(&text);
            if !args.watch {
                return anyhow::Ok(());
            }
            tokio::select! {
                _ = tokio::signal::ctrl_c() => return Ok(()),
                () = tokio::time::sleep(Duration::from_secs(1)) => {}
            }
        }
    })
}

fn ms(p: Option<u64>) -> String {
    match p {
        None => "-".to_string(),
        Some(ms) if ms >= 10_000 => format!("{:.0}s", ms as f64 / 1000.0),
        Some(ms) if ms >= 1_000 => format!("{:.1}s", ms as f64 / 1000.0),
        Some(ms) => format!("{ms}ms"),
    }
}

fn percentiles(p: &Percentiles) -> String {
    format!("{} / {} / {}", ms(p.p50), ms(p.p95), ms(p.p99))
}

fn age(ms: u64) -> String {
    match ms {
        0 => "-".to_string(),
        ms if ms < 1_000 => format!("{ms}ms"),
        ms if ms < 120_000 => format!("{:.0}s", ms as f64 / 1000.0),
        ms if ms < 7_200_000 => format!("{:.0}m", ms as f64 / 60_000.0),
        ms => format!("{:.1}h", ms as f64 / 3_600_000.0),
    }
}

fn render(report: &StatsReport, url: &str, watching: bool) -> String {
    let (dim, bold, yellow, red, green) = (
        out::dim(),
        out::bold(),
        out::yellow(),
        out::red(),
        out::green(),
    );
    let mut text = String::new();
    let window = age(report.window_s * 1000);
    text.push_str(&format!(
        "\n  {bold}{url}{bold:#} {dim}({} connection, last {window}){dim:#}\n\n",
        report.connection
    ));
    if report.queues.is_empty() {
        text.push_str("  No queue has seen a job yet.\n");
    }
    for q in &report.queues {
        let state = if q.paused {
            format!("{yellow}PAUSED{yellow:#}")
        } else {
            format!("{green}RUNNING{green:#}")
        };
        let oldest = if q.oldest_pending_ms >= 60_000 {
            format!("{red}{}{red:#}", age(q.oldest_pending_ms))
        } else {
            age(q.oldest_pending_ms)
        };
        let failed = if q.failed > 0 {
            format!("{red}{}{red:#}", q.failed)
        } else {
            "0".to_string()
        };
        text.push_str(&format!("  {bold}[{}]{bold:#} {state}\n", q.queue));
        text.push_str(&format!(
            "    pending {} {dim}·{dim:#} delayed {} {dim}·{dim:#} running {} {dim}·{dim:#} failed {failed} {dim}·{dim:#} oldest waiting {oldest}\n",
            q.pending, q.delayed, q.running
        ));
        text.push_str(&format!(
            "    {:.1}/min processed {dim}·{dim:#} {:.1}/min failed\n",
            q.processed_per_minute, q.failed_per_minute
        ));
        text.push_str(&format!(
            "    wait {dim}p50/p95/p99{dim:#} {} {dim}·{dim:#} run {}\n",
            percentiles(&q.wait_ms),
            percentiles(&q.run_ms)
        ));
        for j in report.jobs.iter().filter(|j| j.queue == q.queue) {
            text.push_str(&format!(
                "      {} {dim}{:.1}/min, {:.1} failed/min, wait {}, run {}{dim:#}\n",
                j.job,
                j.processed_per_minute,
                j.failed_per_minute,
                percentiles(&j.wait_ms),
                percentiles(&j.run_ms)
            ));
        }
        text.push('\n');
    }
    if watching {
        text.push_str(&format!(
            "  {dim}Refreshing every second; ctrl-c to stop.{dim:#}\n"
        ));
    }
    text
}

pub fn pause(manifest: Option<&Path>, args: QueueName, paused: bool) -> Result<()> {
    runtime()?.block_on(async {
        let (monitor, _) = open_monitor(manifest, &args.queue).await?;
        let queue = queue_name(&args.name, &monitor)?;
        if paused {
            monitor.pause(queue).await?;
            out::info(&format!(
                "Job processing on queue [{}:{queue}] has been paused.",
                monitor.connection()
            ));
        } else {
            monitor.resume(queue).await?;
            out::info(&format!(
                "Job processing on queue [{}:{queue}] has been resumed.",
                monitor.connection()
            ));
        }
        anyhow::Ok(())
    })
}

pub fn clear(manifest: Option<&Path>, args: QueueClear) -> Result<()> {
    runtime()?.block_on(async {
        let (monitor, _) = open_monitor(manifest, &args.queue).await?;
        let queue = queue_name(&args.name, &monitor)?;
        let gauge = monitor
            .gauges()
            .await?
            .into_iter()
            .find(|g| g.queue == queue)
            .unwrap_or_default();
        let waiting = gauge.pending + gauge.delayed;
        if waiting == 0 {
            out::info(&format!("No job waits on queue [{}:{queue}].", monitor.connection()));
            return anyhow::Ok(());
        }
        if !args.force && !out::confirm(&format!(
            "Delete the {waiting} job(s) waiting on queue [{}:{queue}]?",
            monitor.connection()
        ))? {
            return Err(UsageError(format!(
                "nothing deleted: {waiting} job(s) still wait on [{queue}] (pass --force to skip the question)"
            ))
            .into());
        }
        let n = monitor.clear(queue).await?;
        out::info(&format!(
            "Cleared {n} job(s) from the [{}:{queue}] queue.",
            monitor.connection()
        ));
        Ok(())
    })
}

pub fn restart(manifest: Option<&Path>, args: QueueUrl) -> Result<()> {
    runtime()?.block_on(async {
        let (monitor, _) = open_monitor(manifest, &args).await?;
        monitor.restart().await?;
        out::info("Broadcasting queue restart signal.");
        anyhow::Ok(())
    })
}

pub fn workers(manifest: Option<&Path>, args: QueueWorkers) -> Result<()> {
    let workers = runtime()?.block_on(async {
        let (monitor, _) = open_monitor(manifest, &args.queue).await?;
        anyhow::Ok(monitor.workers().await?)
    })?;
    if args.json {
        out::plain(&serde_json::to_string_pretty(&workers)?);
        return Ok(());
    }
    if workers.is_empty() {
        out::info("No worker is running. Start one: `cargo run --bin artisan -- queue:work`.");
        return Ok(());
    }
    let (dim, red, green) = (out::dim(), out::red(), out::green());
    for w in &workers {
        let state = match w.state {
            WorkerState::Alive => format!("{green}ALIVE{green:#}"),
            WorkerState::Stalled => format!("{red}STALLED{red:#}"),
        };
        let b = &w.beat;
        out::plain(&format!(
            "  {state} {}:{} {dim}queues{dim:#} {} {dim}concurrency{dim:#} {} {dim}running{dim:#} {} {dim}processed{dim:#} {} {dim}failed{dim:#} {} {dim}last beat {} ago{dim:#}",
            b.host,
            b.pid,
            b.queues.join(","),
            b.concurrency,
            b.running,
            b.processed,
            b.failed,
            age(w.silent_ms.max(1) as u64)
        ));
    }
    Ok(())
}

pub fn completed(manifest: Option<&Path>, args: QueueCompleted) -> Result<()> {
    let jobs = runtime()?.block_on(async {
        let (monitor, _) = open_monitor(manifest, &args.queue).await?;
        anyhow::Ok(monitor.completed(args.limit.clamp(1, 1_000), None).await?)
    })?;
    if args.json {
        out::plain(&serde_json::to_string_pretty(&jobs)?);
        return Ok(());
    }
    if jobs.is_empty() {
        out::info("No job completed in the last day.");
        return Ok(());
    }
    let dim = out::dim();
    for j in &jobs {
        let when = event_core::chrono::DateTime::from_timestamp_millis(j.done_at_ms)
            .map(|t| t.format("%Y-%m-%d %H:%M:%S").to_string())
            .unwrap_or_default();
        out::plain(&format!(
            "  {when} {} {dim}on{dim:#} {} {dim}waited{dim:#} {} {dim}ran{dim:#} {} {dim}attempt {} · {} {}{dim:#}",
            j.name,
            j.queue,
            ms(Some(j.wait_ms)),
            ms(Some(j.run_ms)),
            j.attempts,
            j.worker,
            j.id
        ));
    }
    Ok(())
}
