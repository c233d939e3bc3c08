#!/usr/bin/env python3
"""Idempotent appends across a kill -9 (issue 14).

Clients (threads, one connection each, pipelining 1..4 requests) append with their OWN event ids
(EVENT_ID): EAPPEND with an exact EXPECTED_VERSION to streams they own, and EMAPPEND of two
streams under one partition key, also with exact versions. The server (small segments, so the
originals end up in closed segments too) is SIGKILLed mid-load, by PID; requests without a reply
have an unknown outcome. After the restart each client retries every such request, unchanged
and in order: a request that was committed must come back with its original result (same
versions and sequences, its exact expected version notwithstanding), one that was not is
written now. Repeated for several cycles; then, for every stream and partition:
  - every id a client sent is present exactly once, with the version/sequence its reply named;
  - stream versions 0..n-1 and partition sequences 0..n-1, no gaps, no duplicates;
  - nothing is stored that no client sent.
Also: every retry after the restart of an append acknowledged before it is a retry too (the
original result); EAPPEND/EMAPPEND retries and DUPLICATE replies at the protocol level; and
concurrent conflicting appends on hot streams, where each WRONGVER must be followed (same
connection, after it arrived) by an ESVER of at least the version it named. Exits 1 on any violation, printing its seed (--seed repeats the choices).
"""
import argparse
import os
import random
import shutil
import sys
import tempfile
import threading
import time
import uuid

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "soak"))
import soak  # noqa: E402  (RESP client, server process, id helpers)

RespError = soak.RespError


class Op:
    def __init__(self, args, events):
        self.args = args        # the exact command, resent unchanged on retry
        self.events = events    # [(stream, event id, expected next version)]
        self.reply = None


class Client:
    def __init__(self, cid, rng, tag, violations):
        self.cid = cid
        self.rng = rng
        self.violations = violations
        self.streams = [f"{tag}-c{cid}-s{i}" for i in range(2)]
        self.group_key = str(uuid.UUID(int=rng.getrandbits(128)))
        self.group = [f"{tag}-c{cid}-g{i}" for i in range(2)]
        self.next_ver = {s: 0 for s in self.streams + self.group}
        self.ops = []        # every op sent, in order
        self.unknown = []    # ops whose reply was lost
        self.recovered = 0   # of those, retries answered with a result from before the kill

    @staticmethod
    def expectation(v):
        return "empty" if v == 0 else str(v - 1)

    def new_op(self):
        rng = self.rng
        if rng.random() < 0.6:
            s = rng.choice(self.streams)
            eid = soak.make_event_id(rng, soak.partition_hash(soak.default_partition_key(s)))
            v = self.next_ver[s]
            self.next_ver[s] += 1
            args = ["EAPPEND", s, "ev", "EVENT_ID", eid, "EXPECTED_VERSION", self.expectation(v),
                    "PAYLOAD", rng.randbytes(rng.randint(0, 600))]
            return Op(args, [(s, eid, v)])
        key = uuid.UUID(self.group_key)
        args = ["EMAPPEND", self.group_key]
        events = []
        for s in self.group:
            eid = soak.make_event_id(rng, soak.partition_hash(key))
            v = self.next_ver[s]
            self.next_ver[s] += 1
            args += [s, "mev", "EVENT_ID", eid, "EXPECTED_VERSION", self.expectation(v),
                     "PAYLOAD", rng.randbytes(rng.randint(0, 300))]
            events.append((s, eid, v))
        return Op(args, events)

    def check_reply(self, op, reply, when):
        if isinstance(reply, RespError) or not isinstance(reply, dict):
            self.violations.append(f"client {self.cid}: {when} {op.args[0]} of "
                                   f"{[e[1] for e in op.events]} answered {reply!r}")
            return
        if op.args[0] == "EAPPEND":
            got = [(reply.get("event_id"), reply.get("stream_version"))]
        else:
            got = [(e.get("event_id"), e.get("stream_version")) for e in reply.get("events", [])]
        want = [(eid, v) for _, eid, v in op.events]
        if got != want:
            self.violations.append(f"client {self.cid}: {when} reply {got} != sent {want}")
        if op.reply is not None and op.reply != reply:
            self.violations.append(f"client {self.cid}: retry of an acknowledged append gave "
                                   f"{reply!r}, the original reply was {op.reply!r}")
        op.reply = reply

    def load(self, port, stop):
        """Appends until the connection dies (the kill); remembers what got no reply."""
        try:
            conn = soak.Conn(port, timeout=30.0)
        except OSError:
            return
        try:
            while not stop.is_set():
                batch = [self.new_op() for _ in range(self.rng.choice([1, 1, 2, 4]))]
                self.ops += batch
                self.unknown += batch
                conn.send(b"".join(soak.encode(*op.args) for op in batch))
                for op in batch:
                    self.check_reply(op, conn.reply(), "first")
                    self.unknown.remove(op)
        except (OSError, ConnectionError):
            pass
        finally:
            conn.close()

    def retry_unknown(self, port, with_acked, killed_at_ms):
        """Resends every append without a reply, in order, one at a time; and, to check that
        a retry of a committed append is answered with its original result, a few acked ones."""
        conn = soak.Conn(port, timeout=30.0)
        try:
            for op in list(self.unknown):
                reply = conn.call(*op.args)
                self.check_reply(op, reply, "retried")
                # The original result of an append committed before the kill carries its
                # timestamp, older than the kill; a fresh write now gets a newer one.
                ts = reply.get("timestamp") if op.args[0] == "EAPPEND" and isinstance(
                    reply, dict) else None
                if ts is None and isinstance(reply, dict) and reply.get("events"):
                    ts = reply["events"][0].get("timestamp")
                if ts is not None and ts <= killed_at_ms:
                    self.recovered += 1
                self.unknown.remove(op)
            acked = [op for op in self.ops if op.reply is not None]
            for op in self.rng.sample(acked, min(with_acked, len(acked))):
                self.check_reply(op, conn.call(*op.args), "re-sent")
        finally:
            conn.close()


