//! The seed's helper macros, usable from any crate.

/// Dispatches an event now on the global dispatcher (its listeners run even if
/// the event is `should_queue`); evaluates to the dispatch's `Result`.
///
/// ```
/// # use event_core::prelude::*;
/// # #[derive(Debug, Clone, serde::Serialize, serde::Deserialize, Event)]
/// # struct OrderProcessedEvent { order_id: String }
/// # async fn ship() -> anyhow::Result<()> {
/// fire_event!(OrderProcessedEvent { order_id: "order_123".into() })?;
/// # Ok(()) }
/// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(ship()).unwrap();
/// ```
#[macro_export]
macro_rules! fire_event {
    ($event:expr $(,)?) => {
        $crate::Dispatcher::global().dispatch_now($event).await
    };
}

/// Registers a listener for an event type on the global dispatcher.
///
/// ```
/// # use event_core::prelude::*;
/// # #[derive(Debug, Clone, serde::Serialize, serde::Deserialize, Event)]
/// # struct OrderProcessedEvent { order_id: String }
/// #[listener(event = OrderProcessedEvent)]
/// async fn send_order_confirmation(event: &OrderProcessedEvent) -> anyhow::Result<()> {
///     println!("confirming {}", event.order_id);
///     Ok(())
/// }
/// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
/// register_listener!(OrderProcessedEvent, Arc::new(SendOrderConfirmationListener));
/// assert!(EventFacade::has_listeners("OrderProcessed").await);
/// # });
/// ```
#[macro_export]
macro_rules! register_listener {
    ($event:ty, $listener:expr $(,)?) => {
        $crate::listen::<$event>($listener).await
    };
}

/// Dispatches an event on the global dispatcher, queueing it if it says so
/// and a queue handler is set; evaluates to the dispatch's `Result`.
#[macro_export]
macro_rules! dispatch_event {
    ($event:expr $(,)?) => {
        $crate::dispatch($event).await
    };
}
