//! Validate a `#[subscriber]` impl block: each `#[listen(...)]` method is
//! a listener, read by the listener attribute's own parser and rules
//! ([`crate::ast::listener_attrs`], [`super::listener`]), with `event`
//! taken from the method's argument when not written.

use proc_macro2::TokenStream;
use syn::{FnArg, ImplItem, ImplItemFn, Type};

use super::default_crate;
use super::listener::listener;
use super::model::{ListenerKind, ListenerModel};
use crate::ast::{self, FnItem, ListenerItem};
use crate::ctxt::Ctxt;
use crate::debug::Tokens;

/// A validated `#[subscriber]`: what the macro expands.
pub struct SubscriberModel {
    /// event-core's path (the first `#[listen(crate = "...")]`, else `::event_core`).
    pub krate: syn::Path,
    /// The subscriber type.
    pub self_ty: Box<Type>,
    /// One listener per `#[listen]` method, in order.
    pub listeners: Vec<ListenerModel>,
}

impl std::fmt::Debug for SubscriberModel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SubscriberModel")
            .field("krate", &Tokens(&self.krate))
            .field("self_ty", &Tokens(&*self.self_ty))
            .field("listeners", &self.listeners)
            .finish()
    }
}

/// The name of the marker attribute on a subscriber's listener methods.
pub const LISTEN: &str = "listen";

/// `#[listen]` / `#[listen(...)]` on a method: its arguments, or `None`
/// when the method has none.
pub fn listen_args(cx: &mut Ctxt, method: &ImplItemFn) -> Option<TokenStream> {
    let mut found = None;
    for attr in method.attrs.iter().filter(|a| a.path().is_ident(LISTEN)) {
        if found.is_some() {
            cx.error_spanned_by(
                attr,
                "one `#[listen(...)]` per method: put every setting in the first",
            );
            continue;
        }
        found = Some(match &attr.meta {
            syn::Meta::Path(_) => TokenStream::new(),
            syn::Meta::List(list) => list.tokens.clone(),
            syn::Meta::NameValue(nv) => {
                cx.error_spanned_by(
                    nv,
                    "write `#[listen]` or `#[listen(queued, tries = 3)]`, not `#[listen = ...]`",
                );
                TokenStream::new()
            }
        });
    }
    found
}

/// Checks a `#[subscriber]` impl block and builds its model; `None` when
/// no model can be built. Every mistake is recorded in `cx`.
pub fn subscriber(
    cx: &mut Ctxt,
    args: TokenStream,
    imp: &syn::ItemImpl,
) -> Option<SubscriberModel> {
    let mut ok = true;
    if !args.is_empty() {
        ok = false;
        cx.error_spanned_by(
            &args,
            "`#[subscriber]` takes no arguments: put each listener's settings on its \
             `#[listen(...)]`",
        );
    }
    if let Some((_, path, _)) = &imp.trait_ {
        cx.error_spanned_by(
            path,
            "`#[subscriber]` goes on an inherent impl (`impl T { #[listen] async fn ... }`), \
             not on a trait impl",
        );
        return None;
    }
    if !imp.generics.params.is_empty() {
        ok = false;
        cx.error_spanned_by(
            &imp.generics,
            "a subscriber can't be generic: each of its methods is a listener with one name",
        );
    }
    let mut listeners = Vec::new();
    let mut krate = None;
    let mut any = false;
    for item in &imp.items {
        let ImplItem::Fn(method) = item else { continue };
        let Some(args) = listen_args(cx, method) else {
            continue;
        };
        any = true;
        let mut attrs = ast::listener_attrs_in(cx, args, "#[listen(...)]");
        if attrs.event.is_none() && !attrs.event_given {
            match event_of(method) {
                Some(event) => attrs.event = Some(event),
                // The signature check reports the missing `&E`.
                None => attrs.event_given = true,
            }
        }
        if krate.is_none() {
            krate = attrs.krate.clone();
        }
        let parsed = ListenerItem::Method(FnItem {
            sig: method.sig.clone(),
        });
        match listener(cx, attrs, &parsed) {
            Some(mut model) => {
                if let ListenerKind::Method { subscriber, .. } = &mut model.kind {
                    *subscriber = imp.self_ty.clone();
                }
                listeners.push(model);
            }
            None => ok = false,
        }
    }
    if !any {
        cx.error_spanned_by(
            &imp.self_ty,
            "a subscriber needs at least one `#[listen]` method: \
             `#[listen] async fn name(&self, event: &E) -> anyhow::Result<()>`",
        );
        return None;
    }
    ok.then(|| SubscriberModel {
        krate: krate.unwrap_or_else(default_crate),
        self_ty: imp.self_ty.clone(),
        listeners,
    })
}

/// `E` of the method's `event: &E`.
fn event_of(method: &ImplItemFn) -> Option<Type> {
    match method.sig.inputs.iter().nth(1)? {
        FnArg::Typed(arg) => match &*arg.ty {
            Type::Reference(r) if r.mutability.is_none() => Some((*r.elem).clone()),
            _ => None,
        },
        FnArg::Receiver(_) => None,
    }
}
