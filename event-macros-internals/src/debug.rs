//! `Debug` for the types that hold syn nodes. syn implements `Debug` for
//! them only with its `extra-traits` feature, which would slow every build
//! of the macros; these show a node as its tokens instead.

use std::fmt;

use quote::ToTokens;

/// Shows a syn node as its tokens, e.g. `` `Vec<String>` ``.
pub(crate) struct Tokens<'a, T>(pub(crate) &'a T);

impl<T: ToTokens> fmt::Debug for Tokens<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "`{}`", self.0.to_token_stream())
    }
}

/// An optional node, as its tokens.
pub(crate) fn opt<T: ToTokens>(node: &Option<T>) -> Option<Tokens<'_, T>> {
    node.as_ref().map(Tokens)
}

/// A list of nodes, each as its tokens.
pub(crate) fn list<T: ToTokens>(nodes: &[T]) -> Vec<Tokens<'_, T>> {
    nodes.iter().map(Tokens).collect()
}
