//! The event store's cost, in one run, against baselines measured beside it.
//!
//! `cargo bench -p event-core --bench store --features postgres`
//!
//! - Dispatch throughput with the store enabled vs disabled (the same
//!   dispatcher, one listener): flat out (dispatch loop alone, and until
//!   the writer has written everything), and paced at 10,000 events/s
//!   offered (the rate achieved until everything is written, and the CPU
//!   time per event).
//! - The store's append rate (rows handed to the writer, until flushed)
//!   beside hand-written batched inserts of the same rows: rusqlite with a
//!   prepared insert, 1,000 rows per transaction; tokio-postgres with one
//!   multi-row `unnest` insert of 1,000 rows per transaction.
//!
//! SQLite always; PostgreSQL when `EVENTS_TEST_POSTGRES_URL` is set (its
//! own table, dropped after). Each figure: median of ROUNDS, best beside it.
//! `STORE_BENCH_EVENTS` changes the flat-out event count.

use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use event_core::store::{EventStore, NewEvent, WriterOptions};
use event_core::{Dispatcher, Event, EventListener};

const ROUNDS: usize = 5;

#[derive(Debug, serde::Serialize, serde::Deserialize)]
struct OrderPlaced {
    order_id: u64,
    customer: String,
}

impl Event for OrderPlaced {
    fn event_name(&self) -> &'static str {
        "OrderPlaced"
    }
    fn to_json(&self) -> serde_json::Value {
        serde_json::json!({ "order_id": self.order_id, "customer": self.customer })
    }
    fn tags(&self) -> Vec<String> {
        vec!["order".to_string()]
    }
}

struct Noop;

#[async_trait]
impl EventListener for Noop {
    async fn handle(&self, event: Arc<dyn Event>) -> anyhow::Result<()> {
        std::hint::black_box(&event);
        Ok(())
    }
}

fn event(n: u64) -> OrderPlaced {
    OrderPlaced {
        order_id: n,
        customer: "ada@example.com".to_string(),
    }
}

fn cpu_time() -> Duration {
    let mut usage = std::mem::MaybeUninit::<libc::rusage>::zeroed();
    // SAFETY: getrusage fills the struct it is given.
    let usage = unsafe {
        libc::getrusage(libc::RUSAGE_SELF, usage.as_mut_ptr());
        usage.assume_init()
    };
    let tv = |t: libc::timeval| Duration::new(t.tv_sec as u64, t.tv_usec as u32 * 1000);
    tv(usage.ru_utime) + tv(usage.ru_stime)
}

/// (median, best) of rates.
fn summary(mut rates: Vec<f64>) -> (f64, f64) {
    rates.sort_by(|a, b| a.total_cmp(b));
    (rates[rates.len() / 2], rates[rates.len() - 1])
}

fn table() -> String {
    format!("bench{}", ulid::Ulid::new().to_string().to_lowercase())
}

struct Target {
    label: &'static str,
    url: String,
}

/// One dispatcher with one listener, the store installed on it or not.
async fn dispatcher(store: Option<&EventStore>) -> Dispatcher {
    let d = Dispatcher::new();
    d.listen::<OrderPlaced>(Arc::new(Noop)).await;
    if let Some(store) = store {
        store.install(&d).await;
    }
    d
}

/// Dispatches `n` as fast as possible: (loop rate, rate until written).
async fn flat_out(d: &Dispatcher, store: Option<&EventStore>, n: u64) -> (f64, f64) {
    let began = Instant::now();
    for i in 0..n {
        d.dispatch(event(i)).await.expect("dispatch");
    }
    let looped = began.elapsed();
    if let Some(store) = store {
        store.flush().await.expect("flush");
    }
    let written = began.elapsed();
    (
        n as f64 / looped.as_secs_f64(),
        n as f64 / written.as_secs_f64(),
    )
}

/// Offers 10,000 events/s for `secs`: (rate achieved until written, CPU µs per event).
async fn paced(d: &Dispatcher, store: Option<&EventStore>, secs: u64) -> (f64, f64) {
    let per_ms = 10u64;
    let n = secs * 1000 * per_ms;
    let cpu = cpu_time();
    let began = Instant::now();
    let mut tick = tokio::time::interval(Duration::from_millis(1));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
    let mut sent = 0;
    while sent < n {
        tick.tick().await;
        for _ in 0..per_ms {
            d.dispatch(event(sent)).await.expect("dispatch");
            sent += 1;
        }
    }
    if let Some(store) = store {
        store.flush().await.expect("flush");
    }
    let elapsed = began.elapsed();
    let cpu = cpu_time() - cpu;
    (
        n as f64 / elapsed.as_secs_f64(),
        cpu.as_secs_f64() * 1e6 / n as f64,
    )
}

