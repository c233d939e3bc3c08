#!/usr/bin/env python3
"""Damaged closed segments against a real sierradb (issue 17): a stopped server's data directory
gets one flipped header byte in closed segment 1, and a flipped record byte plus deleted index
files in closed segment 2 (seeded; SEED=<n> repeats it). Then:
  - the server starts (it quarantines both segments) and INFO lists them;
  - every acknowledged event read by id is the exact original (stream version, partition
    sequence) or an error reply naming the segment, never a server path;
  - every partition scan (EPSCAN, all pages) returns a correct prefix and then either ends with
    everything or errors (READERR): no silent gap;
  - `sierradb check` exits non-zero and names both segments.
Servers listen on 127.0.0.1 only and are stopped by PID. Usage: quarantine_test.py --server BIN
"""
import argparse
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from disk_full_test import PARTITIONS, Failure, Server, as_dict, check  # noqa: E402

import redis  # noqa: E402


def flip(path, pos, mask):
    with open(path, "r+b") as f:
        f.seek(pos)
        b = f.read(1)[0]
        f.seek(pos)
        f.write(bytes([b ^ mask]))


def run(binary, tmp, seed):
    rng = random.Random(seed)
    data = os.path.join(tmp, "data")
    server = Server(binary, data, os.path.join(tmp, "server.log"))
    acked = []
    try:
        server.start()
        for i in range(700):
            stream = f"q{i % 7}"
            a = as_dict(server.r.execute_command("EAPPEND", stream, "E", "PAYLOAD",
                                                 "x" * (600 + rng.randrange(400))))
            eid = a["event_id"].decode() if isinstance(a["event_id"], bytes) else a["event_id"]
            acked.append((eid, int(a["stream_version"]), int(a["partition_sequence"]),
                          int(a["partition_id"])))
        check(server.stop(signal.SIGTERM) == 0, "SIGTERM exit code")
        root = os.path.join(data, "buckets", "00000", "segments")
        segs = sorted(os.listdir(root))
        check(len(segs) >= 4, f"too few segments ({len(segs)})")
        seg1 = os.path.join(root, segs[1], "data.evts")
        seg2 = os.path.join(root, segs[2], "data.evts")
        flip(seg1, rng.randrange(60), 1 + rng.randrange(255))
        flip(seg2, 64 + rng.randrange(os.path.getsize(seg2) - 64), 1 + rng.randrange(255))
        for f in ("index.eidx", "partition.pidx", "stream.sidx"):
            os.remove(os.path.join(root, segs[2], f))

        server.start()  # must start: the damage is quarantined
        info = server.info()
        listed = info.get("quarantined_segment_list", "").split(",")
        check(int(info.get("quarantined_segments", 0)) == 2 and "0/1" in listed and "0/2" in listed,
              f"INFO does not list the quarantined segments: {info}")
        errors = 0
        for eid, ver, seq, pid in acked:
            try:
                got = server.r.execute_command("EGET", eid)
            except redis.ResponseError as e:
                msg = str(e)
                check(msg.startswith("READERR") and "segment" in msg and tmp not in msg,
                      f"unclear error for event {eid}: {msg!r}")
                errors += 1
                continue
            check(got is not None, f"event {eid} silently missing")
            d = as_dict(got)
            check((int(d["stream_version"]), int(d["partition_sequence"])) == (ver, seq),
                  f"event {eid} read back wrong")
        check(errors > 0, "no read touched the damaged record")
        for pid in range(PARTITIONS):
            want = sorted(seq for _, _, seq, p in acked if p == pid)
            got, start, failed = [], 0, False
            for _ in range(10000):
                try:
                    page = as_dict(server.r.execute_command("EPSCAN", pid, start, "+", "COUNT", 200))
                except redis.ResponseError as e:
                    check(str(e).startswith("READERR") and tmp not in str(e), f"EPSCAN: {e}")
                    failed = True
                    break
                got += [int(as_dict(e)["partition_sequence"]) for e in page["events"]]
                if not int(page["has_more"]) or not got:
                    break
                start = got[-1] + 1
            check(got == want[:len(got)], f"partition {pid}: EPSCAN returned wrong sequences")
            check(failed or got == want, f"partition {pid}: EPSCAN ended early without an error")
        check(server.stop(signal.SIGTERM) == 0, "SIGTERM exit code")
        chk = subprocess.run([binary, "check", data], capture_output=True, text=True)
        check(chk.returncode != 0, "sierradb check found nothing")
        for s in ("bucket 0 segment 1", "bucket 0 segment 2"):
            check(s in chk.stdout, f"sierradb check does not report {s}:\n{chk.stdout}")
        print(f"  ok: seed {seed}, {len(acked)} events, {errors} reads refused with a clear error")
    except Failure as e:
        print(f"FAIL (seed {seed}): {e}\n--- server log tail ---\n{server.tail()}", file=sys.stderr)
        return 1
    finally:
        try:
            server.stop(signal.SIGKILL)
        except Failure:
            pass
    return 0


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--server", required=True)
    args = ap.parse_args()
    seed = int(os.environ.get("SEED", random.randrange(1 << 30)))
    print(f"  seed {seed} (SEED={seed} repeats it)", flush=True)
    tmp = tempfile.mkdtemp(prefix="sierradb-quarantine.")
    try:
        return run(os.path.abspath(args.server), tmp, seed)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
