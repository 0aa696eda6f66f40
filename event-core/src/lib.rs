//! Laravel-style events for Rust.
//!
//! Define an event, attach listeners, dispatch:
//!
//! ```
//! use event_core::prelude::*;
//!
//! #[derive(Debug, Clone, serde::Serialize, serde::Deserialize, Event)]
//! pub struct UserRegisteredEvent {
//!     pub email: String,
//! }
//!
//! #[listener(event = UserRegisteredEvent)]
//! async fn send_welcome_email(event: &UserRegisteredEvent) -> anyhow::Result<()> {
//!     println!("welcome, {}", event.email);
//!     Ok(())
//! }
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> anyhow::Result<()> {
//! let events = Dispatcher::new();
//! events.listen::<UserRegisteredEvent>(Arc::new(SendWelcomeEmailListener)).await;
//! events.dispatch(UserRegisteredEvent { email: "ada@example.com".into() }).await?;
//! # Ok(())
//! # }
//! ```
//!
//! This crate is the one an app adds. It puts together
//!
//! | module | crate | what |
//! |---|---|---|
//! | the root | `event-kernel` | events, listeners, the [`Dispatcher`] |
//! | [`queue`] | `event-jobs` | connections, workers, the failed-jobs store |
//! | [`store`] | `event-history` | the event store: history, correlation, replay |
//! | [`broadcasting`] | `event-broadcast` | broadcasters and channel authorisation |
//! | [`testing`] | here | fakes for events, queued listeners and broadcasts |
//! | [`facade`] | here | the seed's global helpers (Laravel's `Event::`) |
//! | [`boot`] | here | one boot for the app: queue, store and broadcaster from [`config`] |
//! | `http` (feature `http`) | here | a tower layer making each HTTP request the root of the chains it causes |
//!
//! The seed API (`dispatch`, `listen::<E>`, `EventFacade`, `fake()`...) works
//! on a global dispatcher ([`facade`]); [`Dispatcher::new`] gives independent
//! ones for tests and multi-tenant apps.

pub mod boot;
pub mod broadcasting;
pub mod config;
pub mod facade;
#[cfg(feature = "http")]
pub mod http;
mod listen_once;
mod macros;
pub mod testing;

/// Queued listeners and events: connections, workers, the failed-jobs
/// store (the `event-jobs` crate).
pub mod queue {
    pub use event_jobs::*;
}

/// The event store: a durable, queryable history of dispatched events
/// (the `event-history` crate).
pub mod store {
    pub use event_history::*;
}

pub use event_kernel::broadcasting::ShouldBroadcast;
pub use event_kernel::{
    BroadcastFailed, Dispatchable, Dispatcher, Event, EventListener, ExponentialBackoff, IntoEvent,
    ListenerFailed, ListenerOptions, Propagation, PropagationStopped, QueueFailed,
    QueueableHandler, QueuedListenerEvent, ShouldQueue, ShouldQueueListener, Subscriber,
    Subscriptions, UniqueJob, stop_propagation,
};
pub use event_macros::{Event, listen, listener, subscriber};
pub use facade::{
    EventFacade, defer_events, defer_events_dedup, dispatch, event, event_dispatcher, fake,
    is_faking, listen, listen_pattern, listen_wildcard, restore, subscribe,
};
pub use listen_once::{listen_once, subscribe_once};

// The crates generated code names, so an app needs no extra dependency.
pub use async_trait::async_trait;
pub use chrono;
pub use serde_json;
pub use ulid;

/// Everything generated code and most apps need: `use event_core::prelude::*;`
pub mod prelude {
    pub use crate::broadcasting::{Broadcastable, ShouldBroadcast};
    pub use crate::queue::JobRegistry;
    pub use crate::{
        Dispatchable, Dispatcher, Event, EventFacade, EventListener, Propagation, ShouldQueue,
        ShouldQueueListener, Subscriber, dispatch, event_dispatcher, listen, listen_pattern,
        listen_wildcard, listener, stop_propagation, subscriber,
    };
    pub use crate::{dispatch_event, fire_event, register_listener};
    pub use async_trait::async_trait;
    pub use std::sync::Arc;
}

/// What the macros' expansions name. Not a public API.
#[doc(hidden)]
#[path = "private.rs"]
pub mod __private;
