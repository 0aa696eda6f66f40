//! Parse: the macro input and its attribute arguments, read into plain
//! structs. Values are typed here; rules about what goes together live in
//! `valid.rs`.

use proc_macro2::{Span, TokenStream, TokenTree};
use syn::parse::{Parse, ParseStream, Parser};
use syn::{Attribute, Data, DeriveInput, Fields, Generics, Ident, LitStr, Signature, Visibility};

use crate::attr;
use crate::ctxt::Ctxt;
use crate::debug::{Tokens, list, opt};

/// The keys `#[event(...)]` accepts; an unknown key's error lists them.
pub const EVENT_KEYS: &[&str] = &[
    "name",
    "queued",
    "queue",
    "connection",
    "priority",
    "tags",
    "broadcast",
    "private",
    "presence",
    "after_commit",
    "crate",
];

/// The keys `#[listener(...)]` accepts; an unknown key's error lists them.
pub const LISTENER_KEYS: &[&str] = &[
    "event",
    "queued",
    "queue",
    "connection",
    "tries",
    "backoff",
    "timeout",
    "delay",
    "max_exceptions",
    "after_commit",
    "middleware",
    "name",
    "replayable",
    "queue_if",
    "retry_until",
    "jitter",
    "unique_id",
    "unique_for",
    "unique_until_processing",
    "encrypted",
    "crate",
];

// ----- #[derive(Event)] -----------------------------------------------------

/// The keys of every `#[event(...)]` on one type, typed but not yet checked
/// against each other (`None`: not written, or written with a bad value).
#[derive(Default)]
pub struct EventAttrs {
    /// `name = "..."`: the event name.
    pub name: Option<LitStr>,
    /// Where the `queued` flag was written.
    pub queued: Option<Span>,
    /// `queue = "..."`.
    pub queue: Option<LitStr>,
    /// `connection = "..."`.
    pub connection: Option<LitStr>,
    /// `priority = N`, within `i32`, and where it was written.
    pub priority: Option<(i64, Span)>,
    /// `tags("a", "b")`.
    pub tags: Option<Vec<LitStr>>,
    /// `broadcast = "..."`: the channel template, unchecked.
    pub broadcast: Option<LitStr>,
    /// Where the `private` flag was written.
    pub private: Option<Span>,
    /// Where the `presence` flag was written.
    pub presence: Option<Span>,
    /// Where the `after_commit` flag was written.
    pub after_commit: Option<Span>,
    /// `crate = "path"`: event-core's path when renamed.
    pub krate: Option<syn::Path>,
}

impl std::fmt::Debug for EventAttrs {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EventAttrs")
            .field("name", &opt(&self.name))
            .field("queued", &self.queued)
            .field("queue", &opt(&self.queue))
            .field("connection", &opt(&self.connection))
            .field("priority", &self.priority)
            .field("tags", &self.tags.as_deref().map(list))
            .field("broadcast", &opt(&self.broadcast))
            .field("private", &self.private)
            .field("presence", &self.presence)
            .field("after_commit", &self.after_commit)
            .field("krate", &opt(&self.krate))
            .finish()
    }
}

/// The fields a broadcast channel may name.
#[derive(Debug)]
pub enum FieldNames {
    /// A struct with named fields: their names.
    Named(Vec<Ident>),
    /// A tuple struct: how many fields it has.
    Tuple(usize),
    /// A unit struct: none.
    Unit,
}

/// A `#[derive(Event)]` input, read: the struct and its attributes.
pub struct EventInput<'a> {
    /// The struct's name.
    pub ident: &'a Ident,
    /// Its generics, as written.
    pub generics: &'a Generics,
    /// The fields a broadcast channel may name.
    pub fields: FieldNames,
    /// Its `#[event(...)]` keys.
    pub attrs: EventAttrs,
}

impl std::fmt::Debug for EventInput<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EventInput")
            .field("ident", &self.ident)
            .field("generics", &Tokens(self.generics))
            .field("fields", &self.fields)
            .field("attrs", &self.attrs)
            .finish()
    }
}

