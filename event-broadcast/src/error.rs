//! What goes wrong making a broadcaster from the configuration.

/// A broadcaster that could not be made from the configuration.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConnectError {
    /// The broadcaster (or the server) needs a variable that is not set.
    #[error(
        "{} needs {missing}, which is not set{}",
        who(connection),
        what_to_set(missing)
    )]
    Missing {
        /// The broadcaster, e.g. `pusher`, or `server` for the broadcasting server.
        connection: &'static str,
        /// The variable to set.
        missing: &'static str,
    },
    /// The broadcaster was compiled out.
    #[error(
        "EVENTS_BROADCAST_CONNECTION is `{connection}`, which needs event-core's `{feature}` cargo feature"
    )]
    FeatureOff {
        /// The broadcaster.
        connection: &'static str,
        /// The cargo feature that brings it.
        feature: &'static str,
    },
    /// `EVENTS_BROADCAST_SCHEME=https`, and TLS cannot be set up (an
    /// unreadable or bad `EVENTS_BROADCAST_CA_FILE`, no root certificates).
    #[cfg(feature = "pusher")]
    #[error("EVENTS_BROADCAST_SCHEME is `https`, and TLS cannot be set up: {source}")]
    Tls {
        /// What the TLS settings said.
        #[source]
        source: event_tls::TlsError,
    },
    /// Redis did not answer.
    #[error("could not connect to Redis at EVENTS_BROADCAST_REDIS_URL `{url}`")]
    Redis {
        /// The URL, password redacted.
        url: String,
        /// The driver's error.
        #[source]
        source: anyhow::Error,
    },
}

/// Who needs the variable, in words the user set (or ran).
fn who(connection: &str) -> String {
    match connection {
        "server" => "the broadcasting server (`artisan broadcast:serve`)".to_string(),
        "authorizer" => "the channel authorizer (`ChannelAuthorizer::from_config`)".to_string(),
        other => format!("EVENTS_BROADCAST_CONNECTION=`{other}`"),
    }
}

/// The app's credentials come as three: name them all at once.
fn what_to_set(missing: &str) -> &'static str {
    if missing.starts_with("EVENTS_BROADCAST_APP_") {
        ": set EVENTS_BROADCAST_APP_ID, EVENTS_BROADCAST_APP_KEY and EVENTS_BROADCAST_APP_SECRET \
         (in the environment or .env; any values, the same for the server and the app)"
    } else {
        ""
    }
}
