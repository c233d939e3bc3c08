#!/usr/bin/env python3
"""Reads the raw runs of bench/compare/run.sh and prints (and optionally writes into
BENCHMARKS.md) the side-by-side table: throughput, p50/p99/p99.9, ratio ours/peer, server CPU
per 1k operations and server memory."""
import argparse
import datetime
import glob
import json
import math
import os
import re
import statistics
import sys

HEADING = "## Side by side with Redis Streams and PostgreSQL (Message DB)"

SYSTEMS = {
    "sierradb": "SierraDB",
    "redis-aof": "Redis, appendfsync always",
    "redis-mem": "Redis, no persistence",
    "mdb": "PostgreSQL + Message DB",
}

# key: (title, {sys: command}, [(peer, goal or None)])
WORKLOADS = [
    ("append50", "Append 1 event of {payload} B to random streams (1000), 50 connections", {
        "sierradb": "EAPPEND … EXPECTED_VERSION any",
        "redis-aof": "XADD",
        "redis-mem": "XADD",
        "mdb": "write_message(…, NULL)",
    }, [("redis-aof", 2.0), ("redis-mem", 1.0), ("mdb", None)]),
    ("half50", "Same, open loop at 50 % of each system's own append50 peak (latency from the scheduled send)", {
        "sierradb": "EAPPEND … (--rate)",
        "redis-aof": "XADD (--rate)",
        "redis-mem": "XADD (--rate)",
    }, [("redis-aof", None), ("redis-mem", None)]),
    ("append50p16", "Same, pipeline depth 16 (50 × 16 in flight)", {
        "sierradb": "EAPPEND … EXPECTED_VERSION any",
        "redis-aof": "XADD",
        "redis-mem": "XADD",
    }, [("redis-mem", 1.0), ("redis-aof", None)]),
    ("exact16", "Append with exact expected version, 16 clients (one stream each)", {
        "sierradb": "EAPPEND … EXPECTED_VERSION n",
        "mdb": "write_message(…, expected_version)",
    }, [("mdb", 20.0)]),
    ("eget50", "Read one event by id, 50 connections (10 000 streams of 1 event)", {
        "sierradb": "EGET <id>",
        "redis-aof": "XRANGE <stream> - + COUNT 1",
    }, [("redis-aof", 1.0)]),
    ("escan50", "Scan a 1000-event stream, 50 connections (100 streams)", {
        "sierradb": "ESCAN <stream> - + COUNT 1000",
        "redis-aof": "XRANGE <stream> - + COUNT 1000",
    }, [("redis-aof", 1.0)]),
    ("escan50i", "Scan a 100-event stream written among 999 others (1000 streams filled round-robin), 50 connections", {
        "sierradb": "ESCAN <stream> - + COUNT 100",
        "redis-aof": "XRANGE <stream> - + COUNT 100",
    }, [("redis-aof", None)]),
]
APPEND_KEYS = {"append50", "half50", "append50p16", "exact16"}


def mean_or_nan(vals):
    """Mean of the values that are not NaN (NaN if none is)."""
    ok = [v for v in vals if not math.isnan(v)]
    return statistics.mean(ok) if ok else float("nan")


