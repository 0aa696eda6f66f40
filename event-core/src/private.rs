//! Items the expansions of `#[derive(Event)]` and `#[listener]` refer to as
//! `::event_core::__private::...`. Owned by the macros; not a public API.

pub use anyhow;
pub use async_trait::async_trait;
pub use chrono;
pub use serde;
pub use serde_json;
