//! Every variable [`EventsConfig`](super::EventsConfig) reads, with its
//! default and a one-line meaning: the one list the reader filters by and
//! `artisan init` writes `.env.example` from, so the two cannot drift.

use event_broadcast::{BroadcastConnection, Scheme};

use super::EventsConfig;

/// One `EVENTS_*` variable the configuration reads.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Variable {
    /// The variable, e.g. `EVENTS_QUEUE_CONNECTION`.
    pub name: &'static str,
    /// Its default as it would be written in `.env` (empty: unset).
    pub default: String,
    /// What it sets, in one line.
    pub help: &'static str,
    /// The section it belongs to: `queue`, `store` or `broadcasting`.
    pub section: &'static str,
}

/// The variables, in the order `.env.example` lists them; defaults are read
/// from [`EventsConfig::default`].
pub fn variables() -> Vec<Variable> {
    let d = EventsConfig::default();
    let b = &d.broadcast;
    let opt = |v: &Option<String>| v.clone().unwrap_or_default();
    let var = |section, name, default: String, help| Variable {
        name,
        default,
        help,
        section,
    };
    vec![
        var(
            "queue",
            "EVENTS_QUEUE_CONNECTION",
            d.queue_connection.clone(),
            "sync (listeners run inline), memory, sqlite, redis or postgres",
        ),
        var(
            "queue",
            "EVENTS_QUEUE_URL",
            opt(&d.queue_url),
            "where sqlite/redis/postgres live: sqlite://jobs.db, redis://127.0.0.1:6379, postgres://user@host/db",
        ),
        var(
            "queue",
            "EVENTS_DEFAULT_QUEUE",
            d.default_queue.clone(),
            "the queue a job goes to when its listener or event names none",
        ),
        var(
            "queue",
            "EVENTS_RETRY_ATTEMPTS",
            d.retry_attempts.to_string(),
            "tries when a listener declares none (0: no limit)",
        ),
        var(
            "queue",
            "EVENTS_RETRY_DELAY_SECONDS",
            d.retry_delay_seconds.to_string(),
            "seconds before a retry when a listener declares no backoff",
        ),
        var(
            "queue",
            "EVENTS_QUEUE_WAIT_ALERT_SECONDS",
            "0".to_string(),
            "dispatch QueueLongWait when a queue's oldest ready job waits longer (0: off; 60,emails=300 per queue)",
        ),
        var(
            "queue",
            "EVENTS_QUEUE_FAILURE_ALERT_PER_MINUTE",
            "0".to_string(),
            "dispatch QueueFailureSpike when a queue fails more jobs a minute over 5 minutes (0: off)",
        ),
        var(
            "queue",
            "EVENTS_QUEUE_STALLED_ALERT",
            d.queue_alerts.stalled_workers.to_string(),
            "dispatch WorkerStalled when a worker misses 3 heartbeats",
        ),
        var(
            "queue",
            "EVENTS_APP_KEY",
            String::new(),
            "base64 of 32 bytes (openssl rand -base64 32): seals the jobs of `encrypted` listeners",
        ),
        var(
            "queue",
            "EVENTS_APP_PREVIOUS_KEYS",
            String::new(),
            "comma-separated base64 keys used before a rotation: workers still open jobs sealed with them",
        ),
        var(
            "store",
            "EVENTS_STORE_ENABLED",
            d.store_enabled.to_string(),
            "record every dispatch in the event store (event:history, event:replay)",
        ),
        var(
            "store",
            "EVENTS_STORE_URL",
            d.store_url.clone(),
            "the event store: sqlite://events.db or postgres://user@host/db",
        ),
        var(
            "store",
            "EVENTS_STORE_TABLE",
            d.store_table.clone(),
            "the store's table (checkpoints go to <table>_checkpoints)",
        ),
        var(
            "broadcasting",
            "EVENTS_BROADCAST_CONNECTION",
            match b.connection {
                BroadcastConnection::Log => "log",
                BroadcastConnection::Memory => "memory",
                BroadcastConnection::Pusher => "pusher",
                BroadcastConnection::Redis => "redis",
            }
            .to_string(),
            "log (writes each broadcast to the log at info), memory, pusher or redis",
        ),
        var(
            "broadcasting",
            "EVENTS_BROADCAST_HOST",
            b.host.clone(),
            "where the Pusher-protocol server is (broadcast:serve listens there)",
        ),
        var(
            "broadcasting",
            "EVENTS_BROADCAST_PORT",
            b.port.to_string(),
            "its port",
        ),
        var(
            "broadcasting",
            "EVENTS_BROADCAST_SCHEME",
            match b.scheme {
                Scheme::Http => "http",
                Scheme::Https => "https",
            }
            .to_string(),
            "http or https (the pusher broadcaster verifies the server against the system roots and EVENTS_BROADCAST_CA_FILE)",
        ),
        var(
            "broadcasting",
            "EVENTS_BROADCAST_APP_ID",
            opt(&b.app_id),
            "the app's id: needed by pusher, redis and broadcast:serve",
        ),
        var(
            "broadcasting",
            "EVENTS_BROADCAST_APP_KEY",
            opt(&b.app_key),
            "the app's key (what pusher-js connects with): needed by pusher and broadcast:serve",
        ),
        var(
            "broadcasting",
            "EVENTS_BROADCAST_APP_SECRET",
            opt(&b.app_secret),
            "the app's secret (signs requests and channel auth): needed by pusher and broadcast:serve",
        ),
        var(
            "broadcasting",
            "EVENTS_BROADCAST_REDIS_URL",
            opt(&b.redis_url),
            "the servers' cluster bus; where the redis broadcaster publishes",
        ),
        var(
            "broadcasting",
            "EVENTS_BROADCAST_ACTIVITY_TIMEOUT",
            b.activity_timeout.to_string(),
            "seconds before the server pings a silent client",
        ),
        var(
            "broadcasting",
            "EVENTS_BROADCAST_CLIENT_EVENTS",
            b.client_events.to_string(),
            "allow client-* events (whispers) on private and presence channels",
        ),
        var(
            "broadcasting",
            "EVENTS_BROADCAST_SUBSCRIPTION_COUNT",
            b.subscription_count.to_string(),
            "send pusher_internal:subscription_count (the cluster's count) when it changes",
        ),
        var(
            "broadcasting",
            "EVENTS_BROADCAST_WEBHOOK_URL",
            opt(&b.webhook_url),
            "where the server posts its webhooks (http:// or https://)",
        ),
        var(
            "broadcasting",
            "EVENTS_BROADCAST_MAX_MESSAGE_BYTES",
            b.max_message_bytes.to_string(),
            "the largest WebSocket message the server reads (at least 1024)",
        ),
        var(
            "broadcasting",
            "EVENTS_BROADCAST_CA_FILE",
            b.ca_file
                .as_ref()
                .map(|p| p.display().to_string())
                .unwrap_or_default(),
            "a PEM file of CA certificates the pusher broadcaster and https webhooks trust, besides the system's (SSL_CERT_FILE)",
        ),
        var(
            "broadcasting",
            "EVENTS_BROADCAST_SERVER_TLS_CERT",
            b.server_tls_cert
                .as_ref()
                .map(|p| p.display().to_string())
                .unwrap_or_default(),
            "broadcast:serve's certificate chain (PEM): serves wss:// and https:// (needs _KEY; SIGHUP reloads)",
        ),
        var(
            "broadcasting",
            "EVENTS_BROADCAST_SERVER_TLS_KEY",
            b.server_tls_key
                .as_ref()
                .map(|p| p.display().to_string())
                .unwrap_or_default(),
            "the private key (PEM) of EVENTS_BROADCAST_SERVER_TLS_CERT",
        ),
        var(
            "broadcasting",
            "EVENTS_BROADCAST_SERVER_APPS_FILE",
            b.server_apps_file
                .as_ref()
                .map(|p| p.display().to_string())
                .unwrap_or_default(),
            "a JSON or TOML file of the apps broadcast:serve serves (keys, secrets, limits)",
        ),
        var(
            "broadcasting",
            "EVENTS_BROADCAST_ENCRYPTION_MASTER_KEY",
            String::new(),
            "private-encrypted- channels: 32 bytes, base64 (openssl rand -base64 32), for the authorizer and the broadcasters",
        ),
    ]
}

/// `.env.example`: every variable with its default and meaning, by section.
/// Copied to `.env` as it is, it changes nothing (an empty value is unset).
pub fn env_example() -> String {
    let mut out = String::from(
        "# event-core settings, with their defaults. Copy to .env (real environment\n\
         # variables win) and change what you need. The app reads the .env of its\n\
         # package folder, wherever it is started from.\n",
    );
    let mut section = "";
    for v in variables() {
        if v.section != section {
            section = v.section;
            out.push_str(&format!("\n# --- {section} ---\n"));
        }
        out.push_str(&format!("# {}\n{}={}\n", v.help, v.name, v.default));
    }
    out
}
