#!/usr/bin/env bash
# Side-by-side benchmark (issue 6): SierraDB against Redis Streams (AOF with appendfsync always,
# and without persistence as the speed ceiling) and PostgreSQL + Message DB (write_message with
# synchronous_commit = on), on this machine, in one run, loopback only.
#
#   make compare            (or: bash bench/compare/run.sh)
#
# Environment:
#   DURATION=10   measured seconds per run (integer)      WARMUP=1   warm-up seconds per run
#   ROUNDS=2      alternations (A B A B ...)               THREADS=2  client threads per run
#   PAYLOAD=200   event payload bytes                      BUILD_DIR=build
#   SIERRA_REV    label of the sierradb build in the report (default: git HEAD of this checkout)
#   COMPARE_CMD   the command line quoted in the report (default: make compare)
#   ONLY=a,b      run only these workload keys (append50, half50, append50p16, exact16, eget50,
#                 escan50, escan50i; half50 needs append50)
#   WRITE_MD=1    write the table into BENCHMARKS.md       KEEP=1     keep the temp dir
#   PORT_SIERRA / PORT_REDIS_AOF / PORT_REDIS_MEM / PORT_PG   loopback ports (19090/16379/16380/15432)
#
# Installs what is missing: redis-server and postgresql from Debian (apt-get), the Message DB
# SQL from npm (@eventide/message-db, into bench/compare/node_modules). All servers keep their
# data in a temp dir, listen on 127.0.0.1 only and are stopped on exit (trap).
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
HERE=$ROOT/bench/compare
cd "$ROOT"

BUILD_DIR=${BUILD_DIR:-build}
DURATION=${DURATION:-10}
WARMUP=${WARMUP:-1}
ROUNDS=${ROUNDS:-2}
THREADS=${THREADS:-2}
PAYLOAD=${PAYLOAD:-200}
ONLY=${ONLY:-}
WRITE_MD=${WRITE_MD:-1}
KEEP=${KEEP:-0}
PORT_SIERRA=${PORT_SIERRA:-19090}
PORT_REDIS_AOF=${PORT_REDIS_AOF:-16379}
PORT_REDIS_MEM=${PORT_REDIS_MEM:-16380}
PORT_PG=${PORT_PG:-15432}
HOST=127.0.0.1