/// Reads a derive input; `None` (with an error recorded) for enums and unions.
pub fn event_input<'a>(cx: &mut Ctxt, input: &'a DeriveInput) -> Option<EventInput<'a>> {
    let attrs = event_attrs(cx, &input.attrs);
    let fields = match &input.data {
        Data::Struct(data) => match &data.fields {
            Fields::Named(named) => {
                FieldNames::Named(named.named.iter().filter_map(|f| f.ident.clone()).collect())
            }
            Fields::Unnamed(unnamed) => FieldNames::Tuple(unnamed.unnamed.len()),
            Fields::Unit => FieldNames::Unit,
        },
        Data::Enum(data) => {
            cx.error_spanned_by(
                data.enum_token,
                "`#[derive(Event)]` supports structs only, not enums: an event is one thing \
                 that happened; make a struct per event (named fields, tuple or unit)",
            );
            return None;
        }
        Data::Union(data) => {
            cx.error_spanned_by(
                data.union_token,
                "`#[derive(Event)]` supports structs only, not unions: make the event a struct \
                 (named fields, tuple or unit)",
            );
            return None;
        }
    };
    Some(EventInput {
        ident: &input.ident,
        generics: &input.generics,
        fields,
        attrs,
    })
}

fn event_attrs(cx: &mut Ctxt, attrs: &[Attribute]) -> EventAttrs {
    let mut raw = Vec::new();
    for attr in attrs.iter().filter(|a| a.path().is_ident("event")) {
        match &attr.meta {
            syn::Meta::List(list) => match list.parse_args_with(attr::parse_args) {
                Ok(args) => raw.extend(args),
                Err(e) => cx.syn_error(e),
            },
            other => cx.error_spanned_by(
                other,
                "expected `#[event(...)]`, e.g. `#[event(name = \"UserRegistered\", queued)]`",
            ),
        }
    }
    // Keys given in two `#[event]` attributes are duplicates too.
    let args = attr::known_args(cx, "#[event(...)]", raw, EVENT_KEYS);
    let mut out = EventAttrs::default();
    for arg in &args {
        match arg.name().as_str() {
            "name" => out.name = attr::string(cx, arg, "UserRegistered"),
            "queued" => out.queued = attr::flag(cx, arg),
            "queue" => out.queue = attr::string(cx, arg, "emails"),
            "connection" => out.connection = attr::string(cx, arg, "redis"),
            "priority" => {
                out.priority = attr::integer(cx, arg, i64::from(i32::MIN), i64::from(i32::MAX), 5)
            }
            "tags" => out.tags = attr::string_list(cx, arg),
            "broadcast" => out.broadcast = attr::string(cx, arg, "orders.{order_id}"),
            "private" => out.private = attr::flag(cx, arg),
            "presence" => out.presence = attr::flag(cx, arg),
            "after_commit" => out.after_commit = attr::flag(cx, arg),
            "crate" => out.krate = attr::crate_path(cx, arg),
            // `known_args` kept only the keys above.
            _ => {}
        }
    }
    out
}

// ----- #[listener(...)] -----------------------------------------------------

