//! `#[derive(Event)]` and `#[listener(...)]` for event-core.
//!
//! Use them through event-core (`use event_core::{Event, listener};` or
//! `use event_core::prelude::*;`); expansions name only `::event_core::...`.
//!
//! The pipeline follows thiserror: `ast` + `attr` parse the input into
//! plain structs, `valid` checks every rule and builds the model (all three
//! in event-macros-internals, which artisan reads attributes with too), and
//! `expand.rs` turns the model into tokens. Errors are collected in a
//! `ctxt::Ctxt` so one build shows every mistake, and an input with errors
//! still expands to the user's item (plus a stub), so the errors are the only
//! ones.

use proc_macro::TokenStream;

mod expand;
mod subscriber;

use event_macros_internals::{ast, ctxt, valid};

#[cfg(test)]
mod tests;

/// Implements `event_core::Event` for a struct (named fields, tuple or unit).
///
/// ```ignore
/// #[derive(Debug, Clone, Serialize, Deserialize, Event)]
/// #[event(queue = "emails", priority = 5, tags("user", "auth"))]
/// pub struct UserRegisteredEvent { pub user_id: String, pub email: String }
/// ```
///
/// Keys of `#[event(...)]`, all optional:
/// - `name = "..."`: the event name; default: the type name without a trailing
///   `Event` (`UserRegisteredEvent` -> `"UserRegistered"`).
/// - `queued`: dispatches hand the event to the queue (`should_queue()`); the
///   type must also derive `Deserialize` so a worker can rebuild it.
///   `queue = "..."` and `connection = "..."` route it, and imply `queued`.
/// - `priority = N`, `tags("a", "b")`.
/// - `after_commit`: dispatched inside a unit of work
///   (`event_core::queue::defer`), the event reaches its listeners only
///   when the unit commits (`Event::dispatch_after_commit`; Laravel's
///   `ShouldDispatchAfterCommit`).
/// - `broadcast = "orders.{order_id}"` (fields interpolated with `Display`;
///   `{0}` in a tuple struct; `{{` for a literal brace), with `private` or
///   `presence`: implements `event_core::broadcasting::Broadcastable`.
/// - `crate = "path"`: where event-core is, when renamed.
///
/// `to_json` serialises with serde, so the type must be `Serialize`. If
/// serialisation fails at run time (a map with non-string keys, a custom
/// `Serialize` that errors), the error is logged through `tracing` and
/// `to_json` returns `{"$error": "<message>"}`, which a queue worker then
/// refuses to decode: the failure is visible, never a silent `null`.
#[proc_macro_derive(Event, attributes(event))]
pub fn derive_event(input: TokenStream) -> TokenStream {
    derive_event_tokens(input.into()).into()
}

/// Makes a listener from an `async fn` or from an `impl` block.
///
/// ```ignore
/// #[listener(event = UserRegisteredEvent)]
/// async fn send_welcome_email(event: &UserRegisteredEvent) -> anyhow::Result<()> { Ok(()) }
/// // generates `pub struct SendWelcomeEmailListener;` implementing EventListener
///
/// #[listener(event = OrderProcessedEvent, queued, tries = 5, backoff = [5, 15, 30])]
/// impl ChargeCard {
///     async fn handle(&self, event: &OrderProcessedEvent) -> anyhow::Result<()> { Ok(()) }
///     async fn failed(&self, event: &OrderProcessedEvent, error: &anyhow::Error) {}
/// }
/// ```
///
/// Keys: `event = E` (required), and optionally `queued`, `queue = "..."`,
/// `connection = "..."` (both imply `queued`), `tries = N` (0: no limit),
/// `backoff = [secs, ...]` or `backoff = "exponential:BASE,MAX"` (seconds
/// doubling from BASE up to MAX), `jitter` (each retry's delay drawn from
/// [delay / 2, delay]), `retry_until = secs` (retried until that long after
/// queueing, instead of `tries`), `timeout = secs` (0: none), `delay = secs`,
/// `max_exceptions = N`, `after_commit` (queued or inline: held until the
/// surrounding unit of work commits), `middleware = [..]`, `name = ".."`,
/// `replayable = false`, `unique_id = |e: &E| ...` (a function or closure:
/// one job per id queued at a time), `unique_for = secs`,
/// `unique_until_processing`, `encrypted` (the job's payload stored sealed
/// with `EVENTS_APP_KEY`), `queue_if = path` (a `fn(&E) -> bool` deciding
/// per event whether the listener is queued; false: not queued, not run;
/// implies `queued`), `crate = "path"`. They are readable through
/// `EventListener` (`should_queue`, `queue_name`, `backoff`,
/// `max_exceptions`, `queue_if`) and all of them through
/// `EventListener::options()`.
///
/// The handler may return `anyhow::Result<Propagation>` instead of
/// `anyhow::Result<()>`: `Ok(Propagation::Stop)` ends the dispatch there
/// (Laravel's `return false`). A queued listener cannot, so that is a
/// compile error with `queued` (or a key implying it).
///
/// The macro does not implement `ShouldQueueListener`: its builder methods
/// (`via_connection`, `via_queue`, `with_delay`) return `Self`, which a unit
/// struct cannot honour; `options()` is where queues read the knobs.
///
/// The fn stays as written, so a unit test can call it directly; the
/// generated `handle` downcasts the `Arc<dyn Event>` to `&E` (no JSON) and
/// reports an event of another type as an error naming both.
#[proc_macro_attribute]
pub fn listener(args: TokenStream, item: TokenStream) -> TokenStream {
    listener_tokens(args.into(), item.into()).into()
}

