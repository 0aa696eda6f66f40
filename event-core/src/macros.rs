//! The seed's helper macros, usable from any crate.

/// Dispatches an event now on the global dispatcher (its listeners run even if
/// the event is `should_queue`); evaluates to the dispatch's `Result`.
///
/// ```ignore
/// fire_event!(OrderProcessedEvent::new(...))?;
/// ```
#[macro_export]
macro_rules! fire_event {
    ($event:expr $(,)?) => {
        $crate::Dispatcher::global().dispatch_now($event).await
    };
}

/// Registers a listener for an event type on the global dispatcher.
///
/// ```ignore
/// register_listener!(OrderProcessedEvent, Arc::new(SendOrderConfirmationListener::new()));
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