/// The keys of a `#[listener(...)]`, typed but not yet checked against
/// each other (`None`: not written, or written with a bad value).
#[derive(Default)]
pub struct ListenerAttrs {
    /// `event = E`: the event type the listener handles.
    pub event: Option<syn::Type>,
    /// `event = ...` was written, even if its value was bad.
    pub event_given: bool,
    /// Where the `queued` flag was written.
    pub queued: Option<Span>,
    /// `queue = "..."`.
    pub queue: Option<LitStr>,
    /// `connection = "..."`.
    pub connection: Option<LitStr>,
    /// `tries = N` (0: no limit), and where it was written.
    pub tries: Option<(i64, Span)>,
    /// `backoff = [secs, ...]`, in seconds.
    pub backoff: Option<Vec<u64>>,
    /// `timeout = secs` (0: none), and where it was written.
    pub timeout: Option<(i64, Span)>,
    /// `delay = secs`, and where it was written.
    pub delay: Option<(i64, Span)>,
    /// `max_exceptions = N` (at least 1), and where it was written.
    pub max_exceptions: Option<(i64, Span)>,
    /// Where the `after_commit` flag was written.
    pub after_commit: Option<Span>,
    /// `middleware = ["..."]`, unchecked.
    pub middleware: Option<Vec<LitStr>>,
    /// `name = "..."`: the listener's `listener_name()`.
    pub name: Option<LitStr>,
    /// `replayable = false`: the listener's `replayable()`.
    pub replayable: Option<bool>,
    /// `queue_if = path`: the fn deciding per event whether to queue.
    pub queue_if: Option<syn::Path>,
    /// `backoff = "exponential:BASE,MAX"`: (base, max) seconds.
    pub backoff_exponential: Option<(u64, u64)>,
    /// `retry_until = secs` (at least 1), and where it was written.
    pub retry_until: Option<(i64, Span)>,
    /// Where the `jitter` flag was written.
    pub jitter: Option<Span>,
    /// `unique_id = <callable taking &E>`: its tokens, and where they are.
    pub unique_id: Option<(TokenStream, Span)>,
    /// `unique_for = secs` (at least 1), and where it was written.
    pub unique_for: Option<(i64, Span)>,
    /// Where the `unique_until_processing` flag was written.
    pub unique_until_processing: Option<Span>,
    /// Where the `encrypted` flag was written.
    pub encrypted: Option<Span>,
    /// `crate = "path"`: event-core's path when renamed.
    pub krate: Option<syn::Path>,
}

impl std::fmt::Debug for ListenerAttrs {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ListenerAttrs")
            .field("event", &opt(&self.event))
            .field("event_given", &self.event_given)
            .field("queued", &self.queued)
            .field("queue", &opt(&self.queue))
            .field("connection", &opt(&self.connection))
            .field("tries", &self.tries)
            .field("backoff", &self.backoff)
            .field("timeout", &self.timeout)
            .field("delay", &self.delay)
            .field("max_exceptions", &self.max_exceptions)
            .field("after_commit", &self.after_commit)
            .field("middleware", &self.middleware.as_deref().map(list))
            .field("name", &opt(&self.name))
            .field("replayable", &self.replayable)
            .field("queue_if", &opt(&self.queue_if))
            .field("backoff_exponential", &self.backoff_exponential)
            .field("retry_until", &self.retry_until)
            .field("jitter", &self.jitter)
            .field(
                "unique_id",
                &self.unique_id.as_ref().map(|(t, _)| t.to_string()),
            )
            .field("unique_for", &self.unique_for)
            .field("unique_until_processing", &self.unique_until_processing)
            .field("encrypted", &self.encrypted)
            .field("krate", &opt(&self.krate))
            .finish()
    }
}

/// Reads `#[listener(...)]`'s arguments, recording every bad key in `cx`
/// and leaving it out.
pub fn listener_attrs(cx: &mut Ctxt, args: TokenStream) -> ListenerAttrs {
    listener_attrs_in(cx, args, "#[listener(...)]")
}

