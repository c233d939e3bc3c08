#!/usr/bin/env python3
"""A full disk against a real sierradb (issue 17): the data directory lives on a small tmpfs the
test mounts (root is needed; without permission to mount, the test is skipped with exit code 77).

  1. appends fill the disk, with 128 KiB segments so that rollovers (and their index-file writes)
     happen at the edge of the space: once full, appends fail with a clean error (stable word and
     condition, no server path), and nothing acknowledged is lost;
  2. reads work while the disk is full (EGET, EPSCAN, ESCAN);
  3. space is freed: appends resume without a restart, INFO's index_writes_waiting drops to 0;
  4. the disk is filled again and one closed segment's index files are deleted, then the server
     is restarted *while still full*, after SIGTERM and after kill -9: it starts, reads work,
     appends fail cleanly; INFO shows the segment waiting for its index files;
  5. space is freed again: appends resume, the index files are written (present on disk);
  6. SIGTERM (exit 0), `sierradb check` is clean, and after a last restart every acknowledged
     event is present with its stream version and partition sequence.
Servers listen on 127.0.0.1 only and are stopped by PID. The tmpfs is unmounted at the end, also
on failure. Usage: disk_full_test.py --server build/sierradb
"""
import argparse
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid

try:
    import redis
except ImportError:  # pragma: no cover
    sys.exit("python3-redis is missing (run 'make deps')")

SKIP = 77
PARTITIONS = 4
TMPFS_SIZE = 8 * 1024 * 1024
SEGMENT = 131072


class Resp2Connection(redis.Connection):
    def on_connect(self):
        super().on_connect()
        self.send_command("HELLO", "2")
        self.read_response()


def as_dict(flat):
    keys = [k.decode() if isinstance(k, bytes) else k for k in flat[0::2]]
    return dict(zip(keys, flat[1::2]))


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


class Failure(Exception):
    pass


def check(cond, msg):
    if not cond:
        raise Failure(msg)


class Server:
    def __init__(self, binary, datadir, log_path):
        self.binary, self.datadir, self.log_path = binary, datadir, log_path
        self.proc = None

    def start(self):
        self.port = free_port()
        log = open(self.log_path, "ab")
        log.write(b"===== start =====\n")
        log.flush()
        env = {k: v for k, v in os.environ.items() if not k.startswith("SIERRA_")}
        env["XDG_CONFIG_HOME"] = os.path.dirname(self.log_path)
        self.proc = subprocess.Popen(
            [self.binary, "--dir", self.datadir, "--client-address", f"127.0.0.1:{self.port}",
             "--partitions", str(PARTITIONS), "--buckets", "1", "--segment-size", str(SEGMENT),
             "--strict-versioning", "false", "--log-level", "info"], stdout=log, stderr=subprocess.STDOUT, env=env)
        log.close()
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            check(self.proc.poll() is None,
                  f"server exited at start with {self.proc.returncode}: {self.tail()}")
            try:
                c = self.client()
                if c.ping():
                    self.r = c
                    return
            except (redis.ConnectionError, OSError):
                pass
            time.sleep(0.05)
        raise Failure("server did not answer PING within 30 s")

    def client(self):
        pool = redis.ConnectionPool(connection_class=Resp2Connection, host="127.0.0.1",
                                    port=self.port, socket_timeout=30)
        return redis.Redis(connection_pool=pool)

    def stop(self, sig):
        if self.proc is None or self.proc.poll() is not None:
            return self.proc.returncode if self.proc else 0
        self.proc.send_signal(sig)  # by PID
        try:
            return self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout=10)
            raise Failure("server did not stop within 30 s")

    def tail(self):
        try:
            with open(self.log_path, "rb") as f:
                return f.read()[-3000:].decode(errors="replace")
        except OSError:
            return ""

    def info(self):
        text = self.r.execute_command("INFO", "STORAGE")
        if isinstance(text, dict):  # redis-py parses INFO itself
            return {k: str(v) for k, v in text.items()}
        if isinstance(text, bytes):
            text = text.decode()
        out = {}
        for line in str(text).splitlines():
            if ":" in line:
                k, v = line.split(":", 1)
                out[k.strip()] = v.strip()
        return out


def fill_file(path, limit=64 * 1024 * 1024):
    """Writes zeros to `path` until the disk is full (bounded). Returns bytes written."""
    n = 0
    chunk = b"\0" * 65536
    with open(path, "ab", buffering=0) as f:
        while n < limit:
            try:
                n += f.write(chunk)
            except OSError:
                small = b"\0" * 512
                try:
                    while n < limit:
                        n += f.write(small)
                except OSError:
                    return n
    return n


