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

# Prints "wall cpu" seconds of a clean build of one crate. CPU time (user +
# sys, children included) is what the build costs; wall time also shows
# whatever else the machine is doing.
time_build() {
  cargo clean --quiet -p "$1"
  local TIMEFORMAT='%R %U %S' line
  line=$({ time cargo build --quiet -p "$1" 2>>"$WS/build.log"; } 2>&1)
  awk -v l="$line" 'BEGIN { split(l, t, " "); printf "%.3f %.3f\n", t[1], t[2] + t[3] }'
}

median() {
  sort -n | awk '{ a[NR] = $1 } END { print (NR % 2) ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2 }'
}

minimum() {
  sort -n | head -1
}

macro_wall=()
macro_cpu=()
manual_wall=()
manual_cpu=()
measure() {
  local result
  result=$(time_build "$1")
  if [[ $1 == bench-macros ]]; then
    macro_wall+=("${result% *}")
    macro_cpu+=("${result#* }")
  else
    manual_wall+=("${result% *}")
    manual_cpu+=("${result#* }")
  fi
}

for rep in $(seq 1 "$REPS"); do
  # Alternate the order so neither crate always builds on a warmer machine.
  if (( rep % 2 )); then
    measure bench-macros
    measure bench-manual
  else
    measure bench-manual
    measure bench-macros
  fi
  printf 'rep %d: macros %.2fs wall %.2fs cpu | manual %.2fs wall %.2fs cpu\n' "$rep" \
    "${macro_wall[-1]}" "${macro_cpu[-1]}" "${manual_wall[-1]}" "${manual_cpu[-1]}"
done

report() { # label, macro values, manual values (newline-separated)
  local m h
  m=$(printf '%s\n' $2 | $4)
  h=$(printf '%s\n' $3 | $4)
  awk -v l="$1" -v m="$m" -v h="$h" \
    'BEGIN { printf "%-18s macros %7.2fs  manual %7.2fs  ratio %.3f\n", l, m, h, m / h }'
}

printf '\n%d derived events + %d #[listener] fns vs the same written by hand, %d clean builds each\n' "$N" "$N" "$REPS"
report "cpu time, median" "${macro_cpu[*]}" "${manual_cpu[*]}" median
report "wall time, median" "${macro_wall[*]}" "${manual_wall[*]}" median
report "wall time, best" "${macro_wall[*]}" "${manual_wall[*]}" minimum
echo "goal: ratio <= 1.25"
