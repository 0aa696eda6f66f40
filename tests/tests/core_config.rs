//! `EventsConfig`: the seed's variables, defaults, `.env`, and errors that
//! name the variable and the value.

use event_core::config::{ConfigError, EventsConfig};
use event_core::queue::JobSettings;

#[test]
fn defaults_are_the_seeds_values() {
    let config = EventsConfig::from_vars(Vec::<(String, String)>::new()).unwrap();
    assert_eq!(config.default_queue, "events");
    assert!(config.store_enabled);
    assert_eq!(config.store_table, "events");
    assert_eq!(config.retry_attempts, 3);
    assert_eq!(config.retry_delay_seconds, 60);
    assert_eq!(config.queue_connection, "sync");
    assert_eq!(config.queue_url, None);
}

#[test]
fn every_variable_is_read() {
    let config = EventsConfig::from_vars([
        ("EVENTS_DEFAULT_QUEUE", "mail"),
        ("EVENTS_STORE_ENABLED", "false"),
        ("EVENTS_STORE_TABLE", "event_log"),
        ("EVENTS_RETRY_ATTEMPTS", "7"),
        ("EVENTS_RETRY_DELAY_SECONDS", "15"),
        ("EVENTS_QUEUE_CONNECTION", "sqlite"),
        ("EVENTS_QUEUE_URL", "sqlite://jobs.db"),
        ("UNRELATED", "ignored"),
    ])
    .unwrap();
    assert_eq!(config.default_queue, "mail");
    assert!(!config.store_enabled);
    assert_eq!(config.store_table, "event_log");
    assert_eq!(config.retry_attempts, 7);
    assert_eq!(config.retry_delay_seconds, 15);
    assert_eq!(config.queue_connection, "sqlite");
    assert_eq!(config.queue_url.as_deref(), Some("sqlite://jobs.db"));
}

#[test]
fn a_bad_value_names_the_variable_and_the_value() {
    let cases = [
        ("EVENTS_RETRY_ATTEMPTS", "three"),
        ("EVENTS_RETRY_ATTEMPTS", "-1"),
        ("EVENTS_RETRY_DELAY_SECONDS", "-5"),
        ("EVENTS_STORE_ENABLED", "maybe"),
        ("EVENTS_QUEUE_CONNECTION", "kafka"),
        ("EVENTS_DEFAULT_QUEUE", "  "),
    ];
    for (var, value) in cases {
        let error = EventsConfig::from_vars([(var, value)]).unwrap_err();
        let message = error.to_string();
        assert!(message.contains(var), "{message}");
        assert!(message.contains(value.trim()), "{message}");
        assert!(matches!(error, ConfigError::Invalid { .. }));
    }
    // 0 is Laravel's "no limit", not a mistake.
    let unlimited = EventsConfig::from_vars([("EVENTS_RETRY_ATTEMPTS", "0")]).unwrap();
    assert_eq!(
        JobSettings::from_config(&unlimited)
            .limits(&JobSettings::default())
            .tries,
        event_core::queue::UNLIMITED_TRIES
    );
    assert_eq!(
        EventsConfig::from_vars([("EVENTS_RETRY_ATTEMPTS", "three")])
            .unwrap_err()
            .to_string(),
        "invalid value `three` for EVENTS_RETRY_ATTEMPTS: expected a whole number (invalid digit found in string)"
    );
}

/// The only test in this binary that changes the working directory, so it
/// cannot race another test's relative paths.
#[test]
fn from_env_reads_a_dot_env_file_and_reports_its_bad_values() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join(".env"),
        "EVENTS_DEFAULT_QUEUE=from-dotenv\nEVENTS_RETRY_DELAY_SECONDS=42\n",
    )
    .unwrap();
    std::env::set_current_dir(dir.path()).unwrap();
    let config = EventsConfig::from_env().unwrap();
    if std::env::var_os("EVENTS_DEFAULT_QUEUE").is_none() {
        assert_eq!(config.default_queue, "from-dotenv");
    }
    if std::env::var_os("EVENTS_RETRY_DELAY_SECONDS").is_none() {
        assert_eq!(config.retry_delay_seconds, 42);
    }

    std::fs::write(dir.path().join(".env"), "EVENTS_RETRY_ATTEMPTS=three\n").unwrap();
    if std::env::var_os("EVENTS_RETRY_ATTEMPTS").is_none() {
        let error = EventsConfig::from_env().unwrap_err().to_string();
        assert!(
            error.contains("EVENTS_RETRY_ATTEMPTS") && error.contains("three"),
            "{error}"
        );
    }
}

