#!/usr/bin/env python
"""Scheduler benchmark: N jobs on a seconds schedule, several real scheduler processes, one Redis.

    python bench/scheduler.py                      # 10,000 jobs, */5 seconds, 2 processes, 60 s window
    python bench/scheduler.py --jobs 1000 --seconds 20
    python bench/scheduler.py --fire-ahead 0       # claim every fire at its due time (no claiming ahead)
    python bench/scheduler.py --redis-url redis://127.0.0.1:6379/0   # an EMPTY database: it is flushed

1. Starts its own Redis Stack (embedded, temp dir, free port) unless ``--redis-url`` is given.
2. Registers the jobs the way the SDK does (``chronos.store.jobs.upsert``), spread over enough owners
   that every owner's event stream holds all its triggers of the window (streams are capped at 10,000).
3. Starts ``--procs`` processes of ``python -m scheduler --no-server-jobs`` (the production entry point;
   ``--fire-ahead`` is passed on when given, else the scheduler's default applies).
4. Measures the fires due in a window of ``--seconds`` that starts once every process has registered:
   each fire is the ``job:trigger`` entry in its owner's stream; lag = the entry's Redis timestamp minus
   the due time. Duplicates are (job, due time) pairs dispatched more than once; gaps are due times in the
   window that were never dispatched.

Prints lag p50 / p90 / p99 / max, duplicates, gaps, each process's claim counters and the load average
before and after (the figures depend on what else the machine runs). Exit status 1 when there is a
duplicate or a gap (lag is reported, not asserted).
"""
from __future__ import annotations

import argparse
import math
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import orjson  # noqa: E402
import redis  # noqa: E402

from chronos import keys  # noqa: E402
from chronos.redis_server import EmbeddedRedis, free_port  # noqa: E402
from chronos.scheduling import cron, registry  # noqa: E402
from chronos.store import jobs as job_store  # noqa: E402
from chronos.store.schema import ensure_schema  # noqa: E402
from chronos.timeutil import parse_instant  # noqa: E402

STREAM_ROOM = 8000  # triggers per owner stream we allow in the window (the cap is ~10,000)


def log(msg: str) -> None:
    print(msg, flush=True)


def setup_jobs(r: redis.Redis, n: int, schedule: str, owners: int) -> list[str]:
    names = [f"u_bench{o:03d}" for o in range(owners)]
    for o, owner in enumerate(names):
        r.sadd(keys.users(), owner)  # the schedulers' event consumer follows every owner in this set
        defs = [{"id": f"job-{i:05d}", "name": f"Bench {i}", "schedule": schedule, "runMode": "recurring",
                 "graceSeconds": 3600} for i in range(o, n, owners)]
        for k in range(0, len(defs), 1000):
            job_store.upsert(r, owner, defs[k:k + 1000])
    return names


def start_procs(count: int, url: str, max_sleep: float, level: str, fire_ahead: float | None) -> list[subprocess.Popen]:
    env = {**os.environ, "REDIS_URL": url, "PYTHONPATH": str(ROOT)}
    ahead = [] if fire_ahead is None else ["--fire-ahead", str(fire_ahead)]
    return [subprocess.Popen([sys.executable, "-m", "scheduler", "--no-server-jobs", "--max-sleep", str(max_sleep),
                              "--log-level", level, *ahead], cwd=ROOT, env=env) for _ in range(count)]


def wait_registered(r: redis.Redis, procs: list[subprocess.Popen], timeout: float = 60) -> None:
    pids = {p.pid for p in procs}
    deadline = time.monotonic() + timeout
    while {n["pid"] for n in registry.list_nodes(r) if n["alive"]} < pids:
        if any(p.poll() is not None for p in procs):
            raise SystemExit("a scheduler process exited during start-up")
        if time.monotonic() > deadline:
            raise SystemExit("the scheduler processes did not register in time")
        time.sleep(0.1)


