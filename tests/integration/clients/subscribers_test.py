#!/usr/bin/env python3
"""Runs one subscriber example (examples/subscribers/) against a real server for a bounded time
and checks that it handled every event appended meanwhile, in order, once: the followed stream's
events in version order, and in every partition the appended events in sequence order. Then runs
it again from its checkpoint (its acknowledgements) and checks that it resumes after the last
event it handled: only the events appended since, none twice.

    subscribers_test.py --example node-redis|ioredis|redis_py [--package redis6]

Environment: SIERRA_PORT (with_server.sh), SUBSCRIBER_NODE_MODULES (node examples),
SUBSCRIBERS_TEST_SEED=<n> repeats a run (the seed is printed).
"""
import argparse
import json
import os
import random
import subprocess
import sys
import tempfile
import threading
import time

import redis

HERE = os.path.dirname(os.path.abspath(__file__))
EXAMPLES = os.path.normpath(os.path.join(HERE, "..", "..", "..", "examples", "subscribers"))
DURATION_MS = 7000


class Hello2Connection(redis.Connection):
    def on_connect(self):
        super().on_connect()
        self.send_command("HELLO", "2")
        self.read_response()


def field(m, key):
    for i in range(0, len(m) - 1, 2):
        if m[i] in (key, key.encode()):
            return m[i + 1]
    return None


def fail(msg):
    print(f"FAIL [subscribers {ARGS.example}]: {msg}", file=sys.stderr)
    sys.exit(1)


def command(port, stream, checkpoint):
    base = ["--port", str(port), "--stream", stream, "--duration-ms", str(DURATION_MS),
            "--checkpoint", checkpoint]
    if ARGS.example == "redis_py":
        return [sys.executable, os.path.join(EXAMPLES, "redis_py.py")] + base
    return ["node", os.path.join(EXAMPLES, f"{ARGS.example}.mjs")] + base


def run_once(port, r, rng, stream, checkpoint, n_stream, n_other):
    env = dict(os.environ)
    if ARGS.package:
        env["SUBSCRIBER_REDIS_PACKAGE"] = ARGS.package
    proc = subprocess.Popen(command(port, stream, checkpoint), stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=env)
    lines = []
    ready = threading.Event()

    def reader():
        for line in proc.stdout:
            line = line.strip()
            if line == "ready":
                ready.set()
            elif line:
                lines.append(json.loads(line))

    t = threading.Thread(target=reader, daemon=True)
    t.start()
    try:
        if not ready.wait(15):
            fail(f"the example did not start: {proc.stderr.read() if proc.poll() is not None else ''}")
        appended = []
        kinds = ["s"] * n_stream + ["o"] * n_other
        rng.shuffle(kinds)
        for i, kind in enumerate(kinds):
            # The server's default strict versioning wants an expected version on every append.
            if kind == "s":
                target, expected = stream, str(NEXT_VERSION[0] - 1) if NEXT_VERSION[0] else "empty"
                NEXT_VERSION[0] += 1
            else:
                target, expected = f"other-{rng.randrange(10**12)}", "empty"
            rep = r.execute_command("EAPPEND", target, f"Ev{i}", "EXPECTED_VERSION", expected)
            appended.append({"stream_id": target,
                             "event_id": field(rep, "event_id").decode(),
                             "stream_version": int(field(rep, "stream_version")),
                             "partition_id": int(field(rep, "partition_id")),
                             "partition_sequence": int(field(rep, "partition_sequence"))})
            if rng.random() < 0.2:
                time.sleep(rng.uniform(0.0, 0.15))
        try:
            proc.wait(timeout=DURATION_MS / 1000 + 15)
        except subprocess.TimeoutExpired:
            fail("the example did not stop after its duration")
        t.join(5)
        if proc.returncode != 0:
            fail(f"the example exited with {proc.returncode}: {proc.stderr.read()[-2000:]}")
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    return appended, lines


def check(appended, lines, first_version):
    got_stream = [e for e in lines if e["source"] == "stream"]
    want_stream = [a for a in appended if a["stream_id"] == ARGS_STREAM[0]]
    if [e["event_id"] for e in got_stream] != [a["event_id"] for a in want_stream]:
        fail(f"stream loop: got versions {[e['stream_version'] for e in got_stream]}, "
             f"want {[a['stream_version'] for a in want_stream]}")
    if want_stream and want_stream[0]["stream_version"] != first_version:
        fail(f"stream starts at {want_stream[0]['stream_version']}, want {first_version}")
    got_all = [e for e in lines if e["source"] == "all"]
    seen = set()
    last = {}
    for e in got_all:
        key = (e["partition_id"], e["partition_sequence"])
        if key in seen:
            fail(f"partition loop: {key} handled twice")
        seen.add(key)
        if e["partition_sequence"] <= last.get(e["partition_id"], -1):
            fail(f"partition loop: partition {e['partition_id']} out of order")
        last[e["partition_id"]] = e["partition_sequence"]
    for a in appended:
        if (a["partition_id"], a["partition_sequence"]) not in seen:
            fail(f"partition loop: appended event {a} never handled")
    return seen


ARGS_STREAM = [""]
NEXT_VERSION = [0]  # of the followed stream


def main():
    global ARGS
    ap = argparse.ArgumentParser()
    ap.add_argument("--example", required=True, choices=["node-redis", "ioredis", "redis_py"])
    ap.add_argument("--package", default="")
    ARGS = ap.parse_args()
    seed = int(os.environ.get("SUBSCRIBERS_TEST_SEED", random.randrange(2**31)))
    print(f"subscribers {ARGS.example} {ARGS.package}: seed {seed} (SUBSCRIBERS_TEST_SEED={seed})")
    rng = random.Random(seed)
    port = int(os.environ["SIERRA_PORT"])
    r = redis.Redis(connection_pool=redis.ConnectionPool(connection_class=Hello2Connection,
                                                         host="127.0.0.1", port=port))
    stream = f"followed-{seed}-{ARGS.example}-{ARGS.package}"
    ARGS_STREAM[0] = stream
    with tempfile.TemporaryDirectory() as tmp:
        cp = os.path.join(tmp, "checkpoint.json")
        appended, lines = run_once(port, r, rng, stream, cp, 30, 60)
        seen = check(appended, lines, 0)
        # Resume from the checkpoint: only what was appended since, nothing handled twice.
        appended2, lines2 = run_once(port, r, rng, stream, cp, 10, 20)
        seen2 = check(appended2, lines2, 30)
        if seen & seen2:
            fail(f"after the restart, handled again: {sorted(seen & seen2)[:5]}")
        if len([e for e in lines2 if e["source"] == "stream"]) != 10:
            fail("after the restart the stream loop did not resume after its checkpoint")
    print(f"PASS [subscribers {ARGS.example} {ARGS.package}]: {len(lines)} + {len(lines2)} events")
    return 0


if __name__ == "__main__":
    sys.exit(main())
