//! `queue:failed`, `queue:retry`, `queue:forget`, `queue:flush`: the
//! failed-jobs store of a queue connection, through event-core's own API so
//! the CLI and the workers always agree on the format.
//!
//! The connection comes from `--url`, else `EVENTS_QUEUE_URL` in the
//! environment, else in the package's `.env` (as the app would read it).

use std::path::Path;

use anyhow::{Context, Result};
use event_core::queue::{FailedJob, FailedJobs, Queue};

use crate::UsageError;
use crate::cli::{QueueFailed, QueueForget, QueueMonitor, QueuePruneFailed, QueueRetry, QueueUrl};
use crate::config::{app_config, queue_url_source};
use crate::out;
use crate::project::Project;

/// Where the queue lives, and where that was read from (for messages):
/// `--url`, else the app's `EVENTS_QUEUE_URL` (environment, then `.env`).
pub(crate) fn queue_url(manifest: Option<&Path>, given: &QueueUrl) -> Result<(String, String)> {
    if let Some(url) = &given.url {
        return Ok((url.clone(), "--url".to_string()));
    }
    // Outside a package there is no .env to read: only --url or the variable.
    let project = Project::open(manifest).ok();
    let config = app_config(project.as_ref())?;
    if let Some(url) = config.queue_url.filter(|u| !u.trim().is_empty()) {
        return Ok((url, queue_url_source(project.as_ref())));
    }
    Err(UsageError(
        "no queue to look at: pass --url sqlite://jobs.db (or redis://host:6379, or \
         postgres://user@host/db), or set EVENTS_QUEUE_URL"
            .to_string(),
    )
    .into())
}

/// Refuses to create a SQLite file that is not there (a typo in the path
/// should not leave an empty database behind).
fn refuse_missing_sqlite(url: &str, source: &str) -> Result<()> {
    if let Some(path) = url.strip_prefix("sqlite://") {
        let path = path.split('?').next().unwrap_or(path);
        if !path.is_empty() && !Path::new(path).exists() {
            return Err(UsageError(format!(
                "no queue database at `{path}` (from {source}); is the path right, and has a \
                 worker or dispatch created it yet?"
            ))
            .into());
        }
    }
    Ok(())
}

/// Opens the connection. Must run on the runtime that uses it: a Redis
/// connection's driver task lives there (a second runtime meant `broken pipe`).
pub(crate) async fn open_queue(url: &str, source: &str) -> Result<Queue> {
    refuse_missing_sqlite(url, source)?;
    Queue::open(url)
        .await
        .with_context(|| format!("cannot open the queue from {source}"))
}

async fn open(manifest: Option<&Path>, given: &QueueUrl) -> Result<FailedJobs> {
    let (url, source) = queue_url(manifest, given)?;
    open_queue(&url, &source)
        .await?
        .failed()
        .with_context(|| format!("the queue from {source} has no failed-jobs store"))
}

pub(crate) fn runtime() -> Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")
}

fn when(ms: i64) -> String {
    event_core::chrono::DateTime::from_timestamp_millis(ms)
        .map(|t| t.format("%Y-%m-%d %H:%M:%S").to_string())
        .unwrap_or_else(|| ms.to_string())
}

fn what(job: &FailedJob) -> String {
    // An `encrypted` listener's job: its payload is sealed, and said so.
    let sealed = if job.payload.sealed.is_some() {
        ", encrypted"
    } else {
        ""
    };
    match &job.payload.listener {
        Some(listener) => format!("{} ({}{sealed})", short(listener), job.payload.event),
        None => format!("event {}{sealed}", job.payload.event),
    }
}

/// The attempts a failed job's envelope kept, one phrase each:
/// `attempts: 1 retried (12 ms), 2 failed (9 ms)` (`--json` has the rest).
fn attempts(job: &FailedJob) -> String {
    let each: Vec<String> = job
        .payload
        .history
        .iter()
        .map(|a| match a.duration_ms {
            Some(ms) => format!("{} {} ({ms} ms)", a.attempt, a.outcome),
            None => format!("{} {}", a.attempt, a.outcome),
        })
        .collect();
    format!("{} attempt(s) kept: {}", each.len(), each.join(", "))
}

/// `shop::listeners::SendInvoiceListener` -> `SendInvoiceListener`.
fn short(path: &str) -> &str {
    crate::names::short_listener(path)
}

