//! Collecting events: structs with `#[derive(Event)]` and hand-written
//! `impl Event for T`, checked by the macro's own parser and validator.

use event_macros_internals::ctxt::Ctxt;
use event_macros_internals::{ast, naming, valid};

use super::syntax::{derives, is_trait_impl, line_of, not_compiling, self_type_name};
use super::{EventInfo, ModFile, Scan};

pub(super) fn collect_events(file: &ModFile, items: &[syn::Item], scan: &mut Scan) {
    let rel = file.rel.clone();
    for item in items {
        match item {
            syn::Item::Struct(s) if derives(&s.attrs, "Event") => {
                let type_name = s.ident.to_string();
                let line = line_of(s.ident.span());
                if !s.generics.params.is_empty() {
                    scan.notes.push(format!(
                        "{rel}: {type_name} is generic, so artisan cannot name it in the \
                         registry; register its listeners by hand"
                    ));
                    continue;
                }
                // The macro's own parser and rules: what it compiles is what we list.
                let input = syn::DeriveInput::from(s.clone());
                let mut cx = Ctxt::new();
                let parsed = ast::event_input(&mut cx, &input);
                let broadcast = parsed
                    .as_ref()
                    .and_then(|p| p.attrs.broadcast.as_ref().map(|l| l.value()));
                let model = parsed.map(|p| valid::event(&mut cx, p));
                if let Err(e) = cx.check() {
                    not_compiling(&mut scan.notes, &rel, &type_name, e, line);
                    continue;
                }
                let Some(model) = model else { continue };
                scan.events.push(EventInfo {
                    name: model.name,
                    module: file.module.clone(),
                    file: rel.clone(),
                    line,
                    queued: model.queued.is_some(),
                    queue: model.queue,
                    connection: model.connection,
                    broadcast,
                    deserialize: derives(&s.attrs, "Deserialize"),
                    type_name,
                });
            }
            syn::Item::Impl(imp) if is_trait_impl(imp, "Event") => {
                let Some(type_name) = self_type_name(imp) else {
                    continue;
                };
                let deserialize = items.iter().any(|i| match i {
                    syn::Item::Struct(s) => {
                        s.ident == type_name && derives(&s.attrs, "Deserialize")
                    }
                    syn::Item::Enum(e) => e.ident == type_name && derives(&e.attrs, "Deserialize"),
                    _ => false,
                });
                scan.events.push(EventInfo {
                    name: literal_event_name(imp)
                        .unwrap_or_else(|| naming::conventional_event_name(&type_name)),
                    module: file.module.clone(),
                    file: rel.clone(),
                    line: line_of(imp.impl_token.span),
                    queued: false,
                    queue: None,
                    connection: None,
                    broadcast: None,
                    deserialize,
                    type_name,
                });
            }
            _ => {}
        }
    }
}

/// `"legacy"` from a hand-written `fn event_name(&self) -> &'static str { "legacy" }`.
fn literal_event_name(imp: &syn::ItemImpl) -> Option<String> {
    imp.items.iter().find_map(|item| match item {
        syn::ImplItem::Fn(f) if f.sig.ident == "event_name" => match f.block.stmts.as_slice() {
            [
                syn::Stmt::Expr(
                    syn::Expr::Lit(syn::ExprLit {
                        lit: syn::Lit::Str(s),
                        ..
                    }),
                    None,
                ),
            ] => Some(s.value()),
            _ => None,
        },
        _ => None,
    })
}
