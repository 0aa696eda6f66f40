//! Deferred dispatch (Laravel 12's `Event::defer`): every event dispatched
//! inside [`defer`] is held and delivered, in dispatch order, when its work
//! returns `Ok`.

use std::any::Any;
use std::future::Future;
use std::sync::{Arc, Mutex};

use crate::unit::{self, Delivery};

type Shared = Arc<Mutex<Vec<Delivery>>>;

tokio::task_local! {
    static DEFERRED: Shared;
}

/// Holds `delivery` when this task runs inside [`defer`]; hands it back
/// otherwise.
pub(crate) fn hold(delivery: Delivery) -> Option<Delivery> {
    let mut delivery = Some(delivery);
    let _ = DEFERRED.try_with(|held| {
        held.lock()
            .unwrap_or_else(|e| e.into_inner())
            .extend(delivery.take());
    });
    delivery
}

/// True when this task runs inside [`defer`].
pub(crate) fn active() -> bool {
    DEFERRED.try_with(|_| ()).is_ok()
}

/// Runs `work`, holding every event it dispatches (on any dispatcher, in
/// this task); when `work` returns `Ok`, dispatches them in the order they
/// were dispatched, then returns its value (Laravel 12's `Event::defer`).
///
/// When `work` returns `Err`, the held events are dropped and the error
/// returned: Laravel's `defer` does the same when its callback throws. The
/// first delivery that fails (a listener's error, with its `failed` hook
/// called) stops the remaining ones and is returned. Dispatches must
/// happen in the same task (not in a `tokio::spawn`ed one). A deferred
/// event that is `after_commit` inside a unit of work is then held by the
/// unit, as any dispatch there; [`defer`] nested in [`defer`] delivers into
/// the enclosing one.
///
/// ```
/// # use std::sync::Arc;
/// # use event_kernel::{Dispatcher, Event};
/// # #[derive(Debug)] struct Saved;
/// # impl Event for Saved {
/// #     fn event_name(&self) -> &'static str { "Saved" }
/// #     fn to_json(&self) -> serde_json::Value { serde_json::Value::Null } }
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> anyhow::Result<()> {
/// let events = Dispatcher::new();
/// event_kernel::deferral::defer(async {
///     events.dispatch(Saved).await?; // held
///     // ... more work; the listeners have not run yet
///     Ok::<_, anyhow::Error>(())
/// })
/// .await?; // Saved's listeners ran here
/// # Ok(()) }
/// ```
pub async fn defer<T, E, F>(work: F) -> Result<T, E>
where
    F: Future<Output = Result<T, E>>,
    E: From<anyhow::Error>,
{
    run(false, work).await
}

/// [`defer`], delivering each distinct event once: a held event of the
/// same type and with the same payload (`to_json`) as an earlier one is
/// not dispatched again.
pub async fn defer_dedup<T, E, F>(work: F) -> Result<T, E>
where
    F: Future<Output = Result<T, E>>,
    E: From<anyhow::Error>,
{
    run(true, work).await
}

async fn run<T, E, F>(dedup: bool, work: F) -> Result<T, E>
where
    F: Future<Output = Result<T, E>>,
    E: From<anyhow::Error>,
{
    unit::mark_entered();
    let held: Shared = Arc::default();
    let result = DEFERRED.scope(held.clone(), work).await;
    let deliveries = std::mem::take(&mut *held.lock().unwrap_or_else(|e| e.into_inner()));
    let value = result?;
    let mut seen: Vec<(std::any::TypeId, serde_json::Value)> = Vec::new();
    for delivery in deliveries {
        if dedup {
            let key = (
                (&*delivery.event as &dyn Any).type_id(),
                delivery.event.to_json(),
            );
            if seen.contains(&key) {
                continue;
            }
            seen.push(key);
        }
        (delivery.run)().await?;
    }
    Ok(value)
}
