#!/usr/bin/env bash
# The test command: sets up what the tests need on this machine, then runs
# every test of the workspace (cargo test), and the parallel-isolation tests
# of the testing fakes a few more times with more threads than cores.
#
# Services: Redis tests run against $EVENTS_TEST_REDIS_URL. When it is unset
# and a Redis answers at 127.0.0.1:6379, that one is used; otherwise those
# tests print "skipped: set EVENTS_TEST_REDIS_URL". In CI (.ci/run) an
# unreachable Redis is an error instead.
set -euo pipefail
cd "$(dirname "$0")/.."

if [ -z "${EVENTS_TEST_REDIS_URL:-}" ] && command -v redis-cli >/dev/null 2>&1 \
    && redis-cli -h 127.0.0.1 -p 6379 ping 2>/dev/null | grep -q PONG; then
    export EVENTS_TEST_REDIS_URL=redis://127.0.0.1:6379
fi
echo "EVENTS_TEST_REDIS_URL=${EVENTS_TEST_REDIS_URL:-<unset: Redis tests will skip>}"
if [ -z "${EVENTS_TEST_POSTGRES_URL:-}" ] && command -v psql >/dev/null 2>&1 \
    && psql postgres://postgres@127.0.0.1:5432/test -Atc 'select 1' 2>/dev/null | grep -q 1; then
    export EVENTS_TEST_POSTGRES_URL=postgres://postgres@127.0.0.1:5432/test
fi
echo "EVENTS_TEST_POSTGRES_URL=${EVENTS_TEST_POSTGRES_URL:-<unset: PostgreSQL tests will skip>}"

# The broadcasting tests' npm clients (pusher-js, laravel-echo, pusher):
# installed from the lockfile when npm is here; otherwise those tests print
# "skipped: ..." (and fail under .ci/run, which installs them).
if [ ! -d tests/js/node_modules ] && command -v npm >/dev/null 2>&1; then
    (cd tests/js && npm ci --no-audit --no-fund) || echo "npm ci in tests/js failed: the JS client tests will skip"
fi

cargo test --workspace --no-fail-fast

# What only a feature turns on: the trace a queued job continues.
cargo test -p event-jobs --features opentelemetry --test trace_context

for run in 1 2 3; do
    echo "parallel isolation, repeat $run"
    cargo test -p tests --test testing_parallel -- --test-threads=16 -q
done
