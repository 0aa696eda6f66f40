//! Laravel-style events for Rust.
//!
//! Define an event, attach listeners, dispatch:
//!
//! ```
//! use event_core::prelude::*;
//! use std::sync::Arc;
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
//! The seed API (`dispatch`, `listen::<E>`, `EventFacade`, `fake()`...) works on a
//! global dispatcher; [`Dispatcher::new`] gives independent ones for tests and
//! multi-tenant apps.

pub mod broadcasting;
pub mod config;
mod dispatcher;
mod event;
#[cfg(test)]
mod fixtures;
mod listener;
mod macros;
mod pattern;
pub mod queue;
mod seed;
pub mod store;
pub mod testing;

pub use broadcasting::ShouldBroadcast;
pub use dispatcher::{BroadcastFailed, Dispatcher, ListenerFailed, QueueFailed};
pub use event::{
    Dispatchable, Event, IntoEvent, ShouldQueue, conventional_event_name, downcast_arc,
};
pub use event_macros::{Event, listener};
pub use listener::{EventListener, ListenerOptions, QueueableHandler, ShouldQueueListener};
pub use queue::{JobRegistry, Queue, Worker, defer};
pub use seed::{
    EventFacade, dispatch, event, event_dispatcher, fake, is_faking, listen, listen_pattern,
    listen_wildcard, restore,
};
pub use store::{EventStore, is_replaying};

// The crates generated code names, so an app needs no extra dependency.
pub use async_trait::async_trait;
pub use chrono;
pub use serde_json;
pub use ulid;

/// Everything generated code and most apps need: `use event_core::prelude::*;`
pub mod prelude {
    pub use crate::broadcasting::{Broadcastable, ShouldBroadcast};
    pub use crate::{
        Dispatchable, Dispatcher, Event, EventFacade, EventListener, JobRegistry, ShouldQueue,
        ShouldQueueListener, dispatch, event_dispatcher, listen, listen_pattern, listen_wildcard,
        listener,
    };
    pub use crate::{dispatch_event, fire_event, register_listener};
    pub use async_trait::async_trait;
    pub use std::sync::Arc;
}

/// What the macros' expansions name. Not a public API.
#[doc(hidden)]
#[path = "private.rs"]
pub mod __private;
