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
///
/// A hand-written `impl ShouldQueue` is seen through `Event::as_should_queue`,
/// as on every dispatch path; one that is not is reported once in the log.
#[macro_export]
macro_rules! fire_event {
    ($event:expr $(,)?) => {{
        let event = $event;
        $crate::__check_should_queue!(event);
        $crate::Dispatcher::global().dispatch_now(event).await
    }};
}

/// Reports a hand-written `ShouldQueue` impl that `Event::as_should_queue`
/// does not return (the seed macros' autoref probe). Not a public API.
#[doc(hidden)]
#[macro_export]
macro_rules! __check_should_queue {
    ($event:ident) => {{
        #[allow(unused_imports)]
        use $crate::__private::{ViaEvent as _, ViaShouldQueue as _};
        (&&$crate::__private::Probe(&$event)).check_should_queue();
    }};
}

/// A listener as `listen::<E>` and `JobRegistry::listener` take it, with
/// its hand-written `ShouldQueueListener` impl (tries, timeout, delay,
/// after_commit, middleware, queue, connection) in view, so those reach its
/// jobs without overriding `as_should_queue_listener`.
///
/// ```
/// # use event_core::prelude::*;
/// # #[derive(Debug, Clone, serde::Serialize, serde::Deserialize, Event)]
/// # struct OrderShippedEvent { order_id: String }
/// struct Notify;
/// #[async_trait]
/// impl EventListener for Notify {
///     async fn handle(&self, _: Arc<dyn Event>) -> anyhow::Result<()> { Ok(()) }
///     fn should_queue(&self) -> bool { true }
/// }
/// impl ShouldQueueListener for Notify {
///     fn tries(&self) -> Option<u32> { Some(3) }
///     fn via_connection(self, _: &str) -> Self { self }
///     fn via_queue(self, _: &str) -> Self { self }
///     fn with_delay(self, _: chrono::Duration) -> Self { self }
/// }
/// let listener = event_core::as_listener!(Arc::new(Notify));
/// assert_eq!(listener.options().tries, Some(3));
/// let jobs = JobRegistry::new().listener::<OrderShippedEvent>(listener);
/// ```
#[macro_export]
macro_rules! as_listener {
    ($listener:expr $(,)?) => {{
        #[allow(unused_imports)]
        use $crate::__private::{ViaListener as _, ViaShouldQueueListener as _};
        (&&$crate::__private::Probe($listener)).erase()
    }};
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
///
/// A hand-written `ShouldQueueListener` impl of the listener's type is
/// picked up (see [`as_listener!`]). `register_listener!(on dispatcher, E,
/// listener)` registers on another dispatcher.
#[macro_export]
macro_rules! register_listener {
    (on $dispatcher:expr, $event:ty, $listener:expr $(,)?) => {
        $dispatcher
            .listen::<$event>($crate::as_listener!($listener))
            .await
    };
    ($event:ty, $listener:expr $(,)?) => {
        $crate::listen::<$event>($crate::as_listener!($listener)).await
    };
}

/// Dispatches an event on the global dispatcher, queueing it if it says so
/// and a queue handler is set; evaluates to the dispatch's `Result`.
///
/// A hand-written `impl ShouldQueue` of the event's type (queue, delay,
/// tries, timeout, after_commit, connection) is used when the event's
/// `impl Event` returns it from `as_should_queue`, as on every dispatch
/// path; one that is not is reported once in the log.
#[macro_export]
macro_rules! dispatch_event {
    ($event:expr $(,)?) => {{
        let event = $event;
        $crate::__check_should_queue!(event);
        $crate::dispatch(event).await
    }};
}