def check_semantics(port, rng, violations):
    """The protocol face of retries and duplicates, on a fresh server."""
    conn = soak.Conn(port, timeout=30.0)
    try:
        s = "semantics-%x" % rng.getrandbits(32)
        eid = soak.make_event_id(rng, soak.partition_hash(soak.default_partition_key(s)))
        cmd = ["EAPPEND", s, "ev", "EVENT_ID", eid, "EXPECTED_VERSION", "empty", "PAYLOAD", "p"]
        first = conn.call(*cmd)
        again = conn.call(*cmd)
        if not isinstance(first, dict) or again != first:
            violations.append(f"EAPPEND retry: first {first!r}, retry {again!r}")
        other = conn.call("EAPPEND", s, "ev", "EVENT_ID", eid, "EXPECTED_VERSION", "0",
                          "PAYLOAD", "other")
        want = f"DUPLICATE event id {eid} already exists"
        if not isinstance(other, RespError) or other.text != want:
            violations.append(f"EAPPEND reusing an id with another payload: {other!r}, "
                              f"expected -{want}")
        key = str(uuid.UUID(int=rng.getrandbits(128)))
        ids = [soak.make_event_id(rng, soak.partition_hash(uuid.UUID(key))) for _ in range(3)]
        m = ["EMAPPEND", key, s + "-a", "e1", "EVENT_ID", ids[0], "EXPECTED_VERSION", "empty",
             "PAYLOAD", "x",
             s + "-b", "e2", "EVENT_ID", ids[1], "EXPECTED_VERSION", "empty"]
        m1 = conn.call(*m)
        m2 = conn.call(*m)
        if not isinstance(m1, dict) or m2 != m1:
            violations.append(f"EMAPPEND retry: first {m1!r}, retry {m2!r}")
        part = conn.call("EMAPPEND", key, s + "-b", "e2", "EVENT_ID", ids[1],
                         "EXPECTED_VERSION", "0")
        if not isinstance(part, RespError) or not part.text.startswith("DUPLICATE "):
            violations.append(f"EMAPPEND of part of another transaction: {part!r}")
        twice = conn.call("EMAPPEND", key, s + "-c", "e", "EVENT_ID", ids[2],
                          "EXPECTED_VERSION", "empty", s + "-c", "e", "EVENT_ID", ids[2],
                          "EXPECTED_VERSION", "0")
        if not isinstance(twice, RespError) or not twice.text.startswith("DUPLICATE "):
            violations.append(f"EMAPPEND naming one id twice: {twice!r}")
        n = conn.call("ESVER", s + "-c", "PARTITION_KEY", key)
        if n is not None:
            violations.append(f"a refused EMAPPEND wrote stream {s}-c (ESVER {n!r})")
    finally:
        conn.close()


