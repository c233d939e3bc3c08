#!/usr/bin/env python3
"""kill -9 soak test against a real sierradb server (issue #7 "kill -9 under load").

What it does, for N cycles on one data directory:
  1. start `sierradb` (free port, temp data dir, small segments so rollovers and index-file
     writes happen during the load), wait for PING;
  2. clients (threads, one connection each, pipelining 1..8 requests) append:
       - EAPPEND with an exact EXPECTED_VERSION (`empty` / N) to streams they own,
       - EAPPEND with no expectation (the server runs with --strict-versioning false),
       - EMAPPEND multi-stream transactions in one partition (explicit PARTITION_KEY) with exact
         expected versions, sometimes naming the same stream twice;
     payloads are random bytes (often not UTF-8), sometimes empty, sometimes large; metadata,
     client-chosen EVENT_IDs and TIMESTAMPs sometimes;
  3. after a random 0.2..1.5 s of load the server gets SIGKILL; requests without a reply are
     "in flight" (unknown outcome); sometimes SIGTERM comes 0-30 ms before the SIGKILL (killed
     during a clean shutdown), sometimes the restarted server is killed again while it recovers;
  4. the server is restarted on the same directory and the checker verifies:
       - every acknowledged event is present -- EGET by id (this cycle's events and a sample of
         older ones), ESCAN of its stream, EPSCAN of its partition -- with exactly the
         acknowledged event id, stream version, partition sequence, partition id and timestamp,
         and with the name / payload / metadata / partition key that were sent;
       - every partition (EPSCAN from 0, all pages) has sequences 0..n-1, no gaps, no duplicates,
         EPSEQ = n-1; every stream (ESCAN from 0, all pages) has versions 0..n-1 in sequence
         order, matches what EPSCAN holds for it, ESVER = n-1;
       - every stored event is one that a client sent (no phantoms, no duplicates, no event
         resurrected after an earlier restart showed it absent), byte for byte;
       - an in-flight EAPPEND/EMAPPEND is wholly present or wholly absent: all its events, same
         transaction id, consecutive sequences in request order; one connection's in-flight
         appends to one stream survive as a prefix (never a later one without an earlier one);
       - transaction ids: shared within a transaction, unique among a cycle's transactions, top
         bit of byte 8 set only for single-event transactions;
  5. clients reconnect, learn the version of streams whose last append was in flight through
     ESVER (checked against the checker's count) and continue with exact expected versions.
At the end the server is stopped with SIGTERM (must exit 0) and `sierradb check` (the offline
verifier) must find the directory healthy.

Cost: the checker reads every partition and stream from 0 after each restart, but only parses
the events that are new since the previous check; the ranges it verified before must come back
byte for byte (SHA-1 per page of 10000 events, an 8-byte digest per event to name the one that
changed). Clients are paced (--rate, default 3000 appends/s) except for a flat-out burst of
0.05-0.3 s right before each kill, so that many requests are in flight when it lands; the data
grows by ~4000 events per cycle and the re-read grows with it (~2.5 s per 100k events on a
2-core machine, most of it the server reading: 100 cycles take ~10 min). For much longer runs,
--reread-every K re-reads the old ranges only every K cycles (new events are always checked).

Any violation prints a message naming the stream / event / sequence and exits 1 (the data
directory and server log are kept). Also exits 1 if the server hangs, refuses to start, or
answers a well-formed append with an error.

Usage:
  tests/soak/soak.py [--server build/sierradb] [--cycles N] [--seed S] [--clients C] ...
  env: SOAK_CYCLES (default 20), SOAK_SEED (default random; printed), SOAK_KEEP=1 keeps the
       data directory, TMPDIR picks where it lives.
  make soak SOAK_CYCLES=500            # builds, then runs this with build/sierradb

Not covered: power loss (SIGKILL keeps the page cache, so an fdatasync that lies is invisible
here) and disk errors; those are the engine's fault-injection tests.
"""
import argparse
import hashlib
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import traceback
import uuid

NAMESPACE_PARTITION_KEY = uuid.UUID("219bd637-e279-53e9-9e2b-eabe5d9120cc")
SCAN_PAGE = 10000
CLIENT_TIMEOUT = 30.0  # a reply slower than this while the server is alive counts as a hang


# ------------------------------------------------------------------------------------------
# RESP
# ------------------------------------------------------------------------------------------

class RespError:
    __slots__ = ("text",)

    def __init__(self, text):
        self.text = text

    def __repr__(self):
        return f"-{self.text}"


def encode(*args):
    out = [b"*%d\r\n" % len(args)]
    for a in args:
        if not isinstance(a, bytes):
            a = str(a).encode()
        out.append(b"$%d\r\n%s\r\n" % (len(a), a))
    return b"".join(out)


