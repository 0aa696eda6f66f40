//! Dispatch cost against a hand-written baseline, in one run.
//!
//! `cargo bench -p event-core --bench dispatch`
//!
//! Each case is measured twice by criterion: through `Dispatcher::dispatch`,
//! and as the bare loop a user would write without a framework (a
//! `Vec<Arc<dyn EventListener>>` of the same async-trait listeners, called in
//! order with the event). The summary then runs both in 7 alternating
//! rounds, each call allocating its event as an `Arc`, and prints ns per
//! dispatch and the ratio, median and fastest side by side (the fastest
//! ratio compares each side's fastest round). Pass a filter
//! that matches no criterion case (`-- summary`) to print only the summary
//! and the throughput lines. Then the same dispatch runs on one and on two threads at once,
//! and the summary prints the throughput gain.

// `criterion_group!` defines a `pub fn` it cannot document.
#![allow(missing_docs)]

use std::hint::black_box;
use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use criterion::{Criterion, criterion_group};
use event_core::{Dispatcher, Event, EventListener};

#[derive(Debug)]
struct OrderShipped {
    id: u64,
}

impl Event for OrderShipped {
    fn event_name(&self) -> &'static str {
        "OrderShipped"
    }
    fn to_json(&self) -> serde_json::Value {
        serde_json::json!({ "id": self.id })
    }
}

/// A listener doing a token amount of work that the optimiser cannot remove.
struct Work;

#[async_trait]
impl EventListener for Work {
    async fn handle(&self, event: Arc<dyn Event>) -> anyhow::Result<()> {
        black_box(event.event_name().len());
        Ok(())
    }
}

const OTHER_NAMES: usize = 1_000;
const OTHER_CASE: &str = "1 listener, 1000 other names";

fn leaked_name(i: usize) -> &'static str {
    Box::leak(format!("Other{i}").into_boxed_str())
}

struct Case {
    id: &'static str,
    dispatcher: Dispatcher,
    baseline: Vec<Arc<dyn EventListener>>,
}

fn cases() -> Vec<Case> {
    let rt = runtime();
    let mut cases = Vec::new();
    for (id, listeners) in [("1 listener", 1), ("10 listeners", 10)] {
        let dispatcher = Dispatcher::new();
        let mut baseline: Vec<Arc<dyn EventListener>> = Vec::new();
        for _ in 0..listeners {
            let listener: Arc<dyn EventListener> = Arc::new(Work);
            rt.block_on(dispatcher.listen::<OrderShipped>(listener.clone()));
            baseline.push(listener);
        }
        cases.push(Case {
            id,
            dispatcher,
            baseline,
        });
    }

    let dispatcher = Dispatcher::new();
    let listener: Arc<dyn EventListener> = Arc::new(Work);
    rt.block_on(dispatcher.listen_wildcard(listener.clone()));
    cases.push(Case {
        id: "wildcard listener",
        dispatcher,
        baseline: vec![listener],
    });

    let dispatcher = Dispatcher::new();
    for i in 0..OTHER_NAMES {
        rt.block_on(dispatcher.listen_pattern(leaked_name(i), Arc::new(Work)));
    }
    let listener: Arc<dyn EventListener> = Arc::new(Work);
    rt.block_on(dispatcher.listen::<OrderShipped>(listener.clone()));
    cases.push(Case {
        id: OTHER_CASE,
        dispatcher,
        baseline: vec![listener],
    });
    cases
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("a current-thread runtime")
}

async fn bare_loop(listeners: &[Arc<dyn EventListener>], event: &Arc<dyn Event>) {
    for listener in listeners {
        listener
            .handle(event.clone())
            .await
            .expect("the bench listener never fails");
    }
}

