#!/usr/bin/env bash
# redis-cli (Debian redis-tools) against a real sierradb: every data command and the handshake
# and admin commands, happy and error paths, in RESP3 (-3), without HELLO (server still speaks
# RESP3, PROTOCOL §1.4) and after HELLO 2 (flattened RESP2 replies, DECISIONS D6).
#   redis_cli_test.sh SIERRADB_BINARY
# Replies are compared exactly after normalize.py replaces event ids, transaction ids, the
# current time and the peer id with checked placeholders.
here=$(cd "$(dirname "$0")" && pwd)
source "$here/lib.sh"
start_server "$1"

PK=550e8400-e29b-41d4-a716-446655440000   # explicit key, partition 25 (PROTOCOL §2.3)
USER_KEY=7e124fe8-fe28-5398-bb95-53973100148f

norm() { "$PYTHON" "$here/normalize.py"; }
# expect NAME COMMAND... <<EOF expected EOF: runs the command, normalizes, compares exactly.
expect() {
  local name=$1
  shift
  local exp act
  exp=$(cat)
  act=$("$@" 2>&1 | norm)
  expect_eq "$name" "$exp" "$act"
}
# expect_out NAME TEXT <<EOF expected EOF: like expect, for output captured earlier.
expect_out() {
  local exp
  exp=$(cat)
  expect_eq "$1" "$exp" "$(norm <<<"$2")"
}
# session [FLAGS] -- LINE...: one redis-cli connection fed the lines on stdin (same connection).
session() {
  local flags=()
  while [ "$1" != "--" ]; do flags+=("$1"); shift; done
  shift
  printf '%s\n' "$@" | redis-cli --no-raw -p "$SERVER_PORT" "${flags[@]}"
}
# key_of STREAM / partition_of STREAM: the default partition key (UUIDv5, PROTOCOL §2.2) and
# partition id (§2.3, 32 partitions), computed independently of the server.
key_of() {
  "$PYTHON" -c 'import sys, uuid; print(uuid.uuid5(uuid.UUID("219bd637-e279-53e9-9e2b-eabe5d9120cc"), sys.argv[1]))' "$1"
}
partition_of() {
  "$PYTHON" -c 'import sys, uuid; k = uuid.uuid5(uuid.UUID("219bd637-e279-53e9-9e2b-eabe5d9120cc"), sys.argv[1]); print(((k.int >> 46) & 0xFFFF) % 32)' "$1"
}
# field NAME: the value of `N# NAME => value` in stdin.
field() { sed -nE "s/^.*[0-9]+# \"?$1\"? => (\(integer\) )?//p" | head -n 1; }

# ------------------------------------------------------------------------- empty database
expect "EPSEQ on an empty partition is null" cli EPSEQ 0 <<'EOF'
(nil)
EOF
expect "EPSCAN on an empty partition" cli EPSCAN 0 - + <<'EOF'
1# has_more => (false)
2# events => (empty array)
EOF
expect "ESVER of a missing stream is null" cli ESVER user-123 <<'EOF'
(nil)
EOF

