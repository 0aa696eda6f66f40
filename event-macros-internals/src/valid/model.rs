//! What a validated `#[listener]` is: the model the macro expands.

use syn::{Generics, Ident, Type};

use crate::debug::Tokens;

/// A validated `#[listener]`: what the macro expands.
pub struct ListenerModel {
    /// event-core's path (`::event_core` unless `crate = "..."`).
    pub krate: syn::Path,
    /// The event type it handles (`event = E`).
    pub event: Type,
    /// The item it was written on.
    pub kind: ListenerKind,
    /// Its queue options.
    pub knobs: Knobs,
}

impl std::fmt::Debug for ListenerModel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ListenerModel")
            .field("krate", &Tokens(&self.krate))
            .field("event", &Tokens(&self.event))
            .field("kind", &self.kind)
            .field("knobs", &self.knobs)
            .finish()
    }
}

/// Which form of listener was written.
pub enum ListenerKind {
    /// `async fn name(event: &E)`: a unit struct `NameListener` calls it.
    Fn {
        /// The function.
        function: Ident,
        /// The unit struct generated for it.
        listener: Ident,
        /// It returns `Result<Propagation>`: it may stop the dispatch.
        stops: bool,
    },
    /// `impl T { async fn handle(&self, event: &E) }`.
    Impl {
        /// `T`, which becomes the listener.
        self_ty: Box<Type>,
        /// The impl block's generics.
        generics: Generics,
        /// What its `failed` hook returns, when it has one.
        failed: Option<Returns>,
        /// `handle` returns `Result<Propagation>`: it may stop the dispatch.
        stops: bool,
    },
    /// A `#[listen]` method of a `#[subscriber] impl T` block.
    Method {
        /// The method.
        method: Ident,
        /// `T`, the subscriber.
        subscriber: Box<Type>,
        /// It returns `Result<Propagation>`: it may stop the dispatch.
        stops: bool,
    },
}

impl ListenerKind {
    /// The handler returns `Result<Propagation>`: it may stop the dispatch.
    pub fn stops(&self) -> bool {
        match self {
            Self::Fn { stops, .. } | Self::Impl { stops, .. } | Self::Method { stops, .. } => {
                *stops
            }
        }
    }
}

impl std::fmt::Debug for ListenerKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Fn {
                function,
                listener,
                stops,
            } => f
                .debug_struct("Fn")
                .field("function", function)
                .field("listener", listener)
                .field("stops", stops)
                .finish(),
            Self::Impl {
                self_ty,
                generics,
                failed,
                stops,
            } => f
                .debug_struct("Impl")
                .field("self_ty", &Tokens(&**self_ty))
                .field("generics", &Tokens(generics))
                .field("failed", failed)
                .field("stops", stops)
                .finish(),
            Self::Method {
                method,
                subscriber,
                stops,
            } => f
                .debug_struct("Method")
                .field("method", method)
                .field("subscriber", &Tokens(&**subscriber))
                .field("stops", stops)
                .finish(),
        }
    }
}

/// What a `failed` hook returns.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Returns {
    /// `anyhow::Result<()>`.
    Result,
    /// Nothing (`()`).
    Unit,
}

/// A listener's queue options, checked (durations in seconds).
#[derive(Debug, Default)]
pub struct Knobs {
    /// `queued`, or implied by `queue` / `connection`.
    pub queued: bool,
    /// `queue = "..."`.
    pub queue: Option<String>,
    /// `connection = "..."`.
    pub connection: Option<String>,
    /// `tries = N`; 0 is no limit.
    pub tries: Option<u32>,
    /// `backoff = [secs, ...]`.
    pub backoff: Option<Vec<u64>>,
    /// `timeout = secs`; 0 is none.
    pub timeout: Option<u64>,
    /// `delay = secs`.
    pub delay: Option<u64>,
    /// `max_exceptions = N`.
    pub max_exceptions: Option<u32>,
    /// The `after_commit` flag.
    pub after_commit: bool,
    /// `middleware = [...]`, each string checked by [`crate::middleware::parse`].
    pub middleware: Vec<String>,
    /// `name = "..."`: the listener's `listener_name()`.
    pub name: Option<String>,
    /// `replayable = false`: the listener's `replayable()` (event-store
    /// replays skip it).
    pub replayable: Option<bool>,
    /// `queue_if = path`: `path(&event) -> bool` decides per event whether
    /// the listener is queued (false: not queued, not run).
    pub queue_if: Option<proc_macro2::TokenStream>,
    /// `backoff = "exponential:BASE,MAX"`: (base, max) seconds.
    pub backoff_exponential: Option<(u64, u64)>,
    /// `retry_until = secs`: retry until this long after queueing.
    pub retry_until: Option<u64>,
    /// The `jitter` flag.
    pub jitter: bool,
    /// `unique_id = ...`: a callable taking `&E`, as written.
    pub unique_id: Option<proc_macro2::TokenStream>,
    /// `unique_for = secs`.
    pub unique_for: Option<u64>,
    /// The `unique_until_processing` flag.
    pub unique_until_processing: bool,
    /// The `encrypted` flag: the job's payload is sealed with the app's key.
    pub encrypted: bool,
}

impl Knobs {
    /// True when a knob outside `EventListener`'s plain methods is set, so
    /// `options()` has to be generated.
    pub fn needs_options(&self) -> bool {
        self.connection.is_some()
            || self.tries.is_some()
            || self.timeout.is_some()
            || self.delay.is_some()
            || self.after_commit
            || !self.middleware.is_empty()
            || self.backoff_exponential.is_some()
            || self.retry_until.is_some()
            || self.jitter
            || self.unique_id.is_some()
            || self.encrypted
    }
}