pub fn failed(manifest: Option<&Path>, args: QueueFailed) -> Result<()> {
    if args.groups {
        return groups(manifest, args);
    }
    let mut query = args.filter.query();
    query.limit = args.limit.clamp(1, 1_000);
    query.after = args.after.clone();
    let (page, total) = runtime()?.block_on(async {
        let store = open(manifest, &args.queue).await?;
        let page = store.search(&query).await?;
        let total = store.count(&query).await?;
        anyhow::Ok((page, total))
    })?;
    let jobs = &page.jobs;
    if args.json {
        let rows: Vec<_> = jobs
            .iter()
            .map(|j| {
                serde_json::json!({
                    "id": j.id,
                    "queue": j.queue,
                    "event": j.payload.event,
                    "listener": j.payload.listener,
                    "attempts": j.attempts,
                    "failed_at": when(j.failed_at),
                    "reason": j.reason,
                    "tags": j.payload.settings.tags,
                    "event_id": j.payload.event_id,
                    "correlation_id": j.payload.correlation_id,
                    "fingerprint": event_core::queue::fingerprint(j),
                    // The event's data; for a record that was not a job
                    // (another program's row or stream entry), its text.
                    "payload": j.payload.payload,
                    // An `encrypted` listener's job: `payload` is null, and
                    // this names the cipher and the key id that sealed it.
                    "encrypted": j.payload.sealed.as_ref().map(|s| serde_json::json!({
                        "cipher": s.cipher,
                        "key_id": s.key_id,
                    })),
                    // Every attempt that did not complete, oldest first
                    // (the newest 50): when it ended, the worker, how
                    // long it ran, how it ended and the error's chain.
                    "history": j.payload.history.iter().map(|a| serde_json::json!({
                        "attempt": a.attempt,
                        "ended_at": when(a.ended_at_ms),
                        "ended_at_ms": a.ended_at_ms,
                        "worker": a.worker,
                        "duration_ms": a.duration_ms,
                        "outcome": a.outcome,
                        "error_chain": a.error_chain,
                    })).collect::<Vec<_>>(),
                })
            })
            .collect();
        out::plain(&serde_json::to_string_pretty(&rows)?);
        return Ok(());
    }
    if jobs.is_empty() {
        out::info("No failed jobs found.");
        return Ok(());
    }
    let dim = out::dim();
    for job in jobs {
        let tags = &job.payload.settings.tags;
        let tags = if tags.is_empty() {
            String::new()
        } else {
            format!(" {dim}tags:{dim:#} {}", tags.join(", "))
        };
        out::plain(&format!(
            "  {} {dim}{}{dim:#} {} {dim}on{dim:#} {} {dim}after {} attempt(s){dim:#}{tags}",
            when(job.failed_at),
            job.id,
            what(job),
            job.queue,
            job.attempts
        ));
        out::plain(&format!(
            "    {dim}{}{dim:#}",
            job.reason.replace('\n', " ")
        ));
        if !job.payload.history.is_empty() {
            out::plain(&format!("    {dim}{}{dim:#}", attempts(job)));
        }
    }
    out::plain("");
    let shown = if (jobs.len() as u64) < total {
        format!(" ({} shown, newest first)", jobs.len())
    } else {
        String::new()
    };
    out::info(&format!(
        "{total} failed job(s){shown}. Retry with `artisan queue:retry <id>` or `artisan queue:retry all`."
    ));
    if let Some(next) = &page.next {
        out::plain(&format!("  {dim}Next page: --after {next}{dim:#}"));
    }
    Ok(())
}

/// `queue:failed --groups`: failures that share a fingerprint.
fn groups(manifest: Option<&Path>, args: QueueFailed) -> Result<()> {
    let groups = runtime()?.block_on(async {
        let store = open(manifest, &args.queue).await?;
        anyhow::Ok(store.groups().await?)
    })?;
    if args.json {
        out::plain(&serde_json::to_string_pretty(&groups)?);
        return Ok(());
    }
    if groups.is_empty() {
        out::info("No failed jobs found.");
        return Ok(());
    }
    let dim = out::dim();
    for g in &groups {
        out::plain(&format!(
            "  {:>5} {dim}x{dim:#} {} {dim}{}{dim:#} {dim}({}){dim:#}",
            g.count,
            short(&g.name),
            g.message,
            g.kind
        ));
        out::plain(&format!(
            "        {dim}first {} · last {} · --group {}{dim:#}",
            when(g.first_seen_ms),
            when(g.last_seen_ms),
            g.fingerprint
        ));
    }
    Ok(())
}

pub fn retry(manifest: Option<&Path>, args: QueueRetry) -> Result<()> {
    let rt = runtime()?;
    let store = rt.block_on(open(manifest, &args.queue))?;
    let bulk = args.filter.any() || args.ids.iter().any(|id| id == "all");
    if bulk {
        if args.ids.iter().any(|id| id != "all") {
            return Err(UsageError(
                "give failed job IDs or filters (or `all`), not both".to_string(),
            )
            .into());
        }
        let query = args.filter.query();
        let matching = rt.block_on(store.count(&query))?;
        out::info(&format!("{matching} failed job(s) match."));
        let n = rt.block_on(store.retry_matching(&query))?;
        out::info(&format!("{n} failed job(s) pushed back onto the queue."));
        return Ok(());
    }
    let mut missing = Vec::new();
    for id in &args.ids {
        if rt.block_on(store.retry(id))? {
            out::info(&format!(
                "The failed job [{id}] has been pushed back onto the queue."
            ));
        } else {
            missing.push(id.as_str());
        }
    }
    if missing.is_empty() {
        Ok(())
    } else {
        Err(UsageError(format!(
            "no failed job with ID {}; `artisan queue:failed` lists them",
            missing.join(", ")
        ))
        .into())
    }
}

