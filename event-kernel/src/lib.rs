//! The kernel of `event-core`: events, listeners, the dispatcher, and the
//! seams everything else plugs into.
//!
//! Applications add `event-core`, which re-exports this crate. Depend on the
//! kernel directly when you write a plug-in (a queue connection, an event
//! store, a broadcaster, a test fake): it knows none of them, the way
//! `tracing-core` knows no subscriber. The seams are
//!
//! - [`QueueableHandler`]: where queued listeners and queued events go;
//! - [`broadcasting::Broadcaster`]: where broadcasts go;
//! - [`scope::Recorder`]: called once per dispatch of a recorded event; the
//!   [`scope::Causation`] it returns is set around that event's listeners,
//!   and it may take the event's [`hop::Hop`]s (listener calls, queued
//!   listeners, the broadcast);
//! - [`intercept::Interceptor`]: sees every dispatch before delivery (the
//!   test fakes);
//! - [`unit`]: a unit of work (the queue's `defer`, PostgreSQL's
//!   `in_transaction`) holds `after_commit` deliveries until it commits;
//! - [`Rebuild`]: turns a stored event name and payload back into an event
//!   and its listeners (a job registry, for workers and replays);
//! - [`replay_job::Replayer`]: replays a stored event on the app's worker
//!   (a replay job queued by a program without the listeners).
//!
//! ```
//! use std::sync::Arc;
//! use event_kernel::{Dispatcher, Event, EventListener};
//!
//! #[derive(Debug)]
//! struct UserRegistered { email: String }
//!
//! impl Event for UserRegistered {
//!     fn event_name(&self) -> &'static str { "UserRegistered" }
//!     fn to_json(&self) -> serde_json::Value { serde_json::json!({ "email": self.email }) }
//! }
//!
//! struct Welcome;
//! #[async_trait::async_trait]
//! impl EventListener for Welcome {
//!     async fn handle(&self, event: Arc<dyn Event>) -> anyhow::Result<()> {
//!         let user = event.downcast_ref::<UserRegistered>().expect("a UserRegistered");
//!         println!("welcome, {}", user.email);
//!         Ok(())
//!     }
//! }
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> anyhow::Result<()> {
//! let events = Dispatcher::new();
//! events.listen::<UserRegistered>(Arc::new(Welcome)).await;
//! events.dispatch(UserRegistered { email: "ada@example.com".into() }).await?;
//! # Ok(())
//! # }
//! ```

pub mod broadcasting;
pub mod call;
pub mod config;
pub mod deferral;
mod dispatchable;
mod dispatcher;
mod event;
#[cfg(test)]
mod fixtures;
mod handler;
pub mod hop;
mod listener;
mod options;
pub mod pattern;
mod propagation;
mod rebuild;
pub mod replay_job;
pub mod scope;
mod subscriber;
pub mod unit;

pub use dispatchable::Dispatchable;
pub use dispatcher::{
    BroadcastFailed, Dispatcher, ListenerFailed, QueueFailed, WeakDispatcher, intercept,
};
pub use event::{Event, IntoEvent, ShouldQueue};
pub use handler::{EventJobNeeds, QueueableHandler};
pub use listener::{EventListener, ShouldQueueListener};
pub use options::{ExponentialBackoff, ListenerOptions, UniqueJob};
pub use propagation::{Propagation, PropagationStopped, stop_propagation};
pub use rebuild::Rebuild;
pub use subscriber::{QueuedListenerEvent, Subscriber, Subscriptions};