fn bench_dispatch(c: &mut Criterion) {
    let rt = runtime();
    let event: Arc<dyn Event> = Arc::new(OrderShipped { id: 1 });
    for case in cases() {
        let mut group = c.benchmark_group(case.id);
        group.bench_function("event-core", |b| {
            b.to_async(&rt).iter(|| async {
                case.dispatcher
                    .dispatch(event.clone())
                    .await
                    .expect("the bench listener never fails");
            })
        });
        group.bench_function("baseline", |b| {
            b.to_async(&rt)
                .iter(|| async { bare_loop(&case.baseline, &event).await })
        });
        group.finish();
    }
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2));
    targets = bench_dispatch
}

/// ns per call of `ours` and of `baseline`, in `ROUNDS` alternating rounds
/// (so both sides meet the same conditions on a noisy machine). Each call
/// allocates its event as an `Arc`, as an application's dispatch does.
/// Returns each round's pair.
fn interleaved(case: &Case) -> Vec<(f64, f64)> {
    const ROUNDS: usize = 7;
    const CALLS: u32 = 400_000;
    let rt = runtime();
    let per_call = |start: Instant| start.elapsed().as_nanos() as f64 / f64::from(CALLS);
    // Warm both paths (and this thread's dispatch cache) first.
    rt.block_on(async {
        for id in 0..10_000 {
            let event: Arc<dyn Event> = Arc::new(OrderShipped { id });
            let _ = case.dispatcher.dispatch(event).await;
            let event: Arc<dyn Event> = Arc::new(OrderShipped { id });
            bare_loop(&case.baseline, &event).await;
        }
    });
    (0..ROUNDS)
        .map(|_| {
            let start = Instant::now();
            rt.block_on(async {
                for id in 0..u64::from(CALLS) {
                    let event: Arc<dyn Event> = Arc::new(OrderShipped { id });
                    case.dispatcher
                        .dispatch(event)
                        .await
                        .expect("the bench listener never fails");
                }
            });
            let ours = per_call(start);
            let start = Instant::now();
            rt.block_on(async {
                for id in 0..u64::from(CALLS) {
                    let event: Arc<dyn Event> = Arc::new(OrderShipped { id });
                    bare_loop(&case.baseline, &event).await;
                }
            });
            (ours, per_call(start))
        })
        .collect()
}

fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

fn fastest(values: impl Iterator<Item = f64>) -> f64 {
    values.fold(f64::MAX, f64::min)
}

/// Calls per second on `threads` threads, each running `work` in a loop:
/// either dispatching through one shared dispatcher, or the bare loop over
/// the same (shared) listener, to show what the hardware itself allows.
fn throughput(threads: usize, per_thread: u64, framework: bool) -> f64 {
    let dispatcher = Dispatcher::new();
    let listener: Arc<dyn EventListener> = Arc::new(Work);
    runtime().block_on(dispatcher.listen::<OrderShipped>(listener.clone()));
    let barrier = Arc::new(std::sync::Barrier::new(threads + 1));
    let handles: Vec<_> = (0..threads)
        .map(|_| {
            let dispatcher = dispatcher.clone();
            let baseline = vec![listener.clone()];
            let barrier = barrier.clone();
            std::thread::spawn(move || {
                let rt = runtime();
                let event: Arc<dyn Event> = Arc::new(OrderShipped { id: 1 });
                let run = |calls: u64| {
                    rt.block_on(async {
                        for _ in 0..calls {
                            if framework {
                                let _ = dispatcher.dispatch(event.clone()).await;
                            } else {
                                bare_loop(&baseline, &event).await;
                            }
                        }
                    })
                };
                run(10_000); // warm this thread's caches before the clock starts
                barrier.wait();
                run(per_thread);
            })
        })
        .collect();
    barrier.wait();
    let start = Instant::now();
    for handle in handles {
        handle.join().expect("bench thread");
    }
    (threads as u64 * per_thread) as f64 / start.elapsed().as_secs_f64()
}