class Reader:
    """Buffered RESP2/RESP3 reader over a socket that can hand back the raw bytes of a value.

    Simple strings -> str, blobs -> bytes, errors -> RespError, maps -> dict (str keys),
    null -> None. Push frames are skipped."""

    def __init__(self, sock):
        self.sock = sock
        self.buf = bytearray()
        self.pos = 0

    def _more(self):
        data = self.sock.recv(1 << 18)
        if not data:
            raise ConnectionError("connection closed")
        self.buf += data

    def line(self):
        i = self.buf.find(b"\r\n", self.pos)
        while i < 0:
            scan_from = max(self.pos, len(self.buf) - 1)
            self._more()
            i = self.buf.find(b"\r\n", scan_from)
        out = self.buf[self.pos:i]
        self.pos = i + 2
        return out

    def take(self, n):
        while len(self.buf) - self.pos < n:
            self._more()
        out = bytes(self.buf[self.pos:self.pos + n])
        self.pos += n
        return out

    def value(self):
        line = self.line()
        kind, body = line[:1], line[1:]
        if kind == b"+":
            return body.decode("utf-8", "surrogateescape")
        if kind == b":":
            return int(body)
        if kind == b"$" or kind == b"=":
            n = int(body)
            if n < 0:
                return None
            data = self.take(n + 2)
            return data[:-2]
        if kind == b"%":  # inlined simple-string keys and scalar values: events are maps
            d = {}
            for _ in range(int(body)):
                kl = self.line()
                if kl[:1] == b"+":
                    k = kl[1:].decode("utf-8", "surrogateescape")
                else:
                    self.pos -= len(kl) + 2
                    k = self.value()
                vl = self.line()
                t = vl[:1]
                if t == b":":
                    d[k] = int(vl[1:])
                elif t == b"$":
                    n = int(vl[1:])
                    d[k] = self.take(n + 2)[:-2] if n >= 0 else None
                elif t == b"+":
                    d[k] = vl[1:].decode("utf-8", "surrogateescape")
                else:
                    self.pos -= len(vl) + 2
                    d[k] = self.value()
            return d
        if kind == b"*" or kind == b"~":
            n = int(body)
            return None if n < 0 else [self.value() for _ in range(n)]
        if kind == b"-":
            return RespError(body.decode("utf-8", "replace"))
        if kind == b"_":
            return None
        if kind == b"#":
            return body == b"t"
        if kind == b",":
            return float(body)
        if kind == b">":  # push (subscriptions): not expected here, skip it
            for _ in range(int(body)):
                self.value()
            return self.value()
        raise ConnectionError(f"unexpected RESP type {bytes(line[:40])!r}")

    def compact(self):
        if self.pos > (1 << 20):
            del self.buf[:self.pos]
            self.pos = 0

    def reply(self):
        self.compact()
        return self.value()

    def reply_raw(self):
        """(value, raw bytes of the value)."""
        self.compact()
        start = self.pos
        v = self.value()
        return v, bytes(self.buf[start:self.pos])

    def scan_reply(self):
        """An ESCAN/EPSCAN reply: (has_more, [(event dict, raw event bytes)])."""
        self.compact()
        head = self.line()
        if head[:1] != b"%":
            self.pos -= len(head) + 2
            raise RespReplyError(self.value())
        has_more, events = None, None
        for _ in range(int(head[1:])):
            key = self.value()
            if key == "events":
                n = int(self.line()[1:])
                events = []
                for _ in range(n):
                    start = self.pos
                    e = self.value()
                    events.append((e, bytes(self.buf[start:self.pos])))
            else:
                val = self.value()
                if key == "has_more":
                    has_more = val
        if has_more is None or events is None:
            raise ConnectionError("scan reply without has_more/events")
        return has_more, events

    def scan_reply_bulk(self, count, nbytes, stall=20.0):
        """An ESCAN/EPSCAN reply expected to hold `count` events taking `nbytes`: returns their
        raw bytes in one piece, or None if the count differs (the reply is consumed) or the
        bytes stop coming for `stall` seconds (fewer bytes than expected: framing is lost)."""
        self.compact()
        head = self.line()
        if head[:1] != b"%":
            self.pos -= len(head) + 2
            raise RespReplyError(self.value())
        raw = None
        for _ in range(int(head[1:])):
            key = self.value()
            if key == "events":
                n = int(self.line()[1:])
                if n == count:
                    old = self.sock.gettimeout()
                    self.sock.settimeout(stall)
                    try:
                        raw = self.take(nbytes)
                    except TimeoutError:
                        return None
                    finally:
                        self.sock.settimeout(old)
                else:
                    for _ in range(n):
                        self.value()
            else:
                self.value()
        return raw


class RespReplyError(RuntimeError):
    """A scan answered with something other than a map (an error, typically)."""

    def __init__(self, reply):
        super().__init__(f"answered {reply!r} instead of a scan result")


class Conn:
    def __init__(self, port, timeout=CLIENT_TIMEOUT):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.r = Reader(self.sock)

    def send(self, data):
        self.sock.sendall(data)

    def reply(self):
        return self.r.reply()

    def call(self, *args):
        self.send(encode(*args))
        return self.reply()

    def pipeline(self, commands):
        self.send(b"".join(encode(*c) for c in commands))
        return [self.reply() for _ in commands]

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass


# ------------------------------------------------------------------------------------------
# ids
# ------------------------------------------------------------------------------------------

def partition_hash(key):
    b = key.bytes
    return ((b[8] & 0x3F) << 10) | (b[9] << 2) | (b[10] >> 6)


def default_partition_key(stream):
    return uuid.uuid5(NAMESPACE_PARTITION_KEY, stream)


def make_event_id(rng, phash):
    """UUIDv7-like id embedding the partition hash in bits 61..46 (PROTOCOL §2.4)."""
    ms = int(time.time() * 1000) & ((1 << 48) - 1)
    v = ((ms << 80) | (rng.getrandbits(12) << 68) | (7 << 64) | (0b10 << 62) | (phash << 46)
         | rng.getrandbits(46))
    return str(uuid.UUID(int=v))


def tx_is_single(tx_id):
    return bool(uuid.UUID(tx_id).bytes[8] & 0x80)


# ------------------------------------------------------------------------------------------
# model
# ------------------------------------------------------------------------------------------

class Stream:
    __slots__ = ("name", "bname", "pkey", "pid", "explicit_key", "kind", "client", "next_ver",
                 "needs_resync", "count", "sent", "log")

    def __init__(self, name, pkey, pid, explicit_key, kind, client):
        self.name = name
        self.bname = name.encode()
        self.pkey = pkey  # canonical str
        self.pid = pid
        self.explicit_key = explicit_key
        self.kind = kind  # exact | any | group
        self.client = client
        self.next_ver = 0  # client's tentative next version
        self.needs_resync = False
        self.count = 0  # events the checker saw at the last check
        self.sent = []  # the Evs sent to this stream since the last check, in send order
        self.log = PageLog()  # what ESCAN returned for it, verified

    def key_args(self):
        return ("PARTITION_KEY", self.pkey) if self.explicit_key else ()


class Ev:
    __slots__ = ("op", "idx", "stream", "name", "payload", "metadata", "eid", "ts", "ack",
                 "found", "expected", "predicted")

    def __init__(self, op, idx, stream, name, payload, metadata, eid, ts, expected):
        self.op, self.idx, self.stream = op, idx, stream
        self.name, self.payload, self.metadata = name, payload, metadata
        self.eid, self.ts, self.expected = eid, ts, expected
        self.predicted = stream.next_ver  # the version this event gets if all goes well
        # the reply's event_id, stream_version, partition_sequence, partition_id, timestamp
        self.ack = None
        self.found = None  # the stored event dict the check matched to it

    def describe(self):
        op = self.op
        s = (f"event #{self.idx} of op {op.oid} ({op.kind}, client {op.client}, cycle {op.cycle}, "
             f"state {op.state}) stream {self.stream.name!r} partition {self.stream.pid} "
             f"name {self.name!r} payload {len(self.payload)} B")
        if self.eid:
            s += f" event_id {self.eid}"
        if self.ack:
            s += (f"; acked as event_id {self.ack['event_id']} version "
                  f"{self.ack['stream_version']} sequence {self.ack['partition_sequence']}")
        return s


class Op:
    __slots__ = ("oid", "kind", "events", "cycle", "client", "state", "pid", "pkey")

    def __init__(self, oid, kind, cycle, client, pid, pkey):
        self.oid, self.kind, self.cycle, self.client = oid, kind, cycle, client
        self.pid, self.pkey = pid, pkey
        self.events = []
        self.state = "sent"  # -> acked | failed | unknown -> present | absent


class Violations:
    def __init__(self):
        self.items = []
        self.lock = threading.Lock()

    def add(self, msg):
        with self.lock:
            self.items.append(msg)
        print(f"VIOLATION: {msg}", flush=True)

    def __len__(self):
        return len(self.items)


NAMES = ["Created", "Updated", "Deleted", "ItemAdded", "ItemRemoved", "Renamed", "Éclair-Poché",
         "x", "PaymentReceived.v2", "名前"]