# ------------------------------------------------------------------------- EAPPEND
out=$(cli EAPPEND user-123 UserRegistered EXPECTED_VERSION empty PAYLOAD '{"a":1}')
FIRST_ID=$(field event_id <<<"$out")
expect_out "EAPPEND test vector user-123 (partition 21)" "$out" <<'EOF'
1# event_id => <event-id>
2# partition_key => 7e124fe8-fe28-5398-bb95-53973100148f
3# partition_id => (integer) 21
4# partition_sequence => (integer) 0
5# stream_version => (integer) 0
6# timestamp => (integer) <now>
EOF
expect "second EXPECTED_VERSION empty is WRONGVER" cli EAPPEND user-123 UserRegistered EXPECTED_VERSION empty <<'EOF'
(error) WRONGVER current stream version is 0 but expected empty for partition key 7e124fe8-fe28-5398-bb95-53973100148f and stream id user-123
EOF
out=$(cli EAPPEND user-123 UserLoggedIn EXPECTED_VERSION 0 METADATA m1 TIMESTAMP 1700000000000)
SECOND_ID=$(field event_id <<<"$out")
expect_out "EAPPEND with EXPECTED_VERSION 0, METADATA, TIMESTAMP" "$out" <<'EOF'
1# event_id => <event-id>
2# partition_key => 7e124fe8-fe28-5398-bb95-53973100148f
3# partition_id => (integer) 21
4# partition_sequence => (integer) 1
5# stream_version => (integer) 1
6# timestamp => (integer) 1700000000000
EOF
expect "wrong numeric expected version" cli EAPPEND user-123 X EXPECTED_VERSION 5 <<'EOF'
(error) WRONGVER current stream version is 1 but expected 5 for partition key 7e124fe8-fe28-5398-bb95-53973100148f and stream id user-123
EOF
expect "strict versioning: no EXPECTED_VERSION" cli EAPPEND s n <<'EOF'
(error) INVALIDARG strict versioning mode rejects EXPECTED_VERSION any
EOF
expect "strict versioning: EXPECTED_VERSION any" cli EAPPEND s n EXPECTED_VERSION any <<'EOF'
(error) INVALIDARG strict versioning mode rejects EXPECTED_VERSION any
EOF
expect "strict versioning: EXPECTED_VERSION exists" cli EAPPEND s n EXPECTED_VERSION exists <<'EOF'
(error) INVALIDARG strict versioning mode rejects EXPECTED_VERSION exists
EOF
expect "strict versioning wrote nothing" cli ESVER s <<'EOF'
(nil)
EOF
for stream_vector in "my-stream fa3e31cd-2f38-5aee-bb91-8bc6fbf950a3 6" \
                     "test-stream f3a6a672-d89e-53bd-89ac-7dddd5c04a94 17"; do
  read -r stream key partition <<<"$stream_vector"
  expect "test vector $stream" cli EAPPEND "$stream" Created EXPECTED_VERSION empty <<EOF
1# event_id => <event-id>
2# partition_key => $key
3# partition_id => (integer) $partition
4# partition_sequence => (integer) 0
5# stream_version => (integer) 0
6# timestamp => (integer) <now>
EOF
done
expect "explicit PARTITION_KEY test vector (partition 25)" cli EAPPEND keyed ev PARTITION_KEY $PK EXPECTED_VERSION empty <<EOF
1# event_id => <event-id>
2# partition_key => $PK
3# partition_id => (integer) 25
4# partition_sequence => (integer) 0
5# stream_version => (integer) 0
6# timestamp => (integer) <now>
EOF
expect_eq "key_of matches the test vector" "$USER_KEY 21" "$(key_of user-123) $(partition_of user-123)"
expect "keywords are case-insensitive" cli eappend CaseStream ev expected_version EMPTY payload p <<EOF
1# event_id => <event-id>
2# partition_key => $(key_of CaseStream)
3# partition_id => (integer) $(partition_of CaseStream)
4# partition_sequence => (integer) 0
5# stream_version => (integer) 0
6# timestamp => (integer) <now>
EOF
expect "repeated option" cli EAPPEND x n EXPECTED_VERSION empty EXPECTED_VERSION empty <<'EOF'
(error) INVALIDARG expected version already specified
EOF
expect_match "bad expected version" '\(error\) INVALIDARG .*bogus.*' "$(cli EAPPEND x n EXPECTED_VERSION bogus)"
expect_match "trailing argument" '\(error\) INVALIDARG .*BOGUS.*' "$(cli EAPPEND x n EXPECTED_VERSION empty BOGUS)"
expect_match "missing event name" '\(error\) INVALIDARG .*' "$(cli EAPPEND x)"
expect_match "missing arguments" '\(error\) INVALIDARG .*' "$(cli EAPPEND)"
expect_match "option without value" '\(error\) INVALIDARG .*' "$(cli EAPPEND x n EXPECTED_VERSION)"
long=$(printf 'a%.0s' $(seq 65))
expect "stream id longer than 64 bytes" cli EAPPEND "$long" n EXPECTED_VERSION empty <<EOF
(error) INVALIDARG stream id must be between 1 and 64 characters in length, but got 65 for '$long'
EOF
expect_match "empty stream id" '\(error\) INVALIDARG .*' "$(cli EAPPEND '' n EXPECTED_VERSION empty)"
expect_match "bad PARTITION_KEY" '\(error\) INVALIDARG .*' "$(cli EAPPEND x n PARTITION_KEY nope EXPECTED_VERSION empty)"
expect_match "bad TIMESTAMP" '\(error\) INVALIDARG .*' "$(cli EAPPEND x n TIMESTAMP -5 EXPECTED_VERSION empty)"
expect "TIMESTAMP in nanoseconds overflows" cli EAPPEND x n TIMESTAMP 18446744073709551 EXPECTED_VERSION empty <<'EOF'
(error) INVALIDARG invalid timestamp format: expected milliseconds, got nanoseconds
EOF
expect_match "EVENT_ID without the partition hash" '\(error\) INVALIDARG .*partition hash.*' \
  "$(cli EAPPEND x n EVENT_ID "$FIRST_ID" EXPECTED_VERSION empty)"
