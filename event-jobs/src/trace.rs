//! The `tracing` span each job runs in: its id, its event's id and
//! correlation id, its queue and name, and the attempt, so every log line a
//! listener writes while it runs carries them (and an OpenTelemetry layer
//! exports the job as a span).
//!
//! With the `opentelemetry` feature, a job carries the W3C `traceparent`
//! of the span that dispatched it, and its span in the worker continues
//! that trace (through `tracing-opentelemetry`): the request, the event and
//! the queued listener show as one trace.

use crate::job::JobEnvelope;

/// The span name every job runs under.
pub const JOB_SPAN: &str = "queue.job";

/// The span of one attempt of a stored job.
pub(crate) fn job_span(envelope: &JobEnvelope, attempt: u32) -> tracing::Span {
    let span = tracing::info_span!(
        JOB_SPAN,
        job.id = %envelope.id,
        job.name = envelope.listener.as_deref().unwrap_or(&envelope.event),
        job.queue = envelope.queue.as_str(),
        job.attempt = attempt,
        event.id = envelope.event_id.as_deref().unwrap_or(""),
        event.correlation_id = envelope.correlation_id.as_deref().unwrap_or(""),
    );
    continue_trace(&span, envelope.traceparent.as_deref());
    span
}

/// The W3C `traceparent` of the current span, when the `opentelemetry`
/// feature is on and an OpenTelemetry layer tracks the span.
#[cfg(feature = "opentelemetry")]
pub(crate) fn traceparent() -> Option<String> {
    use opentelemetry::propagation::TextMapPropagator;
    use opentelemetry::trace::TraceContextExt;
    use tracing_opentelemetry::OpenTelemetrySpanExt;
    let context = tracing::Span::current().context();
    if !context.span().span_context().is_valid() {
        return None;
    }
    let mut carrier = std::collections::HashMap::new();
    opentelemetry_sdk::propagation::TraceContextPropagator::new()
        .inject_context(&context, &mut carrier);
    carrier.remove("traceparent")
}

/// Without the `opentelemetry` feature, jobs carry no trace.
#[cfg(not(feature = "opentelemetry"))]
pub(crate) fn traceparent() -> Option<String> {
    None
}

#[cfg(feature = "opentelemetry")]
fn continue_trace(span: &tracing::Span, traceparent: Option<&str>) {
    use opentelemetry::propagation::TextMapPropagator;
    use tracing_opentelemetry::OpenTelemetrySpanExt;
    let Some(traceparent) = traceparent else {
        return;
    };
    let carrier =
        std::collections::HashMap::from([("traceparent".to_string(), traceparent.to_string())]);
    let parent = opentelemetry_sdk::propagation::TraceContextPropagator::new().extract(&carrier);
    if let Err(e) = span.set_parent(parent) {
        tracing::debug!(error = %e, "cannot continue the dispatch's trace");
    }
}

#[cfg(not(feature = "opentelemetry"))]
fn continue_trace(_span: &tracing::Span, _traceparent: Option<&str>) {}
