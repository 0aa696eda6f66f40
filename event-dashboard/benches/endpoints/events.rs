//! The event store part of the bench: events seeded through the store's
//! own write path (`EventStore::record`, the writer an app's dispatches
//! feed, committing in batches; the stream events through
//! `EventStore::append`, which checks a stream's version), then the event
//! endpoints the page reads.
//!
//! The events are chains of four, spread evenly over the last 30 days,
//! oldest first: `OrderPlaced` (tags `order`, `customer:N`; every 100th
//! chain also `vip`), `PaymentCaptured` caused by it (`payment`),
//! `InvoiceSent` caused by the payment (`invoice`, `customer:N`) and
//! `OrderShipped` caused by the order (`order`; every 1,000th chain's is a
//! rare `ChargebackOpened` instead). Every 25th chain's last event is
//! appended to one of 500 streams `account-N`. 1,000 customers.

use std::time::Instant;

use event_core::chrono::{DateTime, Duration as Span, SecondsFormat, Utc};
use event_core::serde_json::json;
use event_core::store::{EventStore, ExpectedVersion, NewEvent};

/// Events per chain.
const CHAIN: u64 = 4;
/// Events handed to the writer before waiting for it (its buffer holds 100,000).
const CHUNK: u64 = 20_000;
/// How far back the first event was dispatched.
const SPAN_DAYS: i64 = 30;

fn customer(chain: u64) -> String {
    format!("customer:{}", chain % 1_000)
}

/// The four events of chain `k`, the first dispatched at `at`, each next
/// one `step` later; the last one's stream, if it has one.
fn chain(k: u64, at: DateTime<Utc>, step: Span) -> (Vec<NewEvent>, Option<String>) {
    let payload = json!({ "order": k, "customer": k % 1_000, "amount_cents": 1_000 + k % 9_000 });
    let mut root = NewEvent::new("OrderPlaced", payload.clone())
        .with_tags(["order".to_string(), customer(k)])
        .with_metadata(json!({ "pid": 1 }));
    if k.is_multiple_of(100) {
        root.tags.push("vip".into());
    }
    root.dispatched_at = at;
    let child = |parent: &NewEvent, name: &str, tags: Vec<String>, n: i32| {
        let mut e = NewEvent::new(name, payload.clone()).with_tags(tags);
        e.correlation_id = parent.correlation_id.clone();
        e.causation_id = Some(parent.id.clone());
        e.dispatched_at = at + step * n;
        e
    };
    let payment = child(&root, "PaymentCaptured", vec!["payment".into()], 1);
    let invoice = child(
        &payment,
        "InvoiceSent",
        vec!["invoice".into(), customer(k)],
        2,
    );
    let last = if k % 1_000 == 999 {
        "ChargebackOpened"
    } else {
        "OrderShipped"
    };
    let shipped = child(&root, last, vec!["order".into()], 3);
    let stream = k
        .is_multiple_of(25)
        .then(|| format!("account-{}", (k / 25) % 500));
    (vec![root, payment, invoice, shipped], stream)
}

/// What the timed requests look up, read back from the store.
pub(crate) struct Picked {
    /// An event halfway through the history.
    pub(crate) id: String,
    /// Its chain.
    pub(crate) correlation: String,
    /// Its position (a later page's `after`).
    pub(crate) position: i64,
    /// When it was dispatched (a `since` halfway back).
    pub(crate) dispatched_at: DateTime<Utc>,
}

/// Seeds `total` events (rounded up to whole chains) unless the store
/// already holds them; prints the rate.
pub(crate) async fn seed(store: &EventStore, total: u64) -> anyhow::Result<()> {
    let have = store
        .query()
        .include_replays()
        .after(total as i64 - 1)
        .limit(1)
        .fetch()
        .await?;
    if !have.is_empty() {
        println!(
            "{} already holds {total} events: not seeded again",
            store.location()
        );
        return Ok(());
    }
    let chains = total.div_ceil(CHAIN);
    let span = Span::days(SPAN_DAYS);
    let step = span / (chains * CHAIN) as i32;
    let first = Utc::now() - span;
    println!(
        "seeding {} with {} events ({chains} chains of {CHAIN}) over the last {SPAN_DAYS} days",
        store.location(),
        chains * CHAIN
    );
    let started = Instant::now();
    let mut handed = 0;
    let mut streamed = 0u64;
    for k in 0..chains {
        let at = first + step * (k * CHAIN) as i32;
        let (events, stream) = chain(k, at, step);
        let mut events = events.into_iter();
        let last = events.next_back().expect("a chain of four");
        for event in events {
            store.record(event)?;
        }
        match stream {
            Some(stream) => {
                store
                    .append(last.in_stream(stream), ExpectedVersion::Any)
                    .await?;
                streamed += 1;
            }
            None => store.record(last)?,
        }
        handed += CHAIN;
        if handed.is_multiple_of(CHUNK) {
            store.flush().await?;
        }
        if handed.is_multiple_of(200_000) {
            let secs = started.elapsed().as_secs_f64();
            println!(
                "  {handed} events in {secs:.1} s ({:.0} events/s)",
                handed as f64 / secs
            );
        }
    }
    let stats = store.flush().await?;
    let secs = started.elapsed().as_secs_f64();
    anyhow::ensure!(
        stats.dropped == 0,
        "the writer dropped {} events",
        stats.dropped
    );
    println!(
        "seeded {handed} events in {secs:.1} s ({:.0} events/s; {streamed} of them appended to streams one by one)",
        handed as f64 / secs
    );
    Ok(())
}

/// An event halfway through the history, to look up.
pub(crate) async fn pick(store: &EventStore, total: u64) -> anyhow::Result<Picked> {
    let record = store
        .query()
        .after(total as i64 / 2)
        .limit(1)
        .fetch()
        .await?
        .pop()
        .ok_or_else(|| anyhow::anyhow!("the store holds no event past {}", total / 2))?;
    Ok(Picked {
        id: record.id,
        correlation: record.correlation_id,
        position: record.position,
        dispatched_at: record.dispatched_at,
    })
}

/// The event endpoints the page reads, with the filters its form sends
/// (`since` is always one of them: the form's default is 1h).
pub(crate) fn endpoints(p: &Picked) -> Vec<String> {
    let mid = p.dispatched_at.to_rfc3339_opts(SecondsFormat::Secs, true);
    vec![
        "/api/events".into(),
        "/api/events?since=24h".into(),
        "/api/events?since=7d".into(),
        "/api/events?since=90d".into(),
        format!("/api/events?since={mid}"),
        format!("/api/events?since=90d&after={}", p.position),
        "/api/events?since=7d&name=InvoiceSent".into(),
        "/api/events?since=90d&name=ChargebackOpened".into(),
        "/api/events?since=7d&tag=order".into(),
        "/api/events?since=24h&tag=vip".into(),
        "/api/events?since=90d&tag=customer:42".into(),
        "/api/events?since=90d&stream=account-7".into(),
        format!("/api/events?since=90d&correlation={}", p.correlation),
        format!("/api/events/{}", p.id),
        format!("/api/chains/{}", p.correlation),
    ]
}
