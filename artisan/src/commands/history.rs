//! `event:history`: the event store's history as a table, a chain, or JSON.
//!
//! The store comes from `--url`, else `EVENTS_STORE_URL` in the environment,
//! else in the package's `.env`, else `sqlite://events.db` (the default the
//! app uses); the table from `--table` / `EVENTS_STORE_TABLE` the same way.

use std::collections::BTreeMap;
use std::path::Path;

use anyhow::{Context, Result};
use clap::Args;
use event_core::chrono::{DateTime, Duration, Utc};
use event_core::store::{EventRecord, EventStore};

use crate::UsageError;
use crate::out;
use crate::project::Project;

/// Which event store: `--url` / `--table`, else EVENTS_STORE_URL / EVENTS_STORE_TABLE.
#[derive(Debug, Clone, Args)]
pub struct StoreUrl {
    /// The store's URL: sqlite://events.db or postgres://user@host:5432/db.
    #[arg(long, value_name = "URL")]
    pub url: Option<String>,
    /// The events table (default `events`).
    #[arg(long, value_name = "TABLE")]
    pub table: Option<String>,
}

#[derive(Debug, Args)]
pub struct EventHistory {
    #[command(flatten)]
    pub store: StoreUrl,
    /// Only events of this name.
    #[arg(long, value_name = "NAME")]
    pub name: Option<String>,
    /// Only events with this tag.
    #[arg(long, value_name = "TAG")]
    pub tag: Option<String>,
    /// One chain: the events set off by the top-level event with this id, as a tree.
    #[arg(long, value_name = "ID")]
    pub correlation: Option<String>,
    /// Only events of this stream.
    #[arg(long, value_name = "STREAM")]
    pub stream: Option<String>,
    /// Only events dispatched since: 90s, 30m, 1h, 2d, or a time (2026-01-31T12:00:00Z).
    #[arg(long, value_name = "WHEN")]
    pub since: Option<String>,
    /// At most this many events (default 50).
    #[arg(long, value_name = "N", default_value_t = 50)]
    pub limit: usize,
    /// Only events after this position (the next page).
    #[arg(long, value_name = "POSITION")]
    pub after: Option<i64>,
    /// Print JSON: one object per event, every column.
    #[arg(long)]
    pub json: bool,
}

/// The store's URL, table, and where the URL came from (for messages).
pub(crate) fn store_location(
    manifest: Option<&Path>,
    given: &StoreUrl,
) -> Result<(String, String, String)> {
    let mut dotenv: BTreeMap<String, String> = BTreeMap::new();
    let mut dotenv_path = None;
    let project = Project::open(manifest).ok();
    if let Some(project) = &project {
        let path = project.dir.join(".env");
        if path.is_file() {
            let iter = dotenvy::from_path_iter(&path)
                .with_context(|| format!("cannot read {}", path.display()))?;
            for item in iter {
                let (key, value) =
                    item.with_context(|| format!("{} does not parse", path.display()))?;
                dotenv.insert(key, value);
            }
            dotenv_path = Some(path);
        }
    }
    let lookup = |flag: &Option<String>, flag_name: &str, var: &str| -> Option<(String, String)> {
        if let Some(v) = flag {
            return Some((v.clone(), flag_name.to_string()));
        }
        if let Ok(v) = std::env::var(var)
            && !v.trim().is_empty()
        {
            return Some((v, var.to_string()));
        }
        let path = dotenv_path.as_ref()?;
        dotenv
            .get(var)
            .filter(|v| !v.trim().is_empty())
            .map(|v| (v.clone(), format!("{var} in {}", path.display())))
    };
    let (mut url, source) = lookup(&given.url, "--url", "EVENTS_STORE_URL")
        .unwrap_or_else(|| ("sqlite://events.db".to_string(), "the default".to_string()));
    // As the app reads it: a relative sqlite path is the package folder's.
    if given.url.is_none()
        && let Some(project) = &project
    {
        url = event_core::config::anchored(url.trim(), &project.dir);
    }
    let (table, _) = lookup(&given.table, "--table", "EVENTS_STORE_TABLE")
        .unwrap_or_else(|| ("events".to_string(), String::new()));
    Ok((url.trim().to_string(), table.trim().to_string(), source))
}

/// Opens the store, refusing to create a SQLite file that is not there (a
/// typo in the path should not leave an empty database behind).
pub(crate) async fn open_store(manifest: Option<&Path>, given: &StoreUrl) -> Result<EventStore> {
    let (url, table, source) = store_location(manifest, given)?;
    if let Some(path) = url.strip_prefix("sqlite://") {
        let path = path.split('?').next().unwrap_or(path);
        if !path.is_empty() && !Path::new(path).exists() {
            return Err(UsageError(format!(
                "no event store at `{path}` (from {source}); pass --url, or set EVENTS_STORE_URL"
            ))
            .into());
        }
    }
    EventStore::open(&url, &table)
        .await
        .with_context(|| format!("cannot open the event store from {source}"))
}

pub(crate) fn runtime() -> Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")
}

