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
