//! Validate: every rule about what may be combined, and the shape of a
//! listener's signature. Produces the models `expand.rs` trusts.

use proc_macro2::Span;
use quote::format_ident;
use syn::ext::IdentExt;
use syn::{FnArg, GenericParam, Generics, Ident, ReturnType, Signature, Type};

use crate::ast::{EventInput, FieldNames, FnItem, ListenerAttrs, ListenerItem};
use crate::ctxt::Ctxt;

// ----- events ---------------------------------------------------------------

pub struct EventModel<'a> {
    pub ident: &'a Ident,
    pub generics: &'a Generics,
    pub krate: syn::Path,
    pub name: String,
    /// Where `queued` (or the `queue`/`connection` that implied it) was written.
    pub queued: Option<Span>,
    pub queue: Option<String>,
    pub connection: Option<String>,
    pub priority: Option<i32>,
    pub tags: Option<Vec<String>>,
    pub broadcast: Option<Broadcast>,
}

pub struct Broadcast {
    /// A `format!` string: the template with each placeholder as `{}`.
    pub format: String,
    pub fields: Vec<FieldRef>,
    pub span: Span,
    pub private: bool,
    pub presence: bool,
}

pub enum FieldRef {
    Named(Ident),
    Index(usize),
}

pub fn default_crate() -> syn::Path {
    syn::parse_quote!(::event_core)
}

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

// ----- listeners ------------------------------------------------------------

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

const FN_SHAPE: &str = "async fn name(event: &E) -> anyhow::Result<()>";
const HANDLE_SHAPE: &str = "async fn handle(&self, event: &E) -> anyhow::Result<()>";

pub fn listener(cx: &mut Ctxt, attrs: ListenerAttrs, item: &ListenerItem) -> Option<ListenerModel> {
    let Some(event) = attrs.event.clone() else {
        if attrs.event_given {
            // Its bad value is reported already.
            check_item(cx, item, None);
            return None;
        }
        cx.error_at(
            Span::call_site(),
            "missing `event = ...`: name the event this listener handles, e.g. \
             `#[listener(event = UserRegisteredEvent)]`",
        );
        // Still check the item, so every mistake shows in one build.
        check_item(cx, item, None);
        return None;
    };
    let kind = check_item(cx, item, Some(&event))?;
    let knobs = Knobs {
        queued: attrs.queued.is_some() || attrs.queue.is_some() || attrs.connection.is_some(),
        queue: attrs.queue.map(|l| l.value()),
        connection: attrs.connection.map(|l| l.value()),
        tries: attrs.tries.map(|(n, _)| n as u32),
        backoff: attrs.backoff,
        timeout: attrs.timeout.map(|(n, _)| n as u64),
        delay: attrs.delay.map(|(n, _)| n as u64),
        max_exceptions: attrs.max_exceptions.map(|(n, _)| n as u32),
        after_commit: attrs.after_commit.is_some(),
        middleware: middleware(cx, attrs.middleware.as_deref().unwrap_or_default()),
        name: attrs.name.map(|l| l.value()),
    };
    Some(ListenerModel {
        krate: attrs.krate.unwrap_or_else(default_crate),
        event,
        kind,
        knobs,
    })
}

/// The built-in middleware need their arguments (`throttle:N,M`,
/// `rate_limited:NAME`, `without_overlapping:KEY`); any other name is
/// middleware written in Rust, which the worker's registry checks. The
/// syntax is [`crate::middleware::parse`], the one the runtime reads.
fn middleware(cx: &mut Ctxt, items: &[syn::LitStr]) -> Vec<String> {
    use crate::middleware::{EXPECTED, SyntaxError, parse};
    let mut out = Vec::new();
    for lit in items {
        let text = lit.value();
        match parse(&text) {
            Ok(_) => out.push(text),
            Err(SyntaxError::Unknown) => cx.error_spanned_by(
                lit,
                format_args!("unknown job middleware `{text}`; expected {EXPECTED}"),
            ),
            Err(SyntaxError::Malformed(reason)) => cx.error_spanned_by(
                lit,
                format_args!("job middleware `{text}`: {reason}; expected {EXPECTED}"),
            ),
        }
    }
    out
}

fn check_item(cx: &mut Ctxt, item: &ListenerItem, event: Option<&Type>) -> Option<ListenerKind> {
    match item {
        ListenerItem::Fn(FnItem { sig }) => {
            let ok = check_fn(cx, sig, event);
            ok.then(|| ListenerKind::Fn {
                function: sig.ident.clone(),
                listener: listener_ident(&sig.ident),
            })
        }
        ListenerItem::Impl(imp) => check_impl(cx, imp, event),
    }
}