/// `90s`, `30m`, `1h`, `2d`, `1w` ago, or an RFC 3339 time.
pub(crate) fn parse_since(text: &str, now: DateTime<Utc>) -> Result<DateTime<Utc>, UsageError> {
    let text = text.trim();
    if let Ok(t) = DateTime::parse_from_rfc3339(text) {
        return Ok(t.with_timezone(&Utc));
    }
    let bad = || {
        UsageError(format!(
            "invalid --since `{text}`: expected an age like 90s, 30m, 1h, 2d, 1w, or a time like \
             2026-01-31T12:00:00Z"
        ))
    };
    let split = text.find(|c: char| !c.is_ascii_digit()).ok_or_else(bad)?;
    let (amount, unit) = text.split_at(split);
    let amount: i64 = amount.parse().map_err(|_| bad())?;
    let age = match unit {
        "s" => Duration::try_seconds(amount),
        "m" => Duration::try_minutes(amount),
        "h" => Duration::try_hours(amount),
        "d" => Duration::try_days(amount),
        "w" => Duration::try_weeks(amount),
        _ => None,
    }
    .ok_or_else(bad)?;
    Ok(now - age)
}

pub fn history(manifest: Option<&Path>, args: EventHistory) -> Result<()> {
    let since = args
        .since
        .as_deref()
        .map(|s| parse_since(s, Utc::now()))
        .transpose()?;
    let records = runtime()?.block_on(async {
        let store = open_store(manifest, &args.store).await?;
        let mut query = store.query().limit(args.limit.max(1));
        if let Some(name) = &args.name {
            query = query.name(name);
        }
        if let Some(tag) = &args.tag {
            query = query.tag(tag);
        }
        if let Some(correlation) = &args.correlation {
            query = query.correlation(correlation);
        }
        if let Some(stream) = &args.stream {
            query = query.stream(stream);
        }
        if let Some(since) = since {
            query = query.since(since);
        }
        if let Some(after) = args.after {
            query = query.after(after);
        }
        anyhow::Ok(query.fetch().await?)
    })?;
    if args.json {
        out::plain(&serde_json::to_string_pretty(&records)?);
        return Ok(());
    }
    if records.is_empty() {
        out::info("No events found.");
        return Ok(());
    }
    match &args.correlation {
        Some(id) => chain(id, &records),
        None => table(&records),
    }
    if records.len() == args.limit.max(1)
        && let Some(last) = records.last()
    {
        out::plain(&format!(
            "\n  {} events shown; the next page: --after {}",
            records.len(),
            last.position
        ));
    }
    Ok(())
}

fn when(t: &DateTime<Utc>) -> String {
    t.format("%Y-%m-%d %H:%M:%S%.3f").to_string()
}

fn table(records: &[EventRecord]) {
    let dim = out::dim();
    let bold = out::bold();
    let name_width = records
        .iter()
        .map(|r| r.name.len())
        .max()
        .unwrap_or(4)
        .max(4);
    out::plain(&format!(
        "  {bold}{:>8}  {:<23}  {:<name_width$}  {:<26}  {:<26}  TAGS{bold:#}",
        "POSITION", "DISPATCHED", "NAME", "ID", "CAUSED BY"
    ));
    for r in records {
        let caused = r.causation_id.as_deref().unwrap_or("-");
        let stream = match (&r.stream, r.stream_version) {
            (Some(s), Some(v)) => format!("  {dim}{s}@{v}{dim:#}"),
            _ => String::new(),
        };
        out::plain(&format!(
            "  {:>8}  {dim}{}{dim:#}  {:<name_width$}  {}  {:<26}  {}{stream}",
            r.position,
            when(&r.dispatched_at),
            r.name,
            r.id,
            caused,
            r.tags.join(",")
        ));
    }
}

/// One chain as a tree: each event under the one whose listener dispatched it.
fn chain(correlation: &str, records: &[EventRecord]) {
    let dim = out::dim();
    out::plain(&format!("  Chain {correlation} ({} events)", records.len()));
    let ids: std::collections::HashSet<&str> = records.iter().map(|r| r.id.as_str()).collect();
    let mut children: BTreeMap<Option<&str>, Vec<&EventRecord>> = BTreeMap::new();
    for r in records {
        // A parent outside the page (or the chain) shows the event at the top.
        let parent = r.causation_id.as_deref().filter(|p| ids.contains(p));
        children.entry(parent).or_default().push(r);
    }
    fn walk(
        parent: Option<&str>,
        depth: usize,
        children: &BTreeMap<Option<&str>, Vec<&EventRecord>>,
        dim: anstyle::Style,
    ) {
        for r in children.get(&parent).into_iter().flatten() {
            let branch = if depth == 0 {
                String::new()
            } else {
                format!("{}└─ ", "   ".repeat(depth - 1))
            };
            out::plain(&format!(
                "    {branch}{} {dim}#{} {} {}{dim:#}",
                r.name,
                r.position,
                r.id,
                when(&r.dispatched_at)
            ));
            walk(Some(r.id.as_str()), depth + 1, children, dim);
        }
    }
    walk(None, 0, &children, dim);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn since_takes_ages_and_times() {
        let now = DateTime::parse_from_rfc3339("2026-01-31T12:00:00Z")
            .unwrap()
            .with_timezone(&Utc);
        assert_eq!(parse_since("1h", now).unwrap(), now - Duration::hours(1));
        assert_eq!(
            parse_since("90s", now).unwrap(),
            now - Duration::seconds(90)
        );
        assert_eq!(parse_since("2d", now).unwrap(), now - Duration::days(2));
        assert_eq!(
            parse_since("2026-01-01T00:00:00Z", now)
                .unwrap()
                .to_rfc3339(),
            "2026-01-01T00:00:00+00:00"
        );
        for bad in ["", "h", "1y", "yesterday", "-1h"] {
            assert!(
                parse_since(bad, now).unwrap_err().0.contains("--since"),
                "{bad}"
            );
        }
    }
}
