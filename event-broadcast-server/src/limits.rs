//! One app's limits, and how each is refused with the Pusher protocol's
//! codes (what pusher-js does with each, in brackets):
//!
//! - `max_connections`: the next connection is closed with 4004, "over
//!   connection quota" (4000-4099: pusher-js does not reconnect).
//! - `max_client_events_per_second` (per socket): a `client-*` event over
//!   it is dropped and answered with `pusher:error` 4301, "client event
//!   rejected due to rate limit"; the socket stays open (pusher-js emits
//!   `error` on its connection).
//! - `max_channel_name_length`: a longer subscription is answered with
//!   `pusher:subscription_error` `{"type":"LimitReached","status":4009}`
//!   (pusher-js emits `pusher:subscription_error` on the channel).
//! - The payload limit is `ServerConfig::max_event_bytes`: a client event's
//!   data over it gets `pusher:error` 4301, a published one HTTP 413.

use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

/// Limits of one app; `None` is no limit beyond the server's.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Limits {
    /// Connections of this app at once.
    pub max_connections: Option<usize>,
    /// `client-*` events one socket may send per second.
    pub max_client_events_per_second: Option<u32>,
    /// Longest channel name (the protocol's own limit is 200).
    pub max_channel_name_length: Option<usize>,
}

/// One socket's client events in the current second.
#[derive(Debug)]
pub(crate) struct ClientEventBudget {
    per_second: Option<u32>,
    window: Instant,
    used: u32,
}

impl ClientEventBudget {
    pub(crate) fn new(limits: &Limits) -> Self {
        Self {
            per_second: limits.max_client_events_per_second,
            window: Instant::now(),
            used: 0,
        }
    }

    /// Counts one event; false when it is over this second's budget.
    pub(crate) fn take(&mut self) -> bool {
        let Some(limit) = self.per_second else {
            return true;
        };
        if self.window.elapsed() >= Duration::from_secs(1) {
            self.window = Instant::now();
            self.used = 0;
        }
        self.used += 1;
        self.used <= limit
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_budget_refuses_past_its_limit_within_a_second() {
        let mut b = ClientEventBudget::new(&Limits {
            max_client_events_per_second: Some(2),
            ..Limits::default()
        });
        assert!(b.take() && b.take());
        assert!(!b.take());
        let mut free = ClientEventBudget::new(&Limits::default());
        assert!((0..1000).all(|_| free.take()));
    }
}