/// `DISPATCH_BENCH_PROFILE=event-core|baseline[:listeners[:shared]]`: only runs a
/// million dispatches (or bare loops) over 1 (or `listeners`) listeners and
/// exits, for an instruction count (`valgrind --tool=callgrind`) that a
/// noisy machine cannot skew.
fn profile(spec: &str) {
    let mut parts = spec.split(':');
    let which = parts.next().unwrap_or("event-core");
    let listeners: usize = parts
        .next()
        .unwrap_or("1")
        .parse()
        .expect("a listener count");
    // `:shared`: one event reused (as the throughput lines do), not one allocated per call.
    let shared = parts.next() == Some("shared");
    let rt = runtime();
    let dispatcher = Dispatcher::new();
    let mut baseline: Vec<Arc<dyn EventListener>> = Vec::new();
    for _ in 0..listeners {
        let listener: Arc<dyn EventListener> = Arc::new(Work);
        rt.block_on(dispatcher.listen::<OrderShipped>(listener.clone()));
        baseline.push(listener);
    }
    let case = Case {
        id: "profile",
        dispatcher,
        baseline,
    };
    let one: Arc<dyn Event> = Arc::new(OrderShipped { id: 0 });
    rt.block_on(async {
        for id in 0..1_000_000 {
            let event: Arc<dyn Event> = if shared {
                one.clone()
            } else {
                Arc::new(OrderShipped { id })
            };
            if which == "baseline" {
                bare_loop(&case.baseline, &event).await;
            } else {
                let _ = case.dispatcher.dispatch(event).await;
            }
        }
    });
}

fn main() {
    if let Ok(which) = std::env::var("DISPATCH_BENCH_PROFILE") {
        profile(&which);
        return;
    }
    benches();
    Criterion::default().configure_from_args().final_summary();

    println!(
        "\nInterleaved rounds (7, an Arc allocated per event), ns per dispatch:\n{:<30} {:>16} {:>16} {:>14}",
        "case", "event-core", "baseline", "ratio"
    );
    println!(
        "{:<30} {:>16} {:>16} {:>14}",
        "", "median  fastest", "median  fastest", "median fastest"
    );
    let mut one_listener = None;
    for case in cases() {
        let rounds = interleaved(&case);
        let ours = median(rounds.iter().map(|r| r.0).collect());
        let base = median(rounds.iter().map(|r| r.1).collect());
        // Median: of the per-round ratios. Fastest: the fastest round of
        // each side against each other (the least disturbed figures), not
        // the luckiest round's ratio.
        let ratio = median(rounds.iter().map(|r| r.0 / r.1).collect());
        let ours_fastest = fastest(rounds.iter().map(|r| r.0));
        let base_fastest = fastest(rounds.iter().map(|r| r.1));
        println!(
            "{:<30} {ours:>7.1} {ours_fastest:>7.1}  {base:>7.1} {base_fastest:>7.1}  {ratio:>6.2}x {:>6.2}x",
            case.id,
            ours_fastest / base_fastest,
        );
        if case.id == "1 listener" {
            one_listener = Some(ours);
        }
        if let (OTHER_CASE, Some(one)) = (case.id, one_listener) {
            println!(
                "growth from 1 to 1,000 registered names: {:.2}x (medians)",
                ours / one
            );
        }
    }

    // Best of three runs each: throughput on one thread, then on two threads
    // at once through the same dispatcher; the bare loop alongside shows the
    // gain the machine itself allows (two vCPUs may share one core).
    let per_thread = 2_000_000;
    let best = |threads, framework| {
        (0..3)
            .map(|_| throughput(threads, per_thread, framework))
            .fold(0.0_f64, f64::max)
    };
    for (label, framework) in [("event-core", true), ("baseline", false)] {
        let one = best(1, framework);
        let two = best(2, framework);
        println!(
            "throughput {label:<10}: 1 thread {:.2} M/s, 2 threads {:.2} M/s, gain {:.2}x",
            one / 1e6,
            two / 1e6,
            two / one
        );
    }
}