class Client:
    """One connection's worth of load. Owns its streams, so it knows their exact versions."""

    def __init__(self, cid, seed, run_tag, partitions, model, violations):
        self.cid = cid
        self.rng = random.Random(seed * 1000003 + cid)
        self.model = model
        self.violations = violations
        self.exact, self.any, self.groups = [], [], []
        rng = self.rng
        for i in range(4):
            name = f"{run_tag}-c{cid}-x{i}" + ("-ü" if i == 3 else "")
            self.exact.append(model.new_stream(name, None, "exact", cid, partitions))
        for i in range(2):
            self.any.append(model.new_stream(f"{run_tag}-c{cid}-a{i}", None, "any", cid,
                                             partitions))
        for g in range(2):
            key = uuid.UUID(int=rng.getrandbits(128), version=4)
            members = [model.new_stream(f"{run_tag}-c{cid}-g{g}-{m}", key, "group", cid, partitions)
                       for m in range(3)]
            self.groups.append((key, members))
        self.acked = self.unknown = self.failed = 0

    # -- event content -----------------------------------------------------------------
    def payload(self, need_unique):
        rng = self.rng
        r = rng.random()
        if r < 0.08 and not need_unique:
            return b""
        if r < 0.20:
            text = '{"n":%d,"s":"%s"}' % (rng.getrandbits(32), "é" * rng.randint(0, 8))
            data = text.encode()
        elif r < 0.75:
            data = rng.randbytes(rng.randint(1, 64))
        elif r < 0.97:
            data = rng.randbytes(rng.randint(65, 512))
        elif r < 0.997:
            data = rng.randbytes(rng.randint(513, 4096))
        else:  # now and then a big one: a transaction that does not fit the segment's rest
            data = rng.randbytes(rng.randint(10000, 40000))
        if need_unique:  # server-chosen event id: the payload identifies the event
            data = rng.randbytes(16) + data
        return data

    def new_event(self, op, idx, stream, expected):
        rng = self.rng
        supply_id = rng.random() < 0.75
        eid = make_event_id(rng, partition_hash(uuid.UUID(stream.pkey))) if supply_id else None
        name = rng.choice(NAMES).encode()
        payload = self.payload(need_unique=not supply_id)
        metadata = rng.randbytes(rng.randint(0, 48)) if rng.random() < 0.3 else b""
        ts = None
        if rng.random() < 0.1:
            ts = int(time.time() * 1000) - rng.randint(0, 10 ** 7)
        ev = Ev(op, idx, stream, name, payload, metadata, eid, ts, expected)
        op.events.append(ev)
        return ev

    def event_options(self, ev, with_key):
        """Option groups in random order (they may come in any order, PROTOCOL §3)."""
        groups = []
        if ev.eid:
            groups.append(("EVENT_ID", ev.eid))
        if with_key and ev.stream.explicit_key:
            groups.append(("PARTITION_KEY", ev.stream.pkey))
        if ev.expected is not None:
            groups.append(("EXPECTED_VERSION", ev.expected))
        if ev.ts is not None:
            groups.append(("TIMESTAMP", str(ev.ts)))
        if ev.payload or self.rng.random() < 0.5:
            groups.append(("PAYLOAD", ev.payload))
        if ev.metadata:
            groups.append(("METADATA", ev.metadata))
        self.rng.shuffle(groups)
        return [x for g in groups for x in g]

    @staticmethod
    def expectation(next_ver):
        return "empty" if next_ver == 0 else str(next_ver - 1)

    def gen_op(self, cycle):
        """Returns (Op, command args)."""
        rng = self.rng
        r = rng.random()
        if r < 0.45:  # EAPPEND, exact expected version
            if rng.random() < 0.8:
                stream = rng.choice(self.exact)
            else:
                stream = rng.choice(rng.choice(self.groups)[1])
            op = self.model.new_op("eappend-exact", cycle, self.cid, stream.pid, stream.pkey)
            ev = self.new_event(op, 0, stream, self.expectation(stream.next_ver))
            stream.next_ver += 1
            stream.sent.append(ev)
            return op, ["EAPPEND", stream.name, ev.name] + self.event_options(ev, True)
        if r < 0.65:  # EAPPEND without expectation (sometimes an explicit `any`)
            stream = rng.choice(self.any)
            op = self.model.new_op("eappend-any", cycle, self.cid, stream.pid, stream.pkey)
            ev = self.new_event(op, 0, stream, "any" if rng.random() < 0.3 else None)
            stream.next_ver += 1
            stream.sent.append(ev)
            return op, ["EAPPEND", stream.name, ev.name] + self.event_options(ev, True)
        key, members = rng.choice(self.groups)  # EMAPPEND, exact expected versions
        op = self.model.new_op("emappend", cycle, self.cid, members[0].pid, members[0].pkey)
        args = ["EMAPPEND", str(key)]
        for i in range(rng.choice([1, 2, 2, 3, 3, 4])):
            stream = rng.choice(members)
            ev = self.new_event(op, i, stream, self.expectation(stream.next_ver))
            stream.next_ver += 1
            stream.sent.append(ev)
            args += [stream.name, ev.name] + self.event_options(ev, False)
        return op, args

    # -- acks ------------------------------------------------------------------------
    def on_reply(self, op, reply):
        v = self.violations
        if isinstance(reply, RespError) or not isinstance(reply, dict):
            op.state = "failed"
            self.failed += 1
            for ev in op.events:
                ev.stream.needs_resync = True
            v.add(f"append answered with {reply!r} while the server was up: op {op.oid} "
                  f"({op.kind}) on {[e.stream.name for e in op.events]}, expected "
                  f"{[e.expected for e in op.events]}")
            return
        op.state = "acked"
        self.acked += 1
        try:
            if op.kind == "emappend":
                first = reply["first_partition_sequence"]
                if reply["last_partition_sequence"] != first + len(op.events) - 1:
                    v.add(f"EMAPPEND op {op.oid}: first/last sequence {first}/"
                          f"{reply['last_partition_sequence']} for {len(op.events)} events")
                if len(reply["events"]) != len(op.events):
                    v.add(f"EMAPPEND op {op.oid}: {len(reply['events'])} events in the reply, "
                          f"sent {len(op.events)}")
                for i, (ev, r) in enumerate(zip(op.events, reply["events"])):
                    ev.ack = {"event_id": r["event_id"], "stream_version": r["stream_version"],
                              "partition_sequence": first + i,
                              "partition_id": reply["partition_id"], "timestamp": r["timestamp"]}
                    if r["stream_id"] != ev.stream.name:
                        v.add(f"EMAPPEND op {op.oid} event {i}: reply names stream "
                              f"{r['stream_id']!r}, sent {ev.stream.name!r}")
            else:
                ev = op.events[0]
                ev.ack = {k: reply[k] for k in ("event_id", "stream_version", "partition_sequence",
                                                "partition_id", "timestamp")}
                if reply["partition_key"] != ev.stream.pkey:
                    v.add(f"EAPPEND op {op.oid}: partition key {reply['partition_key']} in the "
                          f"reply, expected {ev.stream.pkey}")
        except (KeyError, TypeError) as e:
            v.add(f"malformed append reply for op {op.oid}: {reply!r} ({e})")
            return
        for ev in op.events:
            if ev.eid is None:
                self.model.index_acked_id(ev)
            problems = []
            if ev.eid and ev.ack["event_id"] != ev.eid:
                problems.append(f"event_id {ev.ack['event_id']} (sent {ev.eid})")
            if ev.ack["partition_id"] != ev.stream.pid:
                problems.append(f"partition {ev.ack['partition_id']} (expected {ev.stream.pid})")
            if ev.ack["stream_version"] != ev.predicted:
                problems.append(f"version {ev.ack['stream_version']} (expected version "
                                f"{ev.expected}, the owner predicted {ev.predicted})")
            if ev.ts is not None and ev.ack["timestamp"] != ev.ts:
                problems.append(f"timestamp {ev.ack['timestamp']} (sent {ev.ts})")
            if problems:
                v.add(f"ack of {ev.describe()}: " + ", ".join(problems))

    # -- the cycle ---------------------------------------------------------------------
    def resync(self, conn):
        """ESVER for the streams whose last append had no reply; continue from there."""
        for stream in self.all_streams():
            if not stream.needs_resync:
                if stream.next_ver != stream.count:
                    self.violations.add(f"stream {stream.name!r}: client expects next version "
                                        f"{stream.next_ver}, checker counted {stream.count}")
                continue
            ver = conn.call("ESVER", stream.name, *stream.key_args())
            if isinstance(ver, RespError):
                self.violations.add(f"ESVER {stream.name!r} failed after restart: {ver.text}")
                continue
            stream.next_ver = 0 if ver is None else ver + 1
            stream.needs_resync = False
            if stream.next_ver != stream.count:
                self.violations.add(f"stream {stream.name!r}: ESVER after restart says {ver}, "
                                    f"the checker counted {stream.count} events")

    def all_streams(self):
        return self.exact + self.any + [s for _, m in self.groups for s in m]

    def run(self, port, cycle, stop, hard_stop, rate=0.0, burst_at=0.0):
        """One cycle: resync, then append until the kill: `rate` appends/s (0 = flat out) until
        the monotonic time `burst_at`, then flat out."""
        self.acked = self.unknown = self.failed = 0
        conn = None
        pending = []
        try:
            conn = Conn(port)
            self.resync(conn)
            due = time.monotonic()
            while not stop.is_set() and not hard_stop.is_set():
                depth = self.rng.choice([1, 1, 1, 2, 3, 4, 8])
                if rate > 0:  # Poisson arrivals, so that the clients do not move in step
                    due += self.rng.gammavariate(depth, 1.0 / rate)
                    now = time.monotonic()
                    ahead = min(due, burst_at) - now
                    if ahead > 0 and stop.wait(ahead):
                        break
                batch = [self.gen_op(cycle) for _ in range(depth)]
                pending = [op for op, _ in batch]
                conn.send(b"".join(encode(*args) for _, args in batch))
                while pending:
                    reply = conn.reply()
                    self.on_reply(pending.pop(0), reply)
                if len(self.violations):
                    hard_stop.set()
        except (OSError, ConnectionError, ValueError) as e:
            # `stop` is set just before the SIGKILL: a failure before that is the server's
            if not stop.is_set() and isinstance(e, TimeoutError):
                self.violations.add(f"client {self.cid}: no reply within {CLIENT_TIMEOUT} s while "
                                    f"the server was alive ({len(pending)} requests pending)")
                hard_stop.set()
            elif not stop.is_set() and not hard_stop.is_set():
                self.violations.add(f"client {self.cid}: connection failed before the kill: {e!r}")
                hard_stop.set()
        except Exception:  # a bug here must not pass for a quiet client
            self.violations.add(f"client {self.cid} crashed:\n{traceback.format_exc()}")
            hard_stop.set()
        finally:
            for op in pending:
                op.state = "unknown"
                self.unknown += 1
                for ev in op.events:
                    ev.stream.needs_resync = True
            if conn:
                conn.close()


