//! Validate a listener: its attribute's rules (event, queue options,
//! middleware) and the models the macro expands; the shape of its
//! signature is checked in [`super::signature`].

use proc_macro2::Span;
use quote::{ToTokens, format_ident};
use syn::{Ident, Type};

use super::default_crate;
use super::model::{Knobs, ListenerKind, ListenerModel};
use super::signature::{check_fn, check_impl, check_listen_method};
use crate::ast::{FnItem, ListenerAttrs, ListenerItem};
use crate::ctxt::Ctxt;

/// Checks a listener's attributes and item and builds its model; `None`
/// when no model can be built. Every mistake is recorded in `cx`, so check
/// it before expanding even when a model came back.
pub fn listener(cx: &mut Ctxt, attrs: ListenerAttrs, item: &ListenerItem) -> Option<ListenerModel> {
    let Some(event) = attrs.event.clone() else {
        if attrs.event_given {
            // Its bad value is reported already.
            check_item(cx, item, None);
            return None;
        }
        cx.error_at(
            Span::call_site(),
            "missing `event = ...`: name the event this listener handles, e.g. \
             `#[listener(event = UserRegisteredEvent)]`",
        );
        // Still check the item, so every mistake shows in one build.
        check_item(cx, item, None);
        return None;
    };
    if let (Some(_), Some((_, span))) = (attrs.tries, attrs.retry_until) {
        // Laravel's `retryUntil()` wins over `$tries`; here one is said.
        cx.error_at(
            span,
            "`retry_until` and `tries` together: `retry_until` replaces `tries` (the job is \
             retried until the deadline, however many attempts); give one of them",
        );
    }
    unique_rules(cx, &attrs);
    let kind = check_item(cx, item, Some(&event))?;
    refuse_queued_stop(cx, &attrs, &kind);
    let knobs = Knobs {
        queued: attrs.queued.is_some()
            || attrs.queue.is_some()
            || attrs.connection.is_some()
            || attrs.queue_if.is_some(),
        queue: attrs.queue.map(|l| l.value()),
        connection: attrs.connection.map(|l| l.value()),
        tries: attrs.tries.map(|(n, _)| n as u32),
        backoff: attrs.backoff,
        timeout: attrs.timeout.map(|(n, _)| n as u64),
        delay: attrs.delay.map(|(n, _)| n as u64),
        max_exceptions: attrs.max_exceptions.map(|(n, _)| n as u32),
        after_commit: attrs.after_commit.is_some(),
        middleware: middleware(cx, attrs.middleware.as_deref().unwrap_or_default()),
        name: attrs.name.map(|l| l.value()),
        replayable: attrs.replayable,
        queue_if: attrs.queue_if.map(|p| p.into_token_stream()),
        backoff_exponential: attrs.backoff_exponential,
        retry_until: attrs.retry_until.map(|(n, _)| n as u64),
        jitter: attrs.jitter.is_some(),
        unique_id: attrs.unique_id.map(|(tokens, _)| tokens),
        unique_for: attrs.unique_for.map(|(n, _)| n as u64),
        unique_until_processing: attrs.unique_until_processing.is_some(),
        encrypted: attrs.encrypted.is_some(),
    };
    Some(ListenerModel {
        krate: attrs.krate.unwrap_or_else(default_crate),
        event,
        kind,
        knobs,
    })
}

/// A queued listener runs after the dispatch, so it has no remaining
/// listeners to stop: `Result<Propagation>` with `queued` (or a key that
/// implies it) is refused at that key.
fn refuse_queued_stop(cx: &mut Ctxt, attrs: &ListenerAttrs, kind: &ListenerKind) {
    if !kind.stops() {
        return;
    }
    let at = attrs
        .queued
        .map(|span| (span, "queued"))
        .or_else(|| attrs.queue.as_ref().map(|l| (l.span(), "queue")))
        .or_else(|| attrs.connection.as_ref().map(|l| (l.span(), "connection")))
        .or_else(|| {
            attrs
                .queue_if
                .as_ref()
                .map(|p| (syn::spanned::Spanned::span(p), "queue_if"))
        });
    if let Some((span, key)) = at {
        cx.error_at(
            span,
            format_args!(
                "a queued listener cannot stop propagation: it runs on a worker after the \
                 dispatch, when no listener is left to stop; remove `{key}` or return \
                 `anyhow::Result<()>`"
            ),
        );
    }
}