# PROTOCOL §11 rows 12, 22, 26: rejected at parse time with INVALIDARG, CR/LF sanitized.
expect_match "event name over 255 bytes" '\(error\) INVALIDARG .*' \
  "$(cli EAPPEND x "$(printf 'n%.0s' $(seq 256))" EXPECTED_VERSION empty)"
expect_match "empty event name" '\(error\) INVALIDARG .*' "$(cli EAPPEND x '' EXPECTED_VERSION empty)"
expect_match "TIMESTAMP at or above 2^63 ns" '\(error\) INVALIDARG .*' \
  "$(cli EAPPEND x n TIMESTAMP 9300000000000 EXPECTED_VERSION empty)"
expect_match "expected version above i64" '\(error\) INVALIDARG .*' \
  "$(cli EAPPEND x n EXPECTED_VERSION 18446744073709551615)"
expect "stream id with a NUL byte" session -3 -- 'EAPPEND "a\x00b" n EXPECTED_VERSION empty' <<'EOF'
(error) INVALIDARG stream id cannot contain null bytes
EOF
expect "CR/LF in a stream id does not break the error line" session -3 -- \
  'EAPPEND "line\r\nbreak" n EXPECTED_VERSION empty' 'EAPPEND "line\r\nbreak" n EXPECTED_VERSION empty' 'PING' <<EOF
1# event_id => <event-id>
2# partition_key => $(key_of $'line\r\nbreak')
3# partition_id => (integer) $(partition_of $'line\r\nbreak')
4# partition_sequence => (integer) 0
5# stream_version => (integer) 0
6# timestamp => (integer) <now>
(error) WRONGVER current stream version is 0 but expected empty for partition key $(key_of $'line\r\nbreak') and stream id line  break
PONG
EOF
# Another key that maps to the stream's partition (PROTOCOL §2.6).
cli EAPPEND key-mismatch n EXPECTED_VERSION empty >/dev/null
other_key=$("$PYTHON" - "$(partition_of key-mismatch)" <<'PYEOF'
import sys, uuid
i = 0
while True:
    k = uuid.uuid5(uuid.NAMESPACE_OID, str(i))
    if ((k.int >> 46) & 0xFFFF) % 32 == int(sys.argv[1]):
        print(k)
        break
    i += 1
PYEOF
)
expect "same partition, different partition key" cli EAPPEND key-mismatch n PARTITION_KEY "$other_key" EXPECTED_VERSION 0 <<EOF
(error) DBOPFAILED database operation failed: partition key must be the same for all events in a stream: expected $(key_of key-mismatch), got $other_key
EOF

# ------------------------------------------------------------------------- EGET
expect "EGET of the first event" cli EGET "$FIRST_ID" <<'EOF'
 1# event_id => <event-id>
 2# partition_key => 7e124fe8-fe28-5398-bb95-53973100148f
 3# partition_id => (integer) 21
 4# transaction_id => <tx-single>
 5# partition_sequence => (integer) 0
 6# stream_version => (integer) 0
 7# timestamp => (integer) <now>
 8# stream_id => "user-123"
 9# event_name => "UserRegistered"