[[ $BUILD_DIR == /* ]] || BUILD_DIR=$ROOT/$BUILD_DIR
SERVER=$BUILD_DIR/sierradb
BENCH=$BUILD_DIR/sierradb-bench
MDB_SQL=$HERE/node_modules/@eventide/message-db/database

log() { printf '[compare %(%H:%M:%S)T] %s\n' -1 "$*" >&2; }
die() {
  log "error: $*"
  exit 1
}

[[ $DURATION =~ ^[0-9]+$ && $WARMUP =~ ^[0-9]+$ && $DURATION -ge 3 ]] ||
  die "DURATION (>= 3) and WARMUP must be whole seconds"
[[ -x $SERVER && -x $BENCH ]] || die "$SERVER / $BENCH missing: run 'make build' first"

# ---------------------------------------------------------------------------------------------
# Peers: install only what is missing

pg_bindir() {
  local d
  # shellcheck disable=SC2012
  d=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)
  [[ -n $d && -x $d/initdb && -x $d/pgbench ]] && echo "$d"
}

install_peers() {
  local missing=()
  command -v redis-server >/dev/null || missing+=(redis-server)
  pg_bindir >/dev/null || missing+=(postgresql postgresql-contrib)
  command -v npm >/dev/null || missing+=(npm)
  command -v python3 >/dev/null || missing+=(python3)
  if ((${#missing[@]})); then
    log "installing from Debian: ${missing[*]}"
    local sudo=""
    [[ $(id -u) == 0 ]] || sudo=sudo
    $sudo env DEBIAN_FRONTEND=noninteractive apt-get update -qq
    $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
      "${missing[@]}" >/dev/null
  fi
  if [[ ! -f $MDB_SQL/install.sh ]]; then
    log "installing @eventide/message-db from npm into bench/compare/node_modules"
    npm install --prefix "$HERE" --no-audit --no-fund --no-package-lock --loglevel=error >/dev/null
  fi
  [[ -f $MDB_SQL/install.sh ]] || die "Message DB SQL not found under $MDB_SQL"
}

# ---------------------------------------------------------------------------------------------
# Servers

WORK=""
SIERRA_PID=""
REDIS_AOF_PID=""
REDIS_MEM_PID=""
PG_STARTED=0
PGBIN=""

as_pg() {
  if [[ $(id -u) == 0 ]]; then runuser -u postgres -- "$@"; else "$@"; fi
}

cleanup() {
  local rc=$?
  set +e
  trap - EXIT INT TERM
  for pid in $SIERRA_PID $REDIS_AOF_PID $REDIS_MEM_PID; do
    kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null
  done
  if ((PG_STARTED)); then
    as_pg "$PGBIN/pg_ctl" -D "$WORK/pg/data" -m fast -w stop >/dev/null 2>&1
  fi
  if [[ -n $WORK && -d $WORK ]]; then
    if [[ $KEEP == 1 || $rc != 0 ]]; then
      log "kept $WORK (logs, raw results)"
    else
      rm -rf "$WORK"
    fi
  fi
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

port_free() { ! (exec 3<>"/dev/tcp/$HOST/$1") 2>/dev/null; }

wait_port() { # port pid name
  for _ in $(seq 1 300); do
    (exec 3<>"/dev/tcp/$HOST/$1") 2>/dev/null && return 0
    kill -0 "$2" 2>/dev/null || die "$3 exited during start-up (see $WORK/$3.log)"
    sleep 0.1
  done
  die "$3 did not listen on $HOST:$1 within 30 s"
}

start_servers() {
  local p
  for p in "$PORT_SIERRA" "$PORT_REDIS_AOF" "$PORT_REDIS_MEM" "$PORT_PG"; do
    port_free "$p" || die "port $p on $HOST is in use (set PORT_* to free ports)"
  done

  mkdir -p "$WORK/sierradb" "$WORK/redis-aof" "$WORK/redis-mem" "$WORK/pg" "$WORK/runs"
  # fsync before acknowledgement is always on in sierradb; strict versioning off so EAPPEND with
  # EXPECTED_VERSION any can go to random streams.
  "$SERVER" --dir "$WORK/sierradb" --client-address "$HOST:$PORT_SIERRA" \
    --strict-versioning false --log-level warn >"$WORK/sierradb.log" 2>&1 &
  SIERRA_PID=$!
  redis-server --bind "$HOST" --port "$PORT_REDIS_AOF" --dir "$WORK/redis-aof" \
    --appendonly yes --appendfsync always --save '' --daemonize no \
    --logfile "$WORK/redis-aof.log" &
  REDIS_AOF_PID=$!
  redis-server --bind "$HOST" --port "$PORT_REDIS_MEM" --dir "$WORK/redis-mem" \
    --appendonly no --save '' --daemonize no --logfile "$WORK/redis-mem.log" &
  REDIS_MEM_PID=$!

  # PostgreSQL: a private cluster under the temp dir, run as a non-root user, default
  # durability (fsync = on, synchronous_commit = on, wal_sync_method default).
  PGBIN=$(pg_bindir) || die "PostgreSQL binaries not found"
  [[ $(id -u) != 0 ]] || chown postgres: "$WORK/pg"
  as_pg "$PGBIN/initdb" -D "$WORK/pg/data" -U postgres --auth=trust -E UTF8 --locale=C \
    >"$WORK/pg-initdb.log" 2>&1 || die "initdb failed (see $WORK/pg-initdb.log)"
  cat >>"$WORK/pg/data/postgresql.conf" <<EOF
listen_addresses = '$HOST'
port = $PORT_PG
unix_socket_directories = '$WORK/pg'
max_connections = 100
EOF
  as_pg "$PGBIN/pg_ctl" -D "$WORK/pg/data" -l "$WORK/pg/server.log" -w start >/dev/null ||
    die "PostgreSQL did not start (see $WORK/pg/server.log)"
  PG_STARTED=1
  export PGHOST=$HOST PGPORT=$PORT_PG PGUSER=postgres PATH=$PGBIN:$PATH
  log "installing Message DB $(cat "$MDB_SQL/VERSION.txt") into PostgreSQL"
  DATABASE_NAME=message_store bash "$MDB_SQL/install.sh" >"$WORK/mdb-install.log" 2>&1 ||
    die "Message DB install failed (see $WORK/mdb-install.log)"
  # Message DB's functions call each other unqualified: its clients run as the message_store
  # role with the schema on the search path.
  psql -q -v ON_ERROR_STOP=1 -d message_store \
    -c 'ALTER ROLE message_store SET search_path TO message_store, public' >/dev/null
  [[ $(psql -qAt -d message_store -c 'SHOW synchronous_commit') == on ]] ||
    die "synchronous_commit is not on"

  wait_port "$PORT_SIERRA" "$SIERRA_PID" sierradb
  wait_port "$PORT_REDIS_AOF" "$REDIS_AOF_PID" redis-aof
  wait_port "$PORT_REDIS_MEM" "$REDIS_MEM_PID" redis-mem
  [[ $(redis-cli -h $HOST -p "$PORT_REDIS_AOF" config get appendfsync | tail -1) == always ]] ||
    die "redis-aof is not appendfsync always"
}

pg_pid() { head -1 "$WORK/pg/data/postmaster.pid"; }

# ---------------------------------------------------------------------------------------------
# Server-side CPU (utime+stime of the process, its threads, its live children and its reaped
# children) and memory (VmRSS; PostgreSQL: PSS summed over postmaster and backends).

proc_ticks() {
  local s
  s=$(cat "/proc/$1/stat" 2>/dev/null) || {
    echo 0
    return
  }
  s=${s##*) }
  # shellcheck disable=SC2086
  set -- $s
  echo $((${12} + ${13} + ${14} + ${15}))
}

# shellcheck disable=SC2046
tree_pids() { echo "$1" $(pgrep -P "$1" 2>/dev/null || true); }

tree_ticks() {
  local t=0 p
  for p in $(tree_pids "$1"); do t=$((t + $(proc_ticks "$p"))); done
  echo "$t"
}

mem_kb() { # pid multi
  local t=0 p v
  if [[ $2 == 1 ]]; then
    for p in $(tree_pids "$1"); do
      v=$(awk '/^Pss:/ {print $2}' "/proc/$p/smaps_rollup" 2>/dev/null || true)
      t=$((t + ${v:-0}))
    done
  else
    t=$(awk '/^VmRSS:/ {print $2}' "/proc/$1/status" 2>/dev/null || echo 0)
  fi
  echo "$t"
}

now_s() { date +%s.%N; }

# Samples server CPU inside the measured window of a run started at launch time: from warm-up
# end + 0.5 s to measured end - 0.5 s. Prints "cpu_s window_s mem_kb".
sample_window() { # server_pid multi_process bench_pid
  local tck c0 c1 t0 t1 mem
  tck=$(getconf CLK_TCK)
  sleep "$WARMUP.5"
  c0=$(tree_ticks "$1")
  t0=$(now_s)
  sleep "$((DURATION - 1))"
  c1=$(tree_ticks "$1")
  t1=$(now_s)
  mem=$(mem_kb "$1" "$2")
  awk -v c0="$c0" -v c1="$c1" -v t0="$t0" -v t1="$t1" -v tck="$tck" -v m="$mem" \
    'BEGIN {printf "%.4f %.4f %d\n", (c1 - c0) / tck, t1 - t0, m}'
}

write_meta() { # file key sys round kind cpu_s window_s mem_kb rc
  printf '{"key":"%s","sys":"%s","round":%d,"kind":"%s","cpu_s":%s,"window_s":%s,"mem_kb":%s,"rc":%d}\n' \
    "$2" "$3" "$4" "$5" "$6" "$7" "$8" "$9" >"$1"
}

# ---------------------------------------------------------------------------------------------
# One run of sierradb-bench against sierradb or a Redis instance.

run_bench() { # key sys round port server_pid bench-args...
  local key=$1 sys=$2 round=$3 port=$4 spid=$5
  shift 5
  local out=$WORK/runs/$key.$sys.$round
  log "$key round $round: $sys"
  "$BENCH" -h "$HOST" -p "$port" -t "$THREADS" -d "$PAYLOAD" --duration "$DURATION" \
    --warmup "$WARMUP" --timeout 30 --json -q "$@" >"$out.json" 2>"$out.err" &
  local bpid=$! rc=0 sample
  sample=$(sample_window "$spid" 0 "$bpid")
  wait "$bpid" || rc=$?
  ((rc == 0)) || log "  sierradb-bench exit $rc: $(head -c 400 "$out.err") $(head -c 400 "$out.json")"
  # shellcheck disable=SC2086
  write_meta "$out.meta" "$key" "$sys" "$round" bench $sample "$rc"
}

# One pgbench run against Message DB. The log of every transaction (-l) gives completion times
# and latencies; the first WARMUP seconds are dropped when the results are read.
JSON_DATA=""
run_pgbench() { # key round clients script-file extra-pgbench-args...
  local key=$1 round=$2 clients=$3 script=$4
  shift 4
  local out=$WORK/runs/$key.mdb.$round
  mkdir -p "$out.d"
  log "$key round $round: mdb"
  (cd "$out.d" && exec pgbench -U message_store -n -M prepared -c "$clients" -j "$THREADS" \
    -T "$((WARMUP + DURATION))" -l --log-prefix=tx -D "run=$round" -f "$script" "$@" \
    message_store >"$out.out" 2>&1) &
  local bpid=$! rc=0 sample
  sample=$(sample_window "$(pg_pid)" 1 "$bpid")
  wait "$bpid" || rc=$?
  ((rc == 0)) || log "  pgbench exit $rc: $(tail -c 600 "$out.out")"
  # shellcheck disable=SC2086
  write_meta "$out.meta" "$key" mdb "$round" pgbench $sample "$rc"
}

write_pg_scripts() {
  # A JSON document of exactly PAYLOAD bytes: {"p":"xxx..."}
  local fill=$((PAYLOAD > 8 ? PAYLOAD - 8 : 1))
  JSON_DATA="{\"p\":\"$(head -c "$fill" /dev/zero | tr '\0' 'x')\"}"
  # Random streams (informational row): one of 1000 streams, no expected version. Each stream
  # is its own category ('rnd<sid>-s'), so Message DB's per-category advisory lock only
  # serialises writers of the same stream (the most favourable layout for the peer).
  cat >"$WORK/mdb-random.sql" <<EOF
\set sid random(0, 999)
SELECT message_store.write_message(gen_random_uuid()::text, 'rnd' || :sid::text || '-s', 'Ev', '$JSON_DATA', '{}', NULL);
EOF
  # Exact expected version: stream 'exact<client>-r<round>' belongs to one client; the client
  # keeps the stream's version in a pgbench variable (-D ev=-1: Message DB's version of an
  # empty stream) and passes it as expected_version, then increments it. No extra round trip,
  # the same protocol as sierradb-bench eappend-exact. A mismatch raises an exception and
  # pgbench aborts that client (reported as errors). Category per client, as above.
  cat >"$WORK/mdb-exact.sql" <<EOF
SELECT message_store.write_message(gen_random_uuid()::text, 'exact' || :client_id::text || '-r' || :run::text, 'Ev', '$JSON_DATA', '{}', :ev::bigint);
\set ev :ev + 1
EOF
}

# ---------------------------------------------------------------------------------------------
# Workloads. Every workload runs ROUNDS times with the systems alternated (A B C A B C).

prefill() { # port bench-args...
  local port=$1
  shift
  log "filling the key space: $*"
  "$BENCH" -h "$HOST" -p "$port" -d "$PAYLOAD" -c 1 -n 1 --timeout 120 -q "$@" >/dev/null ||
    die "fill failed: $*"
}

want() { [[ -z $ONLY || ",$ONLY," == *",$1,"* ]]; }

workloads() {
  local r
  for r in $(seq 1 "$ROUNDS"); do
    if want append50; then
      run_bench append50 sierradb "$r" "$PORT_SIERRA" "$SIERRA_PID" -w eappend -c 50 -r 1000 --prefix app-
      run_bench append50 redis-aof "$r" "$PORT_REDIS_AOF" "$REDIS_AOF_PID" -w xadd -c 50 -r 1000 --prefix app-
      run_bench append50 redis-mem "$r" "$PORT_REDIS_MEM" "$REDIS_MEM_PID" -w xadd -c 50 -r 1000 --prefix app-
      run_pgbench append50 "$r" 50 "$WORK/mdb-random.sql"
    fi
  done
  # p99 at 50 % of peak: each system again at half of its own mean append50 throughput, open
  # loop (sierradb-bench --rate: latency counted from each request's scheduled send time).
  if want half50; then
    want append50 || die "half50 needs the append50 runs (add append50 to ONLY)"
    local sys_ rate
    declare -A half_rate=()
    for sys_ in sierradb redis-aof redis-mem; do
      rate=$(python3 -c 'import json,sys,statistics
v=[json.loads(open(p).read().strip().splitlines()[-1])["requests_per_s"] for p in sys.argv[1:]]
print(int(statistics.mean(v)/2))' "$WORK"/runs/append50."$sys_".*.json)
      half_rate[$sys_]=$rate
      log "half50: $sys_ at $rate requests/s"
    done
    for r in $(seq 1 "$ROUNDS"); do
      run_bench half50 sierradb "$r" "$PORT_SIERRA" "$SIERRA_PID" -w eappend -c 50 -r 1000 --prefix app- --rate "${half_rate[sierradb]}"
      run_bench half50 redis-aof "$r" "$PORT_REDIS_AOF" "$REDIS_AOF_PID" -w xadd -c 50 -r 1000 --prefix app- --rate "${half_rate[redis-aof]}"
      run_bench half50 redis-mem "$r" "$PORT_REDIS_MEM" "$REDIS_MEM_PID" -w xadd -c 50 -r 1000 --prefix app- --rate "${half_rate[redis-mem]}"
    done
  fi
  for r in $(seq 1 "$ROUNDS"); do
    if want append50p16; then
      run_bench append50p16 sierradb "$r" "$PORT_SIERRA" "$SIERRA_PID" -w eappend -c 50 -P 16 -r 1000 --prefix app-
      run_bench append50p16 redis-aof "$r" "$PORT_REDIS_AOF" "$REDIS_AOF_PID" -w xadd -c 50 -P 16 -r 1000 --prefix app-
      run_bench append50p16 redis-mem "$r" "$PORT_REDIS_MEM" "$REDIS_MEM_PID" -w xadd -c 50 -P 16 -r 1000 --prefix app-
    fi
  done
  for r in $(seq 1 "$ROUNDS"); do
    if want exact16; then
      run_bench exact16 sierradb "$r" "$PORT_SIERRA" "$SIERRA_PID" -w eappend-exact -c 16 --prefix "exact-r$r-"
      run_pgbench exact16 "$r" 16 "$WORK/mdb-exact.sql" -D ev=-1
    fi
  done
  # Reads. EGET <random id> of 10 000 one-event streams vs XRANGE <random stream> - + COUNT 1 of
  # the same key space; ESCAN <random stream> - + COUNT 1000 of 100 streams holding 1000 events
  # vs XRANGE ... COUNT 1000. Redis side: the appendfsync-always instance (reads do not touch
  # the AOF).
  # Fill the read key spaces once before the measured rounds (one request after the fill).
  if want eget50; then
    prefill "$PORT_SIERRA" -w eget -r 10000 --fill 1 --prefix get-
    prefill "$PORT_REDIS_AOF" -w xrange -r 10000 --fill 1 --count 1 --prefix get-
  fi
  if want escan50; then
    prefill "$PORT_SIERRA" -w escan -r 100 --fill 1000 --count 1000 --prefix scan-
    prefill "$PORT_REDIS_AOF" -w xrange -r 100 --fill 1000 --count 1000 --prefix scan-
  fi
  # escan50i: 1000 streams of 100 events written round-robin, as many concurrent writers leave
  # them (a stream's neighbours are ~75 KB apart in its bucket's log), scanned whole (COUNT 100).
  if want escan50i; then
    prefill "$PORT_SIERRA" -w escan -r 1000 --fill 100 --count 100 --prefix iscan- --fill-interleaved
    prefill "$PORT_REDIS_AOF" -w xrange -r 1000 --fill 100 --count 100 --prefix iscan- --fill-interleaved
  fi
  for r in $(seq 1 "$ROUNDS"); do
    if want eget50; then
      run_bench eget50 sierradb "$r" "$PORT_SIERRA" "$SIERRA_PID" -w eget -c 50 -r 10000 --fill 1 --prefix get-
      run_bench eget50 redis-aof "$r" "$PORT_REDIS_AOF" "$REDIS_AOF_PID" -w xrange -c 50 -r 10000 --fill 1 --count 1 --prefix get-
    fi
  done
  for r in $(seq 1 "$ROUNDS"); do
    if want escan50; then
      run_bench escan50 sierradb "$r" "$PORT_SIERRA" "$SIERRA_PID" -w escan -c 50 -r 100 --fill 1000 --count 1000 --prefix scan-
      run_bench escan50 redis-aof "$r" "$PORT_REDIS_AOF" "$REDIS_AOF_PID" -w xrange -c 50 -r 100 --fill 1000 --count 1000 --prefix scan-
    fi
  done
  for r in $(seq 1 "$ROUNDS"); do
    if want escan50i; then
      run_bench escan50i sierradb "$r" "$PORT_SIERRA" "$SIERRA_PID" -w escan -c 50 -r 1000 --fill 100 --count 100 --prefix iscan-
      run_bench escan50i redis-aof "$r" "$PORT_REDIS_AOF" "$REDIS_AOF_PID" -w xrange -c 50 -r 1000 --fill 100 --count 100 --prefix iscan-
    fi
  done
}

# ---------------------------------------------------------------------------------------------

machine() {
  local cpu mem disk
  cpu=$(lscpu 2>/dev/null | awk -F: '/^Model name/ {gsub(/^ +/, "", $2); print $2; exit}')
  mem=$(free -h | awk '/^Mem:/ {print $2}')
  disk=$(df -hT "$WORK" | awk 'NR == 2 {print $1 " (" $2 ", " $3 ")"}')
  printf '%s' "nproc $(nproc) (${cpu:-unknown CPU}); memory $mem; data dir on $disk; kernel $(uname -r); load average $LOAD_START at the start, $(cut -d' ' -f1-3 /proc/loadavg) at the end"
}

LOAD_START=""
main() {
  LOAD_START=$(cut -d' ' -f1-3 /proc/loadavg)
  install_peers
  WORK=$(mktemp -d "${TMPDIR:-/tmp}/sierradb-compare.XXXXXX")
  chmod 755 "$WORK"
  log "work dir $WORK"
  start_servers
  write_pg_scripts
  local versions
  local rev=${SIERRA_REV:-}
  if [[ -z $rev ]]; then
    rev=$(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo '?')
    [[ -z $(git -C "$ROOT" status --porcelain -- src tools CMakeLists.txt 2>/dev/null) ]] ||
      rev="$rev + uncommitted changes"
  fi
  versions="sierradb $rev; Redis $(redis-server --version | sed -n 's/.* v=\([^ ]*\).*/\1/p'); PostgreSQL $("$PGBIN/postgres" --version | awk '{print $3}'); Message DB $(sed -n 's/.*"version": *"\([^"]*\)".*/\1/p' "$MDB_SQL/../package.json" | head -1)"
  workloads
  local cmd="make compare"
  [[ -z ${COMPARE_CMD:-} ]] || cmd=$COMPARE_CMD
  python3 "$HERE/report.py" --runs "$WORK/runs" --duration "$DURATION" --warmup "$WARMUP" \
    --rounds "$ROUNDS" --threads "$THREADS" --payload "$PAYLOAD" --machine "$(machine)" \
    --versions "$versions" --command "$cmd" --write-md "$WRITE_MD" --md "$ROOT/BENCHMARKS.md"
}

main "$@"
