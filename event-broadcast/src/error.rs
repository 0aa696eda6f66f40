//! What goes wrong making a broadcaster from the configuration.

/// A broadcaster that could not be made from the configuration.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConnectError {
    /// The broadcaster needs a variable that is not set.
    #[error("EVENTS_BROADCAST_CONNECTION is `{connection}` but {missing} is not set")]
    Missing {
        /// The broadcaster, e.g. `pusher`.
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
    /// `https` was asked for and cannot be spoken.
    #[error("EVENTS_BROADCAST_SCHEME is `https`, which this build cannot speak: {reason}")]
    Scheme {
        /// Why.
        reason: &'static str,
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
