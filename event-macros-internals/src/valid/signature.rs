//! The shape of a listener's signature: `async fn name(event: &E)`, an
//! impl block's `async fn handle(&self, event: &E)` or a subscriber's
//! `#[listen] async fn name(&self, event: &E)`, each returning
//! `anyhow::Result<()>` (or `anyhow::Result<Propagation>`, to be able to
//! stop the dispatch's remaining listeners); every mistake says which
//! shape is expected.

use syn::{FnArg, Ident, ReturnType, Signature, Type};

use super::model::{ListenerKind, Returns};
use crate::ctxt::Ctxt;

const FN_SHAPE: &str = "async fn name(event: &E) -> anyhow::Result<()>";
const HANDLE_SHAPE: &str = "async fn handle(&self, event: &E) -> anyhow::Result<()>";
const METHOD_SHAPE: &str = "#[listen] async fn name(&self, event: &E) -> anyhow::Result<()>";

/// `Some(stops)` when the fn is a listener fn; `stops`: it returns
/// `Result<Propagation>`.
pub(super) fn check_fn(cx: &mut Ctxt, sig: &Signature, event: Option<&Type>) -> Option<bool> {
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
    let stops = handle_returns(cx, sig);
    ok &= stops.is_some();
    ok.then(|| stops == Some(true))
}

/// A `#[listen]` method of a subscriber: `Some(stops)` when it has the shape.
pub(super) fn check_listen_method(
    cx: &mut Ctxt,
    sig: &Signature,
    event: Option<&Type>,
) -> Option<bool> {
    let mut ok = check_method(cx, sig, event, METHOD_SHAPE, 1);
    let stops = handle_returns(cx, sig);
    ok &= stops.is_some();
    ok.then(|| stops == Some(true))
}

/// What a listener's handler returns: `Some(false)` for `Result<()>`,
/// `Some(true)` for `Result<Propagation>`, `None` (reported) otherwise.
fn handle_returns(cx: &mut Ctxt, sig: &Signature) -> Option<bool> {
    if let ReturnType::Type(_, ty) = &sig.output
        && let Type::Path(p) = strip(ty)
        && p.qself.is_none()
        && let Some(last) = p.path.segments.last()
        && last.ident == "Result"
        && let syn::PathArguments::AngleBracketed(args) = &last.arguments
        && let Some(syn::GenericArgument::Type(first)) = args.args.first()
        && last_ident(first).is_some_and(|i| i == "Propagation")
    {
        return Some(true);
    }
    check_returns(cx, sig, false).map(|_| false)
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

pub(super) fn check_impl(
    cx: &mut Ctxt,
    imp: &syn::ItemImpl,
    event: Option<&Type>,
) -> Option<ListenerKind> {
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
    let stops = handle_returns(cx, handle);
    ok &= stops.is_some();
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
        stops: stops == Some(true),
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
