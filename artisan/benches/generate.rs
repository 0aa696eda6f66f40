//! `event:generate` and `make:event` on a package with 1,000 events and
//! 1,000 listeners, beside a baseline that only reads the same source files
//! and writes the same output files (temp file + rename, as artisan does).
//!
//! Run: `cargo bench -p event-artisan --bench generate`. Goals: make:event under
//! 50 ms, event:generate within 3x the baseline.

use std::path::Path;
use std::time::{Duration, Instant};

const EVENTS: usize = 1_000;

fn event_file(i: usize) -> String {
    format!(
        "use event_core::prelude::*;
use serde::{{Deserialize, Serialize}};

/// Bench{i}: something that happened. Add the fields its listeners need.
#[derive(Debug, Clone, Serialize, Deserialize, Event)]
pub struct Bench{i}Event {{
    /// A ULID, unique to this occurrence.
    pub id: String,
    pub timestamp: event_core::chrono::DateTime<event_core::chrono::Utc>,
}}

impl Bench{i}Event {{
    pub fn new() -> Self {{
        Self {{
            id: event_core::ulid::Ulid::new().to_string(),
            timestamp: event_core::chrono::Utc::now(),
        }}
    }}
}}

impl Default for Bench{i}Event {{
    fn default() -> Self {{
        Self::new()
    }}
}}
"
    )
}

fn listener_file(i: usize) -> String {
    format!(
        "use event_core::prelude::*;

use crate::events::Bench{i}Event;

/// Handles [`Bench{i}Event`].
#[listener(event = Bench{i}Event, queued, queue = \"default\")]
pub async fn handle_bench{i}(event: &Bench{i}Event) -> anyhow::Result<()> {{
    let _ = event;
    Ok(())
}}
"
    )
}

fn setup(dir: &Path) {
    std::fs::write(
        dir.join("Cargo.toml"),
        "[package]\nname = \"bench\"\nversion = \"0.1.0\"\nedition = \"2024\"\n",
    )
    .unwrap();
    std::fs::create_dir_all(dir.join("src/events")).unwrap();
    std::fs::create_dir_all(dir.join("src/listeners")).unwrap();
    std::fs::write(dir.join("src/main.rs"), "fn main() {}\n").unwrap();
    for i in 0..EVENTS {
        std::fs::write(dir.join(format!("src/events/bench{i}.rs")), event_file(i)).unwrap();
        std::fs::write(
            dir.join(format!("src/listeners/handle_bench{i}.rs")),
            listener_file(i),
        )
        .unwrap();
    }
}

fn artisan(dir: &Path, args: &[&str]) {
    let manifest = dir.join("Cargo.toml");
    let mut argv = vec![
        "artisan".to_string(),
        "--manifest-path".to_string(),
        manifest.to_string_lossy().into_owned(),
    ];
    argv.extend(args.iter().map(|s| s.to_string()));
    assert_eq!(event_artisan::run(argv), 0, "artisan {args:?} failed");
}

/// Reads every source file artisan scans and rewrites the three files
/// `event:generate` produces, with their current contents.
fn baseline(dir: &Path) {
    let mut bytes = 0;
    for folder in ["src/events", "src/listeners"] {
        for entry in std::fs::read_dir(dir.join(folder)).unwrap() {
            let path = entry.unwrap().path();
            if path.extension().is_some_and(|e| e == "rs") {
                bytes += std::fs::read_to_string(&path).unwrap().len();
            }
        }
    }
    std::hint::black_box(bytes);
    for out in [
        "src/events/mod.rs",
        "src/listeners/mod.rs",
        "src/event_registry.rs",
    ] {
        let path = dir.join(out);
        let text = std::fs::read(&path).unwrap();
        let mut temp = tempfile::NamedTempFile::new_in(path.parent().unwrap()).unwrap();
        std::io::Write::write_all(&mut temp, &text).unwrap();
        temp.persist(&path).unwrap();
    }
}

fn median(mut samples: Vec<Duration>) -> Duration {
    samples.sort();
    samples[samples.len() / 2]
}

fn time(runs: usize, mut f: impl FnMut(usize)) -> Duration {
    f(usize::MAX); // warm up
    median(
        (0..runs)
            .map(|i| {
                let start = Instant::now();
                f(i);
                start.elapsed()
            })
            .collect(),
    )
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

fn main() {
    // `cargo bench` passes `--bench`; `cargo test --benches` runs us once, quickly.
    let quick = !std::env::args().any(|a| a == "--bench");
    let runs = if quick { 1 } else { 15 };
    let dir = tempfile::tempdir().unwrap();
    setup(dir.path());
    artisan(dir.path(), &["event:generate"]);

    age_files(dir.path());
    let project =
        event_artisan::project::Project::open(Some(&dir.path().join("Cargo.toml"))).unwrap();
    let cache = project.scan_cache.clone().unwrap();

    let base = time(runs, |_| baseline(dir.path()));
    let cold = time(runs, |_| {
        let _ = std::fs::remove_file(&cache);
        artisan(dir.path(), &["event:generate"]);
    });
    artisan(dir.path(), &["event:generate"]);
    let warm = time(runs, |_| artisan(dir.path(), &["event:generate"]));
    let scan_cold = time(runs, |_| {
        let _ = std::fs::remove_file(&cache);
        std::hint::black_box(event_artisan::scan::scan(&project, &[]).unwrap());
    });
    artisan(dir.path(), &["event:generate"]);
    let scan = event_artisan::scan::scan(&project, &[]).unwrap();
    let wiring = time(runs, |_| {
        let mut tx = event_artisan::Transaction::new();
        std::hint::black_box(event_artisan::wiring::rebuild(&project, &scan, &mut tx).unwrap());
    });
    // Each make:event adds an event: it writes the event, both mod.rs files
    // and the registry.
    let make = time(runs, |i| {
        let name = if i == usize::MAX {
            "WarmUp".to_string()
        } else {
            format!("Added{i}")
        };
        artisan(dir.path(), &["make:event", &name]);
    });

    let _ = std::fs::remove_file(&cache);
    let ratio = |d: Duration| d.as_secs_f64() / base.as_secs_f64();
    println!();
    println!("package: {EVENTS} events, {EVENTS} listeners (median of {runs} runs)");
    println!(
        "baseline: read the same files, write the same outputs  {:8.2} ms",
        ms(base)
    );
    println!(
        "event:generate, scan cache warm                        {:8.2} ms  {:.2}x baseline (goal <= 3x)",
        ms(warm),
        ratio(warm)
    );
    println!(
        "event:generate, no scan cache (every file parsed)      {:8.2} ms  {:.2}x baseline",
        ms(cold),
        ratio(cold)
    );
    println!(
        "  of which: syn scan of 2,000 files                    {:8.2} ms",
        ms(scan_cold)
    );
    println!(
        "  of which: rendering mod.rs files and the registry    {:8.2} ms",
        ms(wiring)
    );
    println!(
        "make:event, scan cache warm                            {:8.2} ms  (goal < 50 ms)",
        ms(make)
    );
}

/// A real package's files were not all written in the last second; the
/// scan cache (rightly) does not trust files that were.
fn age_files(dir: &Path) {
    let an_hour_ago = std::time::SystemTime::now() - Duration::from_secs(3600);
    for folder in ["src/events", "src/listeners"] {
        for entry in std::fs::read_dir(dir.join(folder)).unwrap() {
            let file = std::fs::File::options()
                .write(true)
                .open(entry.unwrap().path())
                .unwrap();
            file.set_modified(an_hour_ago).unwrap();
        }
    }
}
