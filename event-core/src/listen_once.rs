//! [`listen_once`]: registration that a second call does not repeat, so
//! `event_registry::register_on(event_dispatcher().await)` can run in every
//! test of a binary (tests share the global dispatcher) and each listener
//! is still registered once.

use std::sync::Arc;

use event_kernel::{Dispatcher, Event, EventListener, Subscriber};

/// Registers `listener` for `E` on `dispatcher` unless a listener of the
/// same [`EventListener::listener_name`] already listens to `E` there;
/// returns whether it was added. Concurrent calls (parallel tests) agree:
/// one adds, the others see it.
pub async fn listen_once<E: Event + 'static>(
    dispatcher: &Dispatcher,
    listener: Arc<dyn EventListener>,
) -> bool {
    static ONE_AT_A_TIME: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());
    let _turn = ONE_AT_A_TIME.lock().await;
    let name = E::static_event_name();
    let already = dispatcher
        .listeners_for(&name)
        .iter()
        .any(|l| l.listener_name() == listener.listener_name());
    if !already {
        dispatcher.listen::<E>(listener).await;
    }
    !already
}

/// [`listen_once`] for each listener of a subscriber: registers those not
/// already listening (by name) to their event on `dispatcher`; returns how
/// many it added.
pub async fn subscribe_once<S: Subscriber>(dispatcher: &Dispatcher, subscriber: Arc<S>) -> usize {
    static ONE_AT_A_TIME: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());
    let _turn = ONE_AT_A_TIME.lock().await;
    dispatcher
        .__subscribe_where(subscriber, |event, listener| {
            !dispatcher
                .listeners_for(event)
                .iter()
                .any(|l| l.listener_name() == listener.listener_name())
        })
        .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug)]
    struct Pinged;

    impl Event for Pinged {
        fn event_name(&self) -> &'static str {
            "Pinged"
        }

        fn to_json(&self) -> serde_json::Value {
            serde_json::Value::Null
        }
    }

    #[derive(Debug)]
    struct Counter;

    #[async_trait::async_trait]
    impl EventListener for Counter {
        async fn handle(&self, _: Arc<dyn Event>) -> anyhow::Result<()> {
            Ok(())
        }
    }

    #[tokio::test]
    async fn a_second_registration_adds_nothing() {
        let dispatcher = Dispatcher::new();
        assert!(listen_once::<Pinged>(&dispatcher, Arc::new(Counter)).await);
        assert!(!listen_once::<Pinged>(&dispatcher, Arc::new(Counter)).await);
        assert_eq!(dispatcher.listeners_for("Pinged").len(), 1);
        dispatcher.flush().await;
        assert!(listen_once::<Pinged>(&dispatcher, Arc::new(Counter)).await);
    }
}
