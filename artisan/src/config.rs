//! The app's `EVENTS_*` settings as the app itself reads them: the package's
//! `.env`, with real environment variables winning, through event-core's own
//! `EventsConfig` so a value the app would refuse is refused here too.

use std::collections::HashMap;

use anyhow::{Context, Result};
use event_core::config::EventsConfig;

use crate::project::Project;

/// The app's configuration, from the package's `.env` (when artisan runs in
/// a package) and the environment.
pub fn app_config(project: Option<&Project>) -> Result<EventsConfig> {
    let mut vars: HashMap<String, String> = HashMap::new();
    if let Some(project) = project {
        let dotenv = project.dir.join(".env");
        if dotenv.is_file() {
            let iter = dotenvy::from_path_iter(&dotenv)
                .with_context(|| format!("cannot read {}", dotenv.display()))?;
            for item in iter {
                let (key, value) =
                    item.with_context(|| format!("{} does not parse", dotenv.display()))?;
                vars.insert(key, value);
            }
        }
    }
    vars.extend(std::env::vars().filter(|(k, _)| k.starts_with("EVENTS_")));
    EventsConfig::from_vars(vars).context("the app's EVENTS_* settings are not valid")
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