def check_rejections_visible(port, rng, violations, threads=8, appends=150):
    """Concurrent conflicting appends on hot streams: after each WRONGVER (read once it has
    arrived, on the same connection), ESVER must show at least the version it named."""
    hot = ["hot-%x-%d" % (rng.getrandbits(24), i) for i in range(2)]
    counts = {"rejections": 0}
    lock = threading.Lock()

    def worker(seed):
        r = random.Random(seed)
        conn = soak.Conn(port, timeout=30.0)
        known = {s: None for s in hot}
        deadline = time.monotonic() + 60
        try:
            for _ in range(appends):
                if time.monotonic() > deadline:
                    break
                s = r.choice(hot)
                v = known[s]
                reply = conn.call("EAPPEND", s, "ev", "EXPECTED_VERSION",
                                  "empty" if v is None else str(v), "PAYLOAD", "x")
                if isinstance(reply, dict):
                    known[s] = reply["stream_version"]
                    continue
                if not isinstance(reply, RespError) or not reply.text.startswith("WRONGVER "):
                    with lock:
                        violations.append(f"hot append answered {reply!r}")
                    return
                named = reply.text.split("current stream version is ")[1].split(" ")[0]
                seen = conn.call("ESVER", s)
                with lock:
                    counts["rejections"] += 1
                    if named != "empty" and (seen is None or seen < int(named)):
                        violations.append(f"WRONGVER named version {named} of {s}, the next "
                                          f"ESVER on the connection said {seen!r}")
                known[s] = None if named == "empty" else int(named)
        finally:
            conn.close()

    ts = [threading.Thread(target=worker, args=(rng.getrandbits(32),)) for _ in range(threads)]
    for t in ts:
        t.start()
    for t in ts:
        t.join(timeout=120)
    if counts["rejections"] == 0:
        violations.append("no WRONGVER among the concurrent hot-stream appends")
    print(f"retry_crash: {counts['rejections']} WRONGVER rejections, each followed by ESVER",
          flush=True)


def scan_all(conn, cmd, first, extra):
    out = []
    start = 0
    for _ in range(100000):
        conn.send(soak.encode(cmd, first, start, "+", *extra, "COUNT", 1000))
        has_more, events = conn.r.scan_reply()
        out += [e for e, _ in events]
        if not has_more or not events:
            return out
        start = (events[-1][0]["partition_sequence"] if cmd == "EPSCAN"
                 else events[-1][0]["stream_version"]) + 1
    raise RuntimeError("scan did not end")


