//! What the event and listener collectors ask of a syn item: where it is,
//! what it derives, its attributes and trait impls, and the notes for an item
//! the macro will refuse.

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

/// Notes that `name` is not wired because the macro will refuse it: one
/// note per mistake, at the line it points at (the item's own when the
/// error has no place).
pub(super) fn not_compiling(
    notes: &mut Vec<String>,
    rel: &str,
    name: &str,
    error: syn::Error,
    fallback_line: usize,
) {
    for e in error {
        let line = e.span().start().line;
        let at = if line == 0 { fallback_line } else { line };
        let message = e.to_string().replace('\n', "; ");
        notes.push(format!(
            "{rel}:{at}: {name} does not compile, so it is not wired: {message}"
        ));
    }
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

/// `Name` for a unit struct, `Name::default()` for one deriving Default.
pub(super) fn construct_expr(items: &[syn::Item], type_name: &str) -> Option<String> {
    items.iter().find_map(|item| match item {
        syn::Item::Struct(s) if s.ident == type_name => {
            if matches!(s.fields, syn::Fields::Unit) {
                Some(type_name.to_string())
            } else if derives(&s.attrs, "Default") {
                Some(format!("{type_name}::default()"))
            } else {
                None
            }
        }
        _ => None,
    })
}
