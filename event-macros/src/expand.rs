//! Expand: validated models -> tokens. Nothing here reports a user error.
//!
//! Every path is absolute (`::event_core::...`, or the `crate = "..."` path);
//! anything beyond event-core's own API goes through its `__private` module so
//! a user's crate needs no dependency besides event-core.

use proc_macro2::TokenStream;
use quote::{quote, quote_spanned};

use event_macros_internals::ast::ListenerItem;
use event_macros_internals::valid::{
    Broadcast, EventModel, FieldRef, Knobs, ListenerKind, ListenerModel, Returns,
};

pub(crate) fn event(model: &EventModel) -> TokenStream {
    let EventModel {
        ident, krate, name, ..
    } = model;
    // A generic event is an event for the arguments that make it one.
    let mut generics = model.generics.clone();
    if generics.type_params().next().is_some() {
        let predicates = &mut generics.make_where_clause().predicates;
        predicates.push(syn::parse_quote!(
            Self: ::core::marker::Send
                + ::core::marker::Sync
                + ::core::fmt::Debug
                + 'static
                + #krate::__private::SerializeEvent
        ));
        if model.queued.is_some() {
            predicates.push(syn::parse_quote!(Self: #krate::__private::QueuedEvent));
        }
    }
    let (impl_generics, ty_generics, where_clause) = generics.split_for_impl();

    let to_json = quote_spanned!(ident.span()=> #krate::__private::to_json(self));
    let mut methods = quote! {
        fn event_name(&self) -> &'static str {
            #name
        }
        fn to_json(&self) -> #krate::__private::serde_json::Value {
            #to_json
        }
        fn static_event_name() -> ::std::borrow::Cow<'static, str>
        where
            Self: ::core::marker::Sized,
        {
            ::std::borrow::Cow::Borrowed(#name)
        }
    };
    let mut extra_impls = TokenStream::new();

    if let Some(span) = model.queued {
        // Spanned at `queued`: a missing `Deserialize` is reported there.
        let view = quote_spanned!(span=> #krate::__private::queued_event(self));
        methods.extend(quote! {
            fn should_queue(&self) -> bool {
                true
            }
            fn as_should_queue(&self) -> ::core::option::Option<&dyn #krate::ShouldQueue> {
                #view
            }
        });
        // Only what differs from the traits' defaults (`None`).
        let mut queue_methods = TokenStream::new();
        if let Some(queue) = &model.queue {
            methods.extend(quote! {
                fn queue_name(&self) -> ::core::option::Option<&str> {
                    ::core::option::Option::Some(#queue)
                }
            });
            queue_methods.extend(quote! {
                fn queue(&self) -> ::core::option::Option<&str> {
                    ::core::option::Option::Some(#queue)
                }
            });
        }
        if let Some(connection) = &model.connection {
            queue_methods.extend(quote! {
                fn queue_connection(&self) -> ::core::option::Option<&str> {
                    ::core::option::Option::Some(#connection)
                }
            });
        }
        extra_impls.extend(quote! {
            #[automatically_derived]
            impl #impl_generics #krate::ShouldQueue for #ident #ty_generics #where_clause {
                #queue_methods
            }
        });
    }
    if model.after_commit {
        methods.extend(quote! {
            fn dispatch_after_commit(&self) -> bool {
                true
            }
        });
    }
    if let Some(priority) = model.priority {
        methods.extend(quote! {
            fn priority(&self) -> i32 {
                #priority
            }
        });
    }
    if let Some(tags) = &model.tags {
        methods.extend(quote! {
            fn tags(&self) -> ::std::vec::Vec<::std::string::String> {
                ::std::vec![#(::std::string::String::from(#tags)),*]
            }
        });
    }
    if let Some(broadcast) = &model.broadcast {
        methods.extend(quote! {
            fn as_broadcastable(
                &self,
            ) -> ::core::option::Option<&dyn #krate::broadcasting::Broadcastable> {
                ::core::option::Option::Some(self)
            }
        });
        let channel = broadcast_channel(broadcast);
        let Broadcast {
            private, presence, ..
        } = broadcast;
        extra_impls.extend(quote! {
            #[automatically_derived]
            impl #impl_generics #krate::broadcasting::Broadcastable for #ident #ty_generics #where_clause {
                fn broadcast_channel(&self) -> ::std::string::String {
                    #channel
                }
                fn broadcast_data(&self) -> #krate::__private::serde_json::Value {
                    #krate::Event::to_json(self)
                }
                fn is_private(&self) -> bool {
                    #private
                }
                fn is_presence(&self) -> bool {
                    #presence
                }
            }
        });
    }

    quote! {
        #[automatically_derived]
        impl #impl_generics #krate::Event for #ident #ty_generics #where_clause {
            #methods
        }
        #extra_impls
    }
}

fn broadcast_channel(broadcast: &Broadcast) -> TokenStream {
    let format = &broadcast.format;
    if broadcast.fields.is_empty() {
        return quote!(::std::string::String::from(#format));
    }
    let fields = broadcast.fields.iter().map(|f| match f {
        FieldRef::Named(ident) => quote!(self.#ident),
        FieldRef::Index(i) => {
            let index = syn::Index::from(*i);
            quote!(self.#index)
        }
    });
    // Spanned at the template: a field that is not `Display` is reported there.
    quote_spanned!(broadcast.span=> ::std::format!(#format, #(#fields),*))
}

/// The user's item as written, then the `EventListener` impl for it.
pub(crate) fn listener(model: &ListenerModel, item: TokenStream) -> TokenStream {
    let ListenerModel {
        krate,
        event: event_ty,
        ..
    } = model;
    // Locals the user's code can't see or shadow (a listener fn may well be
    // called `event`).
    let ev = proc_macro2::Ident::new("event", proc_macro2::Span::mixed_site());
    let exception = proc_macro2::Ident::new("exception", proc_macro2::Span::mixed_site());
    let knobs = knobs(model);
    let unexpected = quote! {
        ::core::option::Option::None => ::core::result::Result::Err(
            #krate::__private::unexpected_event(
                ::core::any::type_name::<#event_ty>(),
                &*#ev,
                #krate::EventListener::listener_name(self),
            ),
        ),
    };
    let stops = model.kind.stops();
    match &model.kind {
        ListenerKind::Fn {
            function, listener, ..
        } => {
            let call_fn = handled(krate, quote!(#function(#ev).await), stops);
            let doc = format!(
                "The listener `#[listener]` generates from `{function}`: register it with \
                 `listen::<E>(Arc::new({listener}))`."
            );
            quote! {
                #item

                #[doc = #doc]
                #[derive(
                    ::core::fmt::Debug,
                    ::core::clone::Clone,
                    ::core::marker::Copy,
                    ::core::default::Default
                )]
                pub struct #listener;

                #[#krate::__private::async_trait]
                impl #krate::EventListener for #listener {
                    async fn handle(
                        &self,
                        #ev: ::std::sync::Arc<dyn #krate::Event>,
                    ) -> #krate::__private::anyhow::Result<()> {
                        match <dyn #krate::Event>::downcast_ref::<#event_ty>(&*#ev) {
                            ::core::option::Option::Some(#ev) => #call_fn,
                            #unexpected
                        }
                    }
                    #knobs
                }
            }
        }
        ListenerKind::Impl {
            self_ty,
            generics,
            failed,
            ..
        } => {
            let call_handle = handled(krate, quote!(Self::handle(self, #ev).await), stops);
            let (impl_generics, _, where_clause) = generics.split_for_impl();
            let failed = failed.map(|returns| {
                let call = quote!(Self::failed(self, #ev, #exception).await);
                let body = match returns {
                    Returns::Result => {
                        quote!(::core::result::Result::map_err(#call, ::core::convert::Into::into))
                    }
                    Returns::Unit => quote!({
                        #call;
                        ::core::result::Result::Ok(())
                    }),
                };
                quote! {
                    async fn failed(
                        &self,
                        #ev: ::std::sync::Arc<dyn #krate::Event>,
                        #exception: &#krate::__private::anyhow::Error,
                    ) -> #krate::__private::anyhow::Result<()> {
                        match <dyn #krate::Event>::downcast_ref::<#event_ty>(&*#ev) {
                            ::core::option::Option::Some(#ev) => #body,
                            ::core::option::Option::None => ::core::result::Result::Ok(()),
                        }
                    }
                }
            });
            quote! {
                #item

                #[#krate::__private::async_trait]
                impl #impl_generics #krate::EventListener for #self_ty #where_clause {
                    async fn handle(
                        &self,
                        #ev: ::std::sync::Arc<dyn #krate::Event>,
                    ) -> #krate::__private::anyhow::Result<()> {
                        match <dyn #krate::Event>::downcast_ref::<#event_ty>(&*#ev) {
                            ::core::option::Option::Some(#ev) => #call_handle,
                            #unexpected
                        }
                    }
                    #failed
                    #knobs
                }
            }
        }
        // `#[subscriber]` expands its methods (`crate::subscriber`).
        ListenerKind::Method { .. } => item,
    }
}

/// What a listener's handler returned, as `handle`'s `anyhow::Result<()>`:
/// a `Result<Propagation>` becomes the stop the dispatcher recognises.
pub(crate) fn handled(krate: &syn::Path, call: TokenStream, stops: bool) -> TokenStream {
    if stops {
        quote!(#krate::__private::propagation(#call))
    } else {
        quote!(::core::result::Result::map_err(#call, ::core::convert::Into::into))
    }
}

pub(crate) fn knobs(model: &ListenerModel) -> TokenStream {
    let krate = &model.krate;
    let Knobs {
        queued,
        queue,
        connection,
        tries,
        backoff,
        timeout,
        delay,
        max_exceptions,
        after_commit,
        middleware,
        name: _,
        replayable,
        queue_if,
        backoff_exponential,
        retry_until,
        jitter,
        unique_id,
        unique_for,
        unique_until_processing,
        encrypted,
    } = &model.knobs;
    let mut out = TokenStream::new();
    if *queued {
        out.extend(quote! {
            fn should_queue(&self) -> bool {
                true
            }
        });
    }
    if let Some(queue) = queue {
        out.extend(quote! {
            fn queue_name(&self) -> ::core::option::Option<&str> {
                ::core::option::Option::Some(#queue)
            }
        });
    }
    if let Some(max) = max_exceptions {
        out.extend(quote! {
            fn max_exceptions(&self) -> ::core::option::Option<u32> {
                ::core::option::Option::Some(#max)
            }
        });
    }
    if let Some(backoff) = backoff {
        out.extend(quote! {
            fn backoff(&self) -> ::std::vec::Vec<#krate::__private::chrono::Duration> {
                #krate::__private::seconds(&[#(#backoff),*])
            }
        });
    }
    if let Some(replayable) = replayable {
        out.extend(quote! {
            fn replayable(&self) -> bool {
                #replayable
            }
        });
    }
    if let Some(path) = queue_if {
        let event_ty = &model.event;
        let path = match (&model.kind, syn::parse2::<syn::Path>(path.clone())) {
            // Inside the method's listener, `Self` is the subscriber.
            (ListenerKind::Method { subscriber, .. }, Ok(p))
                if p.leading_colon.is_none()
                    && p.segments.len() > 1
                    && p.segments[0].ident == "Self" =>
            {
                let rest = p.segments.iter().skip(1);
                quote!(<#subscriber>#(::#rest)*)
            }
            _ => path.clone(),
        };
        let ev = proc_macro2::Ident::new("event", proc_macro2::Span::mixed_site());
        // Spanned at the path: a function of the wrong shape is reported there.
        let span = syn::spanned::Spanned::span(&path);
        let arg =
            proc_macro2::Ident::new("event", span.resolved_at(proc_macro2::Span::mixed_site()));
        let call = quote_spanned!(span=> #path(#arg));
        out.extend(quote! {
            fn queue_if(&self, #ev: &dyn #krate::Event) -> bool {
                match <dyn #krate::Event>::downcast_ref::<#event_ty>(#ev) {
                    ::core::option::Option::Some(#arg) => #call,
                    ::core::option::Option::None => true,
                }
            }
        });
    }
    if let Some(name) = &model.knobs.name {
        out.extend(quote! {
            fn listener_name(&self) -> &str {
                #name
            }
        });
    } else if let ListenerKind::Method {
        method, subscriber, ..
    } = &model.kind
    {
        // `app::listeners::UserEventSubscriber::on_login`.
        let method = method.to_string();
        out.extend(quote! {
            fn listener_name(&self) -> &str {
                #krate::__private::method_listener_name::<Self, #subscriber>(
                    ::core::env!("CARGO_PKG_NAME"),
                    #method,
                )
            }
        });
    } else if !matches!(&model.kind, ListenerKind::Impl { generics, .. } if !generics.params.is_empty())
    {
        // The type's path under its package's name, not its crate's: the
        // same source compiled into the app's `src/bin/artisan.rs` keeps
        // the name it has in the app. (A generic listener keeps the
        // default: its type may not be `'static`.)
        out.extend(quote! {
            fn listener_name(&self) -> &str {
                #krate::__private::listener_name::<Self>(::core::env!("CARGO_PKG_NAME"))
            }
        });
    }
    if model.knobs.needs_options() {
        // `unique_id`'s closure is called where it is written, so that its
        // mistakes point at it.
        let allow = match model.knobs.unique_id {
            Some(_) => quote! { #[allow(clippy::redundant_closure_call)] },
            None => TokenStream::new(),
        };
        let mut set = TokenStream::new();
        if let Some(connection) = connection {
            set.extend(quote! {
                settings.connection = ::core::option::Option::Some(::std::string::String::from(#connection));
            });
        }
        if let Some(tries) = tries {
            set.extend(quote! { settings.tries = ::core::option::Option::Some(#tries); });
        }
        if let Some(timeout) = timeout {
            set.extend(quote! {
                settings.timeout = ::core::option::Option::Some(#krate::__private::secs(#timeout));
            });
        }
        if let Some(delay) = delay {
            set.extend(quote! {
                settings.delay = ::core::option::Option::Some(#krate::__private::secs(#delay));
            });
        }
        if *after_commit {
            set.extend(quote! { settings.after_commit = true; });
        }
        if !middleware.is_empty() {
            set.extend(quote! {
                settings.middleware = #krate::__private::strings(&[#(#middleware),*]);
            });
        }
        if let Some((base, max)) = backoff_exponential {
            set.extend(quote! {
                settings.exponential_backoff = ::core::option::Option::Some(#krate::ExponentialBackoff {
                    base: #krate::__private::secs(#base),
                    max: #krate::__private::secs(#max),
                });
            });
        }
        if let Some(until) = retry_until {
            set.extend(quote! {
                settings.retry_until = ::core::option::Option::Some(#krate::__private::secs(#until));
            });
        }
        if *jitter {
            set.extend(quote! { settings.jitter = true; });
        }
        if *encrypted {
            set.extend(quote! { settings.encrypted = true; });
        }
        if let Some(unique_id) = unique_id {
            let event = &model.event;
            let lock_for = match unique_for {
                Some(secs) => {
                    quote! { ::core::option::Option::Some(#krate::__private::secs(#secs)) }
                }
                None => quote! { ::core::option::Option::None },
            };
            // A result that is not `Display` is reported at the user's callable.
            let span = unique_id
                .clone()
                .into_iter()
                .next()
                .map_or_else(proc_macro2::Span::call_site, |t| t.span());
            let id_of = quote_spanned! {span=>
                ::std::string::ToString::to_string(&(#unique_id)(event))
            };
            set.extend(quote! {
                settings.unique = ::core::option::Option::Some(#krate::UniqueJob {
                    id: |event: &dyn #krate::Event| {
                        event.downcast_ref::<#event>().map(|event| #id_of)
                    },
                    lock_for: #lock_for,
                    until_processing: #unique_until_processing,
                });
            });
        }
        out.extend(quote! {
            #allow
            fn options(&self) -> #krate::ListenerOptions {
                let mut settings = #krate::ListenerOptions::declared_by_listener(
                    self,
                    ::core::option::Option::None,
                );
                #set
                settings
            }
        });
    }
    out
}

/// What stands in for the derive when its input has errors (thiserror's
/// fallback): an `Event` impl, so code using the type reports nothing more.
pub(crate) fn event_fallback(input: &syn::DeriveInput, krate: &syn::Path) -> TokenStream {
    if !matches!(input.data, syn::Data::Struct(_)) || !input.generics.params.is_empty() {
        return TokenStream::new();
    }
    let ident = &input.ident;
    quote! {
        impl #krate::Event for #ident {
            fn event_name(&self) -> &'static str {
                ::core::unreachable!()
            }
            fn to_json(&self) -> #krate::__private::serde_json::Value {
                ::core::unreachable!()
            }
        }
    }
}

/// What stands in for the listener when its input has errors: the user's
/// item as written and the `EventListener` impl the code using it expects
/// (for a fn, its listener struct too), so the one error is the only one
/// (tokio-macros' `token_stream_with_error`, thiserror's `fallback.rs`).
pub(crate) fn listener_fallback(
    item: TokenStream,
    parsed: &ListenerItem,
    krate: &syn::Path,
) -> TokenStream {
    let stub = |ty: TokenStream| {
        quote! {
            #[#krate::__private::async_trait]
            impl #krate::EventListener for #ty {
                async fn handle(
                    &self,
                    _event: ::std::sync::Arc<dyn #krate::Event>,
                ) -> #krate::__private::anyhow::Result<()> {
                    ::core::unreachable!()
                }
            }
        }
    };
    match parsed {
        ListenerItem::Fn(f) => {
            let listener = event_macros_internals::valid::listener_ident(&f.sig.ident);
            let stub = stub(quote!(#listener));
            quote! {
                #item
                #[derive(
                    ::core::fmt::Debug,
                    ::core::clone::Clone,
                    ::core::marker::Copy,
                    ::core::default::Default
                )]
                pub struct #listener;

                #stub
            }
        }
        // A trait impl is refused as such; a generic one would need bounds
        // the user has not written yet, so it gets no stub.
        ListenerItem::Impl(imp) if imp.trait_.is_none() && imp.generics.params.is_empty() => {
            let self_ty = &imp.self_ty;
            let stub = stub(quote!(#self_ty));
            quote! {
                #item
                #stub
            }
        }
        ListenerItem::Impl(_) | ListenerItem::Method(_) => item,
    }
}