def collect(r: redis.Redis, owners: list[str], lo: int, hi: int) -> tuple[Counter, dict[tuple[str, str, int], int]]:
    """Dispatch counts and first-dispatch lag (ms) per (owner, job, due) with lo <= due <= hi."""
    counts: Counter = Counter()
    lag: dict[tuple[str, str, int], int] = {}
    for owner in owners:
        for entry_id, fields in r.xrange(keys.events(owner), "-", "+"):
            if fields.get(b"type") != b"job:trigger":
                continue
            data = orjson.loads(fields[b"data"])
            due = parse_instant(data["scheduledFor"])
            if not lo <= due <= hi:
                continue
            k = (owner, data["jobId"], due)
            counts[k] += 1
            lag.setdefault(k, int(entry_id.split(b"-")[0]) - due)
    return counts, lag


def pct(values: list[int], q: float) -> int:
    s = sorted(values)
    return s[min(len(s) - 1, max(0, math.ceil(q * len(s)) - 1))] if s else 0


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--jobs", type=int, default=10_000)
    p.add_argument("--schedule", default="*/5 * * * * *")
    p.add_argument("--seconds", type=int, default=60, help="length of the measured window")
    p.add_argument("--procs", type=int, default=2)
    p.add_argument("--max-sleep", type=float, default=1.0)
    p.add_argument("--log-level", default="WARNING", help="the scheduler processes' (INFO shows slow rounds)")
    p.add_argument("--fire-ahead", type=float, default=None,
                   help="seconds the schedulers claim SDK fires ahead (default: the scheduler's own default)")
    p.add_argument("--redis-url", help="an empty Redis Stack database (flushed); default: an embedded one")
    args = p.parse_args(argv)

    sched = cron.parse(args.schedule)
    span_fires = len(list(cron.CronCache().fires(sched, 0, args.seconds * 1000, 100_000))) + 1
    owners = max(1, math.ceil(args.jobs * span_fires / STREAM_ROOM))
    tmp, server = None, None
    if args.redis_url:
        url = args.redis_url
    else:
        tmp = tempfile.mkdtemp(prefix="chronos-bench-sched-")
        server = EmbeddedRedis(Path(tmp), port=free_port())
        server.start()
        url = server.url
    procs: list[subprocess.Popen] = []
    try:
        r = redis.Redis.from_url(url, protocol=2)
        r.flushdb()
        ensure_schema(r)
        t = time.monotonic()
        names = setup_jobs(r, args.jobs, args.schedule, owners)
        log(f"{args.jobs} jobs ({args.schedule!r}) over {owners} owners registered in {time.monotonic() - t:.1f} s")
        load_before = " ".join(f"{x:.2f}" for x in os.getloadavg())
        procs = start_procs(args.procs, url, args.max_sleep, args.log_level, args.fire_ahead)
        wait_registered(r, procs)
        now = int(time.time() * 1000)
        lo = cron.CronCache().next_after(sched, now + 2000)  # the first due time after a short warm-up
        hi = lo + args.seconds * 1000 - 1
        expected_dues = [lo, *cron.CronCache().fires(sched, lo, hi, 100_000)]
        log(f"{args.procs} scheduler processes up; measuring {len(expected_dues)} due times × {args.jobs} jobs")
        time.sleep(max(0.0, (hi - int(time.time() * 1000)) / 1000) + 3.0)
        nodes = registry.list_nodes(r)
        for proc in procs:
            proc.send_signal(signal.SIGTERM)
        for proc in procs:
            proc.wait(timeout=60)
        counts, lag = collect(r, names, lo, hi)
        expected = args.jobs * len(expected_dues)
        dupes = sum(c - 1 for c in counts.values() if c > 1)
        gaps = expected - len(counts)
        lags = list(lag.values())
        log(f"fires expected {expected}, dispatched {sum(counts.values())} (distinct {len(counts)})")
        log(f"lag ms: p50 {pct(lags, .5)}  p90 {pct(lags, .9)}  p99 {pct(lags, .99)}  max {max(lags, default=0)}")
        log(f"duplicates {dupes}  gaps {gaps}")
        for n in nodes:
            log(f"  process {n['id']}: {n.get('stats', {})}")
        log(f"load average before {load_before}, after {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
        info = r.info("cpu")
        log(f"redis CPU (user+sys) {info['used_cpu_user'] + info['used_cpu_sys']:.1f} s; "
            f"memory {r.info('memory')['used_memory_human']}")
        return 0 if dupes == 0 and gaps == 0 else 1
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
        if server is not None:
            server.stop()
        if tmp:
            shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
