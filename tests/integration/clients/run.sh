#!/usr/bin/env bash
# Client-compatibility suite (issue #18): node-redis 5 and 6, ioredis 5 and 6 (compat.test.mjs,
# node's test runner) and redis-py 4 from Debian (compat_redis_py.py). Each suite starts its own
# servers (127.0.0.1, free port, temporary directory; stopped by PID) so it can restart them.
# Installs the locked node dependencies into this folder first if they are missing or stale
# (`npm ci`; nothing is fetched when node_modules matches package-lock.json).
#   run.sh SIERRADB_BINARY [node|python]
#   run.sh SIERRADB_BINARY subscribers EXAMPLE [PACKAGE]   (examples/subscribers/, one server)
here=$(cd "$(dirname "$0")" && pwd)
bin=$1
which=${2:-all}
[ -x "$bin" ] || { echo "FAIL: server binary '$bin' is not executable" >&2; exit 1; }
if [ -z "${PYTHON:-}" ]; then
  if [ -x /usr/bin/python3 ]; then PYTHON=/usr/bin/python3; else PYTHON=python3; fi
fi
status=0

install_deps() {
  local m=$here/node_modules
  if [ -f "$m/redis5/package.json" ] && [ -f "$m/redis6/package.json" ] &&
    [ -f "$m/ioredis5/package.json" ] && [ -f "$m/ioredis6/package.json" ] &&
    ! [ "$here/package-lock.json" -nt "$m/.package-lock.json" ]; then
    return 0
  fi
  echo "installing node dependencies (npm ci) in $here" >&2
  local log
  log=$(mktemp)
  if ! (cd "$here" && timeout 600 npm ci --no-audit --no-fund --loglevel=error >"$log" 2>&1); then
    cat "$log" >&2
    rm -f "$log"
    return 1
  fi
  rm -f "$log"
}

if [ "$which" = subscribers ]; then
  example=${3:?example name}
  package=${4:-}
  if [ "$example" != redis_py ]; then
    command -v node >/dev/null || { echo "FAIL: node not found (run 'make deps': nodejs)" >&2; exit 1; }
    if command -v flock >/dev/null; then
      exec 9>"${TMPDIR:-/tmp}/sierradb-clients-deps.lock"
      flock 9
      install_deps || { echo "FAIL: npm ci failed" >&2; exit 1; }
      flock -u 9
    else
      install_deps || { echo "FAIL: npm ci failed" >&2; exit 1; }
    fi
  fi
  SUBSCRIBER_NODE_MODULES=$here/node_modules timeout 300 "$here/../with_server.sh" "$bin" -- \
    "$PYTHON" "$here/subscribers_test.py" --example "$example" ${package:+--package "$package"}
  exit $?
fi

if [ "$which" = all ] || [ "$which" = node ]; then
  command -v node >/dev/null || { echo "FAIL: node not found (run 'make deps': nodejs)" >&2; exit 1; }
  command -v npm >/dev/null || { echo "FAIL: npm not found (run 'make deps': npm)" >&2; exit 1; }
  # One installer at a time (ctest -j, or several build trees sharing this source tree).
  if command -v flock >/dev/null; then
    exec 9>"${TMPDIR:-/tmp}/sierradb-clients-deps.lock"
    flock 9
    install_deps || { echo "FAIL: npm ci failed" >&2; exit 1; }
    flock -u 9
  else
    install_deps || { echo "FAIL: npm ci failed" >&2; exit 1; }
  fi
  (cd "$here" && SIERRA_SERVER_BIN=$bin timeout 900 node --test --test-reporter=spec compat.test.mjs) ||
    { echo "FAIL: node compat suite" >&2; status=1; }
fi
if [ "$which" = all ] || [ "$which" = python ]; then
  SIERRA_SERVER_BIN=$bin timeout 600 "$PYTHON" "$here/compat_redis_py.py" ||
    { echo "FAIL: redis-py compat suite" >&2; status=1; }
fi
[ "$status" -eq 0 ] && echo "PASS [clients_compat $which]"
exit "$status"
