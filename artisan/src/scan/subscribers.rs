//! Collecting subscribers: `#[subscriber]` impl blocks, checked by the
//! macro's own parser and validator; each `#[listen]` method is a
//! listener (`UserEventSubscriber::on_login`), wired by subscribing the
//! type once.

use event_macros_internals::ctxt::Ctxt;
use event_macros_internals::valid::{self, ListenerKind};

use super::syntax::{
    construct_expr, find_attr, last_ident, line_of, not_compiling, self_type_name,
};
use super::{ListenerInfo, ModFile, Scan};

/// Is `imp` a `#[subscriber]` impl block?
pub(super) fn is_subscriber(imp: &syn::ItemImpl) -> bool {
    find_attr(&imp.attrs, "subscriber").is_some()
}

pub(super) fn collect_subscriber(
    file: &ModFile,
    items: &[syn::Item],
    imp: &syn::ItemImpl,
    scan: &mut Scan,
) {
    let rel = file.rel.clone();
    let line = line_of(imp.impl_token.span);
    let Some(type_name) = self_type_name(imp) else {
        scan.notes.push(format!(
            "{rel}:{line}: a #[subscriber] on a type artisan cannot name is not wired"
        ));
        return;
    };
    let args = match find_attr(&imp.attrs, "subscriber").map(|a| &a.meta) {
        Some(syn::Meta::List(list)) => list.tokens.clone(),
        _ => proc_macro2::TokenStream::new(),
    };
    // The macro's own parser and rules, on the same tokens it gets.
    let mut cx = Ctxt::new();
    let model = valid::subscriber(&mut cx, args, imp);
    if let Err(e) = cx.check() {
        not_compiling(&mut scan.notes, &rel, &type_name, e, line);
        return;
    }
    let Some(model) = model else { return };
    let construct = construct_expr(items, &type_name);
    if construct.is_none() {
        scan.notes.push(format!(
            "{rel}: {type_name} is not wired: artisan can build only unit structs or types that \
             derive Default; subscribe it by hand"
        ));
    }
    for listener in model.listeners {
        let ListenerKind::Method { method, .. } = &listener.kind else {
            continue;
        };
        let name = format!("{type_name}::{method}");
        let Some(event) = last_ident(&listener.event) else {
            scan.notes.push(format!(
                "{rel}: {name} listens to a type artisan cannot name, so it is not listed"
            ));
            continue;
        };
        let method_line = imp
            .items
            .iter()
            .find_map(|i| match i {
                syn::ImplItem::Fn(f) if f.sig.ident == *method => Some(line_of(f.sig.ident.span())),
                _ => None,
            })
            .unwrap_or(line);
        scan.listeners.push(ListenerInfo {
            type_name: name,
            event,
            module: file.module.clone(),
            file: rel.clone(),
            line: method_line,
            queued: listener.knobs.queued,
            queue: listener.knobs.queue,
            connection: listener.knobs.connection,
            construct: construct.clone(),
            subscriber: Some(type_name.clone()),
        });
    }
}
