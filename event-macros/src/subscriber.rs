//! Expand a `#[subscriber]`: the user's impl block without its `#[listen]`
//! markers, one private listener type per `#[listen]` method (sharing an
//! `Arc` of the subscriber; its `EventListener` impl is a `#[listener]`'s,
//! knobs and all), and the `Subscriber` impl that hands them out.
//! Nothing here reports a user error.

use proc_macro2::{Ident, Span, TokenStream};
use quote::{format_ident, quote};

use event_macros_internals::valid::{LISTEN, ListenerKind, ListenerModel, SubscriberModel};

use crate::expand::{handled, knobs};

/// The impl block as written, minus the `#[listen]` markers the compiler
/// would not know.
pub(crate) fn strip_listen(mut imp: syn::ItemImpl) -> syn::ItemImpl {
    for item in &mut imp.items {
        if let syn::ImplItem::Fn(f) = item {
            f.attrs.retain(|a| !a.path().is_ident(LISTEN));
        }
    }
    imp
}

/// The listener type of method `method` of subscriber `self_ty`.
fn method_type(self_ty: &syn::Type, method: &Ident) -> Ident {
    let base = match self_ty {
        syn::Type::Path(p) => p
            .path
            .segments
            .last()
            .map_or_else(|| "Subscriber".to_string(), |s| s.ident.to_string()),
        _ => "Subscriber".to_string(),
    };
    format_ident!("__{}_{}", base, method, span = Span::mixed_site())
}

pub(crate) fn subscriber(model: &SubscriberModel, imp: syn::ItemImpl) -> TokenStream {
    let SubscriberModel {
        krate,
        self_ty,
        listeners,
    } = model;
    let imp = strip_listen(imp);
    let to = Ident::new("to", Span::mixed_site());
    let mut types = TokenStream::new();
    let mut registrations = TokenStream::new();
    for listener in listeners {
        let ListenerKind::Method { method, .. } = &listener.kind else {
            continue;
        };
        let ty = method_type(self_ty, method);
        types.extend(method_listener(listener, &ty, self_ty, method));
        let event = &listener.event;
        let call = if listener.knobs.queued {
            quote!(listen_queued)
        } else {
            quote!(listen)
        };
        registrations.extend(quote! {
            #krate::Subscriptions::#call::<#event>(
                #to,
                ::std::sync::Arc::new(#ty(::std::sync::Arc::clone(&self))),
            );
        });
    }
    quote! {
        #imp

        #types

        #[automatically_derived]
        impl #krate::Subscriber for #self_ty {
            fn subscribe<__Subscriptions: #krate::Subscriptions>(
                self: ::std::sync::Arc<Self>,
                #to: &mut __Subscriptions,
            ) {
                #registrations
            }
        }
    }
}

fn method_listener(
    model: &ListenerModel,
    ty: &Ident,
    self_ty: &syn::Type,
    method: &Ident,
) -> TokenStream {
    let krate = &model.krate;
    let event_ty = &model.event;
    let ev = Ident::new("event", Span::mixed_site());
    let call = handled(
        krate,
        quote!(<#self_ty>::#method(&self.0, #ev).await),
        model.kind.stops(),
    );
    let knobs = knobs(model);
    let doc = format!("The listener of `#[listen] {method}`.");
    quote! {
        #[doc = #doc]
        #[doc(hidden)]
        #[allow(non_camel_case_types)]
        struct #ty(::std::sync::Arc<#self_ty>);

        #[#krate::__private::async_trait]
        impl #krate::EventListener for #ty {
            async fn handle(
                &self,
                #ev: ::std::sync::Arc<dyn #krate::Event>,
            ) -> #krate::__private::anyhow::Result<()> {
                match <dyn #krate::Event>::downcast_ref::<#event_ty>(&*#ev) {
                    ::core::option::Option::Some(#ev) => #call,
                    ::core::option::Option::None => ::core::result::Result::Err(
                        #krate::__private::unexpected_event(
                            ::core::any::type_name::<#event_ty>(),
                            &*#ev,
                            #krate::EventListener::listener_name(self),
                        ),
                    ),
                }
            }
            #knobs
        }
    }
}

/// What stands in when the input has errors: the impl block (markers
/// removed) and an empty `Subscriber` impl, so code registering it reports
/// nothing more.
pub(crate) fn fallback(imp: syn::ItemImpl, krate: &syn::Path) -> TokenStream {
    let stub = (imp.trait_.is_none() && imp.generics.params.is_empty()).then(|| {
        let self_ty = &imp.self_ty;
        quote! {
            impl #krate::Subscriber for #self_ty {
                fn subscribe<__Subscriptions: #krate::Subscriptions>(
                    self: ::std::sync::Arc<Self>,
                    _to: &mut __Subscriptions,
                ) {
                }
            }
        }
    });
    let imp = strip_listen(imp);
    quote! {
        #imp
        #stub
    }
}
