//! A chain's hops as the timeline shows them: under each event, its sync
//! listener calls, the listeners it queued, their jobs' attempts on the
//! workers and its broadcasts; and the HTTP requests that caused the
//! chain's first events (event-core's `http` layer), as root nodes.

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
            // A request is a node of its own (`request_nodes`), not a hop
            // of an event.
            "request" => {}
            _ => {
                shown["event"] = json!(hop.name);
                shown["channels"] = json!(hop.channels);
                // How many connections the server delivered it to, when the
                // broadcaster could learn it (`null`: unknown, not none).
                shown["receivers"] = json!(hop.receivers);
                broadcasts.push(shown);
            }
        }
    }
    event["listeners"] = json!(listeners);
    event["queued"] = json!(queued);
    event["jobs"] = json!(jobs);
    event["broadcasts"] = json!(broadcasts);
}

/// The ids the chain's events name as their parent without being among
/// them: where a request recorded by event-core's `http` layer would be.
pub(super) fn outside_parents<'a>(
    parents: impl Iterator<Item = Option<&'a str>>,
    events: &[String],
) -> Vec<String> {
    let mut outside: Vec<String> = parents
        .flatten()
        .filter(|p| !events.iter().any(|e| e == p))
        .map(str::to_string)
        .collect();
    outside.sort();
    outside.dedup();
    outside
}

/// A root node for each of `ids` that is a recorded request (its
/// `request` hop among `hops`, which it takes with the request's other
/// hops: the attempts of jobs queued in the handler), shaped like the
/// chain's events so the timeline draws it first, with `kind` =
/// `request` and `request` = `{method, route, status, ok, error,
/// duration_ms}`. An id with no request hop gives nothing.
pub(super) fn request_nodes(
    hops: &mut HashMap<String, Vec<HopRecord>>,
    ids: &[String],
    correlation_id: &str,
    default_queue: &str,
) -> Vec<Value> {
    let mut nodes = Vec::new();
    for id in ids {
        let Some(own) = hops.remove(id) else {
            continue;
        };
        let (requests, rest): (Vec<_>, Vec<_>) = own.into_iter().partition(|h| h.kind == "request");
        let Some(request) = requests.into_iter().next() else {
            continue;
        };
        let (method, route) = request
            .name
            .split_once(' ')
            .unwrap_or(("", request.name.as_str()));
        let mut node = json!({
            "id": id,
            "kind": "request",
            "name": request.name,
            "correlation_id": correlation_id,
            "parent": null,
            "depth": 0,
            "dispatched_at": request.started_at,
            "request": {
                "method": method,
                "route": route,
                "status": request.status,
                "ok": request.error.is_none(),
                "error": request.error,
                "duration_ms": request.duration_us as f64 / 1000.0,
            },
        });
        attach(&mut node, rest, default_queue);
        nodes.push(node);
    }
    nodes
}