class Test:
    def __init__(self, binary, tmp, mnt):
        self.mnt = mnt
        self.data = os.path.join(mnt, "data")
        self.server = Server(binary, self.data, os.path.join(tmp, "server.log"))
        self.binary = binary
        self.acked = []  # (event_id, stream, version, sequence, partition)
        self.n = 0

    def append(self):
        """One EAPPEND: the reply dict, or the error text."""
        self.n += 1
        stream = f"s{self.n % 5}"
        try:
            a = as_dict(self.server.r.execute_command(
                "EAPPEND", stream, "Filled", "PAYLOAD", os.urandom(700).hex()[:900]))
        except redis.ResponseError as e:
            return str(e)
        eid = a["event_id"].decode() if isinstance(a["event_id"], bytes) else a["event_id"]
        self.acked.append((eid, stream, int(a["stream_version"]), int(a["partition_sequence"]),
                           int(a["partition_id"])))
        return a

    def expect_clean_full_error(self, err):
        check(isinstance(err, str), f"an append on a full disk was acknowledged: {err}")
        check(err.startswith("DBOPFAILED") and "disk full" in err,
              f"not a clean disk-full error: {err!r}")
        check(self.mnt not in err and "/" not in err, f"error reply shows a server path: {err!r}")

    def fill_with_appends(self):
        """Appends until they fail; a few more attempts must fail cleanly too."""
        for _ in range(20000):
            r = self.append()
            if isinstance(r, str):
                self.expect_clean_full_error(r)
                break
        else:
            raise Failure("the disk never filled up")
        fails = 0
        for _ in range(20):  # space released by preallocation may take a few more
            r = self.append()
            if isinstance(r, str):
                self.expect_clean_full_error(r)
                fails += 1
        check(fails > 0, "appends succeed on a full disk")

    def verify_reads(self, sample_all=False):
        r = self.server.r
        events = self.acked if sample_all else self.acked[:: max(1, len(self.acked) // 200)]
        for eid, stream, ver, seq, pid in events:
            got = r.execute_command("EGET", eid)
            check(got is not None, f"acknowledged event {eid} missing")
            d = as_dict(got)
            check(int(d["stream_version"]) == ver and int(d["partition_sequence"]) == seq,
                  f"event {eid}: version/sequence {d['stream_version']}/{d['partition_sequence']}"
                  f", acknowledged {ver}/{seq}")
        # Every partition, all pages: exactly the acknowledged sequences.
        by_pid = {}
        for eid, _, _, seq, pid in self.acked:
            by_pid.setdefault(pid, []).append((seq, eid))
        for pid, want in by_pid.items():
            got, start = [], 0
            for _ in range(10000):
                page = as_dict(r.execute_command("EPSCAN", pid, start, "+", "COUNT", 500))
                for e in page["events"]:
                    e = as_dict(e)
                    eid = e["event_id"].decode() if isinstance(e["event_id"], bytes) else e["event_id"]
                    got.append((int(e["partition_sequence"]), eid))
                if not int(page["has_more"]):
                    break
                start = got[-1][0] + 1
            check(got == sorted(want), f"partition {pid}: EPSCAN differs from the acknowledged "
                                       f"events ({len(got)} vs {len(want)})")
        by_stream = {}
        for eid, stream, ver, _, _ in self.acked:
            by_stream.setdefault(stream, []).append(ver)
        for stream, want in by_stream.items():
            got, start = [], 0
            for _ in range(10000):
                page = as_dict(r.execute_command("ESCAN", stream, start, "+", "COUNT", 500))
                got += [int(as_dict(e)["stream_version"]) for e in page["events"]]
                if not int(page["has_more"]) or not got:
                    break
                start = got[-1] + 1
            check(got == sorted(want), f"stream {stream}: ESCAN versions differ "
                                       f"({len(got)} vs {len(want)})")

    def wait_index_writes(self, want_zero=True, timeout=40):
        deadline = time.monotonic() + timeout
        info = {}
        while time.monotonic() < deadline:
            info = self.server.info()
            waiting = int(info.get("index_writes_waiting", "-1"))
            if (waiting == 0) == want_zero:
                return info
            time.sleep(0.1)
        raise Failure(f"index_writes_waiting did not become {'0' if want_zero else '>0'}: {info}")

    def closed_segments_without_index(self):
        root = os.path.join(self.data, "buckets", "00000", "segments")
        segs = sorted(os.listdir(root))
        missing = []
        for s in segs[:-1]:  # all but the live one
            for f in ("index.eidx", "partition.pidx", "stream.sidx"):
                if not os.path.exists(os.path.join(root, s, f)):
                    missing.append(f"{s}/{f}")
        return segs, missing

    def run(self):
        filler = os.path.join(self.mnt, "filler")
        with open(filler, "wb") as f:
            f.write(b"\0" * (4 * 1024 * 1024))
        self.server.start()
        print(f"  1. filling the disk with appends", flush=True)
        self.fill_with_appends()
        print(f"     {len(self.acked)} events acknowledged; INFO: "
              f"{self.server.info().get('index_writes_waiting_segments')!r} waiting", flush=True)
        print("  2. reads while full", flush=True)
        self.verify_reads()
        print("  3. freeing space: appends resume without restart", flush=True)
        os.remove(filler)
        for _ in range(200):
            r = self.append()
            check(not isinstance(r, str), f"append failed after space was freed: {r}")
        self.wait_index_writes(True)
        segs, missing = self.closed_segments_without_index()
        check(not missing, f"index files missing after space returned: {missing}")
        check(len(segs) >= 3, f"too few segments for the test ({len(segs)})")

        print("  4. restart while still full (SIGTERM, then kill -9)", flush=True)
        root = os.path.join(self.data, "buckets", "00000", "segments")
        for f in ("index.eidx", "partition.pidx", "stream.sidx"):
            os.remove(os.path.join(root, segs[1], f))
        fill_file(filler)
        self.fill_with_appends()  # whatever space the deletion gave back
        code = self.server.stop(signal.SIGTERM)
        check(code == 0, f"SIGTERM exit code {code}")
        fill_file(filler)  # whatever the clean close released (preallocated zeros)
        self.server.start()
        info = self.server.info()
        check(int(info.get("index_writes_waiting", 0)) >= 1,
              f"INFO does not show the segment waiting for its index files: {info}")
        check(f"0/{int(segs[1])}" in info.get("index_writes_waiting_segments", "").split(","),
              f"INFO does not list segment {int(segs[1])}: {info}")
        self.verify_reads()
        self.expect_clean_full_error(self.append())
        self.server.stop(signal.SIGKILL)
        self.server.start()
        fill_file(filler)  # the open may release preallocated zeros of the live segment
        self.verify_reads()
        self.expect_clean_full_error(self.append())

        print("  5. freeing space again: appends resume, index files written", flush=True)
        os.remove(filler)
        for _ in range(100):
            r = self.append()
            check(not isinstance(r, str), f"append failed after space was freed: {r}")
        self.wait_index_writes(True)
        _, missing = self.closed_segments_without_index()
        check(not missing, f"index files missing after space returned: {missing}")

        print("  6. clean stop, check, every acknowledged event", flush=True)
        code = self.server.stop(signal.SIGTERM)
        check(code == 0, f"SIGTERM exit code {code}")
        chk = subprocess.run([self.binary, "check", self.data], capture_output=True, text=True)
        check(chk.returncode == 0, f"sierradb check failed:\n{chk.stdout}{chk.stderr}")
        self.server.start()
        self.verify_reads(sample_all=True)
        self.server.stop(signal.SIGTERM)
        print(f"  ok: {len(self.acked)} acknowledged events all present", flush=True)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--server", required=True)
    args = ap.parse_args()
    binary = os.path.abspath(args.server)
    tmp = tempfile.mkdtemp(prefix="sierradb-diskfull.")
    mnt = os.path.join(tmp, "mnt")
    os.makedirs(mnt)
    m = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={TMPFS_SIZE}", "tmpfs", mnt],
                       capture_output=True, text=True)
    if m.returncode != 0:
        print(f"SKIP: cannot mount a tmpfs here ({m.stderr.strip() or m.returncode}); this test "
              f"needs permission to mount", flush=True)
        shutil.rmtree(tmp, ignore_errors=True)
        return SKIP
    test = Test(binary, tmp, mnt)
    ok = False
    try:
        test.run()
        ok = True
    except Failure as e:
        print(f"FAIL: {e}\n--- server log tail ---\n{test.server.tail()}", file=sys.stderr)
    finally:
        try:
            test.server.stop(signal.SIGKILL)
        except Failure:
            pass
        u = subprocess.run(["umount", mnt], capture_output=True, text=True)
        if u.returncode != 0:
            subprocess.run(["umount", "-l", mnt], capture_output=True)
        shutil.rmtree(tmp, ignore_errors=True)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