class Model:
    """What the clients sent. Ops stay here from the cycle that sent them until the check after
    the next restart has settled them; older history lives only in the checker's page logs."""

    def __init__(self):
        self.streams = []
        self.ops = []  # this cycle's ops
        self.next_oid = 0
        self.by_eid = {}  # event id -> Ev (client-chosen ids, and server ids once acked)
        self.by_payload = {}  # digest(stream, payload) -> Ev, events with a server-chosen id
        self.dead = {}  # event id / payload digest -> description, in-flight events found absent
        self.lock = threading.Lock()

    def new_stream(self, name, key, kind, cid, partitions):
        assert len(name.encode()) <= 64, name
        explicit = key is not None
        key = key or default_partition_key(name)
        pid = partition_hash(key) % partitions
        s = Stream(name, str(key), pid, explicit, kind, cid)
        self.streams.append(s)
        return s

    def new_op(self, kind, cycle, cid, pid, pkey):
        with self.lock:
            op = Op(self.next_oid, kind, cycle, cid, pid, pkey)
            self.next_oid += 1
            self.ops.append(op)
        return op

    @staticmethod
    def payload_key(bname, payload):
        return hashlib.sha1(bname + b"\0" + payload).digest()

    def register(self):
        """Indexes this cycle's events (after the clients stopped)."""
        for op in self.ops:
            for ev in op.events:
                if ev.eid:
                    self.by_eid[ev.eid] = ev
                else:
                    self.by_payload[self.payload_key(ev.stream.bname, ev.payload)] = ev

    def index_acked_id(self, ev):
        with self.lock:
            self.by_eid[ev.ack["event_id"]] = ev

    def settle(self):
        """After a check: forget this cycle's ops, remembering the in-flight ones found absent."""
        for op in self.ops:
            if op.state == "absent":
                for ev in op.events:
                    what = f"in-flight op {op.oid} of cycle {op.cycle} ({ev.stream.name!r})"
                    if ev.eid:
                        self.dead[ev.eid] = what
                    else:
                        self.dead[self.payload_key(ev.stream.bname, ev.payload)] = what
        self.ops = []
        self.by_eid = {}
        self.by_payload = {}
        for s in self.streams:
            s.sent = []


# ------------------------------------------------------------------------------------------
# server process
# ------------------------------------------------------------------------------------------

