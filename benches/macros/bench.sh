#!/usr/bin/env bash
# Compile-time cost of #[derive(Event)] and #[listener], against the same
# impls written by hand.
#
# Generates two crates into a scratch workspace: `bench-macros` with N derived
# events and N `#[listener]` fns, and `bench-manual` with the same events and
# listeners implemented by hand (the seed's way). Dependencies are built once;
# then each crate alone is rebuilt from clean (`cargo clean -p`), REPS times,
# alternating, and the median times and their ratio are printed.
#
#   benches/macros/bench.sh            # N=200, REPS=3
#   N=50 REPS=5 benches/macros/bench.sh
#
# Goal: ratio (macros / manual) <= 1.25.
set -euo pipefail

N=${N:-200}
REPS=${REPS:-3}
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
TARGET=${CARGO_TARGET_DIR:-$ROOT/target}
WS=$TARGET/macro-bench/ws
export CARGO_TARGET_DIR=$TARGET/macro-bench/target

rm -rf "$WS"
mkdir -p "$WS/bench-macros/src" "$WS/bench-manual/src"
# Same dependency versions as the project.
cp "$ROOT/Cargo.lock" "$WS/Cargo.lock"

cat > "$WS/Cargo.toml" <<TOML
[workspace]
resolver = "3"
members = ["bench-macros", "bench-manual"]

[profile.dev]
debug = "line-tables-only"
[profile.dev.package."*"]
debug = false
TOML

for crate in bench-macros bench-manual; do
  cat > "$WS/$crate/Cargo.toml" <<TOML
[package]
name = "$crate"
version = "0.0.0"
edition = "2024"
publish = false

[dependencies]
event-core = { path = "$ROOT/event-core" }
serde = { version = "1", features = ["derive"] }
anyhow = "1"
TOML
done

# ----- the macro crate ---------------------------------------------------------
{
  echo '#![allow(dead_code)]'
  echo 'use event_core::prelude::*;'
  echo 'use serde::{Deserialize, Serialize};'
  for i in $(seq 1 "$N"); do
    attr=""
    if (( i % 4 == 0 )); then attr="#[event(queued, queue = \"q$((i % 3))\", priority = $((i % 7)))]"; fi
    cat <<RS

#[derive(Debug, Clone, Serialize, Deserialize, Event)]
$attr
pub struct Thing${i}HappenedEvent {
    pub id: u64,
    pub name: String,
}
RS
    knobs=""
    if (( i % 4 == 0 )); then knobs=", queued, queue = \"q$((i % 3))\", tries = 3, backoff = [5, 15, 30], timeout = 60"; fi
    cat <<RS

#[listener(event = Thing${i}HappenedEvent$knobs)]
pub async fn on_thing_${i}(event: &Thing${i}HappenedEvent) -> anyhow::Result<()> {
    if event.name.is_empty() {
        anyhow::bail!("thing {} has no name", event.id);
    }
    Ok(())
}
RS
  done
  echo
  echo 'pub async fn register(events: &Dispatcher) {'
  for i in $(seq 1 "$N"); do
    echo "    events.listen::<Thing${i}HappenedEvent>(Arc::new(OnThing${i}Listener)).await;"
  done
  echo '}'
} > "$WS/bench-macros/src/lib.rs"

# ----- the hand-written twin ---------------------------------------------------
{
  echo '#![allow(dead_code)]'
  echo 'use std::borrow::Cow;'
  echo 'use event_core::prelude::*;'
  echo 'use event_core::{ListenerOptions, ShouldQueue};'
  echo 'use serde::{Deserialize, Serialize};'
  for i in $(seq 1 "$N"); do
    cat <<RS

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Thing${i}HappenedEvent {
    pub id: u64,
    pub name: String,
}

impl Event for Thing${i}HappenedEvent {
    fn event_name(&self) -> &'static str {
        "Thing${i}Happened"
    }
    fn to_json(&self) -> event_core::serde_json::Value {
        event_core::serde_json::to_value(self).unwrap_or_default()
    }
    fn static_event_name() -> Cow<'static, str> {
        Cow::Borrowed("Thing${i}Happened")
    }
