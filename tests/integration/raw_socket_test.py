#!/usr/bin/env python3
"""Raw-socket tests against a real sierradb (python3 stdlib only).

Run through with_server.sh, which provides SIERRA_HOST / SIERRA_PORT / SIERRA_SERVER_PID.
Covers framing errors (PROTOCOL §1.2, §11 rows 13-15), inline commands, pipelining, many
connections, a client that never reads, and the exact RESP3/RESP2 bytes of the main replies.
"""
import os
import re
import resource
import socket
import time
import unittest
import uuid

HOST = os.environ.get("SIERRA_HOST", "127.0.0.1")
PORT = int(os.environ.get("SIERRA_PORT", "9090"))
SERVER_PID = int(os.environ.get("SIERRA_SERVER_PID", "0"))
UUID_RE = rb"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"


def command(*args):
    """Encodes a request as a RESP array of bulk strings."""
    out = [b"*%d\r\n" % len(args)]
    for a in args:
        a = a if isinstance(a, bytes) else str(a).encode()
        out.append(b"$%d\r\n%s\r\n" % (len(a), a))
    return b"".join(out)


class Incomplete(Exception):
    pass


def parse(buf, pos=0):
    """Parses one RESP2/RESP3 reply frame at buf[pos:]. Returns (value, next_pos).

    Errors come back as ("error", text); simple strings as str; blobs as bytes; null as None.
    Raises Incomplete if the frame is not complete yet."""
    end = buf.find(b"\r\n", pos)
    if end < 0:
        raise Incomplete()
    kind, line = buf[pos:pos + 1], buf[pos + 1:end]
    nxt = end + 2
    if kind == b"+":
        return line.decode(), nxt
    if kind == b"-":
        return ("error", line.decode()), nxt
    if kind == b":":
        return int(line), nxt
    if kind == b",":
        return float(line), nxt
    if kind == b"#":
        return line == b"t", nxt
    if kind == b"_":
        return None, nxt
    if kind in (b"$", b"="):
        n = int(line)
        if n < 0:
            return None, nxt
        if len(buf) < nxt + n + 2:
            raise Incomplete()
        return bytes(buf[nxt:nxt + n]), nxt + n + 2
    if kind in (b"*", b">", b"%"):
        n = int(line)
        if n < 0:
            return None, nxt
        items = []
        for _ in range(n * 2 if kind == b"%" else n):
            item, nxt = parse(buf, nxt)
            items.append(item)
        if kind == b"%":
            return dict(zip(items[0::2], items[1::2])), nxt
        return items, nxt
    raise AssertionError(f"unexpected reply byte {kind!r} in {bytes(buf[pos:pos + 60])!r}")


class Conn:
    RECV = 1 << 16  # bytes per recv

    def __init__(self, timeout=10.0, port=None):
        self.sock = socket.create_connection((HOST, port or PORT), timeout=timeout)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.buf = bytearray()
        self.pos = 0

    def send(self, data):
        self.sock.sendall(data)

    def reply(self):
        """Reads and parses the next reply frame."""
        while True:
            try:
                value, nxt = parse(self.buf, self.pos)
                self.pos = nxt
                if self.pos > 1 << 20:
                    del self.buf[:self.pos]
                    self.pos = 0
                return value
            except Incomplete:
                data = self.sock.recv(self.RECV)
                if not data:
                    raise ConnectionError("server closed the connection")
                self.buf += data

    def call(self, *args):
        self.send(command(*args))
        return self.reply()

    def raw(self, data, expect_bytes):
        """Sends data, returns the next expect_bytes reply bytes (bytes or an int)."""
        if isinstance(expect_bytes, bytes):
            expect_bytes = len(expect_bytes)
        self.send(data)
        while len(self.buf) - self.pos < expect_bytes:
            chunk = self.sock.recv(self.RECV)
            if not chunk:
                break
            self.buf += chunk
        out = bytes(self.buf[self.pos:self.pos + expect_bytes])
        self.pos += len(out)
        return out

    def read_until_closed(self, timeout=10.0):
        """Everything the server sends until it closes. Fails if it does not close in time."""
        self.sock.settimeout(timeout)
        data = bytearray(self.buf[self.pos:])
        try:
            while True:
                chunk = self.sock.recv(self.RECV)
                if not chunk:
                    return bytes(data)
                data += chunk
        except ConnectionResetError:
            return bytes(data)
        except socket.timeout:
            raise AssertionError(f"server did not close the connection within {timeout} s; "
                                 f"got {bytes(data[:200])!r}") from None

    def close(self):
        self.sock.close()