10# metadata => ""
11# payload => "{\"a\":1}"
EOF
expect_eq "EGET returns the id asked for" "$FIRST_ID" "$(cli EGET "$FIRST_ID" | field event_id)"
expect_eq "EGET of the second event" "$SECOND_ID" "$(cli EGET "$SECOND_ID" | field event_id)"
expect "EGET of an unknown id" cli EGET 01a21398-0a79-a477-bb95-6c196d0b0375 <<'EOF'
(nil)
EOF
expect_match "EGET of a non-UUID" '\(error\) INVALIDARG .*' "$(cli EGET nope)"
expect_match "EGET without id" '\(error\) INVALIDARG .*' "$(cli EGET)"
expect_match "EGET with two ids" '\(error\) INVALIDARG .*' "$(cli EGET "$FIRST_ID" "$FIRST_ID")"

# ------------------------------------------------------------------------- ESCAN
ESCAN_ALL=$(cat <<'EOF'
1# has_more => (false)
2# events => 
   1)  1# event_id => <event-id>
       2# partition_key => 7e124fe8-fe28-5398-bb95-53973100148f
       3# partition_id => (integer) 21
       4# transaction_id => <tx-single>
       5# partition_sequence => (integer) 0
       6# stream_version => (integer) 0
       7# timestamp => (integer) <now>
       8# stream_id => "user-123"
       9# event_name => "UserRegistered"
      10# metadata => ""
      11# payload => "{\"a\":1}"
   2)  1# event_id => <event-id>
       2# partition_key => 7e124fe8-fe28-5398-bb95-53973100148f
       3# partition_id => (integer) 21
       4# transaction_id => <tx-single>
       5# partition_sequence => (integer) 1
       6# stream_version => (integer) 1
       7# timestamp => (integer) 1700000000000
       8# stream_id => "user-123"
       9# event_name => "UserLoggedIn"
      10# metadata => "m1"
      11# payload => ""
EOF
)
expect "ESCAN whole stream" cli ESCAN user-123 - + COUNT 10 <<<"$ESCAN_ALL"
expect "ESCAN default COUNT, PARTITION_KEY given" cli ESCAN user-123 - + PARTITION_KEY $USER_KEY <<<"$ESCAN_ALL"
expect "ESCAN numeric range" cli ESCAN user-123 0 1 <<<"$ESCAN_ALL"
expect "ESCAN 0 0 has more" cli ESCAN user-123 0 0 <<'EOF'
1# has_more => (true)
2# events => 
   1)  1# event_id => <event-id>
       2# partition_key => 7e124fe8-fe28-5398-bb95-53973100148f
       3# partition_id => (integer) 21
       4# transaction_id => <tx-single>
       5# partition_sequence => (integer) 0
       6# stream_version => (integer) 0
       7# timestamp => (integer) <now>
       8# stream_id => "user-123"
       9# event_name => "UserRegistered"
      10# metadata => ""
      11# payload => "{\"a\":1}"
EOF
expect_eq "ESCAN COUNT 1 has more" "1# has_more => (true)" "$(cli ESCAN user-123 - + COUNT 1 | head -n 1)"
expect_eq "ESCAN COUNT 1 returns one event" "1" "$(cli ESCAN user-123 - + COUNT 1 | grep -c 'event_id =>')"
expect_eq "ESCAN from 1" "$SECOND_ID" "$(cli ESCAN user-123 1 + | field event_id)"
# COUNT reached exactly at the end of the stream: nothing more (look-ahead, §11 row 9).
expect_eq "ESCAN COUNT 2 of 2 has no more" "1# has_more => (false)" "$(cli ESCAN user-123 - + COUNT 2 | head -n 1)"
expect "ESCAN COUNT 0" cli ESCAN user-123 - + COUNT 0 <<'EOF'
1# has_more => (true)
2# events => (empty array)
EOF
expect "ESCAN COUNT 0 past the end" cli ESCAN user-123 2 + COUNT 0 <<'EOF'
1# has_more => (false)
2# events => (empty array)
EOF
expect "ESCAN of a missing stream" cli ESCAN nope - + <<'EOF'
1# has_more => (false)
2# events => (empty array)
EOF
expect "ESCAN in another partition finds nothing" cli ESCAN user-123 - + PARTITION_KEY $PK <<'EOF'
1# has_more => (false)
2# events => (empty array)
EOF
expect "ESCAN start > end is empty" cli ESCAN user-123 1 0 <<'EOF'
1# has_more => (true)
2# events => (empty array)
EOF
expect "ESCAN start '+'" cli ESCAN user-123 + - <<'EOF'
(error) INVALIDARG start version cannot be '+'
EOF
expect "ESCAN end '-'" cli ESCAN user-123 0 - <<'EOF'
(error) INVALIDARG end version cannot be '-'
EOF
expect_match "ESCAN missing range" '\(error\) INVALIDARG .*' "$(cli ESCAN user-123 0)"
expect_match "ESCAN bad COUNT" '\(error\) INVALIDARG .*' "$(cli ESCAN user-123 - + COUNT x)"
expect_match "ESCAN COUNT twice" '\(error\) INVALIDARG .*already specified.*' "$(cli ESCAN user-123 - + COUNT 1 COUNT 2)"

