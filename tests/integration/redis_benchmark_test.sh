#!/usr/bin/env bash
# redis-benchmark (Debian redis-tools) against a real sierradb: concurrent EAPPENDs through
# RESP3 connections (HELLO 3 on each), then checks that every request was written exactly
# once: the per-partition sequences and the per-stream versions both add up to the request
# count. Also pipelined PING_INLINE / PING_MBULK.
#   redis_benchmark_test.sh SIERRADB_BINARY
# The server runs with --strict-versioning false: every benchmark request is identical apart
# from __rand_int__, so it cannot carry a correct expected version.
here=$(cd "$(dirname "$0")" && pwd)
source "$here/lib.sh"
command -v redis-benchmark >/dev/null || fail "redis-benchmark not found (run 'make deps': redis-tools)"
start_server "$1" --strict-versioning false

REQUESTS=5000
KEYSPACE=1000
out="$TEST_TMP/benchmark.out"

# bench ARGS...: runs redis-benchmark, fails the test on a non-zero exit or any error line.
bench() {
  if ! timeout 60 redis-benchmark -p "$SERVER_PORT" "$@" >"$out" 2>&1; then
    tr '\r' '\n' <"$out" | tail -n 20 >&2
    fail "redis-benchmark $* failed"
  fi
  local errors
  errors=$(tr '\r' '\n' <"$out" | grep -iE 'error|protocol' | grep -v 'Could not fetch server CONFIG')
  [ -z "$errors" ] || check_failed "redis-benchmark $* printed errors:
$errors"
}

bench -3 -n "$REQUESTS" -c 20 -r "$KEYSPACE" \
  EAPPEND stream__rand_int__ Ev EXPECTED_VERSION any PAYLOAD '{"n":__rand_int__}'
grep -q "$REQUESTS requests completed" "$out" || check_failed "benchmark did not report $REQUESTS completed requests"

# Sum over partitions of (EPSEQ + 1): one connection, 32 commands.
partitions=$(cli HELLO 3 | sed -nE 's/.*"num_partitions" => \(integer\) //p')
[ "$partitions" = 32 ] || fail "num_partitions is '$partitions'"
epseq=$(for p in $(seq 0 $((partitions - 1))); do echo "EPSEQ $p"; done | redis-cli -3 -p "$SERVER_PORT")
total=0
while read -r line; do
  if [[ "$line" =~ ^[0-9]+$ ]]; then
    total=$((total + line + 1))
  elif [ -n "$line" ]; then
    check_failed "unexpected EPSEQ reply '$line'"
  fi
done <<<"$epseq"
expect_eq "events in all partitions" "$REQUESTS" "$total"

# Sum over the streams of (ESVER + 1): redis-benchmark pads __rand_int__ to 12 digits.
esver=$(for i in $(seq 0 $((KEYSPACE - 1))); do printf 'ESVER stream%012d\n' "$i"; done |
  redis-cli -3 -p "$SERVER_PORT")
total=0
while read -r line; do
  if [[ "$line" =~ ^[0-9]+$ ]]; then
    total=$((total + line + 1))
  elif [ -n "$line" ]; then
    check_failed "unexpected ESVER reply '$line'"
  fi
done <<<"$esver"
expect_eq "events in all streams" "$REQUESTS" "$total"

# Versions within one stream are gapless and payloads intact.
busiest=$(for i in $(seq 0 $((KEYSPACE - 1))); do printf 'stream%012d\n' "$i"; done |
  paste - <(echo "$esver") | sort -k2 -n -r | head -n 1 | cut -f1)
versions=$(redis-cli --no-raw -3 -p "$SERVER_PORT" ESCAN "$busiest" - + COUNT 1000 |
  sed -nE 's/.*stream_version => \(integer\) //p' | tr '\n' ' ')
last=$(redis-cli -3 -p "$SERVER_PORT" ESVER "$busiest")
expect_eq "versions of $busiest" "$(seq -s ' ' 0 "$last") " "$versions"
payloads=$(redis-cli --no-raw -3 -p "$SERVER_PORT" ESCAN "$busiest" - + COUNT 1000 |
  sed -nE 's/.*payload => //p' | grep -cvE '^"\{\\"n\\":[0-9]{12}\}"$')
expect_eq "malformed payloads in $busiest" "0" "$payloads"

# Pipelined pings, inline and multi-bulk.
bench -3 -n 20000 -c 50 -P 16 -q -t ping_inline,ping_mbulk
grep -q 'PING_INLINE: .* requests per second' "$out" || check_failed "no PING_INLINE result"
grep -q 'PING_MBULK: .* requests per second' "$out" || check_failed "no PING_MBULK result"

[ "$(cli PING)" = PONG ] || check_failed "server does not answer PING after the benchmark"
finish