/// `unique_for` and `unique_until_processing` refine a `unique_id`, and a
/// unique job is a queued one; so is an `encrypted` one.
fn unique_rules(cx: &mut Ctxt, attrs: &ListenerAttrs) {
    let queued = attrs.queued.is_some()
        || attrs.queue.is_some()
        || attrs.connection.is_some()
        || attrs.queue_if.is_some();
    match &attrs.unique_id {
        None => {
            if let Some((_, span)) = attrs.unique_for {
                cx.error_at(
                    span,
                    "`unique_for` without `unique_id`: add `unique_id = |e: &E| ...` naming what makes the job unique",
                );
            }
            if let Some(span) = attrs.unique_until_processing {
                cx.error_at(
                    span,
                    "`unique_until_processing` without `unique_id`: add `unique_id = |e: &E| ...` naming what makes the job unique",
                );
            }
        }
        Some((_, span)) if !queued => cx.error_at(
            *span,
            "`unique_id` on a listener that is not queued: uniqueness is about queued jobs; add `queued`",
        ),
        Some(_) => {}
    }
    if let Some(span) = attrs.encrypted
        && !queued
    {
        cx.error_at(
            span,
            "`encrypted` on a listener that is not queued: only a queued job's payload is stored, and encrypted; add `queued`",
        );
    }
}

/// The built-in middleware need their arguments (`throttle:N,M`,
/// `rate_limited:NAME`, `without_overlapping:KEY`); any other name is
/// middleware written in Rust, which the worker's registry checks. The
/// syntax is [`crate::middleware::parse`], the one the runtime reads.
fn middleware(cx: &mut Ctxt, items: &[syn::LitStr]) -> Vec<String> {
    use crate::middleware::{EXPECTED, SyntaxError, parse};
    let mut out = Vec::new();
    for lit in items {
        let text = lit.value();
        match parse(&text) {
            Ok(_) => out.push(text),
            Err(SyntaxError::Unknown) => cx.error_spanned_by(
                lit,
                format_args!("unknown job middleware `{text}`; expected {EXPECTED}"),
            ),
            Err(SyntaxError::Malformed(reason)) => cx.error_spanned_by(
                lit,
                format_args!("job middleware `{text}`: {reason}; expected {EXPECTED}"),
            ),
        }
    }
    out
}

fn check_item(cx: &mut Ctxt, item: &ListenerItem, event: Option<&Type>) -> Option<ListenerKind> {
    match item {
        ListenerItem::Fn(FnItem { sig }) => {
            check_fn(cx, sig, event).map(|stops| ListenerKind::Fn {
                function: sig.ident.clone(),
                listener: listener_ident(&sig.ident),
                stops,
            })
        }
        ListenerItem::Impl(imp) => check_impl(cx, imp, event),
        // The subscriber's type is filled in by `super::subscriber`.
        ListenerItem::Method(FnItem { sig }) => {
            check_listen_method(cx, sig, event).map(|stops| ListenerKind::Method {
                method: sig.ident.clone(),
                subscriber: Box::new(syn::parse_quote!(Self)),
                stops,
            })
        }
    }
}

/// The unit struct generated for the listener fn `function`.
pub fn listener_ident(function: &Ident) -> Ident {
    format_ident!(
        "{}",
        crate::naming::listener_type_name(&function.to_string()),
        span = function.span()
    )
}
