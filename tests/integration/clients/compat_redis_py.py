#!/usr/bin/env python3
"""Client compatibility (issue #18): redis-py 4 (Debian python3-redis) against a real sierradb.

Drives every data command, binary and 1 MiB payloads, a pipeline of 100 and a reconnect after
a server restart, with the options SierraDB needs today (docs/CLIENTS.md): redis-py 4 has only a
RESP2 parser, so every connection sends `HELLO 2` first, and pipelines use transaction=False.
The suite starts its own server (127.0.0.1, free port, temporary directory, stopped by PID) from
SIERRA_SERVER_BIN, so it can restart it on the same directory.

Features the server does not have yet are separate test cases, skipped with the name of the
missing feature. Turn one on in FEATURES (or SIERRA_COMPAT_ENABLE=INFO_RESP2,...) when the server
side lands.
"""
import base64
import json
import os
import random
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import unittest
import uuid

FEATURES = {
    # INFO readable by a RESP2 parser without HELLO: redis-py's default info() (and ioredis 5).
    "INFO_RESP2": False,
    # MULTI/EXEC: redis-py's default pipeline() is a transaction.
    "MULTI_EXEC": False,
    # A blocking read: ESCAN/EPSCAN ... BLOCK <ms>.
    "BLOCKING_READ": True,
    # Subscription events through redis-py's PubSub (subscribe + get_message).
    "PASSTHROUGH_PUSH": True,
}
for _f in filter(None, os.environ.get("SIERRA_COMPAT_ENABLE", "").split(",")):
    if _f not in FEATURES:
        sys.exit(f"SIERRA_COMPAT_ENABLE: unknown feature {_f}")
    FEATURES[_f] = True


def needs(feature):
    return unittest.skipUnless(FEATURES[feature], f"server lacks {feature} (issue #18)")


try:
    import redis
except ImportError:  # pragma: no cover
    sys.exit("python3-redis is missing (run 'make deps'); interpreter: " + sys.executable)

BIN = os.environ.get("SIERRA_SERVER_BIN") or sys.exit("SIERRA_SERVER_BIN is not set (run.sh sets it)")
SEED = int(os.environ.get("SIERRA_COMPAT_SEED", str(random.SystemRandom().randrange(1 << 31))))
print(f"SIERRA_COMPAT_SEED={SEED}", flush=True)
NAMESPACE = uuid.UUID("219bd637-e279-53e9-9e2b-eabe5d9120cc")
PARTITIONS = 32
EXPLICIT_KEY = "550e8400-e29b-41d4-a716-446655440000"  # partition 25 (PROTOCOL §2.3)
EVENT_KEYS = ["event_id", "partition_key", "partition_id", "transaction_id", "partition_sequence",
              "stream_version", "timestamp", "stream_id", "event_name", "metadata", "payload"]
APPEND_KEYS = ["event_id", "partition_key", "partition_id", "partition_sequence", "stream_version",
               "timestamp"]
ALL_BYTES = bytes(range(256))


def key_of(stream):
    return str(uuid.uuid5(NAMESPACE, stream))


def partition_hash(key):
    return (uuid.UUID(str(key)).int >> 46) & 0xFFFF


def partition_of(key):
    return partition_hash(key) % PARTITIONS


def event_id_for(key, ms):
    """A v7-style id embedding the partition hash of `key` (PROTOCOL §2.4)."""
    b = bytearray(uuid.uuid4().bytes)
    b[0:6] = ms.to_bytes(6, "big")
    b[6] = 0x70 | (b[6] & 0x0F)
    h = partition_hash(key)
    b[8] = 0x80 | (h >> 10)
    b[9] = (h >> 2) & 0xFF
    b[10] = ((h & 3) << 6) | (b[10] & 0x3F)
    return str(uuid.UUID(bytes=bytes(b)))


_counter = iter(range(1 << 30))


def unique(prefix):
    return f"{prefix}-{SEED:x}-{next(_counter)}-{uuid.uuid4().hex[:8]}"


