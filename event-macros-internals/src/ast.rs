//! Parse: the macro input and its attribute arguments, read into plain
//! structs. Values are typed here; rules about what goes together live in
//! `valid.rs`.

use proc_macro2::{Span, TokenStream, TokenTree};
use syn::parse::{Parse, ParseStream, Parser};
use syn::{Attribute, Data, DeriveInput, Fields, Generics, Ident, LitStr, Signature, Visibility};

use crate::attr;
use crate::ctxt::Ctxt;

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
    "crate",
];

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
    "crate",
];

// ----- #[derive(Event)] -----------------------------------------------------

#[derive(Default)]
pub struct EventAttrs {
    pub name: Option<LitStr>,
    pub queued: Option<Span>,
    pub queue: Option<LitStr>,
    pub connection: Option<LitStr>,
    pub priority: Option<(i64, Span)>,
    pub tags: Option<Vec<LitStr>>,
    pub broadcast: Option<LitStr>,
    pub private: Option<Span>,
    pub presence: Option<Span>,
    pub krate: Option<syn::Path>,
}

/// The fields a broadcast channel may name.
pub enum FieldNames {
    Named(Vec<Ident>),
    Tuple(usize),
    Unit,
}

pub struct EventInput<'a> {
    pub ident: &'a Ident,
    pub generics: &'a Generics,
    pub fields: FieldNames,
    pub attrs: EventAttrs,
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
            "crate" => out.krate = attr::crate_path(cx, arg),
            // `known_args` kept only the keys above.
            _ => {}
        }
    }
    out
}

// ----- #[listener(...)] -----------------------------------------------------

#[derive(Default)]
pub struct ListenerAttrs {
    pub event: Option<syn::Type>,
    /// `event = ...` was written, even if its value was bad.
    pub event_given: bool,
    pub queued: Option<Span>,
    pub queue: Option<LitStr>,
    pub connection: Option<LitStr>,
    pub tries: Option<(i64, Span)>,
    pub backoff: Option<Vec<u64>>,
    pub timeout: Option<(i64, Span)>,
    pub delay: Option<(i64, Span)>,
    pub max_exceptions: Option<(i64, Span)>,
    pub after_commit: Option<Span>,
    pub middleware: Option<Vec<LitStr>>,
    pub name: Option<LitStr>,
    pub krate: Option<syn::Path>,
}

pub fn listener_attrs(cx: &mut Ctxt, args: TokenStream) -> ListenerAttrs {
    let raw = match attr::parse_args.parse2(args) {
        Ok(raw) => raw,
        Err(e) => {
            cx.syn_error(e);
            return ListenerAttrs::default();
        }
    };
    let args = attr::known_args(cx, "#[listener(...)]", raw, LISTENER_KEYS);
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
            "backoff" => out.backoff = attr::seconds_list(cx, arg),
            "timeout" => out.timeout = attr::integer(cx, arg, 0, max, 60),
            "delay" => out.delay = attr::integer(cx, arg, 0, max, 10),
            "max_exceptions" => out.max_exceptions = attr::integer(cx, arg, 1, max, 3),
            "after_commit" => out.after_commit = attr::flag(cx, arg),
            "middleware" => {
                out.middleware = attr::bracket_strings(cx, arg, "middleware = [\"throttle:10,1\"]")
            }
            "name" => out.name = attr::string(cx, arg, "send-welcome-email"),
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
    pub sig: Signature,
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

pub enum ListenerItem {
    Fn(FnItem),
    Impl(syn::ItemImpl),
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
