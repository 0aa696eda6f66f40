//! With the `opentelemetry` feature, a queued listener's span continues the
//! trace of the span that dispatched it: the trace id the listener sees in
//! the worker is the request's.

#![cfg(feature = "opentelemetry")]

use std::sync::{Arc, Mutex};

use event_jobs::{JobRegistry, Queue, Worker};
use event_kernel::{Dispatcher, Event, EventListener};
use opentelemetry::trace::{TraceContextExt, TraceId, TracerProvider as _};
use tracing_opentelemetry::OpenTelemetrySpanExt;
use tracing_subscriber::layer::SubscriberExt;

#[derive(Debug, serde::Serialize, serde::Deserialize)]
struct Shipped {
    order: u64,
}

impl Event for Shipped {
    fn event_name(&self) -> &'static str {
        "Shipped"
    }
    fn to_json(&self) -> serde_json::Value {
        serde_json::json!({ "order": self.order })
    }
}

struct SeesTrace(Arc<Mutex<Option<TraceId>>>);

#[async_trait::async_trait]
impl EventListener for SeesTrace {
    async fn handle(&self, _event: Arc<dyn Event>) -> anyhow::Result<()> {
        let id = tracing::Span::current()
            .context()
            .span()
            .span_context()
            .trace_id();
        *self.0.lock().unwrap() = Some(id);
        Ok(())
    }
    fn should_queue(&self) -> bool {
        true
    }
    fn listener_name(&self) -> &str {
        "SeesTrace"
    }
}

#[tokio::test]
async fn the_worker_continues_the_dispatchers_trace() {
    let provider = opentelemetry_sdk::trace::SdkTracerProvider::builder().build();
    let subscriber = tracing_subscriber::registry()
        .with(tracing_opentelemetry::layer().with_tracer(provider.tracer("test")));
    let _guard = tracing::subscriber::set_default(subscriber);

    let dir = tempfile::tempdir().unwrap();
    let queue = Queue::open(&format!("sqlite://{}/jobs.db", dir.path().display()))
        .await
        .unwrap();
    let dispatcher = Dispatcher::new();
    queue.install(&dispatcher).await;
    let seen = Arc::new(Mutex::new(None));
    let listener: Arc<dyn EventListener> = Arc::new(SeesTrace(seen.clone()));
    dispatcher.listen::<Shipped>(listener.clone()).await;

    let request = tracing::info_span!("http.request");
    let request_trace = request.context().span().span_context().trace_id();
    assert_ne!(request_trace, TraceId::INVALID);
    {
        let _entered = request.enter();
        dispatcher.dispatch(Shipped { order: 7 }).await.unwrap();
    }
    let stored = queue
        .backend()
        .unwrap()
        .fetch(
            &[queue.default_queue().to_string()],
            1,
            std::time::Duration::from_secs(1),
            "peek",
        )
        .await
        .unwrap();
    let traceparent = stored[0]
        .job
        .envelope
        .traceparent
        .clone()
        .expect("the job carries a traceparent");
    assert!(
        traceparent.contains(&request_trace.to_string()),
        "{traceparent}"
    );
    queue.backend().unwrap().release(stored).await.unwrap();

    let report = Worker::new(
        queue.clone(),
        JobRegistry::new().listener::<Shipped>(listener),
    )
    .stop_when_empty(true)
    .run()
    .await
    .unwrap();
    assert_eq!(report.succeeded, 1);
    assert_eq!(
        *seen.lock().unwrap(),
        Some(request_trace),
        "the listener runs in the request's trace"
    );
}
