//! [`BroadcastFake`]: records broadcasts instead of sending them.

use std::sync::Arc;

use super::recorder::BroadcastRecorder;
use super::scope::{Fakes, Scope};
use super::summarize;
use event_kernel::Dispatcher;
use event_kernel::broadcasting::BroadcastMessage;

// ----- BroadcastFake -------------------------------------------------------------

/// Records broadcasts instead of sending them, for one test. Events are still
/// delivered to their listeners.
pub struct BroadcastFake {
    recorder: Arc<BroadcastRecorder>,
    _scope: Scope,
}

impl std::fmt::Debug for BroadcastFake {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BroadcastFake").finish_non_exhaustive()
    }
}

impl BroadcastFake {
    /// Fakes broadcasting for every dispatch on this thread until dropped.
    pub fn new() -> Self {
        Self::install(None)
    }

    /// Fakes broadcasting of `dispatcher`, from any thread or task.
    pub fn for_dispatcher(dispatcher: &Dispatcher) -> Self {
        Self::install(Some(dispatcher))
    }

    fn install(dispatcher: Option<&Dispatcher>) -> Self {
        let recorder = Arc::new(BroadcastRecorder::default());
        let scope = Scope::install(
            dispatcher,
            Fakes {
                broadcasts: Some(recorder.clone()),
                ..Fakes::default()
            },
        );
        Self {
            recorder,
            _scope: scope,
        }
    }

    /// Every recorded broadcast, oldest first.
    pub fn messages(&self) -> Vec<BroadcastMessage> {
        self.recorder.messages.all()
    }

    /// Broadcasts sent on `channel`.
    pub fn on_channel(&self, channel: &str) -> Vec<BroadcastMessage> {
        self.messages()
            .into_iter()
            .filter(|m| m.channels.iter().any(|c| c == channel))
            .collect()
    }

    fn summary(&self) -> String {
        summarize(
            self.messages()
                .iter()
                .map(|m| format!("{} on {}", m.event, m.channels.join(", "))),
        )
    }

    /// Panics unless something was broadcast on `channel` (full name, with
    /// any `private-` / `presence-` prefix).
    #[track_caller]
    pub fn assert_broadcast_on(&self, channel: &str) {
        if self.on_channel(channel).is_empty() {
            panic!(
                "expected a broadcast on `{channel}`, but there was none. {}",
                self.summary()
            );
        }
    }

    /// Panics unless a broadcast on `channel` satisfies `check`.
    #[track_caller]
    pub fn assert_broadcast_on_with(
        &self,
        channel: &str,
        check: impl Fn(&BroadcastMessage) -> bool,
    ) {
        if !self.on_channel(channel).iter().any(check) {
            panic!(
                "expected a broadcast on `{channel}` matching the given check, but none matched. {}",
                self.summary()
            );
        }
    }

    /// Panics if anything was broadcast on `channel`.
    #[track_caller]
    pub fn assert_not_broadcast_on(&self, channel: &str) {
        let count = self.on_channel(channel).len();
        if count > 0 {
            panic!(
                "expected no broadcast on `{channel}`, but there were {count}. {}",
                self.summary()
            );
        }
    }

    /// Panics if anything was broadcast.
    #[track_caller]
    pub fn assert_nothing_broadcast(&self) {
        if !self.messages().is_empty() {
            panic!("expected nothing to be broadcast. {}", self.summary());
        }
    }
}

impl Default for BroadcastFake {
    fn default() -> Self {
        Self::new()
    }
}