fn rows(n: usize) -> Vec<NewEvent> {
    (0..n)
        .map(|i| {
            NewEvent::new(
                "OrderPlaced",
                serde_json::json!({"order_id": i, "customer": "ada@example.com"}),
            )
            .with_tags(["order"])
        })
        .collect()
}

/// The store's append rate: rows handed to the writer until flushed.
async fn store_appends(store: &EventStore, rows: Vec<NewEvent>) -> f64 {
    let n = rows.len();
    let began = Instant::now();
    for row in rows {
        store.record(row).expect("record");
    }
    store.flush().await.expect("flush");
    n as f64 / began.elapsed().as_secs_f64()
}

/// Hand-written SQLite: prepared insert, 1,000 rows per transaction.
fn sqlite_by_hand(path: &str, table: &str, rows: &[NewEvent]) -> f64 {
    let mut conn = rusqlite::Connection::open(path).expect("open");
    conn.pragma_update(None, "journal_mode", "WAL").unwrap();
    conn.pragma_update(None, "synchronous", "NORMAL").unwrap();
    let began = Instant::now();
    for chunk in rows.chunks(1000) {
        let tx = conn.transaction().unwrap();
        {
            let mut insert = tx
                .prepare_cached(&format!(
                    "INSERT INTO {table} (id, name, payload, metadata, tags, correlation_id, dispatched_at)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)"
                ))
                .unwrap();
            for r in chunk {
                insert
                    .execute(rusqlite::params![
                        r.id,
                        r.name,
                        r.payload.to_string(),
                        r.metadata.to_string(),
                        serde_json::to_string(&r.tags).unwrap(),
                        r.correlation_id,
                        r.dispatched_at.format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string(),
                    ])
                    .unwrap();
            }
        }
        tx.commit().unwrap();
    }
    rows.len() as f64 / began.elapsed().as_secs_f64()
}

/// Hand-written PostgreSQL: one `unnest` insert of 1,000 rows per transaction.
async fn postgres_by_hand(url: &str, table: &str, rows: &[NewEvent]) -> f64 {
    let (mut client, connection) = tokio_postgres::connect(url, tokio_postgres::NoTls)
        .await
        .expect("connect");
    tokio::spawn(connection);
    let insert = client
        .prepare(&format!(
            "INSERT INTO {table} (id, name, payload, metadata, tags, correlation_id, dispatched_at)
             SELECT * FROM unnest($1::text[], $2::text[], $3::jsonb[], $4::jsonb[], $5::jsonb[],
                                  $6::text[], $7::timestamptz[])"
        ))
        .await
        .unwrap();
    let began = Instant::now();
    for chunk in rows.chunks(1000) {
        let ids: Vec<&str> = chunk.iter().map(|r| r.id.as_str()).collect();
        let names: Vec<&str> = chunk.iter().map(|r| r.name.as_str()).collect();
        let payloads: Vec<&serde_json::Value> = chunk.iter().map(|r| &r.payload).collect();
        let metadata: Vec<&serde_json::Value> = chunk.iter().map(|r| &r.metadata).collect();
        let tags: Vec<serde_json::Value> = chunk
            .iter()
            .map(|r| serde_json::to_value(&r.tags).unwrap())
            .collect();
        let correlations: Vec<&str> = chunk.iter().map(|r| r.correlation_id.as_str()).collect();
        let times: Vec<chrono::DateTime<chrono::Utc>> =
            chunk.iter().map(|r| r.dispatched_at).collect();
        let tx = client.transaction().await.unwrap();
        tx.execute(
            &insert,
            &[
                &ids,
                &names,
                &payloads,
                &metadata,
                &tags,
                &correlations,
                &times,
            ],
        )
        .await
        .unwrap();
        tx.commit().await.unwrap();
    }
    rows.len() as f64 / began.elapsed().as_secs_f64()
}

fn print(label: &str, what: &str, ours: (f64, f64), base: (f64, f64), unit: &str) {
    println!(
        "{label:<10} {what:<44} ours {:>9.0} {unit} (best {:>9.0})  baseline {:>9.0} (best {:>9.0})  ratio {:>5.1}% (best {:>5.1}%)",
        ours.0,
        ours.1,
        base.0,
        base.1,
        100.0 * ours.0 / base.0,
        100.0 * ours.1 / base.1,
    );
}

