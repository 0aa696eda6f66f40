//! Collecting listeners: `#[listener(...)]` functions and impl blocks,
//! checked by the macro's own parser and validator, and hand-written
//! `impl EventListener for T` reported as not wired.

use std::collections::BTreeMap;

use event_macros_internals::ctxt::Ctxt;
use event_macros_internals::valid::ListenerKind;
use event_macros_internals::{ast, naming, valid};
use quote::ToTokens;

use super::subscribers::{collect_subscriber, is_subscriber};
use super::syntax::{
    construct_expr, find_attr, is_trait_impl, last_ident, line_of, not_compiling, self_type_name,
};
use super::{ListenerInfo, ModFile, Scan, UnwiredListener};

pub(super) fn collect_listeners(file: &ModFile, items: &[syn::Item], scan: &mut Scan) {
    let rel = file.rel.clone();
    let hand_written = hand_written_listeners(items);
    for item in items {
        let (attr, tokens, construct_of, line) = match item {
            syn::Item::Fn(f) => {
                let Some(attr) = find_attr(&f.attrs, "listener") else {
                    continue;
                };
                (attr, f.to_token_stream(), None, line_of(f.sig.ident.span()))
            }
            syn::Item::Impl(imp) if imp.trait_.is_none() && is_subscriber(imp) => {
                collect_subscriber(file, items, imp, scan);
                continue;
            }
            syn::Item::Impl(imp) if imp.trait_.is_none() => {
                let Some(attr) = find_attr(&imp.attrs, "listener") else {
                    continue;
                };
                (
                    attr,
                    imp.to_token_stream(),
                    self_type_name(imp),
                    line_of(imp.impl_token.span),
                )
            }
            syn::Item::Impl(imp) if is_trait_impl(imp, "EventListener") => {
                if let Some(type_name) = self_type_name(imp) {
                    let unreachable = hand_written
                        .get(type_name.as_str())
                        .is_some_and(|h| h.should_queue_impl && !h.opts_in);
                    scan.unwired.push(UnwiredListener {
                        type_name,
                        file: rel.clone(),
                        line: line_of(imp.impl_token.span),
                        should_queue_unreachable: unreachable,
                    });
                }
                continue;
            }
            _ => continue,
        };
        // The macro's own parser and rules, on the same tokens it gets.
        let args = match &attr.meta {
            syn::Meta::List(list) => list.tokens.clone(),
            _ => proc_macro2::TokenStream::new(),
        };
        let mut cx = Ctxt::new();
        let attrs = ast::listener_attrs(&mut cx, args);
        let model = match ast::listener_item(tokens) {
            Ok(parsed) => valid::listener(&mut cx, attrs, &parsed),
            Err(e) => {
                cx.syn_error(e);
                None
            }
        };
        let shown = construct_of.clone().unwrap_or_else(|| match item {
            syn::Item::Fn(f) => naming::listener_type_name(&f.sig.ident.to_string()),
            _ => String::new(),
        });
        if let Err(e) = cx.check() {
            not_compiling(&mut scan.notes, &rel, &shown, e, line);
            continue;
        }
        let Some(model) = model else { continue };
        let (type_name, construct) = match &model.kind {
            ListenerKind::Fn { listener, .. } => {
                let name = listener.to_string();
                (name.clone(), Some(name))
            }
            // `#[listener]` never builds a method (`collect_subscriber` does).
            ListenerKind::Method { .. } => continue,
            ListenerKind::Impl { .. } => {
                let type_name = shown.clone();
                let construct = construct_expr(items, &type_name);
                if construct.is_none() {
                    scan.notes.push(format!(
                        "{rel}: {type_name} is not wired: artisan can build only unit structs \
                         or types that derive Default; register it by hand"
                    ));
                }
                (type_name, construct)
            }
        };
        let Some(event) = last_ident(&model.event) else {
            scan.notes.push(format!(
                "{rel}: {type_name} listens to a type artisan cannot name, so it is not wired"
            ));
            continue;
        };
        scan.listeners.push(ListenerInfo {
            type_name,
            event,
            module: file.module.clone(),
            file: rel.clone(),
            line,
            queued: model.knobs.queued,
            queue: model.knobs.queue,
            connection: model.knobs.connection,
            construct,
            subscriber: None,
        });
    }
}

/// What a file says about its hand-written listener types.
#[derive(Default)]
struct HandWritten {
    /// `impl ShouldQueueListener for T` is there.
    should_queue_impl: bool,
    /// `impl EventListener for T` overrides `as_should_queue_listener`, so a
    /// queue can reach those settings through `Arc<dyn EventListener>`.
    opts_in: bool,
}

fn hand_written_listeners(items: &[syn::Item]) -> BTreeMap<String, HandWritten> {
    let mut out: BTreeMap<String, HandWritten> = BTreeMap::new();
    for item in items {
        let syn::Item::Impl(imp) = item else { continue };
        let Some(type_name) = self_type_name(imp) else {
            continue;
        };
        if is_trait_impl(imp, "ShouldQueueListener") {
            out.entry(type_name).or_default().should_queue_impl = true;
        } else if is_trait_impl(imp, "EventListener") {
            let opts_in = imp.items.iter().any(
                |i| matches!(i, syn::ImplItem::Fn(f) if f.sig.ident == "as_should_queue_listener"),
            );
            out.entry(type_name).or_default().opts_in |= opts_in;
        }
    }
    out
}
