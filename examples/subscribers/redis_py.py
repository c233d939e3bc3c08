#!/usr/bin/env python3
"""A SierraDB subscriber written with redis-py (4.x, Debian's python3-redis).

Follows one stream and every partition live with blocking reads (docs/CLIENTS.md, "Following
events"), acknowledging each event by saving its position as a checkpoint once it is handled,
so a restart of either side resumes after the last handled event (the read is reissued from
there).

    python3 redis_py.py [--port 9090] [--stream orders-1] [--duration-ms 0] [--checkpoint FILE]

Prints one JSON line per event handled ({"source": "stream"|"all", ...}) and "ready" once both
loops have issued their first read. --duration-ms 0 runs until killed.
"""
import argparse
import json
import os
import sys
import threading
import time

import redis


class Hello2Connection(redis.Connection):
    """redis-py 4 reads RESP2 only: HELLO 2 on every (re)connect (maps come back flat)."""

    def on_connect(self):
        super().on_connect()
        self.send_command("HELLO", "2")
        self.read_response()


def field(m, key):
    """A map reply in RESP2: a flat [k, v, ...] list."""
    for i in range(0, len(m) - 1, 2):
        k = m[i].decode() if isinstance(m[i], bytes) else m[i]
        if k == key:
            return m[i + 1]
    return None


def text(v):
    return v.decode("utf-8", "replace") if isinstance(v, bytes) else str(v)


class Subscriber:
    def __init__(self, args):
        self.args = args
        self.lock = threading.Lock()
        self.checkpoint = {"streamNext": 0, "partitions": {}}
        if args.checkpoint and os.path.exists(args.checkpoint):
            with open(args.checkpoint) as f:
                self.checkpoint = json.load(f)
        self.deadline = (time.monotonic() + args.duration_ms / 1000) if args.duration_ms else None
        self.started = set()

    def running(self):
        return self.deadline is None or time.monotonic() < self.deadline

    def client(self):
        # One connection per loop: a blocked read holds its connection's later replies.
        pool = redis.ConnectionPool(connection_class=Hello2Connection, host="127.0.0.1",
                                    port=self.args.port)
        return redis.Redis(connection_pool=pool)

    def mark_started(self, which):
        with self.lock:
            if which in self.started:
                return
            self.started.add(which)
            if len(self.started) == 2:
                print("ready", flush=True)

    def handle(self, source, e):
        line = json.dumps({
            "source": source, "event_id": text(field(e, "event_id")),
            "stream_id": text(field(e, "stream_id")),
            "stream_version": int(field(e, "stream_version")),
            "partition_id": int(field(e, "partition_id")),
            "partition_sequence": int(field(e, "partition_sequence")),
            "event_name": text(field(e, "event_name")),
        })
        with self.lock:
            print(line, flush=True)

    def ack(self):
        """Saves the positions once the events before them are handled."""
        if not self.args.checkpoint:
            return
        with self.lock:
            tmp = self.args.checkpoint + ".tmp"
            with open(tmp, "w") as f:
                json.dump(self.checkpoint, f)
            os.replace(tmp, self.args.checkpoint)

    def follow_stream(self):
        # ESCAN <stream> <next> + COUNT 100 BLOCK 1000: the next events, or an empty page after
        # a second without any.
        r = self.client()
        while self.running():
            self.mark_started("stream")
            page = r.execute_command("ESCAN", self.args.stream, self.checkpoint["streamNext"], "+",
                                     "COUNT", 100, "BLOCK", 1000)
            for e in field(page, "events"):
                self.handle("stream", e)
                self.checkpoint["streamNext"] = int(field(e, "stream_version")) + 1
            self.ack()

    def follow_all(self):
        # EPREAD COUNT 500 BLOCK 1000 FROM * 0 <p> <next> ...: every partition, from the next
        # sequence of those seen and from 0 in the others.
        r = self.client()
        while self.running():
            frm = ["*", 0]
            for p, nxt in self.checkpoint["partitions"].items():
                frm += [p, nxt]
            self.mark_started("all")
            page = r.execute_command("EPREAD", "COUNT", 500, "BLOCK", 1000, "FROM", *frm)
            for e in field(page, "events"):
                self.handle("all", e)
                self.checkpoint["partitions"][str(int(field(e, "partition_id")))] = \
                    int(field(e, "partition_sequence")) + 1
            self.ack()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, default=9090)
    ap.add_argument("--stream", default="orders-1")
    ap.add_argument("--duration-ms", type=int, default=0)
    ap.add_argument("--checkpoint", default="")
    sub = Subscriber(ap.parse_args())
    threads = [threading.Thread(target=sub.follow_stream, daemon=True),
               threading.Thread(target=sub.follow_all, daemon=True)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return 0


if __name__ == "__main__":
    sys.exit(main())
