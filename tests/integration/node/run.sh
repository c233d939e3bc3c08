#!/usr/bin/env bash
# node-redis v5 client test: installs the locked dependencies into this folder if they are
# missing or stale (npm ci, quiet), starts a server, runs `node --test` on client.test.mjs and
# subscriptions.test.mjs.
#   run.sh SIERRADB_BINARY
here=$(cd "$(dirname "$0")" && pwd)
TEST_NAME=node_client
source "$here/../lib.sh"
command -v node >/dev/null || fail "node not found (run 'make deps': nodejs)"
command -v npm >/dev/null || fail "npm not found (run 'make deps': npm)"

install_deps() {
  [ -f "$here/node_modules/redis/package.json" ] &&
    ! [ "$here/package-lock.json" -nt "$here/node_modules/.package-lock.json" ] && return 0
  echo "installing node dependencies (npm ci) in $here" >&2
  (cd "$here" && npm ci --no-audit --no-fund --loglevel=error >"$TEST_TMP/npm.log" 2>&1) || {
    cat "$TEST_TMP/npm.log" >&2
    fail "npm ci failed"
  }
}
# One installer at a time (ctest -j, or several build trees sharing this source tree).
if command -v flock >/dev/null; then
  exec 9>"${TMPDIR:-/tmp}/sierradb-node-deps.lock"
  flock 9
  install_deps
  flock -u 9
else
  install_deps
fi

start_server "$1"
cd "$here" || exit 1
SIERRA_HOST=127.0.0.1 SIERRA_PORT=$SERVER_PORT node --test client.test.mjs subscriptions.test.mjs || fail "node --test failed"
finish
