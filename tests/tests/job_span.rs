//! Every job runs inside a `queue.job` span carrying the job's id, its
//! queue and name, the attempt, and the event store's event and
//! correlation ids of the dispatch that queued it: on the memory
//! connection (its own worker loop) as on sqlite (the stored one).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use event_core::queue::{JOB_SPAN, JobRegistry, Queue, Worker};
use event_core::store::EventStore;
use event_core::{Dispatcher, Event, EventListener};
use tracing::field::{Field, Visit};
use tracing_subscriber::layer::{Context, SubscriberExt};

/// The fields of every `queue.job` span opened.
#[derive(Clone, Default)]
struct Spans(Arc<Mutex<Vec<HashMap<String, String>>>>);

struct Fields<'a>(&'a mut HashMap<String, String>);

impl Visit for Fields<'_> {
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        self.0.insert(
            field.name().to_string(),
            format!("{value:?}").replace('"', ""),
        );
    }
    fn record_str(&mut self, field: &Field, value: &str) {
        self.0.insert(field.name().to_string(), value.to_string());
    }
}

impl<S: tracing::Subscriber> tracing_subscriber::Layer<S> for Spans {
    fn on_new_span(
        &self,
        attrs: &tracing::span::Attributes<'_>,
        _id: &tracing::span::Id,
        _ctx: Context<'_, S>,
    ) {
        if attrs.metadata().name() != JOB_SPAN {
            return;
        }
        let mut fields = HashMap::new();
        attrs.record(&mut Fields(&mut fields));
        self.0.lock().unwrap().push(fields);
    }
}

#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
struct Signup {
    user: u64,
}

impl Event for Signup {
    fn event_name(&self) -> &'static str {
        "Signup"
    }
    fn to_json(&self) -> serde_json::Value {
        serde_json::to_value(self).unwrap_or_default()
    }
}

/// A queued listener.
struct Welcome;

#[event_core::async_trait]
impl EventListener for Welcome {
    async fn handle(&self, _event: Arc<dyn Event>) -> anyhow::Result<()> {
        Ok(())
    }
    fn should_queue(&self) -> bool {
        true
    }
    fn listener_name(&self) -> &str {
        "Welcome"
    }
}

async fn the_job_span_carries_the_event_s_ids(queue: Queue, dir: &tempfile::TempDir) {
    let spans = Spans::default();
    let subscriber = tracing_subscriber::registry().with(spans.clone());
    let _guard = tracing::subscriber::set_default(subscriber);

    let store_url = format!("sqlite://{}", dir.path().join("events.db").display());
    let store = EventStore::open(&store_url, "events").await.expect("store");
    let events = Dispatcher::new();
    queue.install(&events).await;
    store.install(&events).await;
    let welcome: Arc<dyn EventListener> = Arc::new(Welcome);
    events.listen::<Signup>(welcome.clone()).await;
    events.dispatch(Signup { user: 9 }).await.expect("dispatch");
    store.flush().await.expect("flush");
    let recorded = store.query().name("Signup").fetch().await.expect("query");
    let [recorded] = recorded.as_slice() else {
        panic!("one Signup recorded: {recorded:?}");
    };

    let report = Worker::new(
        queue.clone(),
        JobRegistry::new().listener::<Signup>(welcome),
    )
    .queues([queue.default_queue()])
    .poll_interval(Duration::from_millis(20))
    .stop_when_empty(true)
    .run()
    .await
    .expect("the worker runs");
    assert_eq!(report.succeeded, 1, "{report:?}");

    let seen = spans.0.lock().unwrap().clone();
    let [span] = seen.as_slice() else {
        panic!("one job span: {seen:?}");
    };
    assert_eq!(span["job.name"], "Welcome", "{span:?}");
    assert_eq!(span["job.queue"], queue.default_queue(), "{span:?}");
    assert_eq!(span["job.attempt"], "1", "{span:?}");
    assert!(!span["job.id"].is_empty(), "{span:?}");
    assert_eq!(span["event.id"], recorded.id, "{span:?}");
    assert_eq!(
        span["event.correlation_id"], recorded.correlation_id,
        "{span:?}"
    );
}

#[tokio::test]
async fn memory_job_span_carries_the_event_s_ids() {
    let dir = tempfile::tempdir().expect("tempdir");
    the_job_span_carries_the_event_s_ids(Queue::memory(), &dir).await;
}

#[tokio::test]
async fn sqlite_job_span_carries_the_event_s_ids() {
    let dir = tempfile::tempdir().expect("tempdir");
    let url = format!("sqlite://{}", dir.path().join("jobs.db").display());
    let queue = Queue::open(&url).await.expect("queue");
    the_job_span_carries_the_event_s_ids(queue, &dir).await;
}
