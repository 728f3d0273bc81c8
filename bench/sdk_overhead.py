#!/usr/bin/env python
"""SDK overhead benchmark: what ``@chronos_sdk.monitor`` costs the calling thread, and how fast one client
delivers events to a live server.

    python bench/sdk_overhead.py                  # 20,000 timed calls per variant, 10,000 runs delivered
    python bench/sdk_overhead.py --quick          # 5,000 calls, 2,000 runs (CI smoke)
    python bench/sdk_overhead.py --url http://127.0.0.1:8050 --key chr_...   # an existing server instead

1. Starts its own Redis Stack (embedded, temp dir, free port) and web server the way production runs it
   (``gunicorn -k gthread -w 2 --threads 8 'app:create_app()'``), with the per-key rate limit off, unless
   ``--url``/``--key`` are given.
2. Calling-thread cost. A no-op job is called N times, each call timed alone with ``perf_counter_ns``,
   in rounds of 250 calls (500 events, half the default queue) with a ``flush()`` between rounds, so the
   queue never overflows and the background worker really runs (and competes for the GIL) while the calls
   are timed. Variants: the plain function; ``@monitor`` with no client (``init`` not called);
   ``@monitor`` on a client with ``MemoryTransport`` (with and without output capture); ``@monitor`` on a
   client that sends over HTTP to the live server. "added" is a variant's median (p99) minus the plain
   call's median (p99). Goal (not asserted): <= 50 µs added at the median.
3. Delivery rate. One client (default options, except a queue large enough to hold the whole run) records
   R monitored no-op runs (2 events each) as fast as it can; the clock stops when the server has stored
   all R executions as finished (``GET /api/executions?jobId=...&status=success`` total == R). Measured
   with the default ``batch_size`` (100) and with the maximum (1000). For reference, the same events
   pre-built and gzipped before the clock are posted by one ``requests.Session`` without the SDK: the
   server's ceiling for one sequential client.

Prints a table. Exits non-zero only when a run fails or a delivered count is wrong.
"""
from __future__ import annotations

import argparse
import gc
import os
import platform
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Callable, Optional

ROOT = Path(__file__).resolve().parent.parent
for path in (ROOT, ROOT / "sdk", ROOT / "bench"):
    if str(path) not in sys.path:
        sys.path.insert(0, str(path))

import requests  # noqa: E402

import chronos_sdk  # noqa: E402
from chronos_sdk import ChronosClient, MemoryTransport, monitor  # noqa: E402

API_KEY = "chr_bench_sdk_" + "k" * 26
ROUND = 250  # calls per timed round: 500 events, half of the default queue_size


class BenchError(RuntimeError):
    """A run or a verification failed."""


def log(msg: str = "") -> None:
    print(msg, flush=True)


# ---- processes -----------------------------------------------------------------------------------

class LocalServer:
    """Embedded Redis Stack + gunicorn (``-w 2 --threads 8``) in a temp dir, from bench/servers.py."""

    def __init__(self, workers: int = 2, threads: int = 8) -> None:
        self.tmp = Path(tempfile.mkdtemp(prefix="chronos-sdk-bench-"))
        self.key = API_KEY
        self.workers, self.threads = workers, threads
        self.redis: Any = None
        self.web: Any = None

    def start(self) -> None:
        from servers import Gunicorn, start_redis

        self.redis = start_redis(self.tmp / "data")
        self.web = Gunicorn(self.redis.url, self.tmp / "data", key=self.key, workers=self.workers,
                            threads=self.threads, admin=("bench@example.com", "bench-password-1"),
                            secret="bench-secret")
        self.web.start()

    @property
    def url(self) -> str:
        return self.web.url

    @property
    def argv(self) -> list[str]:
        return self.web.argv

    def stop(self) -> None:
        if self.web is not None:
            self.web.stop()
        if self.redis is not None:
            self.redis.stop()
        shutil.rmtree(self.tmp, ignore_errors=True)


# ---- 1. calling-thread cost ----------------------------------------------------------------------

def noop() -> None:
    return None


def time_calls(fn: Callable[[], Any], n: int, between_rounds: Callable[[], Any]) -> list[int]:
    """Nanoseconds of each of ``n`` calls of ``fn``, timed one by one, in rounds of ROUND calls."""
    clock = time.perf_counter_ns
    samples: list[int] = []
    for _ in range(20):  # warm-up: first-call costs (thread start, imports, caches)
        fn()
    between_rounds()
    while len(samples) < n:
        for _ in range(min(ROUND, n - len(samples))):
            t0 = clock()
            fn()
            samples.append(clock() - t0)
        between_rounds()
    return samples