def exchange_raw(data, settle=0.5):
    """New connection: sends data, returns (bytes received, closed by server)."""
    s = socket.create_connection((HOST, PORT), timeout=settle)
    out, closed = b"", False
    try:
        s.sendall(data)
        while True:
            chunk = s.recv(1 << 16)
            if not chunk:
                closed = True
                break
            out += chunk
    except socket.timeout:
        pass
    except ConnectionResetError:
        closed = True
    finally:
        s.close()
    return out, closed


def server_cpu_seconds():
    with open(f"/proc/{SERVER_PID}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class RawSocketTest(unittest.TestCase):
    def assert_alive(self):
        c = Conn(timeout=5)
        try:
            self.assertEqual(c.raw(command("PING"), 7), b"+PONG\r\n")
        finally:
            c.close()

    def assert_protocol_error_and_close(self, data):
        c = Conn()
        try:
            c.send(data)
            got = c.read_until_closed()
        finally:
            c.close()
        self.assertTrue(got.startswith(b"-ERR Protocol error"), got[:200])
        self.assertTrue(got.endswith(b"\r\n") and got.count(b"\r\n") == 1, got[:200])
        self.assert_alive()

    # ------------------------------------------------------------------ framing errors
    def test_garbage_gets_protocol_error_and_close(self):
        self.assert_protocol_error_and_close(b"*abc\r\n")
        self.assert_protocol_error_and_close(b"*1\r\n%0\r\n")
        self.assert_protocol_error_and_close(b'ECHO "unbalanced\r\n')
        # 100 kB of binary junk without a line end: too big for an inline command.
        junk = bytes((i * 37 + 11) % 256 for i in range(100_000)).replace(b"\n", b"x")
        self.assert_protocol_error_and_close(b"\xff\xfe" + junk)

    def test_huge_bulk_length(self):
        self.assert_protocol_error_and_close(b"*1\r\n$999999999999\r\n")
        # above the 256 MiB segment size that caps limits.max_bulk_bytes
        self.assert_protocol_error_and_close(b"*2\r\n$4\r\nECHO\r\n$300000000\r\n")
        self.assert_protocol_error_and_close(b"*1\r\n$-5\r\n")

    def test_huge_array_length(self):
        self.assert_protocol_error_and_close(b"*99999999999\r\n")
        self.assert_protocol_error_and_close(b"*2000000\r\n")  # > limits.max_array_len

    def test_bulk_without_crlf(self):
        self.assert_protocol_error_and_close(b"*1\r\n$4\r\nPINGxx")

    def test_partial_frame_then_eof(self):
        for partial in (b"*1\r\n$4\r\nPI", b"*2\r\n", b"*1\r\n$4", b"PIN"):
            with self.subTest(partial=partial):
                c = Conn()
                try:
                    c.send(partial)
                    c.sock.shutdown(socket.SHUT_WR)
                    got = c.read_until_closed(timeout=5)
                finally:
                    c.close()
                self.assertTrue(got == b"" or got.startswith(b"-"), got[:200])
        # The server must not spin on the half-closed connections (upstream bug, §1.7).
        if SERVER_PID:
            before = server_cpu_seconds()
            time.sleep(1.0)
            used = server_cpu_seconds() - before
            self.assertLess(used, 0.5, f"server used {used:.2f} s CPU in 1 s while idle")
        self.assert_alive()

    def test_errors_keep_the_connection(self):
        c = Conn()
        try:
            self.assertEqual(c.call("FOO", "bar"), ("error", "INVALIDARG unknown command 'FOO'"))
            c.send(b"*0\r\n" + command("PING"))  # empty command: an error, not a close
            first = c.reply()
            self.assertIsInstance(first, tuple, first)
            self.assertEqual(c.reply(), "PONG")
            c.send(command("EAPPEND") + command("ESCAN", "x", "+", "-") + command("PING"))
            self.assertEqual(c.reply()[0], "error")
            self.assertEqual(c.reply(), ("error", "INVALIDARG start version cannot be '+'"))
            self.assertEqual(c.reply(), "PONG")
        finally:
            c.close()

    # ------------------------------------------------------------------ inline commands
    def test_inline_commands(self):
        out, closed = exchange_raw(b"PING\r\n")
        self.assertEqual((out, closed), (b"+PONG\r\n", False))
        out, closed = exchange_raw(b"PING\r\nECHO hello\r\nECHO \"a b\"\r\n\r\nPING\n")
        self.assertEqual(out, b"+PONG\r\n$5\r\nhello\r\n$3\r\na b\r\n+PONG\r\n")
        self.assertFalse(closed)

    def test_fragmented_request(self):
        c = Conn()
        try:
            for b in command("ECHO", "hello"):
                c.send(bytes([b]))
                time.sleep(0.001)
            self.assertEqual(c.reply(), b"hello")
        finally:
            c.close()

    # ------------------------------------------------------------------ pipelining
    def test_10000_pipelined_pings_in_one_write(self):
        n = 10_000
        c = Conn(timeout=30)
        try:
            c.send(b"".join(command("PING", str(i)) for i in range(n)) + command("PING"))
            for i in range(n):
                got = c.reply()
                if got != str(i).encode():
                    self.fail(f"reply {i}: got {got!r}")
            self.assertEqual(c.reply(), "PONG")
        finally:
            c.close()

    def test_500_concurrent_connections(self):
        soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        want = 4096 if hard == resource.RLIM_INFINITY else min(hard, 4096)
        if soft < want:
            resource.setrlimit(resource.RLIMIT_NOFILE, (want, hard))
        conns = []
        try:
            for _ in range(500):
                conns.append(Conn(timeout=20))
            for c in conns:
                c.send(command("PING"))
            for c in conns:
                self.assertEqual(c.reply(), "PONG")
            info = conns[0].call("INFO", "clients").decode()
            m = re.search(r"connected_clients:(\d+)", info)
            self.assertIsNotNone(m, info)
            self.assertGreaterEqual(int(m.group(1)), 500)
            for i, c in enumerate(conns):  # every connection still works
                c.send(command("ECHO", str(i)))
            for i, c in enumerate(conns):
                self.assertEqual(c.reply(), str(i).encode())
        finally:
            for c in conns:
                c.close()
        self.assert_alive()

    def test_client_that_never_reads(self):
        slow = socket.create_connection((HOST, PORT))
        slow.setblocking(False)
        request = command("ECHO", b"x" * 65536)  # each reply is as large as the request
        sent, stalled_since, deadline = 0, None, time.monotonic() + 10
        outcome = "stalled"
        try:
            while sent < 256 << 20 and time.monotonic() < deadline:
                try:
                    sent += slow.send(request)
                    stalled_since = None
                except BlockingIOError:
                    if stalled_since is None:
                        stalled_since = time.monotonic()
                    elif time.monotonic() - stalled_since > 0.5:
                        break  # the server stopped reading from us: backpressure
                    time.sleep(0.01)
                except (BrokenPipeError, ConnectionResetError):
                    outcome = "dropped"  # too many unsent replies: also fine
                    break
            # Another client is served promptly while the slow one is stuck or dropped.
            start = time.monotonic()
            other = Conn(timeout=5)
            try:
                for i in range(20):
                    self.assertEqual(other.call("ECHO", str(i)), str(i).encode())
                stream = f"raw-{uuid.uuid4().hex[:8]}"
                reply = other.call("EAPPEND", stream, "ev", "EXPECTED_VERSION", "empty")
                self.assertEqual(reply["stream_version"], 0, reply)
            finally:
                other.close()
            self.assertLess(time.monotonic() - start, 5.0)
            print(f"\n  slow client: sent {sent >> 20} MiB, {outcome}", end=" ... ", flush=True)
        finally:
            slow.close()
        self.assert_alive()

    def test_quit(self):
        c = Conn()
        try:
            c.send(command("QUIT") + command("PING"))
            self.assertEqual(c.read_until_closed(), b"+OK\r\n")
        finally:
            c.close()

    # ------------------------------------------------------------------ exact reply bytes
    def test_resp3_bytes_without_hello(self):
        c = Conn()
        try:
            self.assertEqual(c.raw(command("PING"), 7), b"+PONG\r\n")
            self.assertEqual(c.raw(command("ESVER", "never-written"), 3), b"_\r\n")
            self.assertEqual(c.raw(command("EGET", str(uuid.uuid4())), 3), b"_\r\n")
            empty = b"%2\r\n+has_more\r\n#f\r\n+events\r\n*0\r\n"
            self.assertEqual(c.raw(command("EPSCAN", "0", "999999", "+"), empty), empty)
            err = b"-INVALIDARG unknown command 'NOPE'\r\n"
            self.assertEqual(c.raw(command("nope"), len(err)), err)
        finally:
            c.close()

    def test_hello_bytes(self):
        c = Conn()
        try:
            c.send(command("HELLO", "3"))
            hello = c.reply()
            wire = bytes(c.buf)
        finally:
            c.close()
        self.assertTrue(wire.startswith(b"%10\r\n$6\r\nserver\r\n$8\r\nsierradb\r\n$7\r\nversion\r\n$"),
                        wire[:80])
        self.assertIn(b"$14\r\nnum_partitions\r\n:32\r\n$5\r\nproto\r\n:3\r\n", wire)
        self.assertEqual(list(hello)[:5],
                         [b"server", b"version", b"peer_id", b"num_partitions", b"proto"])

    def test_event_bytes(self):
        c = Conn()
        try:
            # Other tests of this server append to random streams, which may have landed in
            # partition 21 already: the expected sequence starts after what is there.
            latest = c.call("EPSEQ", "21")
            seq = b"0" if latest is None else str(latest + 1).encode()
            c.buf.clear()
            c.pos = 0
            c.send(command("EAPPEND", "user-123", "UserRegistered", "EXPECTED_VERSION", "empty",
                           "PAYLOAD", '{"a":1}'))
            c.reply()
            append = bytes(c.buf)
            c.buf.clear()
            c.pos = 0
            c.send(command("ESCAN", "user-123", "-", "+", "COUNT", "10"))
            c.reply()
            scan = bytes(c.buf)
            c.buf.clear()
            c.pos = 0
            c.send(command("INFO", "CACHE"))
            c.reply()
            cache = bytes(c.buf)
        finally:
            c.close()
        key = rb"7e124fe8-fe28-5398-bb95-53973100148f"
        self.assertRegex(append, re.compile(
            rb"%6\r\n\+event_id\r\n\+" + UUID_RE + rb"\r\n\+partition_key\r\n\+" + key +
            rb"\r\n\+partition_id\r\n:21\r\n\+partition_sequence\r\n:" + seq + rb"\r\n"
            rb"\+stream_version\r\n:0\r\n\+timestamp\r\n:\d{13}\r\n\Z"))
        self.assertRegex(scan, re.compile(
            rb"%2\r\n\+has_more\r\n#f\r\n\+events\r\n\*1\r\n%11\r\n"
            rb"\+event_id\r\n\+" + UUID_RE + rb"\r\n\+partition_key\r\n\+" + key + rb"\r\n"
            rb"\+partition_id\r\n:21\r\n\+transaction_id\r\n\+" + UUID_RE + rb"\r\n"
            rb"\+partition_sequence\r\n:" + seq + rb"\r\n\+stream_version\r\n:0\r\n"
            rb"\+timestamp\r\n:\d{13}\r\n"
            rb"\+stream_id\r\n\$8\r\nuser-123\r\n\+event_name\r\n\$14\r\nUserRegistered\r\n"
            rb"\+metadata\r\n\$0\r\n\r\n\+payload\r\n\$7\r\n\{\"a\":1\}\r\n\Z"))
        self.assertRegex(cache, re.compile(
            rb"%8\r\n\$4\r\nhits\r\n:\d+\r\n\$6\r\nmisses\r\n:\d+\r\n\$9\r\nhit_ratio\r\n,[0-9.e+-]+\r\n"
            rb"\$7\r\nentries\r\n:\d+\r\n\$12\r\nmemory_bytes\r\n:\d+\r\n"
            rb"\$9\r\nmax_bytes\r\n:268435456\r\n\$16\r\nblock_size_bytes\r\n:65536\r\n"
            rb"\$9\r\nevictions\r\n:\d+\r\n\Z"))

    def test_resp2_bytes_after_hello_2(self):
        c = Conn()
        try:
            c.send(command("HELLO", "2"))
            hello = c.reply()
            self.assertIsInstance(hello, list)  # a flattened map
            self.assertTrue(bytes(c.buf).startswith(b"*20\r\n$6\r\nserver\r\n"), bytes(c.buf[:40]))
            self.assertEqual(c.raw(command("ESVER", "never-written"), 5), b"$-1\r\n")
            empty = b"*4\r\n+has_more\r\n:0\r\n+events\r\n*0\r\n"
            self.assertEqual(c.raw(command("ESCAN", "never-written", "-", "+"), empty), empty)
            self.assertEqual(c.raw(command("HELLO", "3"), 5), b"%10\r\n")  # and back to RESP3
        finally:
            c.close()

    def test_resp3_number_arguments(self):
        c = Conn()
        try:
            c.send(command("EAPPEND", "num-args", "ev", "EXPECTED_VERSION", "empty"))
            c.reply()
            c.send(b"*4\r\n$5\r\nESCAN\r\n$8\r\nnum-args\r\n:0\r\n++\r\n")
            scan = c.reply()
            self.assertEqual(len(scan["events"]), 1)
        finally:
            c.close()


if __name__ == "__main__":
    unittest.main(verbosity=2)