# ------------------------------------------------------------------------- ESVER
expect "ESVER" cli ESVER user-123 <<'EOF'
(integer) 1
EOF
expect "ESVER with its partition key" cli ESVER user-123 PARTITION_KEY $USER_KEY <<'EOF'
(integer) 1
EOF
expect "ESVER with another partition key" cli ESVER user-123 PARTITION_KEY $PK <<'EOF'
(nil)
EOF
expect_match "ESVER without stream" '\(error\) INVALIDARG .*' "$(cli ESVER)"
expect_match "ESVER trailing argument" '\(error\) INVALIDARG .*' "$(cli ESVER user-123 extra)"

# ------------------------------------------------------------------------- EPSEQ / EPSCAN
expect "EPSEQ 21" cli EPSEQ 21 <<'EOF'
(integer) 1
EOF
expect "EPSEQ by partition key" cli EPSEQ $USER_KEY <<'EOF'
(integer) 1
EOF
expect_match "EPSEQ out of range partition" '\(error\) INVALIDARG .*' "$(cli EPSEQ 32)"
expect_match "EPSEQ bad selector" '\(error\) INVALIDARG .*' "$(cli EPSEQ abc)"
expect_match "EPSEQ without selector" '\(error\) INVALIDARG .*' "$(cli EPSEQ)"
expect "EPSCAN whole partition" cli EPSCAN 21 - + COUNT 1000 <<<"$ESCAN_ALL"
expect "EPSCAN by partition key" cli EPSCAN $USER_KEY 0 + <<<"$ESCAN_ALL"
expect_eq "EPSCAN 0 0 has more" "1# has_more => (true)" "$(cli EPSCAN 21 0 0 | head -n 1)"
expect_eq "EPSCAN 0 0 returns event 0" "$FIRST_ID" "$(cli EPSCAN 21 0 0 | field event_id)"
expect_eq "EPSCAN from 1 has no more" "1# has_more => (false)" "$(cli EPSCAN 21 1 + | head -n 1)"
expect_eq "EPSCAN from 1 returns event 1" "$SECOND_ID" "$(cli EPSCAN 21 1 + | field event_id)"
expect "EPSCAN beyond the watermark" cli EPSCAN 21 100 + <<'EOF'
1# has_more => (false)
2# events => (empty array)
EOF
expect "EPSCAN start '+'" cli EPSCAN 21 + - <<'EOF'
(error) INVALIDARG start sequence cannot be '+'
EOF
expect "EPSCAN end '-'" cli EPSCAN 21 0 - <<'EOF'
(error) INVALIDARG end sequence cannot be '-'
EOF
expect_match "EPSCAN out of range partition" '\(error\) INVALIDARG .*' "$(cli EPSCAN 99 - +)"
expect_match "EPSCAN missing end" '\(error\) INVALIDARG .*' "$(cli EPSCAN 21 -)"

