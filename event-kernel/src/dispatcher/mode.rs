//! What a dispatch makes of its listeners' results: `dispatch` propagates
//! the first error, `until` halts at the first answer (Laravel's
//! `dispatch($event, $payload, $halt)`). One loop serves both. A listener
//! that stops propagation (Laravel's `return false`, in either mode) ends
//! the loop through [`Mode::finish`], as if it had been the last listener.

use std::ops::ControlFlow;

use anyhow::{Result, anyhow};

/// What a dispatch makes of its listeners' results: `dispatch` stops at the
/// first error and returns it; `until` asks its `decide` after each.
pub(super) trait Mode: Send {
    type Output: Send;
    /// A sync listener's result (an error after its `failed` hook ran).
    fn handled(&mut self, result: Result<()>) -> ControlFlow<Self::Output>;
    /// A queued listener or event its queue refused.
    fn queue_failed(&mut self, error: anyhow::Error) -> ControlFlow<Self::Output>;
    /// Every listener ran (or was queued); `broadcast` is the broadcast's result.
    fn finish(self, broadcast: Result<()>) -> Self::Output;
    /// An interceptor took the event.
    fn taken(self) -> Self::Output;
    /// An interceptor dropped the delivery without running it.
    fn dropped() -> Self::Output;
}

/// `dispatch`: the first error ends the dispatch and is returned.
pub(super) struct Propagating;

impl Mode for Propagating {
    type Output = Result<()>;

    #[inline(always)]
    fn handled(&mut self, result: Result<()>) -> ControlFlow<Result<()>> {
        match result {
            Ok(()) => ControlFlow::Continue(()),
            Err(error) => ControlFlow::Break(Err(error)),
        }
    }

    fn queue_failed(&mut self, error: anyhow::Error) -> ControlFlow<Result<()>> {
        ControlFlow::Break(Err(error))
    }

    #[inline(always)]
    fn finish(self, broadcast: Result<()>) -> Result<()> {
        broadcast
    }

    fn taken(self) -> Result<()> {
        Ok(())
    }

    fn dropped() -> Result<()> {
        Err(anyhow!(
            "an interceptor dropped the dispatch without delivering it"
        ))
    }
}

/// `until`: the first result `decide` answers ends the dispatch.
pub(super) struct Halting<F>(pub(super) F);

impl<T: Send, F> Mode for Halting<F>
where
    F: FnMut(&Result<()>) -> Option<T> + Send,
{
    type Output = Option<T>;

    fn handled(&mut self, result: Result<()>) -> ControlFlow<Option<T>> {
        match (self.0)(&result) {
            Some(answer) => ControlFlow::Break(Some(answer)),
            None => ControlFlow::Continue(()),
        }
    }

    fn queue_failed(&mut self, error: anyhow::Error) -> ControlFlow<Option<T>> {
        self.handled(Err(error))
    }

    fn finish(self, broadcast: Result<()>) -> Option<T> {
        if let Err(error) = broadcast {
            tracing::error!(
                error = format!("{error:#}"),
                "broadcast failed during `until`"
            );
        }
        None
    }

    fn taken(self) -> Option<T> {
        None
    }

    fn dropped() -> Option<T> {
        None
    }
}
