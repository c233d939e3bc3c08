#!/usr/bin/env bash
# Cost of the event-id uniqueness check at the server (issue 14; BENCHMARKS.md "Event-id check").
# One sierradb on a temp dir (127.0.0.1, stopped by PID), then, alternated ROUNDS times:
#   server ids: sierradb-bench -w eappend -c 50            (no EVENT_ID: the server makes the id)
#   client ids: sierradb-bench -w eappend -c 50 --client-ids  (EVENT_ID: the server checks it)
# and one run of the retry workload (every request a duplicate of a stored append).
# Usage: bash bench/event_ids.sh [build dir]   env: ROUNDS (3), DURATION (8 s), CONNS (50)
set -euo pipefail
BUILD=${1:-build}
ROUNDS=${ROUNDS:-3}
DURATION=${DURATION:-8}
CONNS=${CONNS:-50}
PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
WORK=$(mktemp -d /tmp/sierradb-event-ids.XXXXXX)
XDG_CONFIG_HOME="$WORK" "$BUILD/sierradb" --dir "$WORK/data" --client-address "127.0.0.1:$PORT" \
  --strict-versioning false --log-level warn >"$WORK/server.log" 2>&1 &
PID=$!
trap 'kill "$PID" 2>/dev/null; wait "$PID" 2>/dev/null; rm -rf "$WORK"' EXIT
for _ in $(seq 1 100); do
  if "$BUILD/sierradb-bench" -p "$PORT" -w ping -n 1 -c 1 -q >/dev/null 2>&1; then break; fi
  sleep 0.1
done
cpu_ticks() { awk '{print $14 + $15}' "/proc/$PID/stat"; }
run() {  # label, args...
  local label=$1
  shift
  local before
  before=$(cpu_ticks)
  "$BUILD/sierradb-bench" -p "$PORT" -t 2 -c "$CONNS" -d 200 -r 1000 --duration "$DURATION" \
    --warmup 1 --json -q "$@" | python3 -c '
import json, sys
j = json.loads(sys.stdin.read().strip().splitlines()[-1])
lat = j["latency_us"]
print("%-11s %8.0f req/s  p50 %6.0f us  p99 %6.0f us  p99.9 %6.0f us  errors %d %s" % (
    sys.argv[1], j["requests_per_s"], lat["p50"], lat["p99"], lat["p99.9"], j["errors"],
    j["error_samples"][:1]))
json.dump(j["requests_per_s"], open(sys.argv[2], "w"))' "$label" "$WORK/rps"
  # Server CPU (all threads, utime + stime) over the whole run (warm-up included: 1 + DURATION s).
  local ticks=$(($(cpu_ticks) - before)) hz
  hz=$(getconf CLK_TCK)
  python3 -c '
import json, sys
t, hz, d = map(float, sys.argv[1:4])
rps = json.load(open(sys.argv[4]))
print("%13s server CPU %.1f%% of one core, %.1f ms per 1k requests" % (
    "", 100 * t / hz / d, 1e6 * t / hz / (rps * d)))' "$ticks" "$hz" "$((DURATION + 1))" "$WORK/rps"
}
echo "sierradb $(git rev-parse --short HEAD), $CONNS connections, ${DURATION}s per run, load $(cut -d' ' -f1-3 /proc/loadavg)"
for r in $(seq 1 "$ROUNDS"); do
  run "server-ids" -w eappend --prefix "srv$r-"
  run "client-ids" -w eappend --client-ids --prefix "cli$r-"
done
run "retry" -w eappend-retry --prefix retry-
echo "load at the end $(cut -d' ' -f1-3 /proc/loadavg)"