# ---------------------------------------------------------------------------- normalisation
# HELLO 2 replies: maps flattened to [k, v, ...], booleans 0/1, null None, strings bytes.
def s(v):
    return v.decode() if isinstance(v, bytes) else str(v)


def record(flat, keys):
    assert isinstance(flat, list) and len(flat) % 2 == 0, flat
    got = [s(k) for k in flat[0::2]]
    assert got == keys, f"keys {got} != {keys}"
    return dict(zip(got, flat[1::2]))


def as_event(flat):
    e = record(flat, EVENT_KEYS)
    for k in ("event_id", "partition_key", "transaction_id"):
        e[k] = s(e[k])
    for k in ("partition_id", "partition_sequence", "stream_version", "timestamp"):
        assert isinstance(e[k], int), (k, e[k])
    return e


def as_append(flat):
    a = record(flat, APPEND_KEYS)
    a["event_id"], a["partition_key"] = s(a["event_id"]), s(a["partition_key"])
    return a


def as_batch(flat):
    b = record(flat, ["has_more", "events"])
    assert b["has_more"] in (0, 1), b["has_more"]
    return {"has_more": bool(b["has_more"]), "events": [as_event(e) for e in b["events"]]}


def seeded_bytes(n, seed):
    return random.Random(seed).randbytes(n)