/// The unit struct generated for the listener fn `function`.
pub fn listener_ident(function: &Ident) -> Ident {
    format_ident!(
        "{}",
        crate::naming::listener_type_name(&function.to_string()),
        span = function.span()
    )
}

fn check_fn(cx: &mut Ctxt, sig: &Signature, event: Option<&Type>) -> bool {
    let mut ok = true;
    if sig.asyncness.is_none() {
        ok = false;
        cx.error_spanned_by(
            sig.fn_token,
            format_args!("a listener fn must be `async`: `{FN_SHAPE}`"),
        );
    }
    if !sig.generics.params.is_empty() {
        ok = false;
        cx.error_spanned_by(
            &sig.generics,
            "a listener fn can't be generic: it handles one event type",
        );
    }
    let args: Vec<&FnArg> = sig.inputs.iter().collect();
    match args.as_slice() {
        [] => {
            ok = false;
            cx.error_at(
                sig.paren_token.span.join(),
                format_args!("a listener fn takes the event it handles: `{FN_SHAPE}`"),
            );
        }
        [FnArg::Receiver(r), ..] => {
            ok = false;
            cx.error_spanned_by(
                r,
                format_args!(
                    "a listener fn takes no `self`; for a listener with state, put \
                     `#[listener(...)]` on an `impl` block with `{HANDLE_SHAPE}`"
                ),
            );
        }
        [FnArg::Typed(arg)] => ok &= check_event_arg(cx, &arg.ty, event),
        [_, extra, ..] => {
            ok = false;
            cx.error_spanned_by(
                extra,
                format_args!("a listener fn takes exactly one argument, the event: `{FN_SHAPE}`"),
            );
        }
    }
    ok &= check_returns(cx, sig, false).is_some();
    ok
}

/// `event: &E`, with `E` the type in `event = E`.
fn check_event_arg(cx: &mut Ctxt, ty: &Type, event: Option<&Type>) -> bool {
    let shown = event.map_or_else(|| "E".to_string(), type_to_string);
    let Type::Reference(reference) = strip(ty) else {
        cx.error_spanned_by(
            ty,
            format_args!(
                "a listener takes the event by reference: `event: &{shown}` (events are \
                 shared between listeners)"
            ),
        );
        return false;
    };
    if let Some(m) = reference.mutability {
        cx.error_spanned_by(
            m,
            format_args!("a listener gets a shared reference: `event: &{shown}`, not `&mut`"),
        );
        return false;
    }
    // Paths may differ (`crate::events::E` vs `E`); the last name may not.
    // A difference beyond that is left to the type checker.
    if let (Some(event), Some(arg)) = (event.and_then(last_ident), last_ident(&reference.elem))
        && event != arg
    {
        cx.error_spanned_by(
            &reference.elem,
            format_args!(
                "this listener handles `{shown}` (`event = {shown}`), so it takes \
                 `&{shown}`, not `&{}`",
                type_to_string(&reference.elem)
            ),
        );
        return false;
    }
    true
}

fn strip(ty: &Type) -> &Type {
    match ty {
        Type::Group(g) => strip(&g.elem),
        Type::Paren(p) => strip(&p.elem),
        other => other,
    }
}

fn last_ident(ty: &Type) -> Option<&Ident> {
    match strip(ty) {
        Type::Path(p) if p.qself.is_none() => p.path.segments.last().map(|s| &s.ident),
        _ => None,
    }
}

fn type_to_string(ty: &Type) -> String {
    quote::ToTokens::to_token_stream(ty)
        .to_string()
        .replace(" :: ", "::")
        .replace(":: ", "::")
        .replace(" < ", "<")
        .replace(" >", ">")
        .replace("& ", "&")
}

/// `-> anyhow::Result<()>` (any `Result<(), E>` whose error converts into
/// `anyhow::Error`); `-> ()` too when `unit_ok`.
fn check_returns(cx: &mut Ctxt, sig: &Signature, unit_ok: bool) -> Option<Returns> {
    let expected = if unit_ok {
        "`anyhow::Result<()>` or nothing"
    } else {
        "`anyhow::Result<()>`"
    };
    let ty = match &sig.output {
        ReturnType::Default if unit_ok => return Some(Returns::Unit),
        ReturnType::Default => {
            cx.error_at(
                sig.paren_token.span.close(),
                format_args!("a listener returns {expected}: add `-> anyhow::Result<()>`"),
            );
            return None;
        }
        ReturnType::Type(_, ty) => strip(ty),
    };
    if let Type::Tuple(t) = ty
        && t.elems.is_empty()
        && unit_ok
    {
        return Some(Returns::Unit);
    }
    let is_result = match ty {
        Type::Path(p) if p.qself.is_none() => p.path.segments.last().is_some_and(|s| {
            s.ident == "Result"
                && match &s.arguments {
                    syn::PathArguments::AngleBracketed(args) => {
                        matches!(args.args.first(), Some(syn::GenericArgument::Type(Type::Tuple(t))) if t.elems.is_empty())
                    }
                    syn::PathArguments::None => true,
                    syn::PathArguments::Parenthesized(_) => false,
                }
        }),
        _ => false,
    };
    if is_result {
        Some(Returns::Result)
    } else {
        cx.error_spanned_by(
            ty,
            format_args!(
                "a listener returns {expected}, not `{}`",
                type_to_string(ty)
            ),
        );
        None
    }
}

