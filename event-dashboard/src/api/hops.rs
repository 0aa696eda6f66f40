//! A chain's hops as the timeline shows them: under each event, its sync
//! listener calls, the listeners it queued, their jobs' attempts on the
//! workers and its broadcasts.

use std::collections::HashMap;

use event_core::store::HopRecord;
use serde_json::{Value, json};

/// The hops, grouped under their event's id (write order kept).
pub(super) fn by_event(hops: Vec<HopRecord>) -> HashMap<String, Vec<HopRecord>> {
    let mut grouped: HashMap<String, Vec<HopRecord>> = HashMap::new();
    for hop in hops {
        grouped.entry(hop.event_id.clone()).or_default().push(hop);
    }
    grouped
}

/// Adds `listeners`, `queued`, `jobs` and `broadcasts` to an event's JSON; a
/// queued listener that declared no queue went to `default_queue`.
pub(super) fn attach(event: &mut Value, hops: Vec<HopRecord>, default_queue: &str) {
    let (mut listeners, mut queued, mut jobs, mut broadcasts) = (vec![], vec![], vec![], vec![]);
    for hop in hops {
        let mut shown = json!({
            "ok": hop.error.is_none(),
            "error": hop.error,
            "started_at": hop.started_at,
            "duration_ms": hop.duration_us as f64 / 1000.0,
        });
        match hop.kind.as_str() {
            "listener" => {
                shown["listener"] = json!(hop.name);
                listeners.push(shown);
            }
            "queued" => {
                shown["listener"] = json!(hop.name);
                shown["queue"] = json!(hop.queue.as_deref().unwrap_or(default_queue));
                queued.push(shown);
            }
            "job" => {
                shown["listener"] = json!(hop.name);
                shown["queue"] = json!(hop.queue);
                shown["worker"] = json!(hop.worker);
                shown["waited_ms"] = json!(hop.waited_us.map(|us| us as f64 / 1000.0));
                shown["attempt"] = json!(hop.attempt);
                shown["outcome"] = json!(hop.outcome);
                shown["ok"] = json!(matches!(hop.outcome.as_deref(), Some("done" | "deleted")));
                jobs.push(shown);
            }
            _ => {
                shown["event"] = json!(hop.name);
                shown["channels"] = json!(hop.channels);
                // The broadcasters publish without learning who received it.
                shown["receivers"] = Value::Null;
                broadcasts.push(shown);
            }
        }
    }
    event["listeners"] = json!(listeners);
    event["queued"] = json!(queued);
    event["jobs"] = json!(jobs);
    event["broadcasts"] = json!(broadcasts);
}