def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    def __init__(self, binary, workdir, flags):
        self.binary = binary
        self.workdir = workdir
        self.datadir = os.path.join(workdir, "data")
        self.log_path = os.path.join(workdir, "server.log")
        self.flags = flags
        self.proc = None
        self.port = None
        os.makedirs(os.path.join(workdir, "xdg"), exist_ok=True)
        self.env = {k: v for k, v in os.environ.items() if not k.startswith("SIERRA_")}
        self.env["XDG_CONFIG_HOME"] = os.path.join(workdir, "xdg")  # no user sierra.toml

    def spawn(self):
        self.port = free_port()
        log = open(self.log_path, "ab")
        log.write(b"===== start on port %d =====\n" % self.port)
        log.flush()
        self.log_offset = log.tell()
        self.proc = subprocess.Popen(
            [self.binary, "--dir", self.datadir, "--client-address", f"127.0.0.1:{self.port}",
             *self.flags], stdout=log, stderr=subprocess.STDOUT, cwd=self.workdir, env=self.env)
        log.close()

    def logged_ready(self):
        """The log line of this start saying it listens on our port (so that a PONG is not
        from some other process that happens to hold the port)."""
        with open(self.log_path, "rb") as f:
            f.seek(self.log_offset)
            return b"ready to receive connections on 127.0.0.1:%d " % self.port in f.read()

    def wait_ready(self, timeout=60.0):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                return False
            if not self.logged_ready():
                time.sleep(0.005)
                continue
            try:
                c = Conn(self.port, timeout=2.0)
                try:
                    if c.call("PING") == "PONG":
                        return True
                finally:
                    c.close()
            except (OSError, ConnectionError):
                pass
            time.sleep(0.01)
        return False

    def start(self):
        """Starts the server and waits for PING; returns seconds taken. Retries a taken port."""
        for _ in range(5):
            t0 = time.monotonic()
            self.spawn()
            if self.wait_ready():
                return time.monotonic() - t0
            if self.proc.poll() is None:
                raise RuntimeError("server did not log 'ready to receive connections on "
                                   "127.0.0.1:<port>' and answer PING within 60 s")
            if b"in use" not in self.log_tail(2000).lower():
                raise RuntimeError(f"server exited with status {self.proc.returncode} at start-up")
        raise RuntimeError("could not start the server (ports taken)")

    def kill(self):
        if self.proc and self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGKILL)
        if self.proc:
            self.proc.wait()

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def stop(self):
        """SIGTERM and wait for a clean exit; returns the exit status."""
        if not self.alive():
            return self.proc.returncode if self.proc else 0
        self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.kill()
            return "timeout"

    def log_tail(self, nbytes=6000):
        try:
            with open(self.log_path, "rb") as f:
                f.seek(0, 2)
                f.seek(max(0, f.tell() - nbytes))
                return f.read()
        except OSError:
            return b""


# ------------------------------------------------------------------------------------------
# checker
# ------------------------------------------------------------------------------------------

def digest(raw):
    return hashlib.blake2b(raw, digest_size=8).digest()


class PageLog:
    """Byte-exact memory of a verified scan (EPSCAN of a partition or ESCAN of a stream) in pages
    of SCAN_PAGE events aligned at 0: per page the event count, the byte count, a running SHA-1
    of the events' bytes and an 8-byte digest of each event (to name the one that changed)."""

    def __init__(self):
        self.pages = []  # [count, nbytes, sha1, bytearray of per-event digests]
        self.total = 0

    def add(self, raw):
        if not self.pages or self.pages[-1][0] == SCAN_PAGE:
            self.pages.append([0, 0, hashlib.sha1(), bytearray()])
        page = self.pages[-1]
        page[0] += 1
        page[1] += len(raw)
        page[2].update(raw)
        page[3] += digest(raw)
        self.total += 1

    def room(self):
        """How many events the next scan page may ask for to stay aligned."""
        return SCAN_PAGE - (self.total % SCAN_PAGE)


class CheckAborted(Exception):
    """A verified range changed (already reported); the connection's framing is lost."""


