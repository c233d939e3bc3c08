# Shared helpers for the integration tests: start a real sierradb on a free port with a fresh
# data directory, wait until it answers PING, stop it (and check it exits cleanly) on exit.
#
# Usage (bash):
#   source "$(dirname "$0")/lib.sh"
#   start_server /path/to/sierradb [extra server flags...]
#   ... use $SERVER_PORT ...
#   # cleanup runs from the EXIT trap; a failing test gets the server log printed.
#
# Sets: SERVER_PORT, SERVER_PID, SERVER_LOG, SERVER_DIR, TEST_TMP.
# Every helper prints to stderr on failure; `fail MSG` exits the test with status 1.

set -u

TEST_NAME=${TEST_NAME:-$(basename "$0")}
TEST_TMP=$(mktemp -d "${TMPDIR:-/tmp}/sierradb-it.XXXXXX")
SERVER_PID=""
SERVER_PORT=""
SERVER_LOG="$TEST_TMP/server.log"
SERVER_DIR="$TEST_TMP/data"
SERVER_STOPPED_OK=1
FAILURES=0
# Debian's python3 (has python3-redis); a pyenv shim earlier in PATH would be slow and lack it.
if [ -z "${PYTHON:-}" ]; then
  if [ -x /usr/bin/python3 ]; then PYTHON=/usr/bin/python3; else PYTHON=python3; fi
fi

fail() {
  echo "FAIL [$TEST_NAME]: $*" >&2
  exit 1
}

# Records a failed check without stopping the script (the exit status becomes 1 at the end).
check_failed() {
  echo "FAIL [$TEST_NAME]: $*" >&2
  FAILURES=$((FAILURES + 1))
}

free_port() {
  "$PYTHON" - <<'EOF'
import socket
s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
s.bind(("127.0.0.1", 0))
print(s.getsockname()[1])
s.close()
EOF
}

server_alive() {
  [ -n "$SERVER_PID" ] && kill -0 "$SERVER_PID" 2>/dev/null
}

# start_server BINARY [flags...]: starts the server on 127.0.0.1:<free port>. Retries with
# another port if the chosen one was taken in the meantime.
start_server() {
  local bin=$1
  shift
  [ -x "$bin" ] || fail "server binary '$bin' is not executable"
  command -v redis-cli >/dev/null || fail "redis-cli not found (run 'make deps': redis-tools)"
  mkdir -p "$SERVER_DIR"
  local attempt
  for attempt in 1 2 3 4 5; do
    SERVER_PORT=$(free_port) || fail "could not pick a free port"
    "$bin" --dir "$SERVER_DIR" --client-address "127.0.0.1:$SERVER_PORT" --log-level info "$@" \
      >>"$SERVER_LOG" 2>&1 &
    SERVER_PID=$!
    local i
    for i in $(seq 1 200); do  # up to ~10 s
      if ! server_alive; then
        break
      fi
      if [ "$(redis-cli -p "$SERVER_PORT" PING 2>/dev/null)" = "PONG" ]; then
        return 0
      fi
      sleep 0.05
    done
    if server_alive; then
      fail "server did not answer PING on port $SERVER_PORT within 10 s"
    fi
    wait "$SERVER_PID" 2>/dev/null
    SERVER_PID=""
    if ! grep -qiE 'address (already )?in use|EADDRINUSE' "$SERVER_LOG"; then
      fail "server exited during start-up (attempt $attempt)"
    fi
    echo "port $SERVER_PORT was taken, retrying" >&2
  done
  fail "could not start the server"
}

# stop_server: SIGTERM, wait up to 10 s for a clean exit (status 0), else SIGKILL.
stop_server() {
  [ -n "$SERVER_PID" ] || return 0
  local pid=$SERVER_PID
  SERVER_PID=""
  if ! kill -0 "$pid" 2>/dev/null; then
    wait "$pid" 2>/dev/null
    echo "server (pid $pid) had already exited with status $?" >&2
    SERVER_STOPPED_OK=0
    return 1
  fi
  kill -TERM "$pid" 2>/dev/null
  local i
  for i in $(seq 1 200); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.05
  done
  if kill -0 "$pid" 2>/dev/null; then
    echo "server (pid $pid) did not exit within 10 s of SIGTERM; killing it" >&2
    kill -KILL "$pid" 2>/dev/null
    wait "$pid" 2>/dev/null
    SERVER_STOPPED_OK=0
    return 1
  fi
  local status=0
  wait "$pid" 2>/dev/null || status=$?
  if [ "$status" -ne 0 ]; then
    echo "server (pid $pid) exited with status $status after SIGTERM (expected 0)" >&2
    SERVER_STOPPED_OK=0
    return 1
  fi
  # Sanitizer builds: UBSan reports without changing the exit status.
  if grep -qE 'runtime error:|ERROR: (Address|Leak|Thread|Undefined)Sanitizer' "$SERVER_LOG"; then
    echo "sanitizer report in the server log" >&2
    SERVER_STOPPED_OK=0
    return 1
  fi
  return 0
}

_cleanup() {
  local status=$?
  stop_server || true
  if [ "$SERVER_STOPPED_OK" -ne 1 ] && [ "$status" -eq 0 ]; then
    echo "FAIL [$TEST_NAME]: the server did not shut down cleanly" >&2
    status=1
  fi
  if [ "$status" -ne 0 ] && [ -f "$SERVER_LOG" ]; then
    echo "----- server log ($SERVER_LOG, last 200 lines) -----" >&2
    tail -n 200 "$SERVER_LOG" >&2
    echo "----- end of server log -----" >&2
  fi
  rm -rf "$TEST_TMP"
  exit "$status"
}
trap _cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# Exits 1 if any check_failed was recorded, else prints PASS.
finish() {
  if [ "$FAILURES" -ne 0 ]; then
    echo "$TEST_NAME: $FAILURES check(s) failed" >&2
    exit 1
  fi
  echo "PASS [$TEST_NAME]"
}

# --- redis-cli helpers -----------------------------------------------------------------------

# cli ARGS...: redis-cli in RESP3 mode with typed (--no-raw) output.
cli() { redis-cli --no-raw -3 -p "$SERVER_PORT" "$@"; }
# cli2 ARGS...: redis-cli without HELLO (the server still answers RESP3, PROTOCOL §1.4).
cli2() { redis-cli --no-raw -p "$SERVER_PORT" "$@"; }

# expect_eq NAME EXPECTED ACTUAL
expect_eq() {
  if [ "$2" != "$3" ]; then
    check_failed "$1
--- expected ---
$2
--- actual ---
$3
---"
  fi
}

# expect_match NAME REGEX ACTUAL (extended regex, whole text must match)
expect_match() {
  if ! [[ "$3" =~ ^$2$ ]]; then
    check_failed "$1
--- expected to match ---
$2
--- actual ---
$3
---"
  fi
}
