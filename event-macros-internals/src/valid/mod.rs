//! Validate: every rule about what may be combined, and the shape of a
//! listener's signature. Produces the models `expand.rs` trusts. Events
//! here; listeners in `listener.rs`, their signature in `signature.rs`.

mod listener;
mod model;
mod signature;
mod subscriber;

use proc_macro2::Span;
use syn::ext::IdentExt;
use syn::{GenericParam, Generics, Ident};

use crate::ast::{EventInput, FieldNames};
use crate::ctxt::Ctxt;
use crate::debug::Tokens;

pub use listener::{listener, listener_ident};
pub use model::{Knobs, ListenerKind, ListenerModel, Returns};
pub use subscriber::{LISTEN, SubscriberModel, listen_args, subscriber};

/// A validated `#[derive(Event)]`: what the macro expands.
pub struct EventModel<'a> {
    /// The struct's name.
    pub ident: &'a Ident,
    /// Its generics (no lifetimes: events are `'static`).
    pub generics: &'a Generics,
    /// event-core's path (`::event_core` unless `crate = "..."`).
    pub krate: syn::Path,
    /// The event name: `name = "..."`, else the naming convention's.
    pub name: String,
    /// Where `queued` (or the `queue`/`connection` that implied it) was written.
    pub queued: Option<Span>,
    /// `queue = "..."`.
    pub queue: Option<String>,
    /// `connection = "..."`.
    pub connection: Option<String>,
    /// `priority = N`.
    pub priority: Option<i32>,
    /// `tags(...)`.
    pub tags: Option<Vec<String>>,
    /// The broadcast channel, when `broadcast = "..."` was valid.
    pub broadcast: Option<Broadcast>,
    /// `after_commit`: dispatched only when the unit of work commits.
    pub after_commit: bool,
}

impl std::fmt::Debug for EventModel<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EventModel")
            .field("ident", &self.ident)
            .field("generics", &Tokens(self.generics))
            .field("krate", &Tokens(&self.krate))
            .field("name", &self.name)
            .field("queued", &self.queued)
            .field("queue", &self.queue)
            .field("connection", &self.connection)
            .field("priority", &self.priority)
            .field("tags", &self.tags)
            .field("broadcast", &self.broadcast)
            .field("after_commit", &self.after_commit)
            .finish()
    }
}

/// A checked `broadcast = "..."` channel template.
#[derive(Debug)]
pub struct Broadcast {
    /// A `format!` string: the template with each placeholder as `{}`.
    pub format: String,
    /// The field each `{}` of `format` reads, in order.
    pub fields: Vec<FieldRef>,
    /// The template's span, for the generated `format!`.
    pub span: Span,
    /// `private` or `presence` was given: the channel needs auth.
    pub private: bool,
    /// `presence` was given.
    pub presence: bool,
}

/// A field a broadcast placeholder names.
#[derive(Debug)]
pub enum FieldRef {
    /// `{order_id}` in a struct with named fields.
    Named(Ident),
    /// `{0}` in a tuple struct.
    Index(usize),
}

/// `::event_core`: where expansions find event-core unless `crate = "..."`
/// says otherwise.
pub fn default_crate() -> syn::Path {
    syn::parse_quote!(::event_core)
}

/// Checks an event's attributes against each other and builds its model;
/// every mistake is recorded in `cx`, so check it before expanding.
pub fn event<'a>(cx: &mut Ctxt, input: EventInput<'a>) -> EventModel<'a> {
    let attrs = input.attrs;
    for param in &input.generics.params {
        if let GenericParam::Lifetime(l) = param {
            cx.error_spanned_by(
                l,
                "an event can't borrow: events are `'static` (they are shared across tasks \
                 and queued), so own the data (`String`, not `&str`)",
            );
        }
    }
    let name = match &attrs.name {
        Some(lit) => {
            let name = lit.value();
            if name.trim().is_empty() {
                cx.error_spanned_by(
                    lit,
                    "`name` can't be empty: e.g. `name = \"UserRegistered\"`",
                );
            }
            name
        }
        None => crate::naming::conventional_event_name(&input.ident.to_string()),
    };
    let broadcast = match &attrs.broadcast {
        Some(lit) => broadcast(cx, lit, &input.fields, input.ident, &attrs),
        None => {
            for (flag, span) in [("private", attrs.private), ("presence", attrs.presence)] {
                if let Some(span) = span {
                    cx.error_at(
                        span,
                        format_args!(
                            "`{flag}` needs a channel: add `broadcast = \"...\"`, e.g. \
                             `#[event(broadcast = \"orders.{{order_id}}\", {flag})]`"
                        ),
                    );
                }
            }
            None
        }
    };
    // `queue` and `connection` route a queued event; naming one means "queue it".
    let queued = attrs
        .queued
        .or(attrs.queue.as_ref().map(|l| l.span()))
        .or(attrs.connection.as_ref().map(|l| l.span()));
    EventModel {
        ident: input.ident,
        generics: input.generics,
        krate: attrs.krate.unwrap_or_else(default_crate),
        name,
        queued,
        queue: attrs.queue.map(|l| l.value()),
        connection: attrs.connection.map(|l| l.value()),
        priority: attrs.priority.map(|(p, _)| p as i32),
        tags: attrs
            .tags
            .map(|tags| tags.iter().map(|t| t.value()).collect()),
        broadcast,
        after_commit: attrs.after_commit.is_some(),
    }
}