class Checker:
    """Checks the data after a restart. Each cycle it reads every partition and every stream from
    0: the ranges verified by earlier checks must come back byte for byte (PageLog), the new
    events are parsed and checked one by one against what the clients sent."""

    def __init__(self, model, partitions, violations, rng):
        self.model = model
        self.partitions = partitions
        self.v = violations
        self.rng = rng
        self.plogs = [PageLog() for _ in range(partitions)]

    def fail(self, msg):
        self.v.add(msg)

    def verify_old(self, port, conn, log, cmd, what):
        """Reads log's range again in its pages (pipelined) and compares the bytes."""
        if not log.total:
            return
        reqs = []
        for i, page in enumerate(log.pages):
            start = i * SCAN_PAGE
            reqs.append(encode(cmd[0], cmd[1], start, start + page[0] - 1, *cmd[2:], "COUNT",
                               page[0]))
        conn.send(b"".join(reqs))
        for i, page in enumerate(log.pages):
            try:
                raw = conn.r.scan_reply_bulk(page[0], page[1])
            except RespReplyError as e:
                raise RuntimeError(f"{what}: {cmd[0]} of the verified range from "
                                   f"{i * SCAN_PAGE}: {e}") from None
            if raw is None or hashlib.sha1(raw).digest() != page[2].digest():
                self.explain_change(port, log, i, cmd, what)
                raise CheckAborted()

    def explain_change(self, port, log, i, cmd, what):
        start = i * SCAN_PAGE
        page = log.pages[i]
        c = Conn(port, timeout=120.0)
        try:
            c.send(encode(cmd[0], cmd[1], start, start + page[0] - 1, *cmd[2:], "COUNT", page[0]))
            _, events = c.r.scan_reply()
        finally:
            c.close()
        unit = "sequence" if cmd[0] == "EPSCAN" else "version"
        for j in range(page[0]):
            if j >= len(events):
                self.fail(f"{what}: {unit} {start + j} (verified by an earlier check) is GONE; "
                          f"{cmd[0]} of {unit}s {start}..{start + page[0] - 1} now returns "
                          f"{len(events)} events instead of {page[0]}")
                return
            e, raw = events[j]
            if digest(raw) != bytes(page[3][8 * j:8 * j + 8]):
                self.fail(f"{what}: {unit} {start + j} changed since an earlier check verified "
                          f"it; now: event {e.get('event_id')} stream {e.get('stream_id')!r} "
                          f"version {e.get('stream_version')} sequence "
                          f"{e.get('partition_sequence')} payload {len(e.get('payload') or b'')} B")
                return
        self.fail(f"{what}: {cmd[0]} of {unit}s {start}..{start + page[0] - 1} returns "
                  f"{len(events)} events (expected {page[0]}) but its bytes differ")

    def scan_new(self, conn, log, cmd):
        """Parses everything after log's range; returns [(event, raw)] (not yet added to log)."""
        out = []
        nxt = log.total
        room = log.room()
        while True:
            conn.send(encode(cmd[0], cmd[1], nxt, "+", *cmd[2:], "COUNT", room))
            try:
                has_more, events = conn.r.scan_reply()
            except RespReplyError as e:
                raise RuntimeError(f"{' '.join(map(str, cmd))} from {nxt}: {e}") from None
            out.extend(events)
            if not events or not has_more:
                return out
            nxt += len(events)
            room = SCAN_PAGE

    def escan_new(self, port, conn, s, new, what):
        """ESCAN of the stream's new versions must return the very bytes EPSCAN returned for
        them (in pages aligned like s.log), and nothing after them."""
        key = s.key_args()
        chunks = []
        i, room = 0, s.log.room()
        while i < len(new):
            n = min(room, len(new) - i)
            chunks.append((s.count + i, b"".join(raw for _, raw in new[i:i + n]), n))
            i += n
            room = SCAN_PAGE
        end = s.count + len(new)
        conn.send(b"".join(encode("ESCAN", s.name, a, a + n - 1, *key, "COUNT", n)
                           for a, _, n in chunks)
                  + encode("ESCAN", s.name, end, "+", *key, "COUNT", 1))
        for a, want, n in chunks:
            try:
                got = conn.r.scan_reply_bulk(n, len(want))
            except RespReplyError as e:
                raise RuntimeError(f"{what}: ESCAN from version {a}: {e}") from None
            if got != want:
                c = Conn(port, timeout=120.0)
                try:
                    log = PageLog()
                    log.total = s.count
                    scanned = self.scan_new(c, log, ("ESCAN", s.name, *key))
                finally:
                    c.close()
                x = [(e["stream_version"], e["partition_sequence"], e["event_id"])
                     for e, _ in scanned]
                y = [(e["stream_version"], e["partition_sequence"], e["event_id"])
                     for e, _ in new]
                d = next((j for j, (p, q) in enumerate(zip(x, y)) if p != q), min(len(x), len(y)))
                self.fail(f"{what}: ESCAN from version {s.count} ({len(x)} events) differs from "
                          f"EPSCAN ({len(y)}) at position {d}: ESCAN {x[d:d + 2]} vs EPSCAN "
                          f"{y[d:d + 2]}" + ("" if x != y else " (same ids, other bytes)"))
                raise CheckAborted()
        try:
            _, extra = conn.r.scan_reply()
        except RespReplyError as e:
            raise RuntimeError(f"{what}: ESCAN from version {end}: {e}") from None
        if extra:
            e = extra[0][0]
            self.fail(f"{what}: ESCAN shows version {e['stream_version']} (event {e['event_id']}, "
                      f"sequence {e['partition_sequence']}) that EPSCAN of partition {s.pid} "
                      f"does not")

    def check(self, port, cycle, reread=True):
        """reread=False skips re-reading the ranges verified by earlier checks."""
        conn = Conn(port, timeout=120.0)
        try:
            return self._check(port, conn, cycle, reread)
        except CheckAborted:
            return None
        finally:
            conn.close()

    def _check(self, port, conn, cycle, reread):
        m = self.model

        # 1. every partition from sequence 0: the verified range byte for byte, then the new events
        new_by_stream = {}  # (pid, stream bytes) -> [(event, raw)] new this cycle, sequence order
        new_pages = []  # (log, raws) to record once everything checked out
        seen_ids = {}
        n_old = n_new = 0
        for p in range(self.partitions):
            log = self.plogs[p]
            if reread:
                self.verify_old(port, conn, log, ("EPSCAN", p), f"partition {p}")
                n_old += log.total
            events = self.scan_new(conn, log, ("EPSCAN", p))
            seq = conn.call("EPSEQ", p)
            total = log.total + len(events)
            for i, (e, _) in enumerate(events):
                if e["partition_sequence"] != log.total + i:
                    self.fail(f"partition {p}: expected sequence {log.total + i} at that place of "
                              f"the EPSCAN, got {e['partition_sequence']} (gap or duplicate; "
                              f"event {e['event_id']} stream {e['stream_id']!r})")
                    break
            if (seq is None and total) or (seq is not None and seq != total - 1):
                self.fail(f"partition {p}: EPSEQ {seq!r} but EPSCAN returned {total} events")
            for e, raw in events:
                n_new += 1
                if e["partition_id"] != p:
                    self.fail(f"partition {p}: event {e['event_id']} says partition "
                              f"{e['partition_id']}")
                if e["event_id"] in seen_ids:
                    self.fail(f"event id {e['event_id']} stored twice: partition {p} sequence "
                              f"{e['partition_sequence']} and {seen_ids[e['event_id']]}")
                seen_ids[e["event_id"]] = f"partition {p} sequence {e['partition_sequence']}"
                new_by_stream.setdefault((p, e["stream_id"]), []).append((e, raw))
            new_pages.append((log, [raw for _, raw in events]))

        raws = {e["event_id"]: raw for events in new_by_stream.values() for e, raw in events}

        # 2. each new event is one that was sent this cycle, byte for byte
        for events in new_by_stream.values():
            for e, _ in events:
                self.match(e)

        # 3. this cycle's acknowledged events are all there; in-flight ops are all or nothing
        new_events = []
        resolved = {"present": 0, "absent": 0}
        tx_owner = {}
        for op in m.ops:
            n_found = sum(1 for ev in op.events if ev.found is not None)
            if op.state == "acked":
                for ev in op.events:
                    if ev.found is None:
                        self.fail(f"MISSING after restart (cycle {cycle}): {ev.describe()}")
            elif op.state == "unknown":
                if 0 < n_found < len(op.events):
                    self.fail(f"PARTIAL in-flight {op.kind} op {op.oid} (cycle {op.cycle}): "
                              f"{n_found} of {len(op.events)} events visible: " + "; ".join(
                                  ("FOUND " if ev.found else "absent ") + ev.describe()
                                  for ev in op.events))
                op.state = "present" if n_found == len(op.events) else "absent"
                resolved[op.state] += 1
            new_events.extend(ev for ev in op.events if ev.found is not None or ev.eid)
            if n_found == len(op.events) and op.events:
                found = [ev.found for ev in op.events]
                txs = {f["transaction_id"] for f in found}
                seqs = [f["partition_sequence"] for f in found]
                if len(txs) != 1:
                    self.fail(f"op {op.oid} ({op.kind}): its events carry transaction ids {txs}")
                elif seqs != list(range(seqs[0], seqs[0] + len(seqs))):
                    self.fail(f"op {op.oid} ({op.kind}): sequences {seqs} not consecutive in "
                              f"request order (partition {op.pid})")
                else:
                    tx = txs.pop()
                    if tx_is_single(tx) != (len(op.events) == 1):
                        self.fail(f"op {op.oid}: transaction id {tx} single-event bit wrong for "
                                  f"{len(op.events)} events")
                    if tx in tx_owner:
                        self.fail(f"transaction id {tx} shared by ops {tx_owner[tx]} and {op.oid}")
                    tx_owner[tx] = op.oid

        # 4. streams: from version 0, verified range byte for byte, new versions gapless and in
        # the order the owner sent them, ESCAN == what EPSCAN holds, ESVER
        esvers = conn.pipeline([("ESVER", s.name, *s.key_args()) for s in m.streams])
        stream_pages = []
        for s, ver in zip(m.streams, esvers):
            what = f"stream {s.name!r} (partition {s.pid})"
            if reread:
                self.verify_old(port, conn, s.log, ("ESCAN", s.name, *s.key_args()), what)
            if s.log.total != s.count:
                self.fail(f"{what}: the checker's page log holds {s.log.total} events, count "
                          f"{s.count}")
            new = new_by_stream.pop((s.pid, s.bname), [])
            vers = [e["stream_version"] for e, _ in new]
            if vers != list(range(s.count, s.count + len(new))):
                bad = next(i for i, x in enumerate(vers) if x != s.count + i)
                e = new[bad][0]
                self.fail(f"{what}: new events in sequence order should have versions "
                          f"{s.count}..{s.count + len(new) - 1}; position {bad} has version "
                          f"{vers[bad]} (sequence {e['partition_sequence']}, event "
                          f"{e['event_id']})")
            total = s.count + len(new)
            if ver != (total - 1 if total else None):
                self.fail(f"{what}: ESVER {ver!r}, EPSCAN holds {total} events")
            self.escan_new(port, conn, s, new, what)
            # the owner's appends, in send order, got versions count, count+1, ...
            present = [ev for ev in s.sent if ev.found is not None]
            got = [ev.found["stream_version"] for ev in present]
            if got != list(range(s.count, s.count + len(got))):
                bad = next((i for i, x in enumerate(got) if x != s.count + i), len(got) - 1)
                self.fail(f"{what}: present event #{bad} of this cycle in send order has version "
                          f"{got[bad]} (expected {s.count + bad}): {present[bad].describe()}")
            # one connection's in-flight appends to one stream: what survived is a prefix
            gap = None
            for ev in s.sent:
                if ev.op.state == "absent":
                    gap = gap or ev
                elif ev.op.state == "present" and gap is not None:
                    self.fail(f"{what}: in-flight append survived although an earlier in-flight "
                              f"append on the same connection did not: survived "
                              f"{ev.describe()}; lost {gap.describe()}")
                    break
            stream_pages.append((s, [raw for _, raw in new]))
        for (p, sid), events in new_by_stream.items():  # (all are phantoms, reported in step 2)
            self.fail(f"stream {sid!r} (partition {p}) holds {len(events)} events and no client "
                      f"owns it")

        # 5. EGET: every event of this cycle (nil for in-flight ones found absent) ...
        targets = [(ev.found["event_id"] if ev.found else ev.eid, ev) for ev in new_events]
        for i in range(0, len(targets), 500):
            chunk = targets[i:i + 500]
            conn.send(b"".join(encode("EGET", eid) for eid, _ in chunk))
            for eid, ev in chunk:
                r, raw = conn.r.reply_raw()
                if ev.found is None:
                    if r is not None:
                        self.fail(f"EGET {eid} returns an event that no scan shows: "
                                  f"{ev.describe()}")
                elif raw != raws[eid]:
                    self.fail(f"EGET {eid} differs from EPSCAN: got {r!r:.300}, scan "
                              f"{ev.found!r:.300}; {ev.describe()}")
        # ... and a sample of older ones, compared byte for byte with what EPSCAN returns
        olds = [(p, self.rng.randrange(self.plogs[p].total)) for p in
                self.rng.choices(range(self.partitions), k=300) if self.plogs[p].total]
        conn.send(b"".join(encode("EPSCAN", p, q, q, "COUNT", 1) for p, q in olds))
        picked = []
        for p, q in olds:
            _, events = conn.r.scan_reply()
            if len(events) != 1:
                self.fail(f"EPSCAN {p} {q} {q} returned {len(events)} events")
                continue
            picked.append((p, q, events[0]))
        conn.send(b"".join(encode("EGET", e["event_id"]) for _, _, (e, _) in picked))
        for p, q, (e, raw) in picked:
            r, got = conn.r.reply_raw()
            if got != raw:
                self.fail(f"EGET {e['event_id']} (partition {p} sequence {q}) differs from EPSCAN: "
                          f"got {r!r:.300}")

        # all good so far: the new ranges become part of the verified ranges
        for log, raws in new_pages:
            for raw in raws:
                log.add(raw)
        for s, raws in stream_pages:
            for raw in raws:
                s.log.add(raw)
            s.count = s.log.total
        return {"old": n_old, "new": n_new, "present": resolved["present"],
                "absent": resolved["absent"], "egets": len(targets) + len(picked)}

    def match(self, e):
        m = self.model
        where = (f"event {e['event_id']} (partition {e['partition_id']} sequence "
                 f"{e['partition_sequence']}, stream {e['stream_id']!r} version "
                 f"{e['stream_version']})")
        ev = m.by_eid.get(e["event_id"])
        pkey = None
        if ev is None:
            pkey = m.payload_key(e["stream_id"], e["payload"])
            ev = m.by_payload.get(pkey)
        if ev is None:
            dead = m.dead.get(e["event_id"]) or m.dead.get(pkey)
            if dead:
                self.fail(f"RESURRECTED: {where} is {dead}, which an earlier restart showed absent")
            else:
                self.fail(f"phantom: {where} matches nothing a client sent this cycle")
            return
        if ev.found is not None:
            self.fail(f"duplicate: {where} and event {ev.found['event_id']} are both "
                      f"{ev.describe()}")
            return
        ev.found = e
        problems = []
        if e["stream_id"] != ev.stream.bname:
            problems.append(f"stream_id {e['stream_id']!r}")
        if e["event_name"] != ev.name:
            problems.append(f"event_name {e['event_name']!r}")
        if e["payload"] != ev.payload:
            problems.append(f"payload ({len(e['payload'])} B, sent {len(ev.payload)} B)")
        if e["metadata"] != ev.metadata:
            problems.append(f"metadata {e['metadata']!r} (sent {ev.metadata!r})")
        if e["partition_key"] != ev.stream.pkey:
            problems.append(f"partition_key {e['partition_key']}")
        if e["partition_id"] != ev.stream.pid:
            problems.append(f"partition_id {e['partition_id']}")
        if ev.ts is not None and e["timestamp"] != ev.ts:
            problems.append(f"timestamp {e['timestamp']} (sent {ev.ts})")
        if ev.ack:
            for k, want in ev.ack.items():
                if e[k] != want:
                    problems.append(f"{k} {e[k]} (acknowledged {want})")
        if ev.op.state == "failed":
            problems.append("the append was answered with an error")
        if problems:
            self.fail(f"{where} differs from what was sent: {', '.join(problems)}; "
                      f"sent: {ev.describe()}")