# ------------------------------------------------------------------------- EMAPPEND
expect "EMAPPEND three events in partition 25" cli EMAPPEND $PK a x EXPECTED_VERSION empty b y EXPECTED_VERSION empty PAYLOAD pb a z EXPECTED_VERSION 0 <<EOF
1# partition_key => $PK
2# partition_id => (integer) 25
3# first_partition_sequence => (integer) 1
4# last_partition_sequence => (integer) 3
5# events => 
   1) 1# event_id => <event-id>
      2# stream_id => a
      3# stream_version => (integer) 0
      4# timestamp => (integer) <now>
      5# partition_sequence => (integer) 1
      6# partition_id => (integer) 25
   2) 1# event_id => <event-id>
      2# stream_id => b
      3# stream_version => (integer) 0
      4# timestamp => (integer) <now>
      5# partition_sequence => (integer) 2
      6# partition_id => (integer) 25
   3) 1# event_id => <event-id>
      2# stream_id => a
      3# stream_version => (integer) 1
      4# timestamp => (integer) <now>
      5# partition_sequence => (integer) 3
      6# partition_id => (integer) 25
EOF
expect "EMAPPEND events are readable, one multi-event transaction" cli ESCAN a - + PARTITION_KEY $PK <<EOF
1# has_more => (false)
2# events => 
   1)  1# event_id => <event-id>
       2# partition_key => $PK
       3# partition_id => (integer) 25
       4# transaction_id => <tx-multi>
       5# partition_sequence => (integer) 1
       6# stream_version => (integer) 0
       7# timestamp => (integer) <now>
       8# stream_id => "a"
       9# event_name => "x"
      10# metadata => ""
      11# payload => ""
   2)  1# event_id => <event-id>
       2# partition_key => $PK
       3# partition_id => (integer) 25
       4# transaction_id => <tx-multi>
       5# partition_sequence => (integer) 3
       6# stream_version => (integer) 1
       7# timestamp => (integer) <now>
       8# stream_id => "a"
       9# event_name => "z"
      10# metadata => ""
      11# payload => ""
EOF
tx=$(cli EPSCAN 25 1 3 | sed -nE 's/.*transaction_id => //p' | sort -u | wc -l)
expect_eq "EMAPPEND events share one transaction id" "1" "$tx"
expect "EMAPPEND second empty in one transaction is WRONGVER" cli EMAPPEND $PK c x EXPECTED_VERSION empty c y EXPECTED_VERSION empty <<EOF
(error) WRONGVER current stream version is 0 but expected empty for partition key $PK and stream id c
EOF
expect "failed EMAPPEND wrote nothing (partition)" cli EPSEQ 25 <<'EOF'
(integer) 3
EOF
expect "failed EMAPPEND wrote nothing (stream)" cli ESVER c PARTITION_KEY $PK <<'EOF'
(nil)
EOF
expect "EMAPPEND strict versioning" cli EMAPPEND $PK c x <<'EOF'
(error) INVALIDARG strict versioning mode rejects EXPECTED_VERSION any
EOF
expect_match "EMAPPEND bad partition key" '\(error\) INVALIDARG .*' "$(cli EMAPPEND nope a x EXPECTED_VERSION empty)"
expect_match "EMAPPEND without events" '\(error\) INVALIDARG .*' "$(cli EMAPPEND $PK)"
expect_match "EMAPPEND event without name" '\(error\) INVALIDARG .*' "$(cli EMAPPEND $PK a x EXPECTED_VERSION 1 b)"

# Binary payload with NUL, CR, LF, sent through redis-cli's quoted-string syntax.
expect "binary payload round trip" session -3 -- \
  'EAPPEND bin ev EXPECTED_VERSION empty PAYLOAD "a\x00b\r\nc\xff" METADATA "\x01"' \
  'ESCAN bin - +' <<EOF
1# event_id => <event-id>
2# partition_key => $(key_of bin)
3# partition_id => (integer) $(partition_of bin)
4# partition_sequence => (integer) 0
5# stream_version => (integer) 0
6# timestamp => (integer) <now>
1# has_more => (false)
2# events => 
   1)  1# event_id => <event-id>
       2# partition_key => $(key_of bin)
       3# partition_id => (integer) $(partition_of bin)
       4# transaction_id => <tx-single>
       5# partition_sequence => (integer) 0
       6# stream_version => (integer) 0
       7# timestamp => (integer) <now>
       8# stream_id => "bin"
       9# event_name => "ev"
      10# metadata => "\\x01"
      11# payload => "a\\x00b\\r\\nc\\xff"