RS
    if (( i % 4 == 0 )); then
      cat <<RS
    fn should_queue(&self) -> bool {
        true
    }
    fn queue_name(&self) -> Option<&str> {
        Some("q$((i % 3))")
    }
    fn priority(&self) -> i32 {
        $((i % 7))
    }
    fn as_should_queue(&self) -> Option<&dyn ShouldQueue> {
        Some(self)
    }
}

impl ShouldQueue for Thing${i}HappenedEvent {
    fn queue(&self) -> Option<&str> {
        Some("q$((i % 3))")
    }
}
RS
    else
      echo '}'
    fi
    cat <<RS

pub async fn on_thing_${i}(event: &Thing${i}HappenedEvent) -> anyhow::Result<()> {
    if event.name.is_empty() {
        anyhow::bail!("thing {} has no name", event.id);
    }
    Ok(())
}

#[derive(Debug, Clone, Copy, Default)]
pub struct OnThing${i}Listener;

#[async_trait]
impl EventListener for OnThing${i}Listener {
    async fn handle(&self, event: Arc<dyn Event>) -> anyhow::Result<()> {
        match event.downcast_ref::<Thing${i}HappenedEvent>() {
            Some(event) => on_thing_${i}(event).await,
            None => anyhow::bail!("OnThing${i}Listener got {}", event.event_name()),
        }
    }
RS
    if (( i % 4 == 0 )); then
      cat <<RS
    fn should_queue(&self) -> bool {
        true
    }
    fn queue_name(&self) -> Option<&str> {
        Some("q$((i % 3))")
    }
    fn backoff(&self) -> Vec<event_core::chrono::Duration> {
        [5, 15, 30].into_iter().map(event_core::chrono::Duration::seconds).collect()
    }
    fn options(&self) -> ListenerOptions {
        ListenerOptions {
            queued: true,
            queue: Some("q$((i % 3))".into()),
            tries: Some(3),
            timeout: Some(event_core::chrono::Duration::seconds(60)),
            backoff: self.backoff(),
            retry: true,
            ..ListenerOptions::default()
        }
    }
}
RS
    else
      echo '}'
    fi
  done
  echo
  echo 'pub async fn register(events: &Dispatcher) {'
  for i in $(seq 1 "$N"); do
    echo "    events.listen::<Thing${i}HappenedEvent>(Arc::new(OnThing${i}Listener)).await;"
  done
  echo '}'
} > "$WS/bench-manual/src/lib.rs"

cd "$WS"
echo "building dependencies once (N=$N events + listeners per crate)..."
cargo build --quiet -p bench-macros -p bench-manual

time_build() {
  cargo clean --quiet -p "$1"
  local start end
  start=$(date +%s.%N)
  cargo build --quiet -p "$1"
  end=$(date +%s.%N)
  awk -v s="$start" -v e="$end" 'BEGIN { printf "%.3f\n", e - s }'
}

median() {
  sort -n | awk '{ a[NR] = $1 } END { print (NR % 2) ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2 }'
}

macro_times=()
manual_times=()
for rep in $(seq 1 "$REPS"); do
  # Alternate the order so neither crate always builds on a warmer machine.
  if (( rep % 2 )); then
    macro_times+=("$(time_build bench-macros)")
    manual_times+=("$(time_build bench-manual)")
  else
    manual_times+=("$(time_build bench-manual)")
    macro_times+=("$(time_build bench-macros)")
  fi
  printf 'rep %d: macros %.2fs, manual %.2fs\n' "$rep" "${macro_times[-1]}" "${manual_times[-1]}"
done

macro_median=$(printf '%s\n' "${macro_times[@]}" | median)
manual_median=$(printf '%s\n' "${manual_times[@]}" | median)
ratio=$(awk -v a="$macro_median" -v b="$manual_median" 'BEGIN { printf "%.3f\n", a / b }')
printf '\n%d derived events + %d #[listener] fns vs the same written by hand (median of %d clean builds)\n' "$N" "$N" "$REPS"
printf 'macros: %.2fs\nmanual: %.2fs\nratio:  %.3f (goal <= 1.25)\n' "$macro_median" "$manual_median" "$ratio"