# ------------------------------------------------------------------------------------------
# driver
# ------------------------------------------------------------------------------------------

def main():
    here = os.path.dirname(os.path.abspath(__file__))
    repo = os.path.dirname(os.path.dirname(here))
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--server", default=os.environ.get("SIERRADB",
                                                       os.path.join(repo, "build", "sierradb")))
    ap.add_argument("--cycles", type=int, default=int(os.environ.get("SOAK_CYCLES", "20")))
    ap.add_argument("--seed", type=int, default=None, help="default: env SOAK_SEED, else random")
    ap.add_argument("--clients", type=int, default=int(os.environ.get("SOAK_CLIENTS", "24")))
    ap.add_argument("--rate", type=float, default=float(os.environ.get("SOAK_RATE", "3000")),
                    help="appends per second, all clients together, except in the flat-out burst "
                         "of 0.05-0.3 s before each kill (0 = always flat out); the checker "
                         "re-reads everything each cycle, so this bounds its cost")
    ap.add_argument("--min-load", type=float, default=0.2, help="seconds of load before a kill")
    ap.add_argument("--max-load", type=float, default=1.5)
    ap.add_argument("--partitions", type=int, default=16)
    ap.add_argument("--buckets", type=int, default=4)
    ap.add_argument("--segment-size", type=int, default=262144)
    ap.add_argument("--recovery-kill-chance", type=float, default=0.15,
                    help="chance per cycle to also SIGKILL the server while it recovers")
    ap.add_argument("--term-first-chance", type=float, default=0.1,
                    help="chance per cycle to send SIGTERM 0-30 ms before the SIGKILL")
    ap.add_argument("--reread-every", type=int, default=1, metavar="K",
                    help="re-read the ranges verified before only every K cycles (and in the "
                         "last one); for very long soaks, since that re-read grows with the data")
    ap.add_argument("--keep", action="store_true", default=os.environ.get("SOAK_KEEP") == "1",
                    help="keep the data directory even when everything passes")
    args = ap.parse_args()

    seed = args.seed
    if seed is None:
        env_seed = os.environ.get("SOAK_SEED")
        seed = int(env_seed) if env_seed else random.randrange(1 << 31)
    binary = os.path.abspath(args.server)
    if not os.access(binary, os.X_OK):
        print(f"soak: server binary {binary} not found (build it first)", file=sys.stderr)
        return 2
    rng = random.Random(seed)
    workdir = tempfile.mkdtemp(prefix="sierradb-soak.")
    print(f"soak: seed {seed} (SOAK_SEED={seed} to repeat the choices; timing still varies), "
          f"{args.cycles} cycles, {args.clients} clients, {args.partitions} partitions, "
          f"{args.buckets} buckets, segment {args.segment_size} B, dir {workdir}", flush=True)

    server = Server(binary, workdir, ["--partitions", str(args.partitions), "--buckets",
                                      str(args.buckets), "--segment-size", str(args.segment_size),
                                      "--strict-versioning", "false", "--log-level", "info"])
    violations = Violations()
    model = Model()
    run_tag = "%x" % rng.getrandbits(24)
    clients = [Client(i, seed, run_tag, args.partitions, model, violations)
               for i in range(args.clients)]
    checker = Checker(model, args.partitions, violations, random.Random(seed + 1))
    t_start = time.monotonic()
    totals = {"acked": 0, "unknown": 0, "present": 0, "absent": 0}
    status = 0
    try:
        restart = server.start()
        print(f"soak: server up in {restart:.2f} s on port {server.port}", flush=True)
        for cycle in range(1, args.cycles + 1):
            stop, hard_stop = threading.Event(), threading.Event()
            load = rng.uniform(args.min_load, args.max_load)
            burst = min(load, rng.uniform(0.05, 0.3))
            t_load = time.monotonic()
            threads = [threading.Thread(target=c.run, daemon=True,
                                        args=(server.port, cycle, stop, hard_stop,
                                              args.rate / len(clients), t_load + load - burst))
                       for c in clients]
            for t in threads:
                t.start()
            hard_stop.wait(max(0.0, t_load + load - time.monotonic()))
            if not server.alive():
                violations.add(f"the server exited by itself during the load (status "
                               f"{server.proc.returncode})")
            stop.set()
            how = ""
            if rng.random() < args.term_first_chance and server.alive():
                delay = rng.uniform(0.0, 0.03)  # killed while shutting down cleanly
                server.proc.send_signal(signal.SIGTERM)
                time.sleep(delay)
                how = f" (SIGTERM {delay * 1000:.0f} ms before the SIGKILL)"
            server.kill()
            for t in threads:
                t.join(timeout=CLIENT_TIMEOUT + 10)
                if t.is_alive():
                    violations.add("a client thread did not finish after the kill")
                    raise SystemExit(1)
            model.register()
            acked = sum(c.acked for c in clients)
            unknown = sum(c.unknown for c in clients)
            totals["acked"] += acked
            totals["unknown"] += unknown
            if len(violations):
                break
            t0 = time.monotonic()
            note = ""
            if rng.random() < args.recovery_kill_chance:
                server.spawn()
                time.sleep(rng.uniform(0.0, 0.05))
                server.kill()
                note = " (killed once more during recovery)"
            restart = server.start()
            if note:
                restart = time.monotonic() - t0
            t1 = time.monotonic()
            reread = args.reread_every <= 1 or cycle % args.reread_every == 0 or \
                cycle == args.cycles
            stats = checker.check(server.port, cycle, reread)
            if stats is None or len(violations):
                break
            model.settle()
            totals["present"] += stats["present"]
            totals["absent"] += stats["absent"]
            print(f"cycle {cycle}/{args.cycles}: load {load:.2f} s{how}, acked {acked} appends, "
                  f"in flight at the kill {unknown} (survived {stats['present']}, lost "
                  f"{stats['absent']}), restart {restart:.2f} s{note}, check "
                  f"{time.monotonic() - t1:.2f} s ({stats['old']} events re-read, "
                  f"{stats['new']} new, {stats['egets']} EGETs)", flush=True)
        if not len(violations):
            # the clients' resync (ESVER) for the last cycle's in-flight streams, then a clean stop
            stop, hard_stop = threading.Event(), threading.Event()
            stop.set()
            for c in clients:
                c.run(server.port, args.cycles + 1, stop, hard_stop)
            rc = server.stop()
            if rc != 0:
                violations.add(f"server exited with {rc} after SIGTERM (expected 0)")
            # and the offline verifier agrees with what the checker saw
            chk = subprocess.run([binary, "check", server.datadir], capture_output=True,
                                 text=True, timeout=600)
            if chk.returncode != 0:
                violations.add(f"`sierradb check {server.datadir}` exited {chk.returncode}:\n"
                               f"{chk.stdout[-3000:]}{chk.stderr[-3000:]}")
    except (RuntimeError, OSError, ConnectionError) as e:
        violations.add(f"{type(e).__name__}: {e} (the server stopped answering, answered an "
                       f"error, or could not start)")
    except Exception:
        violations.add(f"soak driver crashed:\n{traceback.format_exc()}")
    finally:
        server.kill()
    elapsed = time.monotonic() - t_start
    if len(violations):
        status = 1
        print(f"----- server log ({server.log_path}, tail) -----\n"
              f"{server.log_tail().decode('utf-8', 'replace')}\n----- end of server log -----",
              file=sys.stderr)
        print(f"soak: FAILED with {len(violations)} violation(s) after {elapsed:.1f} s "
              f"(seed {seed}); data directory kept: {server.datadir}", file=sys.stderr)
        for msg in violations.items[:20]:
            print(f"  - {msg}", file=sys.stderr)
    else:
        print(f"soak: PASS, {args.cycles} cycles in {elapsed:.1f} s (seed {seed}): "
              f"{totals['acked']} acked appends, {totals['unknown']} in flight at a kill "
              f"({totals['present']} survived, {totals['absent']} lost), all checks held",
              flush=True)
        if args.keep:
            print(f"soak: data directory kept: {server.datadir}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)
    return status


if __name__ == "__main__":
    sys.exit(main())