/// Makes each `#[listen]` method of an `impl` block a listener of its own
/// (Laravel's event subscriber), registered together with
/// `Dispatcher::subscribe` / `EventFacade::subscribe`.
///
/// ```ignore
/// #[derive(Default)]
/// pub struct UserEventSubscriber;
///
/// #[subscriber]
/// impl UserEventSubscriber {
///     #[listen]
///     async fn on_login(&self, event: &Login) -> anyhow::Result<()> { Ok(()) }
///     #[listen(queued, tries = 3)]
///     async fn on_logout(&self, event: &Logout) -> anyhow::Result<()> { Ok(()) }
/// }
/// ```
///
/// `#[listen(...)]` takes every key of `#[listener(...)]`; `event = E` is
/// optional (the method's `&E` says it). Each method is a listener named
/// after it (`app::listeners::UserEventSubscriber::on_login`): in logs,
/// fakes and queue jobs. A method may return `anyhow::Result<Propagation>`
/// to stop the dispatch's remaining listeners (not a queued one). Methods
/// without `#[listen]` stay plain methods. `#[subscriber]` takes no
/// arguments.
#[proc_macro_attribute]
pub fn subscriber(args: TokenStream, item: TokenStream) -> TokenStream {
    subscriber_tokens(args.into(), item.into()).into()
}

/// Marks a method of a `#[subscriber]` impl block as a listener; only
/// meaningful there (`#[subscriber]` reads and removes it). Anywhere else
/// it is an error.
#[proc_macro_attribute]
pub fn listen(_args: TokenStream, item: TokenStream) -> TokenStream {
    let item = proc_macro2::TokenStream::from(item);
    let mut tokens = syn::Error::new(
        proc_macro2::Span::call_site(),
        "`#[listen]` goes on a method of a `#[subscriber]` impl block: put `#[subscriber]` \
         on the `impl`",
    )
    .to_compile_error();
    tokens.extend(item);
    tokens.into()
}

pub(crate) fn subscriber_tokens(
    args: proc_macro2::TokenStream,
    item: proc_macro2::TokenStream,
) -> proc_macro2::TokenStream {
    let imp: syn::ItemImpl = match syn::parse2(item.clone()) {
        Ok(imp) => imp,
        Err(e) => {
            let mut tokens = syn::Error::new(
                e.span(),
                "`#[subscriber]` goes on an `impl` block: \
                 `impl T { #[listen] async fn name(&self, event: &E) -> anyhow::Result<()> {..} }`",
            )
            .to_compile_error();
            tokens.extend(item);
            return tokens;
        }
    };
    let mut cx = ctxt::Ctxt::new();
    let model = valid::subscriber(&mut cx, args, &imp);
    match (cx.check(), model) {
        (Ok(()), Some(model)) => subscriber::subscriber(&model, imp),
        (result, model) => {
            let krate = model.map_or_else(valid::default_crate, |m| m.krate);
            let mut tokens = result
                .err()
                .map(|e| e.to_compile_error())
                .unwrap_or_default();
            tokens.extend(subscriber::fallback(imp, &krate));
            tokens
        }
    }
}

pub(crate) fn derive_event_tokens(input: proc_macro2::TokenStream) -> proc_macro2::TokenStream {
    let input: syn::DeriveInput = match syn::parse2(input) {
        Ok(input) => input,
        Err(e) => return e.to_compile_error(),
    };
    let mut cx = ctxt::Ctxt::new();
    let model = ast::event_input(&mut cx, &input).map(|parsed| valid::event(&mut cx, parsed));
    match (cx.check(), model) {
        (Ok(()), Some(model)) => expand::event(&model),
        (result, model) => {
            let krate = model.map_or_else(valid::default_crate, |m| m.krate);
            let mut tokens = result
                .err()
                .map(|e| e.to_compile_error())
                .unwrap_or_default();
            tokens.extend(expand::event_fallback(&input, &krate));
            tokens
        }
    }
}

pub(crate) fn listener_tokens(
    args: proc_macro2::TokenStream,
    item: proc_macro2::TokenStream,
) -> proc_macro2::TokenStream {
    let mut cx = ctxt::Ctxt::new();
    let attrs = ast::listener_attrs(&mut cx, args);
    let krate = attrs.krate.clone().unwrap_or_else(valid::default_crate);
    let parsed = match ast::listener_item(item.clone()) {
        Ok(parsed) => parsed,
        Err(e) => {
            cx.syn_error(e);
            return with_errors(cx, item);
        }
    };
    let model = valid::listener(&mut cx, attrs, &parsed);
    match (cx.check(), model) {
        (Ok(()), Some(model)) => expand::listener(&model, item),
        (result, _) => {
            let mut tokens = result
                .err()
                .map(|e| e.to_compile_error())
                .unwrap_or_default();
            tokens.extend(expand::listener_fallback(item, &parsed, &krate));
            tokens
        }
    }
}

fn with_errors(cx: ctxt::Ctxt, item: proc_macro2::TokenStream) -> proc_macro2::TokenStream {
    let mut tokens = cx
        .check()
        .err()
        .map(|e| e.to_compile_error())
        .unwrap_or_default();
    tokens.extend(item);
    tokens
}
