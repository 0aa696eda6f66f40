//! What a validated `#[listener]` is: the model the macro expands.

use syn::{Generics, Ident, Type};

pub struct ListenerModel {
    pub krate: syn::Path,
    pub event: Type,
    pub kind: ListenerKind,
    pub knobs: Knobs,
}

pub enum ListenerKind {
    /// `async fn name(event: &E)`: a unit struct `NameListener` calls it.
    Fn { function: Ident, listener: Ident },
    /// `impl T { async fn handle(&self, event: &E) }`.
    Impl {
        self_ty: Box<Type>,
        generics: Generics,
        failed: Option<Returns>,
    },
}

#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Returns {
    Result,
    Unit,
}

#[derive(Default)]
pub struct Knobs {
    pub queued: bool,
    pub queue: Option<String>,
    pub connection: Option<String>,
    pub tries: Option<u32>,
    pub backoff: Option<Vec<u64>>,
    pub timeout: Option<u64>,
    pub delay: Option<u64>,
    pub max_exceptions: Option<u32>,
    pub after_commit: bool,
    pub middleware: Vec<String>,
    pub name: Option<String>,
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
    }
}