fn broadcast(
    cx: &mut Ctxt,
    lit: &syn::LitStr,
    fields: &FieldNames,
    ident: &Ident,
    attrs: &crate::ast::EventAttrs,
) -> Option<Broadcast> {
    if let (Some(_), Some(presence)) = (attrs.private, attrs.presence) {
        cx.error_at(
            presence,
            "choose one of `private` and `presence`: a presence channel is already private",
        );
    }
    let template = lit.value();
    let mut format = String::new();
    let mut refs = Vec::new();
    let mut ok = true;
    let mut chars = template.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '{' if chars.peek() == Some(&'{') => {
                chars.next();
                format.push_str("{{");
            }
            '}' if chars.peek() == Some(&'}') => {
                chars.next();
                format.push_str("}}");
            }
            '{' => {
                let mut placeholder = String::new();
                let mut closed = false;
                for c in chars.by_ref() {
                    if c == '}' {
                        closed = true;
                        break;
                    }
                    placeholder.push(c);
                }
                if !closed {
                    ok = false;
                    cx.error_spanned_by(
                        lit,
                        "unclosed `{` in `broadcast`: write `{field}`, or `{{` for a literal brace",
                    );
                    break;
                }
                match field_ref(placeholder.trim(), fields) {
                    Some(field) => {
                        format.push_str("{}");
                        refs.push(field);
                    }
                    None => {
                        ok = false;
                        cx.error_spanned_by(
                            lit,
                            format_args!(
                                "`broadcast` names `{{{placeholder}}}`, but `{ident}` has no such field; {}",
                                field_list(fields)
                            ),
                        );
                    }
                }
            }
            '}' => {
                ok = false;
                cx.error_spanned_by(
                    lit,
                    "unmatched `}` in `broadcast`: write `}}` for a literal brace",
                );
            }
            c => format.push(c),
        }
    }
    if template.trim().is_empty() {
        ok = false;
        cx.error_spanned_by(
            lit,
            "`broadcast` needs a channel name, e.g. `\"orders.{order_id}\"`",
        );
    }
    ok.then(|| Broadcast {
        format,
        fields: refs,
        span: lit.span(),
        private: attrs.private.is_some() || attrs.presence.is_some(),
        presence: attrs.presence.is_some(),
    })
}

fn field_ref(placeholder: &str, fields: &FieldNames) -> Option<FieldRef> {
    match fields {
        FieldNames::Named(names) => names
            .iter()
            .find(|n| n.unraw() == placeholder)
            .map(|n| FieldRef::Named(n.clone())),
        FieldNames::Tuple(count) => placeholder
            .parse::<usize>()
            .ok()
            .filter(|i| i < count)
            .map(FieldRef::Index),
        FieldNames::Unit => None,
    }
}

fn field_list(fields: &FieldNames) -> String {
    match fields {
        FieldNames::Named(names) if !names.is_empty() => format!(
            "its fields are {}",
            names
                .iter()
                .map(|n| format!("`{{{}}}`", n.unraw()))
                .collect::<Vec<_>>()
                .join(", ")
        ),
        FieldNames::Tuple(count) if *count > 0 => format!(
            "a tuple struct names its fields by index: {}",
            (0..*count)
                .map(|i| format!("`{{{i}}}`"))
                .collect::<Vec<_>>()
                .join(", ")
        ),
        _ => "it has no fields".to_string(),
    }
}
