//! Placeholder: the real macros land with the event-macros issue.
use proc_macro::TokenStream;

#[proc_macro_derive(Event, attributes(event))]
pub fn derive_event(_input: TokenStream) -> TokenStream {
    quote::quote!(compile_error!("#[derive(Event)] is not implemented yet");).into()
}

#[proc_macro_attribute]
pub fn listener(_args: TokenStream, _item: TokenStream) -> TokenStream {
    quote::quote!(compile_error!("#[listener] is not implemented yet");).into()
}
