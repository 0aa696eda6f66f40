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
use crate::cli::{QueueFailed, QueueForget, QueueMonitor, QueueRetry, QueueUrl};
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
async fn open_queue(url: &str, source: &str) -> Result<Queue> {
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
    match &job.payload.listener {
        Some(listener) => format!("{} ({})", short(listener), job.payload.event),
        None => format!("event {}", job.payload.event),
    }
}

/// `shop::listeners::SendInvoiceListener` -> `SendInvoiceListener`.
fn short(path: &str) -> &str {
    path.rsplit("::").next().unwrap_or(path)
}

pub fn failed(manifest: Option<&Path>, args: QueueFailed) -> Result<()> {
    let jobs = runtime()?.block_on(async {
        let store = open(manifest, &args.queue).await?;
        anyhow::Ok(store.list().await?)
    })?;
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
                    // The event's data; for a record that was not a job
                    // (another program's row or stream entry), its text.
                    "payload": j.payload.payload,
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
    for job in &jobs {
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
    }
    out::plain("");
    out::info(&format!(
        "{} failed job(s). Retry with `artisan queue:retry <id>` or `artisan queue:retry all`.",
        jobs.len()
    ));
    Ok(())
}

pub fn retry(manifest: Option<&Path>, args: QueueRetry) -> Result<()> {
    let rt = runtime()?;
    let store = rt.block_on(open(manifest, &args.queue))?;
    if args.ids.iter().any(|id| id == "all") {
        let n = rt.block_on(store.retry_all())?;
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
    if rt.block_on(store.forget(&args.id))? {
        out::info("Failed job deleted successfully.");
        Ok(())
    } else {
        Err(UsageError(format!(
            "no failed job with ID {}; `artisan queue:failed` lists them",
            args.id
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

/// `queue:monitor` / `queue:size`: the jobs waiting on each queue, the
/// running ones, and the failed ones.
pub fn monitor(manifest: Option<&Path>, args: QueueMonitor) -> Result<()> {
    let rt = runtime()?;
    let (url, source) = queue_url(manifest, &args.queue)?;
    let (size, sizes, failed) = rt.block_on(async {
        let queue = open_queue(&url, &source).await?;
        let sizes = queue.sizes().await?;
        let size = queue.size().await?;
        let failed = queue.failed()?.list().await?.len();
        anyhow::Ok((size, sizes, failed))
    })?;
    let waiting: usize = sizes.iter().map(|(_, n)| n).sum();
    // Two reads: a job taken between them is counted as waiting, not twice.
    let running = size.saturating_sub(waiting);
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
fn redact_password(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme), Some(at)) if at > scheme => {
            let userinfo = &url[scheme + 3..at];
            let user = userinfo.split(':').next().unwrap_or_default();
            format!("{}{user}:***{}", &url[..scheme + 3], &url[at..])
        }
        _ => url.to_string(),
    }
}
