#!/usr/bin/env python3
"""redis-py 4 (Debian python3-redis, RESP2 only) against a real sierradb.

Run through with_server.sh, which provides SIERRA_HOST / SIERRA_PORT.

redis-py 4 has no RESP3 parser. Without HELLO the server answers RESP3 (PROTOCOL §1.4 MUST),
which that parser cannot read, so every connection sends `HELLO 2` first; the server then
answers RESP2 (DECISIONS D6): maps flattened to [key, value, ...], booleans as 0/1, null as nil.
"""
import inspect
import json
import os
import sys
import threading
import time
import unittest
import uuid

try:
    import redis
except ImportError:  # pragma: no cover
    sys.exit("python3-redis is missing (run 'make deps'); interpreter: " + sys.executable)

HOST = os.environ.get("SIERRA_HOST", "127.0.0.1")
PORT = int(os.environ.get("SIERRA_PORT", "9090"))
NAMESPACE = uuid.UUID("219bd637-e279-53e9-9e2b-eabe5d9120cc")
PARTITIONS = 32
EXPLICIT_KEY = "550e8400-e29b-41d4-a716-446655440000"  # partition 25 (PROTOCOL §2.3)
EVENT_KEYS = ["event_id", "partition_key", "partition_id", "transaction_id",
              "partition_sequence", "stream_version", "timestamp", "stream_id",
              "event_name", "metadata", "payload"]
APPEND_KEYS = ["event_id", "partition_key", "partition_id", "partition_sequence",
               "stream_version", "timestamp"]


def key_of(stream):
    return str(uuid.uuid5(NAMESPACE, stream))


def partition_hash(key):
    return (uuid.UUID(str(key)).int >> 46) & 0xFFFF


def partition_of(stream):
    return partition_hash(key_of(stream)) % PARTITIONS


def pairs(flat):
    """[k1, v1, k2, v2, ...] -> list of (k, v), keeping order (decoded keys)."""
    assert isinstance(flat, list) and len(flat) % 2 == 0, flat
    keys = [k.decode() if isinstance(k, bytes) else k for k in flat[0::2]]
    return list(zip(keys, flat[1::2]))


def as_dict(flat):
    return dict(pairs(flat))


def unique(prefix):
    return f"{prefix}-{uuid.uuid4().hex[:12]}"


class Resp2Connection(redis.Connection):
    """A connection that switches itself to RESP2 right after connecting (and reconnecting)."""

    def on_connect(self):
        super().on_connect()
        self.send_command("HELLO", "2")
        reply = self.read_response()
        if not isinstance(reply, list):
            raise redis.ConnectionError(f"HELLO 2 failed: {reply!r}")


def make_client(decode=True, **kwargs):
    pool = redis.ConnectionPool(connection_class=Resp2Connection, host=HOST, port=PORT,
                                decode_responses=decode, socket_timeout=30, **kwargs)
    return redis.Redis(connection_pool=pool)


class RedisPyTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.r = make_client()
        cls.rb = make_client(decode=False)

    @classmethod
    def tearDownClass(cls):
        cls.r.connection_pool.disconnect()
        cls.rb.connection_pool.disconnect()

    def append(self, stream, name, *opts):
        return as_dict(self.r.execute_command("EAPPEND", stream, name, *opts))

    def assert_now(self, ms):
        self.assertIsInstance(ms, int)
        self.assertLess(abs(ms - time.time() * 1000), 600_000)

    # ------------------------------------------------------------------ handshake and basics
    def test_hello_2(self):
        r = redis.Redis(host=HOST, port=PORT, single_connection_client=True,
                        decode_responses=True)
        try:
            hello = r.execute_command("HELLO", "2")
            keys = [k for k, _ in pairs(hello)]
            self.assertEqual(keys[:5], ["server", "version", "peer_id", "num_partitions", "proto"])
            info = as_dict(hello)
            self.assertEqual(info["server"], "sierradb")
            self.assertEqual(info["num_partitions"], PARTITIONS)
            self.assertEqual(info["proto"], 2)
            self.assertTrue(info["peer_id"])
            # The connection now speaks RESP2: a map reply arrives flattened.
            esc = r.execute_command("ESCAN", unique("none"), "-", "+")
            self.assertEqual(esc, ["has_more", 0, "events", []])
        finally:
            r.close()

    def test_redis_py_has_no_resp3(self):
        # Documents why HELLO 2 is needed: redis-py 4 cannot ask for RESP3 at all.
        self.assertNotIn("protocol", inspect.signature(redis.Redis.__init__).parameters)

    def test_ping_echo_select_client(self):
        self.assertTrue(self.r.ping())
        self.assertEqual(self.r.echo("hello world"), "hello world")
        self.assertEqual(self.r.execute_command("SELECT", 0), True)
        self.assertEqual(self.r.execute_command("CLIENT", "SETINFO", "LIB-NAME", "redis-py"), "OK")
        self.assertEqual(self.r.execute_command("CLIENT", "SETINFO", "LIB-VER", redis.__version__),
                         "OK")
        # COMMAND answers from the command table (this replaced the old empty-array check).
        commands = self.r.command()  # parsed by redis-py into a dict by name
        self.assertEqual(len(commands), self.r.command_count())
        self.assertIn("ping", commands)
        eappend = commands["eappend"]
        self.assertEqual(eappend["arity"], -3)
        self.assertIn("write", eappend["flags"])
        self.assertEqual((eappend["first_key_pos"], eappend["last_key_pos"], eappend["step_count"]),
                         (1, 1, 1))
        self.assertEqual(len(eappend["key_specifications"]), 2)
        self.assertEqual(commands["eget"]["arity"], 2)
        self.assertIn("readonly", commands["eget"]["flags"])
        self.assertEqual(sorted(self.r.command_list()), sorted(commands))
        self.assertEqual(self.r.command_getkeys("EAPPEND", "s", "E"), ["s"])

    def test_info(self):
        info = self.r.info()  # redis-py parses the text sections
        self.assertIn("sierradb_version", info)
        self.assertEqual(info["tcp_port"], PORT)
        with self.r.client() as single:
            conn = single.connection_pool.get_connection("INFO")
            try:
                conn.send_command("INFO", "CACHE")
                cache = pairs(conn.read_response())
            finally:
                single.connection_pool.release(conn)
        self.assertEqual([k for k, _ in cache],
                         ["hits", "misses", "hit_ratio", "entries", "memory_bytes", "max_bytes",
                          "block_size_bytes", "evictions"])
        self.assertEqual(dict(cache)["max_bytes"], 268435456)
        self.assertEqual(dict(cache)["block_size_bytes"], 65536)

    def test_unknown_command(self):
        with self.assertRaises(redis.ResponseError) as ctx:
            self.r.set("a", "b")
        self.assertEqual(str(ctx.exception), "INVALIDARG unknown command 'SET'")
        self.assertTrue(self.r.ping())  # connection still usable

    # ------------------------------------------------------------------ writes and reads
    def test_append_and_read_back(self):
        stream = unique("py-order")
        payload = json.dumps({"total": 42})
        a = as_dict(self.r.execute_command("EAPPEND", stream, "OrderPlaced",
                                           "EXPECTED_VERSION", "empty", "PAYLOAD", payload,
                                           "METADATA", "meta"))
        self.assertEqual(list(a), APPEND_KEYS)
        self.assertEqual(a["partition_key"], key_of(stream))
        self.assertEqual(a["partition_id"], partition_of(stream))
        self.assertEqual(a["stream_version"], 0)
        self.assertEqual(partition_hash(a["event_id"]), partition_hash(a["partition_key"]))
        self.assert_now(a["timestamp"])

        b = self.append(stream, "OrderPaid", "EXPECTED_VERSION", 0, "TIMESTAMP", 1700000000000)
        self.assertEqual(b["stream_version"], 1)
        self.assertEqual(b["partition_sequence"], a["partition_sequence"] + 1)
        self.assertEqual(b["timestamp"], 1700000000000)

        scan = as_dict(self.r.execute_command("ESCAN", stream, "-", "+", "COUNT", 100))
        self.assertEqual(scan["has_more"], 0)
        events = [pairs(e) for e in scan["events"]]
        self.assertEqual(len(events), 2)
        for e in events:
            self.assertEqual([k for k, _ in e], EVENT_KEYS)
        first, second = dict(events[0]), dict(events[1])
        self.assertEqual(first["event_id"], a["event_id"])
        self.assertEqual(first["stream_id"], stream)
        self.assertEqual(first["event_name"], "OrderPlaced")
        self.assertEqual(first["payload"], payload)
        self.assertEqual(first["metadata"], "meta")
        self.assertEqual(first["partition_sequence"], a["partition_sequence"])
        self.assertEqual(first["timestamp"], a["timestamp"])
        self.assertEqual(second["event_id"], b["event_id"])
        self.assertEqual(second["payload"], "")
        self.assertNotEqual(first["transaction_id"], second["transaction_id"])
        # one-event transactions: top bit of byte 8 set (PROTOCOL §2.5)
        self.assertTrue(uuid.UUID(first["transaction_id"]).bytes[8] & 0x80)

        page = as_dict(self.r.execute_command("ESCAN", stream, 0, 0))
        self.assertEqual(page["has_more"], 1)
        self.assertEqual(len(page["events"]), 1)

        got = self.r.execute_command("EGET", a["event_id"])
        self.assertEqual(pairs(got), events[0])
        self.assertIsNone(self.r.execute_command("EGET", str(uuid.uuid4())))

        self.assertEqual(self.r.execute_command("ESVER", stream), 1)
        self.assertEqual(self.r.execute_command("ESVER", stream, "PARTITION_KEY", key_of(stream)), 1)
        self.assertIsNone(self.r.execute_command("ESVER", unique("missing")))

        seq = self.r.execute_command("EPSEQ", a["partition_id"])
        self.assertGreaterEqual(seq, b["partition_sequence"])
        self.assertEqual(self.r.execute_command("EPSEQ", a["partition_key"]), seq)
        pscan = as_dict(self.r.execute_command("EPSCAN", a["partition_id"],
                                               a["partition_sequence"], b["partition_sequence"]))
        ids = [dict(pairs(e))["event_id"] for e in pscan["events"]]
        self.assertEqual(ids, [a["event_id"], b["event_id"]])

    def test_versioning_errors(self):
        stream = unique("py-ver")
        self.append(stream, "Created", "EXPECTED_VERSION", "empty")
        with self.assertRaises(redis.ResponseError) as ctx:
            self.append(stream, "Created", "EXPECTED_VERSION", "empty")
        self.assertEqual(
            str(ctx.exception),
            f"WRONGVER current stream version is 0 but expected empty for partition key "
            f"{key_of(stream)} and stream id {stream}")
        with self.assertRaises(redis.ResponseError) as ctx:
            self.append(stream, "Updated", "EXPECTED_VERSION", 7)
        self.assertTrue(str(ctx.exception).startswith(
            "WRONGVER current stream version is 0 but expected 7 "), str(ctx.exception))
        for opts in ([], ["EXPECTED_VERSION", "any"]):
            with self.assertRaises(redis.ResponseError) as ctx:
                self.append(stream, "Updated", *opts)
            self.assertEqual(str(ctx.exception),
                             "INVALIDARG strict versioning mode rejects EXPECTED_VERSION any")
        with self.assertRaises(redis.ResponseError) as ctx:
            self.append(stream, "Updated", "EXPECTED_VERSION", "exists")
        self.assertEqual(str(ctx.exception),
                         "INVALIDARG strict versioning mode rejects EXPECTED_VERSION exists")
        self.assertEqual(self.r.execute_command("ESVER", stream), 0)

    def test_argument_errors(self):
        bad = [
            ["EAPPEND"],
            ["EAPPEND", "s"],
            ["EAPPEND", "s", "n", "EXPECTED_VERSION", "empty", "BOGUS"],
            ["EAPPEND", "x" * 65, "n", "EXPECTED_VERSION", "empty"],
            ["EGET", "not-a-uuid"],
            ["ESCAN", "s", "+", "-"],
            ["EPSCAN", "99", "-", "+"],
            ["EPSEQ", "abc"],
            ["EMAPPEND", "not-a-uuid", "s", "n", "EXPECTED_VERSION", "empty"],
            ["EMAPPEND", EXPLICIT_KEY],
        ]
        for cmd in bad:
            with self.subTest(cmd=cmd[:3]):
                with self.assertRaises(redis.ResponseError) as ctx:
                    self.r.execute_command(*cmd)
                self.assertTrue(str(ctx.exception).startswith("INVALIDARG "), str(ctx.exception))

    def test_emappend(self):
        s1, s2 = unique("py-m1"), unique("py-m2")
        before = self.r.execute_command("EPSEQ", 25)
        m = as_dict(self.r.execute_command(
            "EMAPPEND", EXPLICIT_KEY,
            s1, "A", "EXPECTED_VERSION", "empty", "PAYLOAD", "p1",
            s2, "B", "EXPECTED_VERSION", "empty",
            s1, "C", "EXPECTED_VERSION", 0))
        self.assertEqual(list(m)[:5], ["partition_key", "partition_id", "first_partition_sequence",
                                       "last_partition_sequence", "events"])
        self.assertEqual(m["partition_key"], EXPLICIT_KEY)
        self.assertEqual(m["partition_id"], 25)
        first = 0 if before is None else before + 1
        self.assertEqual(m["first_partition_sequence"], first)
        self.assertEqual(m["last_partition_sequence"], first + 2)
        events = [as_dict(e) for e in m["events"]]
        self.assertEqual([e["stream_id"] for e in events], [s1, s2, s1])
        self.assertEqual([e["stream_version"] for e in events], [0, 0, 1])
        for e in events:
            self.assertEqual(partition_hash(e["event_id"]), partition_hash(EXPLICIT_KEY))
        scan = as_dict(self.r.execute_command("ESCAN", s1, "-", "+", "PARTITION_KEY", EXPLICIT_KEY))
        got = [as_dict(e) for e in scan["events"]]
        self.assertEqual([e["event_name"] for e in got], ["A", "C"])
        self.assertEqual([e["payload"] for e in got], ["p1", ""])
        self.assertEqual(got[0]["transaction_id"], got[1]["transaction_id"])
        self.assertFalse(uuid.UUID(got[0]["transaction_id"]).bytes[8] & 0x80)
        # Atomic: a conflict inside the transaction writes nothing.
        with self.assertRaises(redis.ResponseError) as ctx:
            self.r.execute_command("EMAPPEND", EXPLICIT_KEY,
                                   s2, "D", "EXPECTED_VERSION", 0,
                                   s1, "E", "EXPECTED_VERSION", "empty")
        self.assertTrue(str(ctx.exception).startswith("WRONGVER "), str(ctx.exception))
        self.assertEqual(self.r.execute_command("EPSEQ", 25), first + 2)
        self.assertEqual(self.r.execute_command("ESVER", s2, "PARTITION_KEY", EXPLICIT_KEY), 0)

    def test_binary_payload(self):
        stream = unique("py-bin")
        payload = bytes(range(256)) * 4
        metadata = b"\x00\r\n\xff"
        a = as_dict(self.rb.execute_command("EAPPEND", stream, "Bin", "EXPECTED_VERSION", "empty",
                                            "PAYLOAD", payload, "METADATA", metadata))
        got = as_dict(self.rb.execute_command("EGET", a["event_id"]))
        self.assertEqual(got["payload"], payload)
        self.assertEqual(got["metadata"], metadata)
        self.assertEqual(got["stream_id"], stream.encode())

    def test_pipeline(self):
        stream = unique("py-pipe")
        pipe = self.r.pipeline(transaction=False)
        pipe.execute_command("EAPPEND", stream, "E", "EXPECTED_VERSION", "empty")
        for v in range(199):
            pipe.execute_command("EAPPEND", stream, "E", "EXPECTED_VERSION", v,
                                 "PAYLOAD", str(v + 1))
        pipe.execute_command("EAPPEND", stream, "E", "EXPECTED_VERSION", 0)  # conflict
        results = pipe.execute(raise_on_error=False)
        self.assertEqual([as_dict(x)["stream_version"] for x in results[:200]], list(range(200)))
        self.assertIsInstance(results[200], redis.ResponseError)
        start, seen = 0, []
        while True:  # page like the inspector does
            page = as_dict(self.r.execute_command("ESCAN", stream, start, "+", "COUNT", 64))
            batch = [as_dict(e) for e in page["events"]]
            seen += [e["stream_version"] for e in batch]
            if not page["has_more"]:
                break
            start = batch[-1]["stream_version"] + 1
        self.assertEqual(seen, list(range(200)))

    def test_concurrent_clients(self):
        client = make_client(max_connections=8)
        errors = []

        def worker(n):
            try:
                stream = unique(f"py-thread{n}")
                for v in range(25):
                    opts = ["EXPECTED_VERSION", "empty" if v == 0 else v - 1]
                    reply = as_dict(client.execute_command("EAPPEND", stream, "T", *opts))
                    if reply["stream_version"] != v:
                        errors.append((stream, v, reply))
                if client.execute_command("ESVER", stream) != 24:
                    errors.append((stream, "esver"))
            except Exception as exc:  # noqa: BLE001 - reported below
                errors.append(repr(exc))

        threads = [threading.Thread(target=worker, args=(n,)) for n in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
        client.connection_pool.disconnect()
        self.assertEqual(errors, [])


if __name__ == "__main__":
    unittest.main(verbosity=2)