/// [`listener_attrs`], for the attribute `what` (`#[listen(...)]` on a
/// subscriber's method takes the same keys), named in its errors.
pub fn listener_attrs_in(cx: &mut Ctxt, args: TokenStream, what: &str) -> ListenerAttrs {
    let raw = match attr::parse_args.parse2(args) {
        Ok(raw) => raw,
        Err(e) => {
            cx.syn_error(e);
            return ListenerAttrs::default();
        }
    };
    let args = attr::known_args(cx, what, raw, LISTENER_KEYS);
    let max = i64::from(u32::MAX);
    let mut out = ListenerAttrs::default();
    for arg in &args {
        match arg.name().as_str() {
            "event" => {
                out.event_given = true;
                out.event = attr::ty(cx, arg);
            }
            "queued" => out.queued = attr::flag(cx, arg),
            "queue" => out.queue = attr::string(cx, arg, "emails"),
            "connection" => out.connection = attr::string(cx, arg, "redis"),
            // 0: no limit, and a zero timeout none (Laravel's zeros).
            "tries" => out.tries = attr::integer(cx, arg, 0, max, 3),
            "backoff" if attr::is_string(arg) => {
                out.backoff_exponential = attr::exponential(cx, arg)
            }
            "backoff" => out.backoff = attr::seconds_list(cx, arg),
            "timeout" => out.timeout = attr::integer(cx, arg, 0, max, 60),
            "delay" => out.delay = attr::integer(cx, arg, 0, max, 10),
            "max_exceptions" => out.max_exceptions = attr::integer(cx, arg, 1, max, 3),
            "after_commit" => out.after_commit = attr::flag(cx, arg),
            "middleware" => {
                out.middleware = attr::bracket_strings(cx, arg, "middleware = [\"throttle:10,1\"]")
            }
            "name" => out.name = attr::string(cx, arg, "send-welcome-email"),
            "replayable" => out.replayable = attr::boolean(cx, arg),
            "queue_if" => out.queue_if = attr::fn_path(cx, arg, "queue_if = Self::is_large"),
            "retry_until" => out.retry_until = attr::integer(cx, arg, 1, max, 3600),
            "jitter" => out.jitter = attr::flag(cx, arg),
            "unique_id" => out.unique_id = attr::callable(cx, arg),
            "unique_for" => out.unique_for = attr::integer(cx, arg, 1, max, 3600),
            "unique_until_processing" => out.unique_until_processing = attr::flag(cx, arg),
            "encrypted" => out.encrypted = attr::flag(cx, arg),
            "crate" => out.krate = attr::crate_path(cx, arg),
            // `known_args` kept only the keys above.
            _ => {}
        }
    }
    out
}

/// An `async fn` whose body is kept as tokens: the macro never needs to look
/// inside it, and not parsing it keeps the macro fast.
pub struct FnItem {
    /// The function's signature.
    pub sig: Signature,
}

impl std::fmt::Debug for FnItem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FnItem")
            .field("sig", &Tokens(&self.sig))
            .finish_non_exhaustive()
    }
}

impl Parse for FnItem {
    fn parse(input: ParseStream) -> syn::Result<Self> {
        input.call(Attribute::parse_outer)?;
        input.parse::<Visibility>()?;
        let sig: Signature = input.parse()?;
        match input.parse::<TokenTree>()? {
            TokenTree::Group(g) if g.delimiter() == proc_macro2::Delimiter::Brace => {}
            other => return Err(syn::Error::new(other.span(), "expected the function body")),
        }
        if !input.is_empty() {
            return Err(input.error("unexpected tokens after the function"));
        }
        Ok(FnItem { sig })
    }
}

/// The item `#[listener]` sits on.
pub enum ListenerItem {
    /// `async fn name(event: &E)`.
    Fn(FnItem),
    /// `impl T { async fn handle(&self, event: &E) ... }`.
    Impl(syn::ItemImpl),
    /// A `#[listen]` method of a `#[subscriber]` impl block:
    /// `async fn name(&self, event: &E)`.
    Method(FnItem),
}

impl std::fmt::Debug for ListenerItem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Fn(item) => f.debug_tuple("Fn").field(item).finish(),
            Self::Impl(item) => f.debug_tuple("Impl").field(&Tokens(&item.self_ty)).finish(),
            Self::Method(item) => f.debug_tuple("Method").field(item).finish(),
        }
    }
}

/// Reads the item `#[listener]` sits on: an `async fn` or an `impl` block.
pub fn listener_item(item: TokenStream) -> syn::Result<ListenerItem> {
    let is_impl = (|input: ParseStream| {
        input.call(Attribute::parse_outer)?;
        let is_impl = input.peek(syn::Token![impl])
            || (input.peek(syn::Token![unsafe]) && input.peek2(syn::Token![impl]));
        input.parse::<TokenStream>()?;
        Ok(is_impl)
    })
    .parse2(item.clone())
    .unwrap_or(false);
    if is_impl {
        return syn::parse2(item).map(ListenerItem::Impl);
    }
    syn::parse2::<FnItem>(item)
        .map(ListenerItem::Fn)
        .map_err(|e| {
            syn::Error::new(
                e.span(),
                "`#[listener]` goes on an `async fn name(event: &E) -> anyhow::Result<()>` \
                 or on an `impl T { async fn handle(&self, event: &E) -> anyhow::Result<()> }` block",
            )
        })
}
