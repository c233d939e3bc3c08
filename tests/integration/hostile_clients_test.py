#!/usr/bin/env python3
"""Hostile clients against a real sierradb (python3 stdlib only).

Run through with_server.sh, which provides SIERRA_HOST / SIERRA_PORT / SIERRA_SERVER_PID:
    with_server.sh SIERRADB -- python3 hostile_clients_test.py --server SIERRADB
(--server lets the tests that need their own limits start extra servers; they skip without it.)

raw_socket_test.py covers garbage, partial frames, huge lengths, 10 000 pipelined commands,
500 connections and one client that never reads. This suite goes further: thousands of
connections and the max-clients limit (configured, and forced by the open-files limit), many
slow readers pipelining big reads, endless pipelines, half-closed sockets, frames at and over
the size limits, and resets in the middle of large replies. Throughout each test a separate,
well-behaved probe client keeps issuing PING / EAPPEND / EGET and must get correct answers, each
within PROBE_MAX_LATENCY (a generous bound: it catches a server that stops answering, it is not
a latency target; those belong in the benchmarks). Memory is read from /proc/<pid>/status.
"""
import os
import re
import resource
import select
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time
import unittest
import uuid

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from raw_socket_test import Conn, Incomplete, command, parse  # noqa: E402

HOST = os.environ.get("SIERRA_HOST", "127.0.0.1")
PORT = int(os.environ.get("SIERRA_PORT", "9090"))
SERVER_PID = int(os.environ.get("SIERRA_SERVER_PID", "0"))
SERVER_BIN = None
if "--server" in sys.argv:
    i = sys.argv.index("--server")
    SERVER_BIN = sys.argv[i + 1]
    del sys.argv[i:i + 2]

MiB = 1 << 20
PROBE_MAX_LATENCY = 2.0
# The server's limits (README "Limits"; src/server/connection.hpp, docs/CONFIGURATION.md).
MAX_PENDING_REPLY_BYTES = 64 * MiB   # limits.max_pending_reply_bytes default
MAX_READS_IN_FLIGHT = 16             # Connection::kMaxReadsInFlight
MAX_BULK_BYTES = 256 * MiB           # limits.max_bulk_bytes: 512 MiB capped to the segment size
MAX_ARRAY_LEN = 1048576              # limits.max_array_len default
MAX_INLINE = 64 * 1024               # resp::Limits::max_inline_len
MAX_CLIENTS_ERROR = b"-ERR max number of clients reached\r\n"


