#!/usr/bin/env bash
# Durability through the real server (DECISIONS D3): data survives a clean restart and a
# kill -9; every acknowledged append is there afterwards, sequences and versions continue
# gapless; a data directory refuses a different partition count.
#   restart_test.sh SIERRADB_BINARY
here=$(cd "$(dirname "$0")" && pwd)
source "$here/lib.sh"
BIN=$1

# snapshot: every partition's EPSEQ and full EPSCAN (one connection), normalized.
snapshot() {
  for p in $(seq 0 31); do echo "EPSEQ $p"; echo "EPSCAN $p - + COUNT 100000"; done |
    redis-cli --no-raw -3 -p "$SERVER_PORT"
}

start_server "$BIN"
# 40 streams x 5 events over one connection, plus a multi-stream transaction.
for v in $(seq 0 4); do
  for s in $(seq 1 40); do
    if [ "$v" = 0 ]; then ev=empty; else ev=$((v - 1)); fi
    echo "EAPPEND restart-$s Ev$v EXPECTED_VERSION $ev PAYLOAD p$s-$v"
  done
done | redis-cli -3 -p "$SERVER_PORT" >"$TEST_TMP/appends.out"
errors=$(grep -c -E '^(ERR|WRONGVER|INVALIDARG|DBOPFAILED)' "$TEST_TMP/appends.out")
expect_eq "errors while appending" "0" "$errors"
cli EMAPPEND 550e8400-e29b-41d4-a716-446655440000 tx-a A EXPECTED_VERSION empty tx-b B EXPECTED_VERSION empty >/dev/null
before=$(snapshot)
event_id=$(cli ESCAN restart-7 2 2 | sed -nE 's/.*event_id => //p')
[ -n "$event_id" ] || fail "no event id for restart-7 version 2"

# --- clean restart ---------------------------------------------------------------------
stop_server || fail "server did not stop cleanly"
start_server "$BIN"
expect_eq "snapshot after a clean restart" "$before" "$(snapshot)"
expect_eq "EGET after restart" "$event_id" "$(cli EGET "$event_id" | sed -nE 's/.*event_id => //p')"
expect_eq "ESVER after restart" "(integer) 4" "$(cli ESVER restart-7)"
expect_eq "versions continue" "5" "$(cli EAPPEND restart-7 Ev5 EXPECTED_VERSION 4 | sed -nE 's/.*stream_version => \(integer\) //p')"
expect_match "a second empty still conflicts" '\(error\) WRONGVER .*' "$(cli EAPPEND restart-8 X EXPECTED_VERSION empty)"

# --- kill -9 under load --------------------------------------------------------------------
# Pipelined appends to fresh streams; the server is killed while they are in flight. Every
# append acknowledged before the kill must be readable after the restart.
"$PYTHON" - "$SERVER_PORT" "$SERVER_PID" "$TEST_TMP/acked" <<'PYEOF'
import os, signal, socket, sys, time
port, pid, acked_path = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
def cmd(*a):
    return b"*%d\r\n" % len(a) + b"".join(b"$%d\r\n%s\r\n" % (len(x), x) for x in (s.encode() for s in a))
s = socket.create_connection(("127.0.0.1", port))
n = 20000
s.sendall(b"".join(cmd("EAPPEND", f"crash-{i}", "E", "EXPECTED_VERSION", "empty") for i in range(n)))
buf, acked, killed = b"", 0, False
s.settimeout(5)
while True:
    try:
        data = s.recv(1 << 16)
    except (ConnectionResetError, socket.timeout):
        break
    if not data:
        break
    buf += data
    # each reply is one %6 map of 13 lines; count complete maps
    while True:
        start = buf.find(b"%6\r\n")
        if start < 0:
            break
        end = buf.find(b"+timestamp\r\n", start)
        if end < 0:
            break
        line_end = buf.find(b"\r\n", end + 12)
        if line_end < 0:
            break
        buf = buf[line_end + 2:]
        acked += 1
    if not killed and acked >= 2000:
        os.kill(pid, signal.SIGKILL)
        killed = True
with open(acked_path, "w") as f:
    f.write(str(acked))
print(f"acknowledged before the kill: {acked} of {n}", file=sys.stderr)
sys.exit(0 if killed else 1)
PYEOF
[ $? -eq 0 ] || fail "the load generator did not get to kill the server"
wait "$SERVER_PID" 2>/dev/null  # (bash reports "Killed": expected)
SERVER_PID=""
acked=$(cat "$TEST_TMP/acked")
start_server "$BIN"
# Every acknowledged stream exists (appends on one connection are acknowledged in order).
missing=$(for i in $(seq 0 $((acked - 1))); do echo "ESVER crash-$i"; done |
  redis-cli -3 -p "$SERVER_PORT" | grep -cvx 0)
expect_eq "acknowledged appends missing after kill -9" "0" "$missing"
# Partitions are gapless: EPSEQ + 1 equals the number of events EPSCAN returns.
for p in $(seq 0 31); do echo "EPSEQ $p"; echo "EPSCAN $p - + COUNT 100000"; done |
  redis-cli --no-raw -3 -p "$SERVER_PORT" >"$TEST_TMP/after-crash"
"$PYTHON" - "$TEST_TMP/after-crash" <<'PYEOF' || check_failed "partitions are not gapless after kill -9"
import re, sys
text = open(sys.argv[1]).read()
blocks = re.split(r"^(?=\(integer\) \d+$|\(nil\)$)", text, flags=re.M)
ok = True
for block in filter(None, blocks):
    first = block.splitlines()[0]
    seqs = [int(x) for x in re.findall(r"partition_sequence => \(integer\) (\d+)", block)]
    last = None if first == "(nil)" else int(first.split()[1])
    expect = [] if last is None else list(range(last + 1))
    if seqs != expect:
        ok = False
        print(f"EPSEQ {first}: sequences {seqs[:5]}...{seqs[-5:]} ({len(seqs)})", file=sys.stderr)
sys.exit(0 if ok else 1)
PYEOF
expect_eq "older data after kill -9" "(integer) 5" "$(cli ESVER restart-7)"
# Writes continue after recovery.
expect_eq "append after recovery" "0" "$(cli EAPPEND after-crash E EXPECTED_VERSION empty | sed -nE 's/.*stream_version => \(integer\) //p')"

# --- fixed geometry --------------------------------------------------------------------
stop_server || fail "server did not stop cleanly"
"$BIN" --dir "$SERVER_DIR" --client-address 127.0.0.1:0 --partitions 16 >"$TEST_TMP/mismatch.log" 2>&1 &
pid=$!
for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.05; done
if kill -0 "$pid" 2>/dev/null; then
  kill -KILL "$pid"
  check_failed "server started on a 32-partition directory with --partitions 16"
else
  wait "$pid"
  status=$?
  [ "$status" -ne 0 ] || check_failed "server exited with status 0 on a partition count mismatch"
  grep -q 'partition' "$TEST_TMP/mismatch.log" || check_failed "mismatch error does not name the partition count"
fi
finish
