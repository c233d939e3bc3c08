#!/usr/bin/env bash
# Runs a client test program against a fresh sierradb.
#   with_server.sh SIERRADB_BINARY [server flags...] -- COMMAND [ARGS...]
# The command gets SIERRA_HOST=127.0.0.1 and SIERRA_PORT=<port> in its environment; its exit
# status is the test's status (the server must also shut down cleanly).
here=$(cd "$(dirname "$0")" && pwd)
bin=$1
shift
server_args=()
while [ $# -gt 0 ] && [ "$1" != "--" ]; do
  server_args+=("$1")
  shift
done
[ "${1:-}" = "--" ] || { echo "usage: $0 SIERRADB [flags...] -- COMMAND [ARGS...]" >&2; exit 2; }
shift
TEST_NAME=${TEST_NAME:-$(basename "${2:-$1}")}
source "$here/lib.sh"
start_server "$bin" "${server_args[@]}"
export SIERRA_HOST=127.0.0.1 SIERRA_PORT=$SERVER_PORT SIERRA_SERVER_PID=$SERVER_PID
"$@"
status=$?
if ! server_alive; then
  echo "FAIL [$TEST_NAME]: the server is no longer running after the test" >&2
  [ "$status" -ne 0 ] || status=1
fi
exit "$status"