pub fn forget(manifest: Option<&Path>, args: QueueForget) -> Result<()> {
    let rt = runtime()?;
    let store = rt.block_on(open(manifest, &args.queue))?;
    let Some(id) = &args.id else {
        let query = args.filter.query();
        let matching = rt.block_on(store.count(&query))?;
        out::info(&format!("{matching} failed job(s) match."));
        if matching == 0 {
            return Ok(());
        }
        if !args.force && !out::confirm(&format!("Delete these {matching} failed job(s)?"))? {
            return Err(UsageError(format!(
                "nothing deleted: {matching} failed job(s) match (pass --force to skip the question)"
            ))
            .into());
        }
        let n = rt.block_on(store.forget_matching(&query))?;
        out::info(&format!("{n} failed job(s) deleted."));
        return Ok(());
    };
    if args.filter.any() {
        return Err(UsageError("give a failed job's ID or filters, not both".to_string()).into());
    }
    if rt.block_on(store.forget(id))? {
        out::info("Failed job deleted successfully.");
        Ok(())
    } else {
        Err(UsageError(format!(
            "no failed job with ID {id}; `artisan queue:failed` lists them"
        ))
        .into())
    }
}

pub fn flush(manifest: Option<&Path>, args: QueueUrl) -> Result<()> {
    let rt = runtime()?;
    let store = rt.block_on(open(manifest, &args))?;
    let n = rt.block_on(store.purge())?;
    out::info(&format!("All failed jobs deleted successfully ({n})."));
    Ok(())
}

/// `queue:prune-failed --hours N`: deletes the failed jobs older than N hours.
pub fn prune_failed(manifest: Option<&Path>, args: QueuePruneFailed) -> Result<()> {
    let rt = runtime()?;
    let store = rt.block_on(open(manifest, &args.queue))?;
    let age = std::time::Duration::from_secs(args.hours.saturating_mul(3600));
    let n = rt.block_on(store.prune(age))?;
    out::info(&format!(
        "{n} failed job(s) older than {} hour(s) deleted.",
        args.hours
    ));
    Ok(())
}

/// `queue:monitor` / `queue:size`: the jobs waiting on each queue, the
/// running ones, and the failed ones.
pub fn monitor(manifest: Option<&Path>, args: QueueMonitor) -> Result<()> {
    let rt = runtime()?;
    let (url, source) = queue_url(manifest, &args.queue)?;
    // The figures each connection keeps as jobs are written (the same
    // ones `queue:stats` shows): no job is counted here.
    let gauges = rt.block_on(async {
        let queue = open_queue(&url, &source).await?;
        anyhow::Ok(queue.monitor()?.gauges().await?)
    })?;
    let sizes: Vec<(String, usize)> = gauges
        .iter()
        .map(|g| (g.queue.clone(), (g.pending + g.delayed) as usize))
        .filter(|(_, n)| *n > 0)
        .collect();
    let waiting: usize = sizes.iter().map(|(_, n)| n).sum();
    let running: usize = gauges.iter().map(|g| g.running as usize).sum();
    let failed: usize = gauges.iter().map(|g| g.failed as usize).sum();
    let size = waiting + running;
    if args.json {
        let queues: Vec<_> = sizes
            .iter()
            .map(|(queue, n)| serde_json::json!({ "queue": queue, "waiting": n }))
            .collect();
        out::plain(&serde_json::to_string_pretty(&serde_json::json!({
            "queues": queues,
            "waiting": waiting,
            "running": running,
            "failed": failed,
        }))?);
        return Ok(());
    }
    let dim = out::dim();
    let row = |label: &str, n: usize| {
        let dots = 27usize.saturating_sub(label.chars().count()).max(3);
        out::plain(&format!("  {label} {dim}{}{dim:#} {n}", ".".repeat(dots)));
    };
    out::plain("");
    out::plain(&format!(
        "  {} {dim}(from {source}){dim:#}",
        redact_password(&url)
    ));
    for (queue, n) in &sizes {
        row(&format!("[{queue}] waiting"), *n);
    }
    row("jobs waiting or running", size);
    row("running", running);
    row("failed jobs", failed);
    out::plain("");
    Ok(())
}

/// `redis://user:secret@host` -> `redis://user:***@host`, for output.
pub(crate) fn redact_password(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme), Some(at)) if at > scheme => {
            let userinfo = &url[scheme + 3..at];
            let user = userinfo.split(':').next().unwrap_or_default();
            format!("{}{user}:***{}", &url[..scheme + 3], &url[at..])
        }
        _ => url.to_string(),
    }
}
