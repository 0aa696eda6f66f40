#!/usr/bin/env bash
# The README's road, measured: a fresh `cargo new` package with the
# quick-start `main`, `artisan init` (its own `src/bin/artisan.rs`), then a
# cold `cargo build --release` of both binaries, twice: with the
# dependency `artisan init` writes (`event-artisan`, default-features = false:
# the lean in-app binary) and with event-artisan's default features (what
# `init` wrote before: the PostgreSQL driver, the broadcasting server and
# the dashboard in the app's binary). Prints the wall time, the number of
# crates compiled and each binary's size, and the machine's load.
#
#   scripts/measure_app_build.sh [artisan-binary]
#
# Each build has a target dir of its own under $TMPDIR (removed after).
set -euo pipefail
repo="$(cd "$(dirname "$0")/.." && pwd)"
artisan="${1:-$repo/target/debug/artisan}"
if [ ! -x "$artisan" ]; then
    (cd "$repo" && cargo build -q -p event-artisan)
    artisan="$repo/target/debug/artisan"
fi
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

cargo new -q --bin --name shop "$work/shop"
cat >> "$work/shop/Cargo.toml" <<EOF
event-core = { path = "$repo/event-core" }
serde = { version = "1", features = ["derive"] }
tokio = { version = "1", features = ["full"] }
anyhow = "1"
EOF
(cd "$work/shop" && "$artisan" init >/dev/null)

build() { # $1: label
    local target="$work/target-$1" start end crates
    start=$(date +%s.%N)
    crates=$(cd "$work/shop" && CARGO_TARGET_DIR="$target" cargo build --release 2>&1 \
        | grep -c '^ *Compiling ' || true)
    end=$(date +%s.%N)
    printf '| %s | %.0f s | %s | %s | %s |\n' "$1" "$(echo "$end - $start" | bc)" "$crates" \
        "$(stat -c %s "$target/release/shop" | numfmt --to=iec)" \
        "$(stat -c %s "$target/release/artisan" | numfmt --to=iec)"
    rm -rf "$target"
}

echo "load before: $(cut -d' ' -f1-3 /proc/loadavg), $(nproc) cores"
echo '| event-artisan in the app | cold release build | crates compiled | app binary | in-app artisan binary |'
echo '|---|---|---|---|---|'
build "default-features = false (what init writes)"
sed -i 's/^\(event-artisan = .*\), default-features = false }/\1 }/' "$work/shop/Cargo.toml"
grep -q '^event-artisan = { path = "[^"]*" }$' "$work/shop/Cargo.toml" \
    || { echo "could not switch event-artisan to its default features" >&2; exit 1; }
build "default features (what init wrote before)"
echo "load after: $(cut -d' ' -f1-3 /proc/loadavg)"