fn check_impl(cx: &mut Ctxt, imp: &syn::ItemImpl, event: Option<&Type>) -> Option<ListenerKind> {
    if let Some((_, path, _)) = &imp.trait_ {
        cx.error_spanned_by(
            path,
            format_args!(
                "`#[listener]` goes on an inherent impl (`impl T {{ {HANDLE_SHAPE} }}`), \
                 not on a trait impl"
            ),
        );
        return None;
    }
    let mut handle = None;
    let mut failed = None;
    for item in &imp.items {
        if let syn::ImplItem::Fn(f) = item {
            if f.sig.ident == "handle" {
                handle = Some(&f.sig);
            } else if f.sig.ident == "failed" {
                failed = Some(&f.sig);
            }
        }
    }
    let Some(handle) = handle else {
        cx.error_spanned_by(
            &imp.self_ty,
            format_args!("a listener impl needs `{HANDLE_SHAPE}`; none found in this block"),
        );
        return None;
    };
    let mut ok = check_method(cx, handle, event, HANDLE_SHAPE, 1);
    ok &= check_returns(cx, handle, false).is_some();
    let failed_returns = match failed {
        Some(sig) => {
            let shape =
                "async fn failed(&self, event: &E, error: &anyhow::Error) -> anyhow::Result<()>";
            ok &= check_method(cx, sig, event, shape, 2);
            if let Some(FnArg::Typed(error)) = sig.inputs.iter().nth(2)
                && !matches!(strip(&error.ty), Type::Reference(r) if r.mutability.is_none())
            {
                ok = false;
                cx.error_spanned_by(
                    &error.ty,
                    format_args!("the error comes by reference: `{shape}`"),
                );
            }
            let returns = check_returns(cx, sig, true);
            ok &= returns.is_some();
            returns
        }
        None => None,
    };
    ok.then(|| ListenerKind::Impl {
        self_ty: imp.self_ty.clone(),
        generics: imp.generics.clone(),
        failed: failed_returns,
    })
}

/// `async fn name(&self, event: &E, ...)` with `extra` arguments after self.
fn check_method(
    cx: &mut Ctxt,
    sig: &Signature,
    event: Option<&Type>,
    shape: &str,
    extra: usize,
) -> bool {
    let mut ok = true;
    if sig.asyncness.is_none() {
        ok = false;
        cx.error_spanned_by(
            sig.fn_token,
            format_args!("this must be `async`: `{shape}`"),
        );
    }
    if !sig.generics.params.is_empty() {
        ok = false;
        cx.error_spanned_by(
            &sig.generics,
            format_args!("this can't be generic: `{shape}`"),
        );
    }
    let mut inputs = sig.inputs.iter();
    match inputs.next() {
        Some(FnArg::Receiver(r)) if r.reference.is_some() && r.mutability.is_none() => {}
        Some(other) => {
            cx.error_spanned_by(other, format_args!("this takes `&self` first: `{shape}`"));
            return false;
        }
        None => {
            ok = false;
            cx.error_at(
                sig.paren_token.span.join(),
                format_args!("this takes `&self` and the event: `{shape}`"),
            );
        }
    }
    let rest: Vec<&FnArg> = inputs.collect();
    match rest.first() {
        Some(FnArg::Typed(arg)) => ok &= check_event_arg(cx, &arg.ty, event),
        Some(FnArg::Receiver(_)) => {}
        None => {
            ok = false;
            cx.error_at(
                sig.paren_token.span.join(),
                format_args!("this takes the event after `&self`: `{shape}`"),
            );
        }
    }
    if rest.len() > extra {
        ok = false;
        cx.error_spanned_by(rest[extra], format_args!("too many arguments: `{shape}`"));
    } else if !rest.is_empty() && rest.len() < extra {
        ok = false;
        cx.error_at(
            sig.paren_token.span.join(),
            format_args!("missing an argument: `{shape}`"),
        );
    }
    ok
}