async fn measure(target: &Target, n: u64, dir: &std::path::Path) {
    let label = target.label;
    let store = EventStore::open_with(
        &target.url,
        &table(),
        WriterOptions {
            buffer: 1_000_000,
            batch: 1_000,
        },
    )
    .await
    .expect("open the store");
    let on = dispatcher(Some(&store)).await;
    let off = dispatcher(None).await;
    // Warm up both paths (allocation, prepared statements).
    flat_out(&on, Some(&store), 2_000).await;
    flat_out(&off, None, 2_000).await;

    let (mut loop_on, mut loop_off, mut written_on) = (vec![], vec![], vec![]);
    for _ in 0..ROUNDS {
        let (l, w) = flat_out(&on, Some(&store), n).await;
        loop_on.push(l);
        written_on.push(w);
        loop_off.push(flat_out(&off, None, n).await.0);
    }
    let off_rate = summary(loop_off);
    print(
        label,
        "dispatch flat out: enabled vs disabled",
        summary(loop_on),
        off_rate,
        "ev/s",
    );
    print(
        label,
        "  ... until written",
        summary(written_on),
        off_rate,
        "ev/s",
    );

    let (mut paced_on, mut paced_off, mut cpu_on, mut cpu_off) = (vec![], vec![], vec![], vec![]);
    for _ in 0..3 {
        let (r, c) = paced(&on, Some(&store), 1).await;
        paced_on.push(r);
        cpu_on.push(c);
        let (r, c) = paced(&off, None, 1).await;
        paced_off.push(r);
        cpu_off.push(c);
    }
    print(
        label,
        "10,000 ev/s offered: achieved, until written",
        summary(paced_on),
        summary(paced_off),
        "ev/s",
    );
    let cpu = |v: Vec<f64>| {
        let (median, _) = summary(v.clone());
        (median, v.into_iter().fold(f64::INFINITY, f64::min))
    };
    let (con, coff) = (cpu(cpu_on), cpu(cpu_off));
    println!(
        "{label:<10} {:<44} enabled {:.2} µs/event (best {:.2}), disabled {:.2} (best {:.2})",
        "  ... CPU time per event (both threads)", con.0, con.1, coff.0, coff.1
    );
    let stats = store.stats();
    assert_eq!(stats.dropped, 0, "the bench must not drop: {stats:?}");

    // Appends: the writer vs hand-written batches of the same rows.
    let append_n = 50_000;
    let (mut ours, mut theirs) = (vec![], vec![]);
    for round in 0..ROUNDS {
        let our_table = table();
        let by_hand = table();
        let ours_store = EventStore::open_with(
            &target.url,
            &our_table,
            WriterOptions {
                buffer: 1_000_000,
                batch: 1_000,
            },
        )
        .await
        .unwrap();
        // The hand-written side writes into a table of the same shape.
        let theirs_store = EventStore::open(&target.url, &by_hand).await.unwrap();
        let batch = rows(append_n);
        ours.push(store_appends(&ours_store, batch.clone()).await);
        let rate = if target.url.starts_with("sqlite://") {
            let path = dir.join("bench.db");
            let path = path.to_string_lossy().to_string();
            let by_hand = by_hand.clone();
            tokio::task::spawn_blocking(move || sqlite_by_hand(&path, &by_hand, &batch))
                .await
                .unwrap()
        } else {
            postgres_by_hand(&target.url, &by_hand, &batch).await
        };
        theirs.push(rate);
        ours_store.shutdown().await.unwrap();
        ours_store.drop_table().await.unwrap();
        theirs_store.drop_table().await.unwrap();
        let _ = round;
    }
    print(
        label,
        "appends: the writer vs hand-written batches",
        summary(ours),
        summary(theirs),
        "rows/s",
    );
    store.shutdown().await.unwrap();
    store.drop_table().await.unwrap();
}

fn main() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let n: u64 = std::env::var("STORE_BENCH_EVENTS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(50_000);
    let dir = tempfile::tempdir().expect("tempdir");
    let mut targets = vec![Target {
        label: "sqlite",
        url: format!("sqlite://{}/bench.db", dir.path().display()),
    }];
    match std::env::var("EVENTS_TEST_POSTGRES_URL") {
        Ok(url) if cfg!(feature = "postgres") => targets.push(Target {
            label: "postgres",
            url,
        }),
        Ok(_) => println!("postgres: skipped (build with --features postgres)"),
        Err(_) => println!("postgres: skipped: set EVENTS_TEST_POSTGRES_URL"),
    }
    println!("{n} events flat out per round, {ROUNDS} rounds; median (best)");
    for target in &targets {
        runtime.block_on(measure(target, n, dir.path()));
    }
}