def pct(samples: list[int], q: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


def overhead_rows(n: int, url: str, key: str, spool: Path) -> tuple[list[tuple[str, float, float]], list[str]]:
    rows: list[tuple[str, float, float]] = []
    problems: list[str] = []

    def run(label: str, fn: Callable[[], Any], between: Callable[[], Any] = lambda: None) -> None:
        gc.collect()
        samples = time_calls(fn, n, between)
        rows.append((label, statistics.median(samples), pct(samples, 0.99)))
        log(f"  {label}: median {statistics.median(samples) / 1000:.2f} µs")

    run("plain call (no @monitor)", noop)

    chronos_sdk.close()
    run("@monitor, no client (init not called)", monitor("bench-noop")(noop))

    mem = ChronosClient(key, transport=MemoryTransport(), spool_dir=False)
    run("@monitor -> MemoryTransport", monitor("bench-mem", client=mem)(noop), lambda: mem.flush(30))
    run("@monitor(capture_output=False) -> MemoryTransport",
        monitor("bench-mem-nocap", client=mem, capture_output=False)(noop), lambda: mem.flush(30))
    mem.close()
    stats = mem.stats()
    if stats["dropped"] or stats["rejected"]:
        problems.append(f"MemoryTransport client dropped/rejected events: {stats}")

    live = ChronosClient(key, endpoint=url, spool_dir=str(spool))
    job = "bench-live-overhead"
    run("@monitor -> live server over HTTP", monitor(job, client=live)(noop), lambda: live.flush(60))
    live.close(30)
    stats = live.stats()
    if stats["dropped"] or stats["rejected"] or stats["lost"] or stats["spooled"]:
        problems.append(f"live client did not deliver every event directly: {stats}")
    expected = n + 20  # + the warm-up calls
    got = stored(url, key, job)
    if got != expected:
        problems.append(f"live overhead run: the server stored {got} executions of {job}, expected {expected}")
    return rows, problems


# ---- 2. delivery rate ------------------------------------------------------------------------------

def stored(url: str, key: str, job_id: str, status: Optional[str] = None) -> int:
    params = {"jobId": job_id, "limit": 1}
    if status:
        params["status"] = status
    resp = requests.get(url + "/api/executions", params=params, headers={"x-api-key": key}, timeout=30)
    resp.raise_for_status()
    return int(resp.json()["total"])


def delivery_rate(url: str, key: str, runs: int, batch_size: int, spool: Path,
                  timeout: float = 600.0) -> tuple[float, dict[str, Any]]:
    """Seconds from the first run until the server holds all ``runs`` executions as finished."""
    job = f"bench-delivery-b{batch_size}"
    client = ChronosClient(key, endpoint=url, spool_dir=str(spool), batch_size=batch_size,
                           queue_size=2 * runs + 100)
    wrapped = monitor(job, client=client)(noop)
    gc.collect()
    t0 = time.perf_counter()
    for _ in range(runs):
        wrapped()
    produced = time.perf_counter() - t0
    if not client.flush(timeout):
        raise BenchError(f"batch_size={batch_size}: not delivered within {timeout:.0f}s: {client.stats()}")
    flushed = time.perf_counter() - t0
    deadline = time.monotonic() + timeout
    while stored(url, key, job, "success") < runs:
        if time.monotonic() > deadline:
            raise BenchError(f"batch_size={batch_size}: the server holds {stored(url, key, job)} of {runs}")
        time.sleep(0.02)
    seconds = time.perf_counter() - t0
    client.close(30)
    stats = dict(client.stats(), produced_s=produced, flushed_s=flushed)
    return seconds, stats


def raw_rate(url: str, key: str, runs: int, batch_size: int) -> float:
    """Seconds for one ``requests.Session`` to post the same shape of events (a ``running`` and a final
    event per run, JSON-encoded and gzipped before the clock starts), one batch after another: the
    server's ceiling for a single sequential client, without the SDK."""
    import gzip
    import json
    import uuid

    from chronos_sdk.utils import iso, utcnow

    job = f"bench-raw-b{batch_size}"
    now = iso(utcnow())
    events: list[dict[str, Any]] = []
    for _ in range(runs):
        exec_id = str(uuid.uuid4())
        base = {"execId": exec_id, "jobId": job, "startedAt": now, "attempt": 1, "host": "bench", "pid": 1}
        events.append(dict(base, status="running"))
        events.append(dict(base, status="success", finishedAt=now, durationMs=0, cpuTimeMs=0,
                           peakMemoryKb=1))
    bodies = [gzip.compress(json.dumps({"executions": events[i:i + batch_size]}).encode())
              for i in range(0, len(events), batch_size)]
    headers = {"x-api-key": key, "Content-Type": "application/json", "Content-Encoding": "gzip"}
    session = requests.Session()
    t0 = time.perf_counter()
    for body in bodies:
        resp = session.post(url + "/api/ingest/executions/batch", data=body, headers=headers, timeout=120)
        if resp.status_code != 200:
            raise BenchError(f"raw post: HTTP {resp.status_code}: {resp.text[:300]}")
    seconds = time.perf_counter() - t0
    if stored(url, key, job, "success") != runs:
        raise BenchError(f"raw post: the server holds {stored(url, key, job)} of {runs}")
    return seconds


# ---- main ----------------------------------------------------------------------------------------

def main(argv: Optional[list[str]] = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--iterations", type=int, default=None, help="timed calls per variant (default 20,000)")
    p.add_argument("--runs", type=int, default=None, help="runs for the delivery rate (default 10,000)")
    p.add_argument("--quick", action="store_true", help="5,000 calls and 2,000 runs unless given")
    p.add_argument("--url", help="an existing Chronos server (with --key) instead of starting one")
    p.add_argument("--key", help="API key for --url")
    args = p.parse_args(argv)
    n = args.iterations or (5_000 if args.quick else 20_000)
    runs = args.runs or (2_000 if args.quick else 10_000)
    if bool(args.url) != bool(args.key):
        p.error("--url and --key go together")

    server: Optional[LocalServer] = None
    spool = Path(tempfile.mkdtemp(prefix="chronos-sdk-bench-spool-"))
    try:
        if args.url:
            url, key = args.url.rstrip("/"), args.key
            where = url
        else:
            server = LocalServer()
            server.start()
            url, key = server.url, server.key
            where = f"{url} ({' '.join(server.argv[2:])}, embedded Redis Stack)"
        log(f"Python {platform.python_version()} on {platform.machine()}, chronos_sdk {chronos_sdk.__version__}")
        log(f"server: {where}")
        log(f"CPUs: {os.cpu_count()}, load average at start: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")

        log(f"calling-thread cost: {n:,} timed calls per variant, rounds of {ROUND} with a flush between ...")
        rows, problems = overhead_rows(n, url, key, spool)
        log("delivery rate ...")
        rates = []
        for batch in (100, 1000):
            seconds, stats = delivery_rate(url, key, runs, batch, spool)
            raw_seconds = raw_rate(url, key, runs, batch)
            rates.append((batch, seconds, stats, raw_seconds))
            log(f"  batch_size={batch}: {2 * runs / seconds:,.0f} events/s (runs recorded in "
                f"{stats['produced_s']:.2f}s, flush() returned at {stats['flushed_s']:.2f}s, stored at {seconds:.2f}s)")
            if stats["dropped"] or stats["rejected"] or stats["lost"] or stats["spooled"]:
                problems.append(f"batch_size={batch}: not every event was delivered directly: {stats}")

        base_med, base_p99 = rows[0][1], rows[0][2]
        log("")
        log(f"{'calling-thread cost of one call':<52}{'median µs':>11}{'p99 µs':>10}"
            f"{'added median':>14}{'added p99':>11}")
        for label, med, p99 in rows:
            added = "" if label == rows[0][0] else f"{(med - base_med) / 1000:>14.2f}{(p99 - base_p99) / 1000:>11.2f}"
            log(f"{label:<52}{med / 1000:>11.2f}{p99 / 1000:>10.2f}{added}")
        log("")
        log(f"{'delivery by one client to the server':<52}{'runs':>8}{'events':>9}{'seconds':>9}"
            f"{'events/s':>10}")
        for batch, seconds, stats, raw_seconds in rates:
            label = f"SDK: @monitor no-op runs, batch_size={batch}, gzip"
            log(f"{label:<52}{runs:>8,}{2 * runs:>9,}{seconds:>9.2f}{2 * runs / seconds:>10,.0f}")
            label = f"no SDK: pre-built gzip batches of {batch}, 1 session"
            log(f"{label:<52}{runs:>8,}{2 * runs:>9,}{raw_seconds:>9.2f}{2 * runs / raw_seconds:>10,.0f}")
        mem_added = next(med for label, med, _ in rows if label == "@monitor -> MemoryTransport") - base_med
        live_added = next(med for label, med, _ in rows if label.endswith("over HTTP")) - base_med
        log("")
        log(f"goal <= 50 µs added at the median: MemoryTransport {mem_added / 1000:.1f} µs "
            f"({'met' if mem_added <= 50_000 else 'NOT met'}), live server {live_added / 1000:.1f} µs "
            f"({'met' if live_added <= 50_000 else 'NOT met'})")
        log(f"p99 includes waiting for the GIL while the SDK's worker thread encodes and sends a batch "
            f"(switch interval {sys.getswitchinterval() * 1000:g} ms) and any descheduling by the OS.")
        log(f"load average at end: {' '.join(f'{x:.2f}' for x in os.getloadavg())} "
            "(the server, Redis and this process share the machine's CPUs)")
        for problem in problems:
            log(f"PROBLEM: {problem}")
        return 1 if problems else 0
    except BenchError as exc:
        log(f"error: {exc}")
        return 1
    finally:
        if server is not None:
            server.stop()
        shutil.rmtree(spool, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
