//! The app's `EVENTS_*` settings as the app itself reads them: the package's
//! `.env`, with real environment variables winning, through event-core's own
//! `EventsConfig` so a value the app would refuse is refused here too.

use anyhow::{Context, Result};
use event_core::config::EventsConfig;

use crate::project::Project;

/// The app's configuration as the app reads it
/// (`EventsConfig::for_package`): the package's `.env` (when artisan runs in
/// a package) and the environment; else the `.env` found from the current
/// folder.
pub fn app_config(project: Option<&Project>) -> Result<EventsConfig> {
    match project {
        Some(project) => EventsConfig::for_package(&project.dir),
        None => EventsConfig::from_env(),
    }
    .context("the app's EVENTS_* settings are not valid")
}

/// Where `EVENTS_QUEUE_URL` came from, for messages.
pub fn queue_url_source(project: Option<&Project>) -> String {
    if std::env::var_os("EVENTS_QUEUE_URL").is_some() {
        return "EVENTS_QUEUE_URL".to_string();
    }
    match project {
        Some(p) => format!("EVENTS_QUEUE_URL in {}", p.rel(&p.dir.join(".env"))),
        None => "EVENTS_QUEUE_URL".to_string(),
    }
}
