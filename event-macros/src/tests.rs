//! Snapshots of the expansions, pretty-printed: any change to generated code
//! shows up as a reviewed diff (`cargo insta review`).

use proc_macro2::TokenStream;
use quote::quote;

fn pretty(tokens: TokenStream) -> String {
    match syn::parse2::<syn::File>(tokens.clone()) {
        Ok(file) => prettyplease::unparse(&file),
        Err(e) => panic!("the expansion is not valid Rust ({e}):\n{tokens}"),
    }
}

fn derive(input: TokenStream) -> String {
    pretty(crate::derive_event_tokens(input))
}

fn listener(args: TokenStream, item: TokenStream) -> String {
    pretty(crate::listener_tokens(args, item))
}

#[test]
fn event_with_defaults() {
    insta::assert_snapshot!(derive(quote! {
        #[derive(Debug, Serialize, Deserialize, Event)]
        pub struct UserRegisteredEvent {
            pub user_id: String,
            pub email: String,
        }
    }));
}

#[test]
fn event_with_every_key() {
    insta::assert_snapshot!(derive(quote! {
        #[derive(Debug, Serialize, Deserialize, Event)]
        #[event(name = "order.shipped", queued, queue = "orders", connection = "redis")]
        #[event(priority = -2, tags("order", "shipping"), broadcast = "orders.{order_id}.{{x}}", private)]
        pub struct OrderShippedEvent {
            pub order_id: u64,
        }
    }));
}

#[test]
fn tuple_event_on_a_presence_channel() {
    insta::assert_snapshot!(derive(quote! {
        #[derive(Debug, Serialize, Event)]
        #[event(broadcast = "rooms.{0}", presence)]
        pub struct RoomJoined(pub String);
    }));
}

#[test]
fn generic_queued_event_gets_bounds() {
    insta::assert_snapshot!(derive(quote! {
        #[derive(Debug, Serialize, Deserialize, Event)]
        #[event(queued)]
        pub struct Wrapped<T> where T: Clone {
            pub inner: T,
        }
    }));
}

#[test]
fn renamed_crate_is_used_everywhere() {
    insta::assert_snapshot!(derive(quote! {
        #[derive(Debug, Serialize, Deserialize, Event)]
        #[event(crate = "my_events", queued)]
        pub struct Ping;
    }));
}

#[test]
fn event_errors_are_collected_with_a_stub_impl() {
    insta::assert_snapshot!(derive(quote! {
        #[derive(Debug, Serialize, Event)]
        #[event(qeue = "emails", priority = "high", private)]
        pub struct Ping;
    }));
}

#[test]
fn enum_is_refused_without_a_stub() {
    insta::assert_snapshot!(derive(quote! {
        #[derive(Debug, Event)]
        pub enum Ping { A, B }
    }));
}

#[test]
fn fn_listener() {
    insta::assert_snapshot!(listener(
        quote!(event = UserRegisteredEvent),
        quote! {
            async fn send_welcome_email(event: &UserRegisteredEvent) -> anyhow::Result<()> {
                mailer::send(&event.email).await
            }
        },
    ));
}

#[test]
fn fn_listener_with_every_knob() {
    insta::assert_snapshot!(listener(
        quote!(
            event = OrderShippedEvent,
            queued,
            queue = "mail",
            connection = "redis",
            tries = 5,
            backoff = [5, 15, 30],
            timeout = 120,
            delay = 10,
            max_exceptions = 2,
            after_commit,
            replayable = false
        ),
        quote! {
            pub async fn notify_shipment(event: &OrderShippedEvent) -> Result<()> {
                Ok(())
            }
        },
    ));
}

#[test]
fn fn_listener_with_retry_policy_and_unique_knobs() {
    insta::assert_snapshot!(listener(
        quote!(
            event = OrderShippedEvent,
            queued,
            retry_until = 3600,
            backoff = "exponential:1,60",
            jitter,
            unique_id = |e: &OrderShippedEvent| e.0,
            unique_for = 60,
            unique_until_processing
        ),
        quote! {
            pub async fn notify_shipment(event: &OrderShippedEvent) -> Result<()> {
                Ok(())
            }
        },
    ));
}

#[test]
fn fn_listener_encrypted() {
    insta::assert_snapshot!(listener(
        quote!(event = PaymentTaken, queued, encrypted),
        quote! {
            pub async fn record_card(event: &PaymentTaken) -> Result<()> {
                Ok(())
            }
        },
    ));
}

#[test]
fn impl_listener_with_failed_hook() {
    insta::assert_snapshot!(listener(
        quote!(
            event = OrderProcessedEvent,
            queue = "payments",
            crate = "::ev"
        ),
        quote! {
            impl<G: Gateway> ChargeCard<G> {
                async fn handle(&self, event: &OrderProcessedEvent) -> anyhow::Result<()> {
                    self.gateway.charge(event.total).await
                }
                async fn failed(&self, event: &OrderProcessedEvent, error: &anyhow::Error) {
                    tracing::warn!(%error, "charge failed");
                }
            }
        },
    ));
}

#[test]
fn listener_errors_keep_the_item() {
    insta::assert_snapshot!(listener(
        quote!(tries = -1),
        quote! {
            fn send_welcome_email(event: UserRegisteredEvent) -> bool {
                true
            }
        },
    ));
}
