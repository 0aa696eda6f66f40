//! The thread's `LAST` slot and the plain fast path: a dispatch reuses what
//! the previous one on its thread resolved only when nothing it depends on
//! changed.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use super::Dispatcher;
use crate::event::Event;
use crate::fixtures::Ping;
use crate::listener::EventListener;

#[derive(Debug)]
struct Pong;

impl Event for Pong {
    fn event_name(&self) -> &'static str {
        "Pong"
    }
    fn to_json(&self) -> serde_json::Value {
        serde_json::Value::Null
    }
}

struct Count(Arc<AtomicUsize>);

#[async_trait::async_trait]
impl EventListener for Count {
    async fn handle(&self, _event: Arc<dyn Event>) -> anyhow::Result<()> {
        self.0.fetch_add(1, Ordering::SeqCst);
        Ok(())
    }
}

fn counter() -> (Arc<AtomicUsize>, Arc<dyn EventListener>) {
    let count = Arc::new(AtomicUsize::new(0));
    (count.clone(), Arc::new(Count(count)))
}

#[tokio::test]
async fn a_warm_dispatch_sees_listeners_added_and_forgotten_since_the_last_one() {
    let d = Dispatcher::new();
    let (first, listener) = counter();
    d.listen_name("Ping", listener);
    d.dispatch(Ping).await.unwrap();
    d.dispatch(Ping).await.unwrap();
    let (second, listener) = counter();
    d.listen_name("Ping", listener);
    d.dispatch(Ping).await.unwrap();
    d.forget("Ping").await;
    d.dispatch(Ping).await.unwrap();
    assert_eq!(first.load(Ordering::SeqCst), 3);
    assert_eq!(second.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn a_new_dispatcher_on_the_same_thread_never_gets_an_old_ones_listeners() {
    let (old, listener) = counter();
    {
        let d = Dispatcher::new();
        d.listen_name("Ping", listener);
        d.dispatch(Ping).await.unwrap();
    }
    // As many edits as the old one had: the epochs still differ.
    let (other, listener) = counter();
    let e = Dispatcher::new();
    e.listen_name("Ping", listener);
    e.dispatch(Ping).await.unwrap();
    let d = Dispatcher::new();
    // Alternating dispatchers and events on one thread.
    for _ in 0..3 {
        d.dispatch(Ping).await.unwrap();
        e.dispatch(Ping).await.unwrap();
        e.dispatch(Pong).await.unwrap();
    }
    assert_eq!(old.load(Ordering::SeqCst), 1);
    assert_eq!(other.load(Ordering::SeqCst), 4);
}

/// Dispatches `Pong` and, the first time, `Ping` again from inside a `Ping` listener.
struct Nested {
    dispatcher: Dispatcher,
    seen: Mutex<Vec<&'static str>>,
}

#[async_trait::async_trait]
impl EventListener for Nested {
    async fn handle(&self, event: Arc<dyn Event>) -> anyhow::Result<()> {
        let name = event.event_name();
        let again = {
            let mut seen = self.seen.lock().unwrap();
            seen.push(name);
            name == "Ping" && seen.len() == 1
        };
        if name == "Ping" {
            self.dispatcher.dispatch(Pong).await?;
        }
        if again {
            self.dispatcher.dispatch(Ping).await?;
        }
        Ok(())
    }
}

#[tokio::test]
async fn nested_dispatches_of_the_same_and_other_events_reach_their_listeners() {
    let d = Dispatcher::new();
    let nested = Arc::new(Nested {
        dispatcher: d.clone(),
        seen: Mutex::new(Vec::new()),
    });
    d.listen_name("Ping", nested.clone());
    d.listen_name("Pong", nested.clone());
    d.dispatch(Ping).await.unwrap();
    d.dispatch(Ping).await.unwrap();
    assert_eq!(
        *nested.seen.lock().unwrap(),
        vec!["Ping", "Pong", "Ping", "Pong", "Ping", "Pong"]
    );
}
