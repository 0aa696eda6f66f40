//! A fresh process whose first act is `.dispatch()` of events with a
//! hand-written `ShouldQueue` impl (the seed's way), onto a sqlite queue
//! installed on the global dispatcher. The test reads the jobs the queue
//! stored from the sqlite file. The test
//! (`tests/tests/should_queue_fresh.rs`) runs it in each order, so what a
//! job gets can be seen not to depend on what ran before in the process.
//!
//! Usage: `first_dispatch <sqlite path> <order>`, where order is `seen-first`
//! or `macro-first` (`dispatch_event!` on the unseen event type first).

use chrono::Duration as ChronoDuration;
use event_core::queue::Queue;
use event_core::{Dispatchable, Event, ShouldQueue, dispatch_event};
use serde::{Deserialize, Serialize};

/// The seed's hand-written queued event, opting in with the one line.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct OrderShippedEvent {
    order_id: String,
}

impl Event for OrderShippedEvent {
    fn event_name(&self) -> &'static str {
        "OrderShipped"
    }
    fn to_json(&self) -> serde_json::Value {
        serde_json::to_value(self).unwrap_or_default()
    }
    fn should_queue(&self) -> bool {
        true
    }
    fn as_should_queue(&self) -> Option<&dyn ShouldQueue> {
        Some(self)
    }
}

impl ShouldQueue for OrderShippedEvent {
    fn queue(&self) -> Option<&str> {
        Some("orders")
    }
    fn delay(&self) -> Option<ChronoDuration> {
        Some(ChronoDuration::seconds(30))
    }
    fn tries(&self) -> Option<u32> {
        Some(5)
    }
    fn timeout(&self) -> Option<ChronoDuration> {
        Some(ChronoDuration::seconds(40))
    }
}

/// The same, without the line: its `ShouldQueue` impl is not seen, by any
/// dispatch path (the seed macros log a warning saying so).
#[derive(Debug, Clone, Serialize, Deserialize)]
struct InvoicePaidEvent {
    invoice_id: String,
}

impl Event for InvoicePaidEvent {
    fn event_name(&self) -> &'static str {
        "InvoicePaid"
    }
    fn to_json(&self) -> serde_json::Value {
        serde_json::to_value(self).unwrap_or_default()
    }
    fn should_queue(&self) -> bool {
        true
    }
}

impl ShouldQueue for InvoicePaidEvent {
    fn queue(&self) -> Option<&str> {
        Some("invoices")
    }
    fn tries(&self) -> Option<u32> {
        Some(9)
    }
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let path = args
        .next()
        .expect("usage: first_dispatch <sqlite path> <order>");
    let order = args.next().unwrap_or_else(|| "seen-first".into());
    let queue = Queue::open(&format!("sqlite://{path}")).await?;
    queue.install(event_core::Dispatcher::global()).await;

    // The first thing that reaches the dispatcher in this process.
    if order == "macro-first" {
        dispatch_event!(InvoicePaidEvent {
            invoice_id: "i-0".into()
        })?;
        InvoicePaidEvent {
            invoice_id: "i-1".into(),
        }
        .dispatch()
        .await?;
        OrderShippedEvent {
            order_id: "o-1".into(),
        }
        .dispatch()
        .await?;
    } else {
        OrderShippedEvent {
            order_id: "o-1".into(),
        }
        .dispatch()
        .await?;
        InvoicePaidEvent {
            invoice_id: "i-1".into(),
        }
        .dispatch()
        .await?;
        dispatch_event!(InvoicePaidEvent {
            invoice_id: "i-0".into()
        })?;
    }

    // Written before `dispatch` returned: the test reads the table.
    Ok(())
}