EOF

# ------------------------------------------------------------------------- basic commands
expect "PING" cli PING <<'EOF'
PONG
EOF
expect "PING message" cli PING hello <<'EOF'
"hello"
EOF
expect "ECHO" cli ECHO "hello world" <<'EOF'
"hello world"
EOF
expect_match "ECHO without argument" '\(error\) INVALIDARG .*' "$(cli ECHO)"
expect "HELLO 3" cli HELLO 3 <<'EOF'
1# "server" => "sierradb"
2# "version" => "0.1.0"
3# "peer_id" => <peer-id>
4# "num_partitions" => (integer) 32
5# "proto" => (integer) 3
6# "id" => (integer) <id>
7# "mode" => "standalone"
8# "role" => "master"
9# "modules" => (empty array)
EOF
expect_eq "HELLO with AUTH and SETNAME" '5# "proto" => (integer) 3' \
  "$(cli HELLO 3 AUTH user pass SETNAME myclient | grep proto)"
expect_eq "bare HELLO" '1# "server" => "sierradb"' "$(cli HELLO | head -n 1)"
expect_match "HELLO 4" '\(error\) NOPROTO .*' "$(cli HELLO 4)"
expect_match "HELLO bogus" '\(error\) NOPROTO .*' "$(cli HELLO x)"
peer=$(cli HELLO 3 | field peer_id)
info=$(cli INFO | tr -d '\r')
expect_match "INFO has a server section" '# Server
sierradb_version:[^
]+
.*' "$info"
grep -qx "peer_id:${peer//\"/}" <<<"$info" || check_failed "INFO peer_id differs from HELLO peer_id ($peer)"
grep -qx "tcp_port:$SERVER_PORT" <<<"$info" || check_failed "INFO tcp_port is not $SERVER_PORT"
expect "INFO CACHE" cli INFO CACHE <<'EOF'
hits 0
misses 0
hit_ratio 0
entries 0
memory_bytes 0
max_bytes 268435456
block_size_bytes 65536
evictions 0
EOF
# (redis-cli prints INFO replies raw, errors included: no "(error)" prefix)
expect_match "INFO unknown section" '(\(error\) )?[A-Z]+ .*' "$(cli INFO nosuchsection)"
expect "CLIENT SETINFO LIB-NAME" cli CLIENT SETINFO LIB-NAME mylib <<'EOF'
OK
EOF
expect "CLIENT SETINFO LIB-VER" cli CLIENT SETINFO LIB-VER 1.2.3 <<'EOF'
OK
EOF
expect "CLIENT SETNAME + GETNAME on one connection" session -3 -- 'CLIENT SETNAME me' 'CLIENT GETNAME' <<'EOF'
OK
"me"
EOF
expect_match "CLIENT without subcommand" '\(error\) .*' "$(cli CLIENT)"
expect "SELECT 0" cli SELECT 0 <<'EOF'
OK
EOF
expect_match "SELECT 1" '\(error\) .*' "$(cli SELECT 1)"
# COMMAND answers from the command table (these replaced the old "(empty array)" placeholder).
expect_match "COMMAND lists every command's info" ' ?1\)  1\) "ping".*24\)  1\) "unsubscribe".*' \
  "$(cli COMMAND)"
expect "COMMAND COUNT" cli COMMAND COUNT <<'EOF'
(integer) 24
EOF
expect "COMMAND INFO" cli COMMAND INFO eget nosuch <<'EOF'
1)  1) "eget"
    2) (integer) 2
    3) 1~ readonly
       2~ fast
    4) (integer) 1
    5) (integer) 1
    6) (integer) 1
    7) 1~ @read
       2~ @stream
       3~ @fast
    8) (empty set)
    9) 1) 1# "flags" => 
             1~ RO
             2~ ACCESS
          2# "begin_search" => 
             1# "type" => "index"
             2# "spec" => 1# "index" => (integer) 1
          3# "find_keys" => 
             1# "type" => "range"
             2# "spec" => 
                1# "lastkey" => (integer) 0
                2# "keystep" => (integer) 1
                3# "limit" => (integer) 0
   10) (empty array)
