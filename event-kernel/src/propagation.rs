//! Stopping propagation: Laravel's listener that returns `false`, so the
//! dispatch's remaining listeners do not run.
//!
//! A listener's signature stays `anyhow::Result<()>`; one that may stop
//! the dispatch says so through the error channel, with a value the
//! dispatcher recognises and never reports as a failure. `#[listener]` and
//! `#[listen]` accept `-> anyhow::Result<Propagation>` and turn
//! [`Propagation::Stop`] into it; a hand-written listener returns
//! [`stop_propagation()`]. The dispatch loop looks for it only when a
//! listener returned an error, so listeners that never stop cost nothing.
//!
//! Only a listener the dispatch runs can stop the others: a queued listener
//! runs on a worker after the dispatch has finished. `#[listener]` refuses
//! `queued` with `Result<Propagation>` at compile time; a hand-written
//! queued listener that returns [`stop_propagation()`] fails its job with
//! [`PropagationStopped`]'s message, which says so.

/// What a listener tells the dispatch after handling an event.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Propagation {
    /// The next listeners run (what `Ok(())` means).
    #[default]
    Continue,
    /// The dispatch's remaining listeners do not run (Laravel's `return false`).
    Stop,
}

impl Propagation {
    /// The listener result this is: `Ok(())`, or [`stop_propagation()`].
    pub fn into_result(self) -> anyhow::Result<()> {
        match self {
            Self::Continue => Ok(()),
            Self::Stop => stop_propagation(),
        }
    }
}

/// The error a listener returns to stop the remaining listeners of the
/// dispatch. The dispatcher takes it as "stop here, successfully": no
/// `failed` hook, and `dispatch` returns `Ok(())`. Anywhere else (a queue
/// worker, a replay, a direct call of `handle`) it is an error, with this
/// message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error(
    "the listener stopped propagation (`Propagation::Stop` / `stop_propagation()`), which only a \
     dispatch acts on: a queued listener cannot stop propagation, since it runs after the \
     dispatch with no listener left to stop (nor can a replayed one); return `Ok(())` instead"
)]
pub struct PropagationStopped;

/// Returned by a listener's `handle`: stops the remaining listeners of this
/// dispatch (Laravel's `return false`).
///
/// ```
/// # use std::sync::Arc;
/// # use event_kernel::{Event, EventListener, stop_propagation};
/// struct Gate;
/// #[async_trait::async_trait]
/// impl EventListener for Gate {
///     async fn handle(&self, _event: Arc<dyn Event>) -> anyhow::Result<()> {
///         stop_propagation()
///     }
/// }
/// ```
pub fn stop_propagation() -> anyhow::Result<()> {
    Err(PropagationStopped.into())
}

/// True when a listener's error is [`stop_propagation()`]'s.
pub(crate) fn is_stop(error: &anyhow::Error) -> bool {
    error.is::<PropagationStopped>()
}