def pct(sorted_vals, p):
    if not sorted_vals:
        return float("nan")
    k = max(0, min(len(sorted_vals) - 1, int(-(-p / 100.0 * len(sorted_vals) // 1)) - 1))
    return sorted_vals[k]


def read_bench(base):
    with open(base + ".json") as f:
        text = f.read().strip()
    if not text:
        return None
    j = json.loads(text.splitlines()[-1])
    lat = j["latency_us"]
    return {
        "ops": j["requests_per_s"],
        "events": j["events_per_s"],
        "p50": lat["p50"], "p99": lat["p99"], "p999": lat["p99.9"],
        "errors": j["errors"] + j.get("connection_errors", 0),
        "samples": j.get("error_samples", []),
    }


def read_pgbench(base, warmup, duration):
    rows = []  # (start, end, latency_us)
    failed = 0
    for path in glob.glob(os.path.join(base + ".d", "tx.*")):
        with open(path) as f:
            for line in f:
                parts = line.split()
                if len(parts) < 6:
                    continue
                if not parts[2].isdigit():  # "failed" / "skipped"
                    failed += 1
                    continue
                lat = int(parts[2])
                end = int(parts[4]) + int(parts[5]) / 1e6
                rows.append((end - lat / 1e6, end, lat))
    if not rows:
        return None
    t0 = min(r[0] for r in rows) + warmup
    t1 = min(t0 + duration, max(r[1] for r in rows))
    lats = sorted(r[2] for r in rows if t0 <= r[1] <= t1)
    span = max(t1 - t0, 1e-9)
    out = ""
    try:
        with open(base + ".out") as f:
            out = f.read()
    except OSError:
        pass
    aborted = 0
    m = re.search(r"number of failed transactions: (\d+)", out)
    if m:
        failed += int(m.group(1))
    if "aborted" in out and "client" in out:
        aborted = len(re.findall(r"client \d+ aborted", out))
    return {
        "ops": len(lats) / span, "events": len(lats) / span,
        "p50": pct(lats, 50), "p99": pct(lats, 99), "p999": pct(lats, 99.9),
        "errors": failed + aborted,
        "samples": re.findall(r"client \d+ aborted[^\n]*", out)[:3],
    }


def load(runs, warmup, duration):
    res = {}
    for meta_path in sorted(glob.glob(os.path.join(runs, "*.meta"))):
        with open(meta_path) as f:
            meta = json.load(f)
        base = meta_path[: -len(".meta")]
        try:
            r = read_bench(base) if meta["kind"] == "bench" else read_pgbench(base, warmup, duration)
        except (OSError, ValueError, KeyError) as e:
            print(f"report: {base}: {e}", file=sys.stderr)
            r = None
        if r is None:
            continue
        r.update(meta)
        cores = meta["cpu_s"] / meta["window_s"] if meta["window_s"] > 0 else 0
        # A negative CPU delta means a process exited between the two samples without being
        # reaped yet (PostgreSQL backends): its time is in neither sample, so the round has no
        # valid CPU figure.
        valid = r["ops"] > 0 and meta["cpu_s"] >= 0
        r["cpu_ms_per_1k"] = cores / r["ops"] * 1e6 if valid else float("nan")
        r["cores"] = cores
        res.setdefault(meta["key"], {}).setdefault(meta["sys"], []).append(r)
    return res


def fmt_int(x):
    return f"{x:,.0f}".replace(",", " ")


def fmt_us(x):
    if x != x:
        return "—"
    return f"{x / 1000:.2f} ms" if x >= 1000 else f"{x:.0f} µs"


def agg(rs):
    return {
        "ops": statistics.mean(r["ops"] for r in rs),
        "runs": [r["ops"] for r in sorted(rs, key=lambda r: r["round"])],
        "p50": statistics.mean(r["p50"] for r in rs),
        "p99": statistics.mean(r["p99"] for r in rs),
        "p999": statistics.mean(r["p999"] for r in rs),
        "errors": sum(r["errors"] for r in rs),
        "cpu": mean_or_nan([r["cpu_ms_per_1k"] for r in rs]),
        "cores": statistics.mean(r["cores"] for r in rs),
        "mem_mib": max(r["mem_kb"] for r in rs) / 1024,
        "samples": sorted({s for r in rs for s in r["samples"]})[:3],
    }


def build_md(res, a):
    lines = [HEADING, ""]
    stamp = datetime.datetime.now().strftime("%Y-%m-%d %H:%M")
    lines += [
        f"Measured {stamp} with `{a.command}` (defaults: `DURATION={a.duration:g} WARMUP={a.warmup:g} "
        f"ROUNDS={a.rounds} THREADS={a.threads} PAYLOAD={a.payload}`; script "
        "`bench/compare/run.sh`, table by `bench/compare/report.py`).",
        "",
        f"- Machine: {a.machine}. Shared with other engineers' builds and tests during the run, "
        "and the load generator runs on the same cores as the server, so absolute figures are "
        "noisy; the ratios come from runs alternated in one session.",
        f"- Versions: {a.versions}.",
        "- Durability: SierraDB fsyncs (fdatasync) before every acknowledgement; Redis "
        "`appendonly yes` + `appendfsync always` (and a second instance with no persistence as "
        "the ceiling); PostgreSQL defaults (`fsync = on`, `synchronous_commit = on`). All on "
        "127.0.0.1, data under one temp dir on the same disk.",
        f"- Load: `sierradb-bench -t {a.threads}` (SierraDB, Redis) and `pgbench -M prepared "
        f"-j {a.threads}` with a custom script (Message DB); same connections, payload and "
        "duration for each system. Each "
        f"workload runs {a.rounds}× with the systems alternated (A B C A B C); figures are the "
        "means over the rounds (throughput of every round in brackets). Latency is per request, "
        "send to reply, closed loop.",
        "- Message DB, exact expected version: stream `exact<client>-r<round>` is owned by one "
        "pgbench client, which keeps its version in a pgbench variable (`-D ev=-1`, the version "
        "of an empty stream) and passes it as `expected_version` (`\\set ev :ev + 1` after each "
        "write) — one round trip per append like `sierradb-bench -w eappend-exact`. Each stream "
        "is its own category, because `write_message` takes a per-category advisory lock held "
        "to commit: streams of one category would serialise all writers (the most favourable "
        "layout for the peer is used).",
        "- CPU per 1k ops: server `utime+stime` (all threads; PostgreSQL: postmaster and all "
        "backends, reaped ones included) from `/proc/<pid>/stat` over the measured window, "
        "divided by the operations done in it. Memory: server `VmRSS` at the end of the window "
        "(PostgreSQL: PSS summed over its processes); the largest over the rounds.",
        "",
        "| workload | system | command | ops/s (per round) | p50 | p99 | p99.9 | server CPU ms / 1k ops | server memory MiB | ours / peer (goal) |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    summary = []
    for key, title, cmds, peers in WORKLOADS:
        if key not in res or "sierradb" not in res[key]:
            continue
        title = title.format(payload=a.payload)
        ours = agg(res[key]["sierradb"])
        order = ["sierradb"] + [p for p, _ in peers]
        for sys_ in order:
            if sys_ not in res[key]:
                continue
            s = ours if sys_ == "sierradb" else agg(res[key][sys_])
            ratio = ""
            if sys_ != "sierradb" and key == "half50":
                # Each system runs at its own half-peak rate: compare tail latency, not rate.
                x = s["p99"] / ours["p99"] if ours["p99"] > 0 else float("inf")
                ratio = f"p99 peer / ours {x:.2f}× (no goal)"
            elif sys_ != "sierradb":
                goal = dict(peers)[sys_]
                x = ours["ops"] / s["ops"] if s["ops"] > 0 else float("inf")
                if goal is None:
                    ratio = f"{x:.2f}× (no goal)"
                else:
                    ok = "met" if x >= goal else "**not met**"
                    ratio = f"**{x:.2f}×** (≥ {goal:g}×: {ok})"
                    summary.append((title, SYSTEMS[sys_], x, goal))
            err = f", {s['errors']} errors" if s["errors"] else ""
            cpu = "n/a" if math.isnan(s["cpu"]) else f"{s['cpu']:.2f}"
            runs = " / ".join(fmt_int(v) for v in s["runs"])
            lines.append(
                f"| {title if sys_ == 'sierradb' else ''} | {SYSTEMS[sys_]} | `{cmds.get(sys_, '')}` "
                f"| {fmt_int(s['ops'])} ({runs}){err} | {fmt_us(s['p50'])} | {fmt_us(s['p99'])} "
                f"| {fmt_us(s['p999'])} | {cpu} | {s['mem_mib']:.0f} | {ratio} |")
            for smp in s["samples"]:
                print(f"report: {key} {sys_}: error sample: {smp}", file=sys.stderr)
    lines += [
        "",
        "Read workloads: ops are requests (an ESCAN / XRANGE COUNT 1000 request returns 1000 "
        "events). The Redis read figures come from the appendfsync-always instance; reads do "
        "not touch the AOF.",
        "",
        "Goals of issue 6 in this run: "
        + "; ".join(f"{t.split(',')[0]} vs {p}: {x:.2f}× (goal {g:g}×, "
                    f"{'met' if x >= g else 'not met'})" for t, p, x, g in summary) + ".",
        "",
        "p99 at 50 % of peak (the half50 row): every system is driven open loop "
        "(`sierradb-bench --rate`) at half of the mean throughput it reached itself in the "
        "append50 rounds of this run; latency counts from each request's scheduled send time, "
        "so queueing behind a slow reply is charged (no coordinated omission). Message DB is "
        "not in that row (pgbench's rate mode logs latency differently).",
        "",
    ]
    return "\n".join(lines)


def write_md(path, section):
    text = ""
    if os.path.exists(path):
        with open(path) as f:
            text = f.read()
    else:
        text = "# Benchmarks\n\n"
    lines = text.splitlines(keepends=True)
    start = next((i for i, l in enumerate(lines) if l.rstrip("\n") == HEADING), None)
    if start is None:
        if text and not text.endswith("\n"):
            text += "\n"
        if text and not text.endswith("\n\n"):
            text += "\n"
        text += section
    else:
        # The generated part ends at the next heading of any level: hand-written subsections
        # after it ("### Against the earlier runs", ...) are kept.
        end = next((i for i in range(start + 1, len(lines)) if lines[i].startswith("#")),
                   len(lines))
        tail = "".join(lines[end:])
        text = "".join(lines[:start]) + section + ("\n" + tail if tail else "")
    with open(path, "w") as f:
        f.write(text)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--runs", required=True)
    p.add_argument("--duration", type=float, required=True)
    p.add_argument("--warmup", type=float, required=True)
    p.add_argument("--rounds", default="2")
    p.add_argument("--threads", default="2")
    p.add_argument("--payload", default="200")
    p.add_argument("--machine", default="")
    p.add_argument("--versions", default="")
    p.add_argument("--command", default="make compare")
    p.add_argument("--write-md", default="1")
    p.add_argument("--md", default="BENCHMARKS.md")
    a = p.parse_args()
    res = load(a.runs, a.warmup, a.duration)
    md = build_md(res, a)
    print(md)
    with open(os.path.join(a.runs, "report.md"), "w") as f:
        f.write(md)
    if a.write_md == "1":
        write_md(a.md, md)
        print(f"report: wrote the section into {a.md}", file=sys.stderr)


if __name__ == "__main__":
    main()
