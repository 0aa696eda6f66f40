//! Laravel's `Dispatchable`: `event.dispatch().await?` on the global dispatcher.

use std::future::Future;

use crate::dispatcher::Dispatcher;
use crate::event::Event;

/// Laravel's `Dispatchable`: `event.dispatch().await?` for every event.
pub trait Dispatchable {
    /// Dispatches the event on [`Dispatcher::global`]; errors as
    /// [`Dispatcher::dispatch`] does.
    fn dispatch(self) -> impl Future<Output = anyhow::Result<()>> + Send;
    /// Dispatches only when `condition` is true; otherwise `Ok(())`.
    fn dispatch_if(self, condition: bool) -> impl Future<Output = anyhow::Result<()>> + Send;
    /// Dispatches only when `condition` is false; otherwise `Ok(())`.
    fn dispatch_unless(self, condition: bool) -> impl Future<Output = anyhow::Result<()>> + Send;
}

// The trait promises `Send` futures, which `async fn` in the impl would not spell out.
#[allow(clippy::manual_async_fn)]
impl<E: Event> Dispatchable for E {
    fn dispatch(self) -> impl Future<Output = anyhow::Result<()>> + Send {
        Dispatcher::global().dispatch(self)
    }

    fn dispatch_if(self, condition: bool) -> impl Future<Output = anyhow::Result<()>> + Send {
        async move {
            if condition {
                Dispatcher::global().dispatch(self).await
            } else {
                Ok(())
            }
        }
    }

    fn dispatch_unless(self, condition: bool) -> impl Future<Output = anyhow::Result<()>> + Send {
        self.dispatch_if(!condition)
    }
}