def raise_nofile(want):
    """Raises this process's open-files limit towards `want` (up to the hard limit)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = want if hard == resource.RLIM_INFINITY else min(hard, want)
    if soft < target:
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


def rss_mib(pid=None):
    with open(f"/proc/{pid or SERVER_PID}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    raise AssertionError("no VmRSS")


def wait_until(cond, timeout, what):
    deadline = time.monotonic() + timeout
    while True:
        value = cond()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(0.05)


def rst_close(sock):
    """Closes with SO_LINGER 0: the peer gets a RST instead of a FIN."""
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    except OSError:
        pass
    sock.close()


class Client(Conn):
    """raw_socket_test's connection on any port (the servers this test spawns), reading in larger
    chunks (big scan replies)."""
    RECV = 1 << 18

    def __init__(self, port=PORT, timeout=10.0):
        super().__init__(timeout=timeout, port=port)


def parse_all(data):
    out, pos = [], 0
    while pos < len(data):
        value, pos = parse(data, pos)
        out.append(value)
    return out


def info(port=PORT):
    c = Client(port, timeout=5)
    try:
        text = c.call("INFO").decode()
    finally:
        c.close()
    return {k: v for k, v in re.findall(r"^(\w+):(.*?)\r?$", text, re.M)}


def info_int(name, port=PORT):
    return int(info(port)[name])


def append_events(port, stream, count, payload):
    """Appends `count` events (expected versions 0..count-1, pipelined) and checks them."""
    c = Client(port, timeout=30)
    try:
        c.send(b"".join(
            command("EAPPEND", stream, "Big", "EXPECTED_VERSION", "empty" if i == 0 else i - 1,
                    "PAYLOAD", payload) for i in range(count)))
        for i in range(count):
            r = c.reply()
            assert isinstance(r, dict) and r.get("stream_version") == i, r
        return r["partition_id"]
    finally:
        c.close()


class Probe(threading.Thread):
    """A well-behaved client running PING, EAPPEND (exact expected version), EGET of the new event
    round after round on one connection; every reply must be right and arrive in time."""

    def __init__(self, port=PORT, name="probe"):
        super().__init__(daemon=True)
        self.port = port
        self.stream = f"{name}-{uuid.uuid4().hex[:10]}"
        self.stop_flag = threading.Event()
        self.errors = []
        self.rounds = 0
        self.max_latency = 0.0
        self.conn = Client(port, timeout=PROBE_MAX_LATENCY * 3)  # connected before the hostiles

    def timed(self, *args):
        t = time.monotonic()
        r = self.conn.call(*args)
        self.max_latency = max(self.max_latency, time.monotonic() - t)
        return r

    def run(self):
        version = -1
        try:
            while not self.stop_flag.is_set():
                r = self.timed("PING")
                if r != "PONG":
                    raise AssertionError(f"PING: {r!r}")
                payload = f"probe round {self.rounds}".encode()
                r = self.timed("EAPPEND", self.stream, "Probed", "EXPECTED_VERSION",
                               "empty" if version < 0 else version, "PAYLOAD", payload)
                if not isinstance(r, dict) or r.get("stream_version") != version + 1:
                    raise AssertionError(f"EAPPEND: {r!r}")
                version += 1
                r2 = self.timed("EGET", r["event_id"])
                if not isinstance(r2, dict) or r2.get("payload") != payload or \
                        r2.get("stream_version") != version:
                    raise AssertionError(f"EGET: {r2!r}")
                self.rounds += 1
                self.stop_flag.wait(0.02)
        except Exception as e:  # noqa: BLE001 - reported by check()
            self.errors.append(f"{type(e).__name__}: {e}")
        finally:
            self.conn.close()

    def finish(self, test, min_rounds=3):
        self.stop_flag.set()
        self.join(PROBE_MAX_LATENCY * 4)
        test.assertFalse(self.is_alive(), "probe is stuck")
        test.assertEqual(self.errors, [], f"probe failed after {self.rounds} rounds")
        test.assertGreaterEqual(self.rounds, min_rounds, "probe made too little progress")
        test.assertLess(self.max_latency, PROBE_MAX_LATENCY,
                        f"a probe reply took {self.max_latency:.2f} s")
        return self


class probing:
    """`with probing(self) as probe:` runs a Probe for the duration of the block."""

    def __init__(self, test, port=PORT, min_rounds=3):
        self.test, self.port, self.min_rounds = test, port, min_rounds

    def __enter__(self):
        self.probe = Probe(self.port)
        self.probe.start()
        return self.probe

    def __exit__(self, exc_type, exc, tb):
        if exc_type is None:
            self.probe.finish(self.test, self.min_rounds)
            self.test.notes.append(f"probe {self.probe.rounds} rounds, "
                                   f"max latency {self.probe.max_latency * 1000:.0f} ms")
        else:
            self.probe.stop_flag.set()
        return False


class SpawnedServer:
    """A second sierradb with its own limits (environment, open-files limit), for tests that
    must not disturb the main one. Stopped with SIGTERM; must exit 0."""

    def __init__(self, env=None, nofile=None):
        self.env, self.nofile = env or {}, nofile

    def __enter__(self):
        self.dir = tempfile.TemporaryDirectory(prefix="sierradb-hostile-")
        self.log_path = os.path.join(self.dir.name, "server.log")
        env = dict(os.environ, **self.env)

        def limit():
            if self.nofile:
                resource.setrlimit(resource.RLIMIT_NOFILE, (self.nofile, self.nofile))

        for _ in range(5):
            s = socket.socket()
            s.bind((HOST, 0))
            self.port = s.getsockname()[1]
            s.close()
            log = open(self.log_path, "ab")
            self.proc = subprocess.Popen(
                [SERVER_BIN, "--dir", os.path.join(self.dir.name, "data"), "--client-address",
                 f"{HOST}:{self.port}", "--log-level", "info"],
                stdout=log, stderr=subprocess.STDOUT, env=env, preexec_fn=limit)
            log.close()
            deadline = time.monotonic() + 10
            while time.monotonic() < deadline and self.proc.poll() is None:
                try:
                    c = Client(self.port, timeout=1)
                    ok = c.call("PING") == "PONG"
                    c.close()
                    if ok:
                        return self
                except OSError:
                    time.sleep(0.05)
            if self.proc.poll() is None:
                self.proc.kill()
                raise AssertionError(f"spawned server did not start:\n{self.log()}")
            if b"in use" not in open(self.log_path, "rb").read():
                raise AssertionError(f"spawned server exited:\n{self.log()}")
        raise AssertionError("no free port for the spawned server")

    def log(self):
        with open(self.log_path, errors="replace") as f:
            return f.read()[-4000:]

    def __exit__(self, exc_type, exc, tb):
        self.proc.send_signal(signal.SIGTERM)
        try:
            status = self.proc.wait(15)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            status = "killed after 15 s"
        log = self.log()
        self.dir.cleanup()
        if exc_type is None and status != 0:
            raise AssertionError(f"spawned server did not stop cleanly ({status}):\n{log}")
        return False


def pump(sock, request, deadline, stall_after=1.0):
    """Sends `request` over and over on a non-blocking socket until the server stops reading
    (no progress for `stall_after` s) or `deadline`. Returns (requests sent, stalled)."""
    sent = 0
    stalled_since = None
    batch = request * max(1, 65536 // len(request))
    view = memoryview(batch)
    off = 0
    while time.monotonic() < deadline:
        try:
            n = sock.send(view[off:])
            sent += n
            off = (off + n) % len(batch)
            stalled_since = None
        except BlockingIOError:
            now = time.monotonic()
            if stalled_since is None:
                stalled_since = now
            elif now - stalled_since >= stall_after:
                return sent // len(request), True
            select.select([], [sock], [], 0.05)
    return sent // len(request), False


class HostileClientsTest(unittest.TestCase):
    big_stream = None

    @classmethod
    def setUpClass(cls):
        raise_nofile(16384)
        # One stream whose full scan is a ~4.5 MB reply: 1000 events of 4 KiB.
        cls.big_stream = f"big-{uuid.uuid4().hex[:10]}"
        cls.big_events = 1000
        cls.big_payload = bytes((i * 7 + 3) % 251 for i in range(4096))
        cls.big_partition = append_events(PORT, cls.big_stream, cls.big_events, cls.big_payload)

    def setUp(self):
        self.notes = []

    def tearDown(self):
        if self.notes:
            print(f"\n  {'; '.join(self.notes)}", end=" ... ", flush=True)

    def assert_alive(self, port=PORT):
        c = Client(port, timeout=5)
        try:
            self.assertEqual(c.call("PING"), "PONG")
        finally:
            c.close()

    def wait_clients(self, expected, port=PORT, timeout=10):
        """Waits until INFO connected_clients (which counts the INFO connection) is back to
        `expected` or below: below when connections of an earlier test, still closing when this
        test took its base count, have gone since."""
        start = time.monotonic()
        last = []

        def settled():
            last[:] = [info_int("connected_clients", port)]
            return last[0] <= expected + 1

        try:
            wait_until(settled, timeout, f"connected_clients to come back to {expected + 1}")
        except AssertionError as e:
            raise AssertionError(f"{e} (still {last[0]})") from None
        took = time.monotonic() - start
        if took > 2:
            print(f"connected_clients came back after {took:.1f} s", file=sys.stderr)

    def scan_reply_bytes(self, count):
        c = Client(timeout=30)
        try:
            c.send(command("ESCAN", self.big_stream, "-", "+", "COUNT", count) +
                   command("PING"))
            data = bytearray()
            while not data.endswith(b"+PONG\r\n"):
                data += c.sock.recv(1 << 20)
            r, end = parse(data, 0)
            self.assertEqual(len(r["events"]), min(count, self.big_events))
            return end
        finally:
            c.close()

    # ------------------------------------------------------------------ many connections
    def test_thousands_of_connections(self):
        soft = raise_nofile(16384)
        n_idle = min(3000, soft - 300)
        if n_idle < 1000:
            self.skipTest(f"open-files limit {soft} too low for thousands of connections")
        base_clients = info_int("connected_clients") - 1
        base_rss = rss_mib()
        idle = []
        try:
            with probing(self):
                t0 = time.monotonic()
                for _ in range(n_idle):
                    idle.append(socket.create_connection((HOST, PORT), timeout=10))
                # Half of them say something once; all then stay idle.
                for s in idle[::2]:
                    s.sendall(command("PING"))
                for s in idle[::2]:
                    self.assertEqual(s.recv(16), b"+PONG\r\n")
                connect_s = time.monotonic() - t0

                # Active clients next to the idle ones: appends and reads on their own streams.
                errors = []

                def active(k):
                    try:
                        c = Client(timeout=10)
                        stream = f"active-{k}-{uuid.uuid4().hex[:8]}"
                        for v in range(40):
                            r = c.call("EAPPEND", stream, "Ev", "EXPECTED_VERSION",
                                       "empty" if v == 0 else v - 1, "PAYLOAD", str(v))
                            if r.get("stream_version") != v:
                                raise AssertionError(r)
                        r = c.call("ESCAN", stream, "-", "+", "COUNT", "100")
                        if [e["payload"] for e in r["events"]] != \
                                [str(v).encode() for v in range(40)]:
                            raise AssertionError("ESCAN")
                        c.close()
                    except Exception as e:  # noqa: BLE001
                        errors.append(f"active {k}: {e!r}")

                threads = [threading.Thread(target=active, args=(k,)) for k in range(20)]
                for t in threads:
                    t.start()

                # Churn at the same time: 2000 short connections, half closed with a RST,
                # half without waiting for their reply.
                def churn(k):
                    try:
                        for i in range(500):
                            s = socket.create_connection((HOST, PORT), timeout=10)
                            s.sendall(command("PING"))
                            if i % 2:
                                rst_close(s)
                            else:
                                s.close()
                    except Exception as e:  # noqa: BLE001
                        errors.append(f"churn {k}: {e!r}")

                churners = [threading.Thread(target=churn, args=(k,)) for k in range(4)]
                for t in churners:
                    t.start()
                for t in threads + churners:
                    t.join(60)
                self.assertEqual(errors, [])

                clients = info_int("connected_clients") - 1
                self.assertGreaterEqual(clients, base_clients + n_idle)
                # Every idle connection still works after all that.
                for i, s in enumerate(idle):
                    s.sendall(command("ECHO", str(i)))
                for i, s in enumerate(idle):
                    want = b"$%d\r\n%d\r\n" % (len(str(i)), i)
                    got = b""
                    while len(got) < len(want):
                        chunk = s.recv(len(want) - len(got))
                        self.assertTrue(chunk, f"connection {i} closed")
                        got += chunk
                    self.assertEqual(got, want)
                held_rss = rss_mib()
                # 16 KiB read buffer + bookkeeping per connection; 64 KiB each is generous.
                self.assertLess(held_rss - base_rss, n_idle * 64 / 1024 + 64,
                                f"{n_idle} idle connections: RSS {base_rss:.0f} -> {held_rss:.0f}")
                for s in idle:
                    s.close()
                idle = []
                self.wait_clients(base_clients + 1)  # + the probe
            self.notes.append(f"{n_idle} idle connections in {connect_s:.2f} s, "
                              f"RSS {base_rss:.0f} -> {held_rss:.0f} MiB")
        finally:
            for s in idle:
                s.close()
        self.assert_alive()

    @unittest.skipUnless(SERVER_BIN, "needs --server")
    def test_max_clients_reached(self):
        limit = 100
        with SpawnedServer(env={"SIERRA_LIMITS__MAX_CLIENTS": str(limit)}) as srv:
            self.assertEqual(int(info(srv.port)["maxclients"]), limit)
            conns = []
            try:
                with probing(self, srv.port):  # the probe holds one of the slots
                    time.sleep(0.1)
                    for _ in range(limit + 50):
                        conns.append(Client(srv.port, timeout=5))
                    for c in conns:
                        c.send(command("PING"))
                    served, refused = [], []
                    for c in conns:
                        r = c.reply()  # a hang fails (socket timeout)
                        if r == "PONG":
                            served.append(c)
                        else:
                            # Exactly the error line, then the close.
                            self.assertEqual(r, ("error", MAX_CLIENTS_ERROR[1:-2].decode()))
                            self.assertEqual(c.read_until_closed(timeout=5), b"")
                            refused.append(c)
                    self.assertEqual(len(served), limit - 1)
                    self.assertEqual(len(refused), 51)
                    # Served clients keep working; freeing slots admits new clients.
                    for i, c in enumerate(served):
                        self.assertEqual(c.call("ECHO", str(i)), str(i).encode())
                    for c in served[:10]:
                        c.close()

                    def admitted():
                        c = Client(srv.port, timeout=5)
                        c.send(command("INFO", "stats"))
                        try:
                            r = c.reply()
                            return r if isinstance(r, bytes) else None  # else: refused
                        finally:
                            c.close()

                    stats = wait_until(admitted, 5, "a new client to be admitted").decode()
                    rejected = int(re.search(r"rejected_connections:(\d+)", stats).group(1))
                    self.assertGreaterEqual(rejected, 51)
            finally:
                for c in conns:
                    c.close()

    @unittest.skipUnless(SERVER_BIN, "needs --server")
    def test_open_files_limit_caps_max_clients(self):
        # With an open-files limit below max_clients, clients past the descriptor limit used to
        # wait in the listen backlog with no answer while the server logged EMFILE 20 times a
        # second. The server now lowers its max_clients to what the limit allows.
        nofile = 400
        with SpawnedServer(nofile=nofile) as srv:
            maxclients = int(info(srv.port)["maxclients"])
            self.assertLess(maxclients, nofile - 100)
            self.assertGreater(maxclients, 50)
            self.assertIn("limits.max_clients lowered", srv.log())
            conns = []
            try:
                with probing(self, srv.port):
                    time.sleep(0.1)
                    for _ in range(maxclients + 100):
                        conns.append(Client(srv.port, timeout=5))
                    for c in conns:
                        c.send(command("PING"))
                    served = refused = 0
                    for c in conns:
                        r = c.reply()  # a hang here is a failure (socket timeout)
                        if r == "PONG":
                            served += 1
                        else:
                            self.assertEqual(r, ("error", MAX_CLIENTS_ERROR[1:-2].decode()))
                            self.assertEqual(c.read_until_closed(timeout=5), b"")
                            refused += 1
                    self.assertEqual(served, maxclients - 1)  # the probe holds one slot
                    self.assertEqual(refused, 101)
            finally:
                for c in conns:
                    c.close()
            self.assertNotIn("Too many open files", srv.log())

    # ------------------------------------------------------------------ slow readers
    def test_slow_readers_pipelining_big_reads(self):
        # Replies of ~1 MiB (250 events of 4 KiB). Bigger ones work the same, but the probe's
        # EGET waits behind up to MAX_READS_IN_FLIGHT reads per slow reader on the shared read
        # pool, and 2 s must hold on a busy 2-core machine.
        count = 250
        reply_bytes = self.scan_reply_bytes(count)
        n_slow = 4
        requests = [
            command("ESCAN", self.big_stream, "-", "+", "COUNT", count),
            command("EPSCAN", self.big_partition, "0", "+", "COUNT", count),
        ]
        base_clients = info_int("connected_clients") - 1
        base_rss = rss_mib()
        base_read = info_int("events_read")
        peak = [base_rss]
        stop = threading.Event()

        def watch():
            while not stop.is_set():
                peak[0] = max(peak[0], rss_mib())
                time.sleep(0.02)

        watcher = threading.Thread(target=watch, daemon=True)
        watcher.start()
        slow = []
        try:
            with probing(self):
                results = [None] * n_slow

                def slow_reader(k):
                    s = socket.create_connection((HOST, PORT))
                    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 64 * 1024)
                    s.setblocking(False)
                    slow.append(s)
                    results[k] = pump(s, requests[k % 2], time.monotonic() + 12)

                threads = [threading.Thread(target=slow_reader, args=(k,)) for k in range(n_slow)]
                for t in threads:
                    t.start()
                for t in threads:
                    t.join(30)
                for k, (sent, stalled) in enumerate(results):
                    self.assertTrue(stalled, f"slow reader {k} was never stopped ({sent} sent)")
                # Stalled: once the reads in flight are done (on a loaded machine that can take
                # a while) the server builds no more replies for them.
                last = [info_int("events_read")]

                def settled():
                    time.sleep(0.5)
                    now = info_int("events_read")
                    done = now - last[0] < 300  # the probe reads one event a round
                    last[0] = now
                    return now if done else None

                read_2 = wait_until(settled, 15, "the server to stop building replies for "
                                    "clients that stopped reading")
                held_rss = rss_mib()
            # Per connection: at most max_pending_reply_bytes of finished replies, plus the
            # replies of MAX_READS_IN_FLIGHT reads (and the one being appended), plus what the
            # kernel's socket buffers took (a few MiB).
            per_conn = MAX_PENDING_REPLY_BYTES + (MAX_READS_IN_FLIGHT + 2) * reply_bytes + 8 * MiB
            built = (read_2 - base_read) * reply_bytes / count
            self.assertLess(built, n_slow * per_conn * 1.25,
                            f"{built / MiB:.0f} MiB of replies built for {n_slow} slow readers")
            stop.set()
            watcher.join(10)
            self.assertFalse(watcher.is_alive(), "the RSS watcher did not stop within 10 s")
            bound = base_rss + n_slow * per_conn * 2 / MiB + 64
            self.assertLess(peak[0], bound, f"RSS {base_rss:.0f} -> peak {peak[0]:.0f} MiB")
            for s in slow:
                s.close()
            slow = []
            self.wait_clients(base_clients)
            # Memory comes back (allocator caches aside): at least half of the growth.
            after = wait_until(
                lambda: (lambda r: r if r < base_rss + (peak[0] - base_rss) / 2 + 32 else None)(
                    rss_mib()), 15, "RSS to come down after the slow readers closed")
            self.notes.append(f"{n_slow} slow readers, replies {reply_bytes / MiB:.1f} MiB: "
                              f"{built / MiB:.0f} MiB built, RSS {base_rss:.0f} -> peak "
                              f"{peak[0]:.0f} (held {held_rss:.0f}) -> {after:.0f} MiB")
        finally:
            stop.set()
            for s in slow:
                s.close()
        self.assert_alive()

    def test_endless_pipeline(self):
        """Two clients stream commands for seconds without reading. One then reads everything
        back (all replies, in order); the other just closes."""
        base_clients = info_int("connected_clients") - 1
        base_rss = rss_mib()
        pad = "p" * 2000
        stream = f"endless-{uuid.uuid4().hex[:10]}"
        with probing(self):
            reader = socket.create_connection((HOST, PORT))
            closer = socket.create_connection((HOST, PORT))
            for s in (reader, closer):
                s.setblocking(False)
            # Commands: ECHO <i>:<pad>, with an EAPPEND (exact version) every 64th.
            sent_cmds = []  # what `reader` sent, in order: ("echo", i) / ("append", version)
            out = bytearray()
            i = version = 0
            deadline = time.monotonic() + 4
            closer_req = command("ESCAN", stream, "-", "+") + command("ECHO", pad)
            closer_batch = closer_req * 32
            closer_off = 0
            rounds_blocked = 0
            while time.monotonic() < deadline:
                while len(out) < 256 * 1024:
                    if i % 64 == 63:
                        out += command("EAPPEND", stream, "Ev", "EXPECTED_VERSION",
                                       "empty" if version == 0 else version - 1, "PAYLOAD", pad)
                        sent_cmds.append(("append", version))
                        version += 1
                    else:
                        out += command("ECHO", f"{i}:{pad}")
                        sent_cmds.append(("echo", i))
                    i += 1
                progressed = False
                try:
                    n = reader.send(out)
                    del out[:n]
                    progressed = n > 0
                except BlockingIOError:
                    pass
                try:
                    n = closer.send(memoryview(closer_batch)[closer_off:])
                    closer_off = (closer_off + n) % len(closer_batch)
                    progressed = progressed or n > 0
                except BlockingIOError:
                    pass
                if not progressed:
                    rounds_blocked += 1
                    select.select([], [reader, closer], [], 0.05)
            held_rss = rss_mib()
            # The unsent tail of `reader`'s pipeline still goes out, while reading.
            reader.setblocking(True)
            reader.settimeout(10)
            got = bytearray()
            replies = []
            pos = 0
            t_read = time.monotonic()
            while len(replies) < len(sent_cmds):
                if out:
                    _, w, _ = select.select([reader], [reader], [], 10)
                    if w:
                        n = reader.send(out[:65536])
                        del out[:n]
                chunk = reader.recv(1 << 20)
                self.assertTrue(chunk, f"closed after {len(replies)} of {len(sent_cmds)} replies")
                got += chunk
                while True:
                    try:
                        value, pos = parse(got, pos)
                    except Incomplete:
                        break
                    replies.append(value)
                if pos > 1 << 22:
                    del got[:pos]
                    pos = 0
                self.assertLess(time.monotonic() - t_read, 30, "replies too slow")
            for (kind, n), r in zip(sent_cmds, replies):
                if kind == "echo":
                    if r != f"{n}:{pad}".encode():
                        self.fail(f"reply to ECHO {n}: {r!r:.100}")
                elif not isinstance(r, dict) or r.get("stream_version") != n:
                    self.fail(f"reply to EAPPEND version {n}: {r!r:.200}")
            reader.close()
            rst_close(closer)
            self.wait_clients(base_clients + 1)
        # Each connection holds at most max_pending_reply_bytes (+ slack) of replies.
        self.assertLess(held_rss - base_rss, 2 * MAX_PENDING_REPLY_BYTES * 2 / MiB + 64)
        self.notes.append(f"{len(sent_cmds)} commands ({version} appends) pipelined unread "
                          f"for 4 s, RSS {base_rss:.0f} -> {held_rss:.0f} MiB")
        self.assert_alive()

    # ------------------------------------------------------------------ half-closed sockets
    def test_shut_wr_after_commands_gets_every_reply(self):
        with probing(self):
            stream = f"halfclose-{uuid.uuid4().hex[:10]}"
            c = Client(timeout=10)
            try:
                reqs = [command("EAPPEND", stream, "Ev", "EXPECTED_VERSION",
                                "empty" if v == 0 else v - 1, "PAYLOAD", str(v))
                        for v in range(200)]
                reqs.append(command("ESCAN", self.big_stream, "-", "+", "COUNT", "10000"))
                reqs.append(command("ESCAN", stream, "-", "+", "COUNT", "1000"))
                reqs.append(command("PING"))
                reqs.append(b"*2\r\n$4\r\nECHO\r\n$5\r\nhel")  # an unfinished frame: dropped
                c.send(b"".join(reqs))
                c.sock.shutdown(socket.SHUT_WR)
                time.sleep(0.3)  # let the replies queue up against the unread socket
                data = c.read_until_closed(timeout=10)
            finally:
                c.close()
            replies = parse_all(data)
            self.assertEqual(len(replies), 203)
            for v in range(200):
                self.assertEqual(replies[v]["stream_version"], v)
            self.assertEqual(len(replies[200]["events"]), self.big_events)
            self.assertTrue(all(e["payload"] == self.big_payload for e in replies[200]["events"]))
            self.assertEqual([e["payload"] for e in replies[201]["events"]],
                             [str(v).encode() for v in range(200)])
            self.assertEqual(replies[202], "PONG")

    def test_pipelined_commands_see_earlier_appends(self):
        # PROTOCOL §1.6: a pipelined command sees the effects of the ones before it. Appends
        # finish later on the writer threads; the reads after them used to run at once on the
        # read pool and miss them (ESVER null right after EAPPEND, 197 times out of 200).
        with probing(self, min_rounds=1):
            c = Client(timeout=10)
            try:
                for i in range(100):
                    st = f"ryw-{uuid.uuid4().hex[:10]}"
                    c.send(command("EAPPEND", st, "Ev", "EXPECTED_VERSION", "empty") +
                           command("ESVER", st) + command("EAPPEND", st, "Ev", "EXPECTED_VERSION",
                                                          "0", "PAYLOAD", "second") +
                           command("ESCAN", st, "-", "+") + command("PING"))
                    first = c.reply()
                    self.assertEqual(first["stream_version"], 0, first)
                    self.assertEqual(c.reply(), 0, f"round {i}: ESVER after EAPPEND")
                    self.assertEqual(c.reply()["stream_version"], 1)
                    scan = c.reply()
                    self.assertEqual([e["payload"] for e in scan["events"]], [b"", b"second"],
                                     f"round {i}: ESCAN after EAPPEND")
                    self.assertEqual(c.reply(), "PONG")
            finally:
                c.close()

    def test_shut_rd_and_shut_rdwr(self):
        base_clients = info_int("connected_clients") - 1
        with probing(self):
            # SHUT_RD: Linux still accepts the server's data, so to the server this is a client
            # that never reads; it must be held back, then freed when the socket goes away.
            s = socket.create_connection((HOST, PORT))
            s.shutdown(socket.SHUT_RD)
            s.setblocking(False)
            sent, stalled = pump(s, command("ESCAN", self.big_stream, "-", "+", "COUNT", "10000"),
                                 time.monotonic() + 8)
            self.assertTrue(stalled, f"{sent} requests sent and the server still reads")
            s.close()  # unread data: a RST
            # SHUT_RDWR right after a request with a large reply: the server reads EOF, tries to
            # write the reply, and must close.
            for _ in range(20):
                s = socket.create_connection((HOST, PORT))
                s.sendall(command("ESCAN", self.big_stream, "-", "+", "COUNT", "10000") +
                          command("ECHO", "x" * 100000))
                s.shutdown(socket.SHUT_RDWR)
                s.close()
            self.wait_clients(base_clients + 1)
        self.assert_alive()

    # ------------------------------------------------------------------ oversized frames
    def expect_error_and_close(self, data, error=b"-ERR Protocol error"):
        c = Client(timeout=10)
        try:
            c.sock.settimeout(10)
            try:
                c.send(data)
            except (BrokenPipeError, ConnectionResetError):
                pass  # closed before everything was sent: fine, the error is still buffered
            got = c.read_until_closed(timeout=10)
        finally:
            c.close()
        self.assertTrue(got.startswith(error), got[:200])
        self.assertEqual(got.count(b"\r\n"), 1, got[:200])

    def expect_accepted_and_waiting(self, header):
        """A frame header at the limit: no error, the server waits for the rest."""
        c = Client(timeout=0.5)
        try:
            c.send(header)
            try:
                data = c.sock.recv(100)
                self.fail(f"server answered {data!r} to {header[:40]!r}")
            except socket.timeout:
                pass
        finally:
            c.close()

    def test_oversized_frames(self):
        base_rss = rss_mib()
        with probing(self):
            # Bulk length: at the limit waits for the data; one byte over is an error + close.
            self.expect_accepted_and_waiting(b"*2\r\n$4\r\nECHO\r\n$%d\r\n" % MAX_BULK_BYTES)
            self.expect_error_and_close(b"*2\r\n$4\r\nECHO\r\n$%d\r\n" % (MAX_BULK_BYTES + 1))
            # ... also when the excessive bulk comes after valid arguments, in pieces.
            self.expect_error_and_close(b"*5\r\n" + command("EAPPEND", "s", "e", "PAYLOAD")[4:] +
                                        b"$%d\r\n" % (1 << 40))
            # Array count.
            self.expect_accepted_and_waiting(b"*%d\r\n$4\r\nPING\r\n" % MAX_ARRAY_LEN)
            self.expect_error_and_close(b"*%d\r\n" % (MAX_ARRAY_LEN + 1))
            # Inline line: just under the limit works, over it is an error + close, even when
            # the line arrives slowly and never ends.
            line = b"ECHO " + b"a" * (MAX_INLINE - 16) + b"\r\n"
            c = Client(timeout=10)
            try:
                c.send(line)
                self.assertEqual(c.reply(), b"a" * (MAX_INLINE - 16))
            finally:
                c.close()
            self.expect_error_and_close(b"ECHO " + b"a" * (MAX_INLINE + 16) + b"\r\n")
            c = Client(timeout=10)
            try:
                for _ in range(40):
                    try:
                        c.send(b"b" * 4096)
                    except (BrokenPipeError, ConnectionResetError):
                        break
                got = c.read_until_closed(timeout=10)
                self.assertTrue(got.startswith(b"-ERR Protocol error: too big inline request"),
                                got[:100])
            finally:
                c.close()
            # Declared-huge frames whose data trickles in must not reserve memory for the
            # declared size: 40 clients each announce a 200 MB bulk and send 256 KiB of it.
            hogs = []
            try:
                for _ in range(40):
                    s = socket.create_connection((HOST, PORT), timeout=10)
                    s.sendall(b"*2\r\n$4\r\nECHO\r\n$200000000\r\n" + b"z" * (256 * 1024))
                    hogs.append(s)
                big_arrays = []
                for _ in range(40):
                    s = socket.create_connection((HOST, PORT), timeout=10)
                    s.sendall(b"*%d\r\n" % MAX_ARRAY_LEN + b"$1\r\nx\r\n" * 1000)
                    big_arrays.append(s)
                hogs += big_arrays
                time.sleep(0.5)
                grown = rss_mib() - base_rss
                # 40 x 256 KiB received (buffers at most double) plus small change.
                self.assertLess(grown, 40 * 0.25 * 2 + 100,
                                f"RSS grew {grown:.0f} MiB for 80 clients with unfinished frames")
            finally:
                for s in hogs:
                    s.close()
            self.notes.append(f"RSS growth with 80 unfinished huge frames: {grown:.0f} MiB")
        self.assert_alive()

    # ------------------------------------------------------------------ resets
    def test_resets_mid_reply(self):
        base_clients = info_int("connected_clients") - 1
        base_rss = rss_mib()
        stream = f"reset-{uuid.uuid4().hex[:10]}"
        scan = command("ESCAN", self.big_stream, "-", "+", "COUNT", "10000")
        streams = []
        with probing(self):
            for i in range(60):
                s = socket.create_connection((HOST, PORT), timeout=10)
                s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 32 * 1024)
                kind = i % 3
                if kind == 0:
                    # RST while the server is writing a large reply (part of it read).
                    s.sendall(scan * 4)
                    got = 0
                    while got < 200 * 1024:
                        chunk = s.recv(65536)
                        self.assertTrue(chunk)
                        got += len(chunk)
                elif kind == 1:
                    # RST while the reads are still running on the read pool.
                    s.sendall(scan * 8)
                else:
                    # RST while appends are in flight: the ones already dispatched commit, the
                    # rest do not, so each stream ends up with a gapless prefix of its events.
                    streams.append(f"{stream}-{i}")
                    s.sendall(b"".join(
                        command("EAPPEND", streams[-1], "Ev", "EXPECTED_VERSION",
                                "empty" if v == 0 else v - 1, "PAYLOAD", f"{v}:" + "x" * 1000)
                        for v in range(50)))
                rst_close(s)
            self.wait_clients(base_clients + 1)
            # The streams the reset clients appended to are consistent and still appendable.
            c = Client(timeout=10)
            try:
                for st in streams:
                    ver = c.call("ESVER", st)
                    scanned = c.call("ESCAN", st, "-", "+", "COUNT", "10000")["events"]
                    self.assertEqual([e["payload"] for e in scanned],
                                     [f"{v}:".encode() + b"x" * 1000 for v in range(len(scanned))])
                    self.assertEqual(ver, len(scanned) - 1 if scanned else None)
                    r = c.call("EAPPEND", st, "After", "EXPECTED_VERSION",
                               "empty" if ver is None else ver)
                    self.assertEqual(r["stream_version"], len(scanned), r)
            finally:
                c.close()
        # Nothing is kept: had the replies of the reset connections leaked, that would be ~1 GiB
        # (240 scans of 4 MiB). What stays is the allocator's cache.
        after = wait_until(lambda: (lambda r: r if r < base_rss + 400 else None)(rss_mib()), 15,
                           "RSS to settle after the resets")
        self.notes.append(f"60 resets, RSS {base_rss:.0f} -> {after:.0f} MiB")
        self.assert_alive()


if __name__ == "__main__":
    unittest.main(verbosity=2)