def verify(port, clients, violations):
    conn = soak.Conn(port, timeout=60.0)
    sent = {}
    for c in clients:
        for op in c.ops:
            for s, eid, v in op.events:
                sent[eid] = (s, v)
    pids = set()
    seen = {}
    for c in clients:
        streams = [(s, []) for s in c.streams] + [(s, ["PARTITION_KEY", c.group_key])
                                                   for s in c.group]
        for s, extra in streams:
            events = scan_all(conn, "ESCAN", s, extra)
            versions = [e["stream_version"] for e in events]
            if versions != list(range(len(events))):
                violations.append(f"stream {s}: versions {versions[:20]}... not 0..{len(events)-1}")
            if len(events) != c.next_ver[s]:
                violations.append(f"stream {s}: {len(events)} events, client sent {c.next_ver[s]}")
            for e in events:
                eid = e["event_id"]
                seen[eid] = seen.get(eid, 0) + 1
                pids.add(e["partition_id"])
                if sent.get(eid) != (s, e["stream_version"]):
                    violations.append(f"stream {s}: event {eid} at version {e['stream_version']}"
                                      f", sent as {sent.get(eid)}")
    for eid in sent:
        if seen.get(eid, 0) != 1:
            violations.append(f"event id {eid} present {seen.get(eid, 0)} times")
    for pid in sorted(pids):
        events = scan_all(conn, "EPSCAN", pid, [])
        seqs = [e["partition_sequence"] for e in events]
        if seqs != list(range(len(events))):
            violations.append(f"partition {pid}: sequences not gapless ({len(events)} events)")
        ids = [e["event_id"] for e in events]
        if len(set(ids)) != len(ids):
            violations.append(f"partition {pid}: an event id appears twice")
    conn.close()
    return len(sent)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--server", required=True)
    ap.add_argument("--cycles", type=int, default=4)
    ap.add_argument("--clients", type=int, default=6)
    ap.add_argument("--seed", type=int, default=int(os.environ.get("RETRY_SEED", "0")) or None)
    args = ap.parse_args()
    seed = args.seed if args.seed is not None else random.randrange(1 << 30)
    rng = random.Random(seed)
    workdir = tempfile.mkdtemp(prefix="sierradb-retry.")
    print(f"retry_crash: seed {seed} (--seed {seed} repeats the choices), {args.cycles} cycles, "
          f"{args.clients} clients, dir {workdir}", flush=True)
    server = soak.Server(os.path.abspath(args.server), workdir,
                         ["--partitions", "8", "--buckets", "2", "--segment-size", "131072",
                          "--log-level", "info"])
    violations = []
    tag = "%x" % rng.getrandbits(24)
    clients = [Client(i, random.Random(seed * 100 + i), tag, violations)
               for i in range(args.clients)]
    lost = 0
    try:
        server.start()
        check_semantics(server.port, rng, violations)
        check_rejections_visible(server.port, rng, violations)
        for cycle in range(args.cycles):
            stop = threading.Event()
            threads = [threading.Thread(target=c.load, args=(server.port, stop)) for c in clients]
            for t in threads:
                t.start()
            time.sleep(rng.uniform(0.3, 1.0))
            server.kill()  # SIGKILL by PID, mid-load
            killed_at_ms = int(time.time() * 1000)
            stop.set()
            for t in threads:
                t.join(timeout=60)
                if t.is_alive():
                    violations.append("a client did not notice the kill within 60 s")
                    return finish(server, workdir, violations, seed)
            lost += sum(len(c.unknown) for c in clients)
            server.start()
            for c in clients:
                c.retry_unknown(server.port, with_acked=3, killed_at_ms=killed_at_ms)
        total = verify(server.port, clients, violations)
        recovered = sum(c.recovered for c in clients)
        print(f"retry_crash: {total} events sent, {lost} appends retried after a kill, "
              f"{recovered} of them committed before it (answered with the original result)",
              flush=True)
        if lost == 0:
            violations.append("no append was in flight at any kill: the test tested nothing")
        status = server.stop()
        if status != 0:
            violations.append(f"server exited with {status} on SIGTERM")
    finally:
        server.kill()
    return finish(server, workdir, violations, seed)


def finish(server, workdir, violations, seed):
    server.kill()
    if violations:
        for v in violations[:30]:
            print("VIOLATION:", v, file=sys.stderr)
        print(f"retry_crash: FAILED with seed {seed}; data kept in {workdir}", file=sys.stderr)
        return 1
    shutil.rmtree(workdir, ignore_errors=True)
    print("retry_crash: OK", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