# ---------------------------------------------------------------------------- server
def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Server:
    """sierradb on 127.0.0.1:<free port> with a temporary directory; stopped by PID."""

    def __init__(self):
        self.dir = tempfile.mkdtemp(prefix="sierradb-compat-py-")
        self.port = None
        self.proc = None
        self.log = open(os.path.join(self.dir, "server.log"), "ab")

    def _ping(self):
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=0.5) as c:
                c.sendall(b"*1\r\n$4\r\nPING\r\n")
                return c.recv(64).startswith(b"+PONG")
        except OSError:
            return False

    def _spawn(self):
        self.proc = subprocess.Popen(
            [BIN, "--dir", os.path.join(self.dir, "data"), "--client-address",
             f"127.0.0.1:{self.port}", "--log-level", "info"],
            stdout=self.log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                return False
            if self._ping():
                return True
            time.sleep(0.05)
        raise RuntimeError(f"sierradb (pid {self.proc.pid}) did not answer PING within 10 s")

    def start(self):
        for _ in range(5):
            self.port = free_port()
            if self._spawn():
                return
        raise RuntimeError("sierradb did not start:\n" + self.tail())

    def restart(self):
        self.stop()
        if not self._spawn():
            raise RuntimeError("sierradb did not restart:\n" + self.tail())

    def stop(self):
        proc, self.proc = self.proc, None
        if proc is None:
            return
        if proc.poll() is not None:
            raise RuntimeError(f"sierradb had exited with status {proc.returncode}")
        os.kill(proc.pid, signal.SIGTERM)
        try:
            status = proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait()
            raise RuntimeError(f"sierradb (pid {proc.pid}) did not exit within 10 s of SIGTERM")
        if status != 0:
            raise RuntimeError(f"sierradb exited with status {status} after SIGTERM")

    def tail(self):
        self.log.flush()
        with open(os.path.join(self.dir, "server.log"), "rb") as f:
            return f.read()[-4000:].decode(errors="replace")

    def cleanup(self):
        self.log.close()
        shutil.rmtree(self.dir, ignore_errors=True)


class Hello2Connection(redis.Connection):
    """What redis-py 4 needs today: RESP2 replies, asked for on every (re)connect."""

    def on_connect(self):
        super().on_connect()
        self.send_command("HELLO", "2")
        reply = self.read_response()
        if not isinstance(reply, list):
            raise redis.ConnectionError(f"HELLO 2 failed: {reply!r}")


def client(port, **kw):
    pool = redis.ConnectionPool(connection_class=Hello2Connection, host="127.0.0.1", port=port,
                                socket_timeout=30, **kw)
    return redis.Redis(connection_pool=pool)


SERVER = None


def setUpModule():
    global SERVER
    SERVER = Server()
    SERVER.start()


def tearDownModule():
    try:
        SERVER.stop()
    finally:
        SERVER.cleanup()


class RedisPyCompat(unittest.TestCase):
    def setUp(self):
        self.r = client(SERVER.port)
        self.call = self.r.execute_command

    def tearDown(self):
        self.r.connection_pool.disconnect()

    def raw(self, *args):
        """The reply without redis-py's per-command parsing (its INFO parser wants text)."""
        conn = self.r.connection_pool.get_connection(args[0])
        try:
            conn.send_command(*args)
            return conn.read_response()
        finally:
            self.r.connection_pool.release(conn)

    def test_ping_echo_hello_info_client_setname(self):
        self.assertTrue(self.r.ping())
        self.assertEqual(self.r.echo("hello world"), b"hello world")
        hello = record(self.call("HELLO", "2"), ["server", "version", "peer_id", "num_partitions",
                                                 "proto", "id", "mode", "role", "modules"])
        self.assertEqual(hello["server"], b"sierradb")
        self.assertEqual(hello["num_partitions"], PARTITIONS)
        self.assertEqual(hello["proto"], 2)
        info = self.r.info()  # bulk string after HELLO 2, parsed by redis-py
        self.assertEqual(info["tcp_port"], SERVER.port)
        self.assertIn("sierradb_version", info)
        cache = record(self.raw("INFO", "CACHE"), ["hits", "misses", "hit_ratio", "entries",
                                                    "memory_bytes", "max_bytes", "block_size_bytes",
                                                    "evictions"])
        self.assertEqual(cache["block_size_bytes"], 65536)
        self.assertTrue(self.r.client_setname("compat-py"))
        self.assertEqual(self.r.client_getname(), "compat-py")  # redis-py decodes it itself

    def test_eappend_every_option_eget_esver_escan_epscan_epseq(self):
        stream, key, ts = unique("opts"), EXPLICIT_KEY, 1_700_000_000_123
        p = partition_of(key)
        eid = event_id_for(key, ts)
        a = as_append(self.call("EAPPEND", stream, "Created", "EVENT_ID", eid, "PARTITION_KEY", key,
                                "EXPECTED_VERSION", "empty", "TIMESTAMP", ts,
                                "PAYLOAD", '{"n":1}', "METADATA", "meta"))
        self.assertEqual((a["event_id"], a["partition_key"], a["partition_id"], a["stream_version"],
                          a["timestamp"]), (eid, key, p, 0, ts))
        b = as_append(self.call("EAPPEND", stream, "Updated", "PARTITION_KEY", key,
                                "EXPECTED_VERSION", 0))
        self.assertEqual(b["stream_version"], 1)
        self.assertEqual(b["partition_sequence"], a["partition_sequence"] + 1)
        e = as_event(self.call("EGET", eid))
        tx = e.pop("transaction_id")
        self.assertRegex(tx, r"^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$")
        self.assertEqual(e, {"event_id": eid, "partition_key": key, "partition_id": p,
                             "partition_sequence": a["partition_sequence"], "stream_version": 0,
                             "timestamp": ts, "stream_id": stream.encode(), "event_name": b"Created",
                             "metadata": b"meta", "payload": b'{"n":1}'})
        self.assertIsNone(self.call("EGET", event_id_for(key, ts)))
        self.assertEqual(self.call("ESVER", stream, "PARTITION_KEY", key), 1)
        self.assertIsNone(self.call("ESVER", unique("missing")))
        full = as_batch(self.call("ESCAN", stream, "-", "+", "PARTITION_KEY", key))
        self.assertFalse(full["has_more"])
        self.assertEqual([(x["stream_version"], x["event_name"]) for x in full["events"]],
                         [(0, b"Created"), (1, b"Updated")])
        page = as_batch(self.call("ESCAN", stream, 0, "+", "PARTITION_KEY", key, "COUNT", 1))
        self.assertTrue(page["has_more"])
        self.assertEqual([x["event_id"] for x in page["events"]], [eid])
        self.assertEqual(self.call("EPSEQ", p), b["partition_sequence"])
        self.assertEqual(self.call("EPSEQ", key), b["partition_sequence"])
        ps = as_batch(self.call("EPSCAN", p, a["partition_sequence"], "+"))
        self.assertFalse(ps["has_more"])
        self.assertEqual([(x["partition_sequence"], x["event_id"]) for x in ps["events"]],
                         [(a["partition_sequence"], eid), (b["partition_sequence"], b["event_id"])])
        by_key = as_batch(self.call("EPSCAN", key, a["partition_sequence"], a["partition_sequence"]))
        self.assertTrue(by_key["has_more"])
        self.assertEqual([x["event_id"] for x in by_key["events"]], [eid])

    def test_emappend(self):
        s1, s2 = unique("m1"), unique("m2")
        m = record(self.call("EMAPPEND", EXPLICIT_KEY,
                             s1, "A", "EXPECTED_VERSION", "empty", "PAYLOAD", "a",
                             s2, "B", "EXPECTED_VERSION", "empty", "METADATA", "mb",
                             s1, "C", "EXPECTED_VERSION", 0),
                   ["partition_key", "partition_id", "first_partition_sequence",
                    "last_partition_sequence", "events"])
        self.assertEqual((s(m["partition_key"]), m["partition_id"]), (EXPLICIT_KEY, 25))
        first = m["first_partition_sequence"]
        self.assertEqual(m["last_partition_sequence"], first + 2)
        evs = [record(e, ["event_id", "stream_id", "stream_version", "timestamp",
                          "partition_sequence", "partition_id"]) for e in m["events"]]
        self.assertEqual([(s(e["stream_id"]), e["stream_version"], e["partition_sequence"])
                          for e in evs], [(s1, 0, first), (s2, 0, first + 1), (s1, 1, first + 2)])
        got = [as_event(self.call("EGET", s(e["event_id"]))) for e in evs]
        self.assertEqual(len({g["transaction_id"] for g in got}), 1)
        self.assertEqual([(g["payload"], g["metadata"]) for g in got],
                         [(b"a", b""), (b"", b"mb"), (b"", b"")])
        with self.assertRaisesRegex(redis.ResponseError, "^WRONGVER "):
            self.call("EMAPPEND", EXPLICIT_KEY, s2, "X", "EXPECTED_VERSION", 0,
                      s1, "Y", "EXPECTED_VERSION", "empty")
        self.assertEqual(self.call("ESVER", s2, "PARTITION_KEY", EXPLICIT_KEY), 0)

    def test_errors(self):
        stream = unique("err")
        self.call("EAPPEND", stream, "A", "EXPECTED_VERSION", "empty")
        with self.assertRaises(redis.ResponseError) as cm:
            self.call("EAPPEND", stream, "A", "EXPECTED_VERSION", "empty")
        self.assertEqual(str(cm.exception), f"WRONGVER current stream version is 0 but expected empty "
                                            f"for partition key {key_of(stream)} and stream id {stream}")
        with self.assertRaises(redis.ResponseError) as cm:
            self.call("EAPPEND", stream, "A")
        self.assertEqual(str(cm.exception), "INVALIDARG strict versioning mode rejects EXPECTED_VERSION any")
        with self.assertRaises(redis.ResponseError) as cm:
            self.call("NOSUCHCOMMAND")
        self.assertEqual(str(cm.exception), "INVALIDARG unknown command 'NOSUCHCOMMAND'")
        self.assertTrue(self.r.ping())

    def test_binary_payloads(self):
        stream = unique("bin")
        name, meta = ALL_BYTES[:255], ALL_BYTES[::-1]
        a = as_append(self.call("EAPPEND", stream, name, "EXPECTED_VERSION", "empty",
                                "PAYLOAD", ALL_BYTES, "METADATA", meta))
        e = as_event(self.call("EGET", a["event_id"]))
        self.assertEqual((e["payload"], e["metadata"], e["event_name"]), (ALL_BYTES, meta, name))
        s2 = unique("bytes")
        pipe = self.r.pipeline(transaction=False)
        for i in range(256):
            pipe.execute_command("EAPPEND", s2, "B", "EXPECTED_VERSION", "empty" if i == 0 else i - 1,
                                 "PAYLOAD", bytes([i]))
        acks = [as_append(x) for x in pipe.execute()]
        self.assertEqual([x["stream_version"] for x in acks], list(range(256)))
        back, start = [], 0
        for _ in range(10):
            page = as_batch(self.call("ESCAN", s2, start, "+", "COUNT", 100))
            back += [x["payload"] for x in page["events"]]
            if not page["has_more"]:
                break
            start = page["events"][-1]["stream_version"] + 1
        self.assertEqual(b"".join(back), ALL_BYTES)

    def test_one_mib_payload(self):
        stream = unique("big")
        payload = seeded_bytes(1 << 20, SEED)
        a = as_append(self.call("EAPPEND", stream, "Big", "EXPECTED_VERSION", "empty", "PAYLOAD", payload))
        e = as_event(self.call("EGET", a["event_id"]))
        self.assertEqual(len(e["payload"]), 1 << 20)
        self.assertTrue(e["payload"] == payload, f"1 MiB payload (seed {SEED})")
        self.assertTrue(as_batch(self.call("ESCAN", stream, "-", "+"))["events"][0]["payload"] == payload)

    def test_pipeline_of_100(self):
        stream = unique("pipe")
        pipe = self.r.pipeline(transaction=False)
        for v in range(100):
            pipe.execute_command("EAPPEND", stream, "E", "EXPECTED_VERSION", "empty" if v == 0 else v - 1,
                                 "PAYLOAD", f"p{v}")
        acks = [as_append(x) for x in pipe.execute()]
        self.assertEqual([x["stream_version"] for x in acks], list(range(100)))
        self.assertEqual([x["partition_sequence"] - acks[0]["partition_sequence"] for x in acks],
                         list(range(100)))
        pipe = self.r.pipeline(transaction=False)
        for x in acks:
            pipe.execute_command("EGET", x["event_id"])
        self.assertEqual([as_event(x)["payload"] for x in pipe.execute()],
                         [f"p{v}".encode() for v in range(100)])
        pipe = self.r.pipeline(transaction=False)
        pipe.execute_command("ESVER", stream).ping().echo("x").execute_command("EPSEQ", acks[0]["partition_id"])
        self.assertEqual(pipe.execute(), [99, True, b"x", acks[99]["partition_sequence"]])

    def test_reconnect_after_restart(self):
        stream = unique("restart")
        a = as_append(self.call("EAPPEND", stream, "Before", "EXPECTED_VERSION", "empty", "PAYLOAD", "kept"))
        old_pid = SERVER.proc.pid
        SERVER.restart()
        self.assertNotEqual(SERVER.proc.pid, old_pid)
        # redis-py reconnects (and re-sends HELLO 2) on the next command; bounded retries.
        version, deadline = "unset", time.monotonic() + 15
        for _ in range(300):
            try:
                version = self.call("ESVER", stream)
                break
            except redis.ConnectionError:
                if time.monotonic() > deadline:
                    break
                time.sleep(0.05)
        self.assertEqual(version, 0)
        self.assertEqual(as_event(self.call("EGET", a["event_id"]))["payload"], b"kept")
        b = as_append(self.call("EAPPEND", stream, "After", "EXPECTED_VERSION", 0))
        self.assertEqual((b["stream_version"], b["partition_sequence"]), (1, a["partition_sequence"] + 1))

    # ------------------------------------------------------------------ not supported yet
    @needs("INFO_RESP2")
    def test_default_options_info(self):
        plain = redis.Redis(host="127.0.0.1", port=SERVER.port, socket_timeout=10)
        try:
            self.assertIn("sierradb_version", plain.info())
            self.assertTrue(plain.ping())
        finally:
            plain.connection_pool.disconnect()

    @needs("MULTI_EXEC")
    def test_default_pipeline_is_a_transaction(self):
        s1, s2 = unique("tx1"), unique("tx2")
        pipe = self.r.pipeline()  # transaction=True: MULTI ... EXEC
        pipe.execute_command("EAPPEND", s1, "A", "PARTITION_KEY", EXPLICIT_KEY, "EXPECTED_VERSION", "empty")
        pipe.execute_command("EAPPEND", s2, "B", "PARTITION_KEY", EXPLICIT_KEY, "EXPECTED_VERSION", "empty")
        pipe.execute_command("ESVER", s1, "PARTITION_KEY", EXPLICIT_KEY)
        res = pipe.execute()
        x, y = as_append(res[0]), as_append(res[1])
        self.assertEqual(y["partition_sequence"], x["partition_sequence"] + 1)
        self.assertEqual(res[2], 0)
        self.assertEqual(as_event(self.call("EGET", x["event_id"]))["transaction_id"],
                         as_event(self.call("EGET", y["event_id"]))["transaction_id"])
        pipe = self.r.pipeline()
        pipe.execute_command("EAPPEND", unique("tx3"), "A", "PARTITION_KEY", EXPLICIT_KEY,
                             "EXPECTED_VERSION", "empty")
        pipe.execute_command("EAPPEND", "user-123", "A", "EXPECTED_VERSION", "any")
        with self.assertRaises(redis.ResponseError):
            pipe.execute()
        self.assertTrue(self.r.ping())

    @needs("BLOCKING_READ")
    def test_blocking_read(self):
        stream = unique("block")
        other = client(SERVER.port)
        try:
            timer = threading.Timer(0.2, lambda: self.call("EAPPEND", stream, "Woke", "EXPECTED_VERSION", "empty"))
            t0 = time.monotonic()
            timer.start()
            got = as_batch(other.execute_command("ESCAN", stream, 0, "+", "BLOCK", 10000))
            timer.join(5)
            self.assertEqual([e["event_name"] for e in got["events"]], [b"Woke"])
            self.assertLess(time.monotonic() - t0, 5)
            t1 = time.monotonic()
            none = as_batch(other.execute_command("EPSCAN", partition_of(key_of(stream)), 999999999, "+",
                                                  "BLOCK", 300))
            self.assertEqual(none["events"], [])
            self.assertGreaterEqual(time.monotonic() - t1, 0.25)
        finally:
            other.connection_pool.disconnect()

    @needs("PASSTHROUGH_PUSH")
    def test_pubsub_receives_events(self):
        # docs/CLIENTS.md, "Pub/sub channels": a stream's channel, each event a `message` whose
        # data is the event as a JSON object.
        stream = unique("pass")
        p = client(SERVER.port).pubsub()
        try:
            p.subscribe(f"sierradb:stream:{stream}")
            self.assertEqual(p.get_message(timeout=5)["type"], "subscribe")
            self.call("EAPPEND", stream, "First", "EXPECTED_VERSION", "empty", "PAYLOAD", b"\xff\x00")
            msg = p.get_message(timeout=5)
            self.assertEqual(msg and msg["type"], "message")
            self.assertEqual(msg["channel"], f"sierradb:stream:{stream}".encode())
            event = json.loads(msg["data"])
            self.assertEqual((event["event_name"], event["stream_version"]), ("First", 0))
            self.assertEqual(base64.b64decode(event["payload_base64"]), b"\xff\x00")
        finally:
            p.close()


if __name__ == "__main__":
    unittest.main(verbosity=2)