2) (nil)
EOF
expect "COMMAND DOCS" cli COMMAND DOCS eack <<'EOF'
1# "eack" => 
   1# "summary" => "Acknowledges a subscription's messages up to a cursor."
   2# "since" => "0.1.0"
   3# "group" => "pubsub"
   4# "arguments" => 
      1) 1# "name" => "subscription_id"
         2# "type" => "string"
      2) 1# "name" => "cursor"
         2# "type" => "integer"
EOF
expect_match "COMMAND DOCS of every command" ' ?1# "ping" => .*24# "unsubscribe" => .*' "$(cli COMMAND DOCS)"
expect "unknown command" cli FOO bar <<'EOF'
(error) INVALIDARG unknown command 'FOO'
EOF
expect "unknown command, upper-cased in the message" cli nosuch <<'EOF'
(error) INVALIDARG unknown command 'NOSUCH'
EOF
expect "the connection survives errors" session -3 -- 'FOO' 'EAPPEND' 'HELLO 9' 'PING' <<'EOF'
(error) INVALIDARG unknown command 'FOO'
(error) INVALIDARG unexpected end of input: expected stream id
(error) NOPROTO unsupported protocol version
PONG
EOF
expect "QUIT" cli QUIT <<'EOF'
OK
EOF

# ------------------------------------------------------------------------- RESP2 modes
# Without HELLO the server still replies RESP3 (PROTOCOL §1.4 MUST): same output as with -3.
expect "no HELLO: ESCAN is RESP3" cli2 ESCAN user-123 - + <<<"$ESCAN_ALL"
expect "no HELLO: ESVER null" cli2 ESVER nope <<'EOF'
(nil)
EOF
# After HELLO 2 the connection gets RESP2: maps flattened, booleans as integers, null as nil.
expect "HELLO 2 session" session -- 'HELLO 2' 'ESCAN user-123 0 0' 'ESVER nope' 'EGET 01a21398-0a79-a477-bb95-6c196d0b0375' 'EPSEQ 21' 'EAPPEND user-123 X EXPECTED_VERSION empty' 'PING' <<'EOF'
 1) "server"
 2) "sierradb"
 3) "version"
 4) "0.1.0"
 5) "peer_id"
 6) <peer-id>
 7) "num_partitions"
 8) (integer) 32
 9) "proto"
10) (integer) 2
11) "id"
12) (integer) <id>
13) "mode"
14) "standalone"
15) "role"
16) "master"
17) "modules"
18) (empty array)
1) has_more
2) (integer) 1
3) events
4) 1)  1) event_id
       2) <event-id>
       3) partition_key
       4) 7e124fe8-fe28-5398-bb95-53973100148f
       5) partition_id
       6) (integer) 21
       7) transaction_id
       8) <tx-single>
       9) partition_sequence
      10) (integer) 0
      11) stream_version
      12) (integer) 0
      13) timestamp
      14) (integer) <now>
      15) stream_id
      16) "user-123"
      17) event_name
      18) "UserRegistered"
      19) metadata
      20) ""
      21) payload
      22) "{\"a\":1}"
(nil)
(nil)
(integer) 1
(error) WRONGVER current stream version is 1 but expected empty for partition key 7e124fe8-fe28-5398-bb95-53973100148f and stream id user-123
PONG
EOF
expect "HELLO 2 EAPPEND reply" session -- 'HELLO 2' 'EAPPEND resp2-stream ev EXPECTED_VERSION empty' <<EOF
$(cli HELLO 2 | norm)
 1) event_id
 2) <event-id>
 3) partition_key
 4) $(key_of resp2-stream)
 5) partition_id
 6) (integer) $(partition_of resp2-stream)
 7) partition_sequence
 8) (integer) 0
 9) stream_version
10) (integer) 0
11) timestamp
12) (integer) <now>
EOF

finish
