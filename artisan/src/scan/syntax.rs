//! What the event and listener collectors ask of a syn item: where it is,
//! what it derives, its attributes and trait impls, and the macro's errors
//! as one line each.

pub(super) fn line_of(span: proc_macro2::Span) -> usize {
    span.start().line
}

/// Does the derive list of `attrs` name `what` (as `what` or `path::what`)?
pub(super) fn derives(attrs: &[syn::Attribute], what: &str) -> bool {
    attrs
        .iter()
        .filter(|a| a.path().is_ident("derive"))
        .any(|a| {
            let mut found = false;
            let _ = a.parse_nested_meta(|meta| {
                if meta.path.segments.last().is_some_and(|s| s.ident == what) {
                    found = true;
                }
                Ok(())
            });
            found
        })
}

pub(super) fn find_attr<'a>(attrs: &'a [syn::Attribute], name: &str) -> Option<&'a syn::Attribute> {
    attrs
        .iter()
        .find(|a| a.path().segments.last().is_some_and(|s| s.ident == name))
}

/// The mistakes the macro will report for an item, as one line each, with
/// the line they point at (the item's own when the error has no place).
pub(super) fn macro_errors(error: syn::Error, fallback_line: usize) -> Vec<(usize, String)> {
    error
        .into_iter()
        .map(|e| {
            let line = e.span().start().line;
            let line = if line == 0 { fallback_line } else { line };
            (line, e.to_string().replace('\n', "; "))
        })
        .collect()
}

pub(super) fn is_trait_impl(imp: &syn::ItemImpl, name: &str) -> bool {
    imp.trait_
        .as_ref()
        .is_some_and(|(_, path, _)| path.segments.last().is_some_and(|s| s.ident == name))
}

pub(super) fn self_type_name(imp: &syn::ItemImpl) -> Option<String> {
    match &*imp.self_ty {
        syn::Type::Path(p) if p.qself.is_none() => {
            p.path.segments.last().map(|s| s.ident.to_string())
        }
        _ => None,
    }
}

/// The last name of a type path: `crate::events::X` -> `X`.
pub(super) fn last_ident(ty: &syn::Type) -> Option<String> {
    match ty {
        syn::Type::Path(p) if p.qself.is_none() => {
            p.path.segments.last().map(|s| s.ident.to_string())
        }
        syn::Type::Group(g) => last_ident(&g.elem),
        syn::Type::Paren(p) => last_ident(&p.elem),
        _ => None,
    }
}