/// The variable list `.env.example` is written from is the reader's: every
/// `EVENTS_*` name a section's reader spells is on it, and nothing else.
/// (A variable added to a reader but not to the list would be filtered out
/// by `EventsConfig`, so it would never take effect: this names it.)
#[test]
fn the_variable_list_is_exactly_what_the_readers_read() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let mut read = std::collections::BTreeSet::new();
    for file in [
        "event-jobs/src/config.rs",
        // `EVENTS_APP_KEY` and `EVENTS_APP_PREVIOUS_KEYS` (the queue's section).
        "event-jobs/src/sealed.rs",
        "event-history/src/config.rs",
        "event-broadcast/src/config.rs",
    ] {
        let text = std::fs::read_to_string(root.join(file)).unwrap();
        // The reader, not its tests.
        let text = text.split("#[cfg(test)]").next().unwrap_or_default();
        for piece in text.split('"').skip(1).step_by(2) {
            if piece.starts_with("EVENTS_")
                && piece.chars().all(|c| c.is_ascii_uppercase() || c == '_')
            {
                read.insert(piece.to_string());
            }
        }
    }
    let listed: std::collections::BTreeSet<String> = event_core::config::variables()
        .into_iter()
        .map(|v| v.name.to_string())
        .collect();
    assert_eq!(
        listed, read,
        "event-core/src/config/variables.rs and the readers disagree"
    );
    for v in event_core::config::variables() {
        assert!(!v.help.is_empty(), "{} has no comment", v.name);
        // Each default, written as .env.example writes it, reads back as the default.
        let config = EventsConfig::from_vars([(v.name, v.default.clone())]).unwrap();
        assert_eq!(config, EventsConfig::default(), "{}={}", v.name, v.default);
    }
}

/// The generated `event_registry::config()`: the package's `.env`,
/// wherever the app runs from, and its relative sqlite paths in the
/// package folder; it says which file it read.
#[test]
fn for_package_reads_the_package_s_dot_env_and_anchors_sqlite_paths_there() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join(".env"),
        "EVENTS_QUEUE_CONNECTION=sqlite\nEVENTS_QUEUE_URL=sqlite://jobs.db\n",
    )
    .unwrap();
    let config = EventsConfig::for_package(dir.path()).unwrap();
    assert_eq!(
        config.env_file.as_deref(),
        Some(dir.path().join(".env").as_path())
    );
    if std::env::var_os("EVENTS_QUEUE_URL").is_none() {
        assert_eq!(
            config.queue_url,
            Some(format!("sqlite://{}", dir.path().join("jobs.db").display()))
        );
    }
    if std::env::var_os("EVENTS_STORE_URL").is_none() {
        assert_eq!(
            config.store_url,
            format!("sqlite://{}", dir.path().join("events.db").display())
        );
    }
    // A package folder without .env: the environment only, no other file.
    let bare = tempfile::tempdir().unwrap();
    assert_eq!(
        EventsConfig::for_package(bare.path()).unwrap().env_file,
        None
    );
}

/// `EVENTS_APP_KEY` and `EVENTS_APP_PREVIOUS_KEYS` reach the queue
/// `connect` opens (it seals and opens `encrypted` jobs with them); a bad
/// key names its variable without printing it.
#[tokio::test]
async fn the_app_keys_reach_the_connected_queue() {
    let old = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";
    let new = "ICEiIyQlJicoKSorLC0uLzAxMjM0NTY3ODk6Ozw9Pj8=";
    let config = EventsConfig::from_vars([
        ("EVENTS_QUEUE_CONNECTION", "memory"),
        ("EVENTS_APP_KEY", new),
        ("EVENTS_APP_PREVIOUS_KEYS", old),
    ])
    .unwrap();
    let expected = event_core::queue::AppKeys::new(new, [old]).unwrap();
    assert_eq!(config.queue().app_keys, expected);
    let queue = event_core::queue::connect(&config).await.unwrap();
    assert_eq!(queue.app_keys(), &expected);
    assert!(!format!("{config:?}").contains(new), "Debug hides the key");
    let error = EventsConfig::from_vars([("EVENTS_APP_KEY", "c2hvcnQ=")])
        .unwrap_err()
        .to_string();
    assert!(
        error.contains("EVENTS_APP_KEY") && !error.contains("c2hvcnQ"),
        "{error}"
    );
}
