//! Calling a listener: its `handle`, with a panic turned into an error, and
//! its `failed` hook. The one home of both, for the dispatcher, the queue
//! workers and replays.

use std::panic::AssertUnwindSafe;
use std::sync::Arc;

use anyhow::{Result, anyhow};
use futures::FutureExt;

use crate::event::Event;
use crate::listener::EventListener;

/// Runs the listener's `handle`, turning a panic into an error.
pub async fn invoke(listener: &Arc<dyn EventListener>, event: &Arc<dyn Event>) -> Result<()> {
    match AssertUnwindSafe(listener.handle(event.clone()))
        .catch_unwind()
        .await
    {
        Ok(result) => result,
        Err(panic) => Err(anyhow!("listener panicked: {}", panic_message(&*panic))),
    }
}

/// Calls the listener's `failed` hook, logging (not returning) what goes
/// wrong in the hook itself: the caller keeps the listener's own error, and
/// a worker is never taken down by a hook.
pub async fn call_failed_hook(
    listener: &Arc<dyn EventListener>,
    event: &Arc<dyn Event>,
    error: &anyhow::Error,
) {
    let hook = AssertUnwindSafe(listener.failed(event.clone(), error))
        .catch_unwind()
        .await;
    match hook {
        Ok(Ok(())) => {}
        Ok(Err(hook_error)) => tracing::error!(
            listener = listener.listener_name(),
            error = %hook_error,
            "the listener's failed hook returned an error"
        ),
        Err(panic) => tracing::error!(
            listener = listener.listener_name(),
            panic = panic_message(&*panic),
            "the listener's failed hook panicked"
        ),
    }
}

/// The text of a panic payload (`panic!("...")` gives a `&str` or `String`).
pub fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    if let Some(s) = payload.downcast_ref::<&str>() {
        (*s).to_string()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "non-string panic payload".to_string()
    }
}
