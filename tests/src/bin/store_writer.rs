//! An event-store writer process for the store tests:
//! `store_writer <store-url> <table> <id-prefix> <count> <record|dispatch>`.
//!
//! `record` hands rows with the ids `<prefix>-000000`.. to the writer
//! (re-running it re-submits the same ids); `dispatch` dispatches events on
//! a dispatcher the store is installed on. Every 1,000 events it flushes and
//! prints `flushed <n>`: those are acknowledged. Prints `done` at the end.

use std::io::Write;
use std::time::Duration;

use event_core::Dispatcher;
use event_core::prelude::*;
use event_core::store::{EventStore, NewEvent, StoreError, WriterOptions};

#[derive(Debug, Clone, serde::Serialize, serde::Deserialize, Event)]
#[event(tags("load"))]
struct WrittenEvent {
    writer: String,
    n: u32,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [url, table, prefix, count, mode] = args.as_slice() else {
        anyhow::bail!(
            "usage: store_writer <store-url> <table> <id-prefix> <count> <record|dispatch>"
        );
    };
    let count: u32 = count.parse()?;
    let store = EventStore::open_with(
        url,
        table,
        WriterOptions {
            buffer: 50_000,
            batch: 500,
        },
    )
    .await?;
    let dispatcher = Dispatcher::new();
    store.install(&dispatcher).await;
    let mut out = std::io::stdout();
    writeln!(out, "ready")?;
    out.flush()?;
    for n in 0..count {
        match mode.as_str() {
            "record" => loop {
                let row = NewEvent::new("Written", serde_json::json!({ "writer": prefix, "n": n }))
                    .with_id(format!("{prefix}-{n:06}"));
                match store.record(row) {
                    Ok(()) => break,
                    Err(StoreError::BufferFull) => {
                        tokio::time::sleep(Duration::from_millis(5)).await
                    }
                    Err(e) => return Err(e.into()),
                }
            },
            _ => {
                dispatcher
                    .dispatch(WrittenEvent {
                        writer: prefix.clone(),
                        n,
                    })
                    .await?
            }
        }
        if (n + 1) % 1000 == 0 {
            store.flush().await?;
            writeln!(out, "flushed {}", n + 1)?;
            out.flush()?;
        }
    }
    let stats = store.shutdown().await?;
    writeln!(out, "done {stats:?}")?;
    out.flush()?;
    Ok(())
}
