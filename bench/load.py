#!/usr/bin/env python
"""Load benchmark: ingestion, dashboard reads and the live stream together, then an exact count check.

    python bench/load.py                    # 300 s: 8 ingest clients, 4 dashboard readers, 3 stream clients
    python bench/load.py --quick            # 20 s (CI / make bench)
    python bench/load.py --seconds 60 --clients 4 --batch 200 --rate 5000   # paced at 5,000 executions/s

1. Starts its own Redis Stack (embedded, temp dir, free port, AOF everysec as production) and its own web
   server as production runs it: ``gunicorn -k gthread -w 2 --threads 32 --no-control-socket
   'app:create_app()'`` with the per-key rate limit off (one key carries the whole load).
2. For ``--seconds`` (300; 20 with ``--quick``), all at once, in separate client processes:
   * ``--clients`` ingest clients (threads with one keep-alive session each) posting batches of ``--batch``
     final executions with unique execIds to ``POST /api/ingest/executions/batch`` — back to back, or paced
     to ``--rate`` executions/s in total. A batch that fails (connection error, 429, 5xx) is sent again,
     identical, until it is acknowledged (HTTP 200) or the deadline passes; ingestion is idempotent by execId.
   * ``--readers`` dashboard readers cycling through ``GET /api/jobs``, ``/api/executions?q=...``,
     ``/api/analytics/summary`` and ``/api/analytics/timeseries?metric=runs&bucket=1m&jobId=...``, with
     ``--think`` seconds between requests.
   * ``--streams`` SSE clients on ``GET /api/stream``, connected before the first batch and reading until
     they have seen every acknowledged execution (or ``--drain`` seconds after the end without progress).
3. Reports sustained executions/s (over the window, and the slowest 10-second slice), ingest latency
   p50/p99/max per request, read latency p50/p99 per endpoint, errors, events received per stream client,
   the CPU the web server and Redis used (executions per CPU-second), Redis memory per execution, and the
   load average of the machine before and after.
4. Verifies that every acknowledged execution is stored exactly once:
   executions index total == acknowledged == sum of the ``_all`` runs series (1m tier) == the summary's
   runs == the sum of the jobs' ``totalRuns``. (Executions of a batch that was never acknowledged are
   looked up one by one and counted apart: stored-but-unacknowledged is neither loss nor duplicate.)

Exit status 1 on any loss or duplicate (or a failed start); the throughput and latency goals (5,000
executions/s, p99 ingest <= 250 ms, zero errors) are reported, not asserted: the machine is shared.
The last line is ``RESULT {json}`` with every figure, for ``make bench`` / ``make soak``.
"""
from __future__ import annotations

import argparse
import json
import math
import multiprocessing as mp
import random
import shutil
import sys
import tempfile
import threading
import time
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import orjson  # noqa: E402
import redis  # noqa: E402
import requests  # noqa: E402
from servers import (  # noqa: E402  (bench/servers.py)
    BenchError,
    Gunicorn,
    exit_on_sigterm,
    loadavg,
    log,
    redis_cpu,
    start_redis,
)

from chronos import keys  # noqa: E402
from chronos.redis_server import EmbeddedRedis  # noqa: E402

API_KEY = "chr_load_" + "k" * 31
ADMIN_EMAIL = "load@example.com"
ADMIN_PASSWORD = "load-password-1"
JOBS = 50
INGEST_PATH = "/api/ingest/executions/batch"
RETRY_STATUSES = {429, 500, 502, 503, 504}
GOAL_RATE = 5000.0
GOAL_P99_MS = 250.0
ERRORS = ("timeout talking to db-3 while loading orders", "connection refused by payments-api",
          "disk quota exceeded on /var/spool/export", "KeyError: 'customer_id' in nightly report")


def pct(values: list[float], q: float) -> float:
    """The q-quantile (nearest rank) of values; 0 when empty."""
    if not values:
        return 0.0
    s = sorted(values)
    return s[min(len(s) - 1, max(0, math.ceil(q * len(s)) - 1))]


# ---- processes -----------------------------------------------------------------------------------

def web_server(redis_url: str, data_dir: Path, **options: Any) -> Gunicorn:
    """The load's web server: gunicorn bootstrapped with this bench's key and admin (see ``Gunicorn``)."""
    return Gunicorn(redis_url, data_dir, key=API_KEY, admin=(ADMIN_EMAIL, ADMIN_PASSWORD), secret="load-secret",
                    graceful_timeout=10, **options)


def job_definitions(count: int = JOBS) -> list[dict[str, Any]]:
    return [{"id": f"load-job-{i:03d}", "name": f"Load job {i:03d}", "schedule": "*/5 * * * *",
             "runMode": "recurring", "appId": f"load-app-{i % 3}", "tags": ["load", f"group-{i % 4}"]}
            for i in range(count)]


# ---- client roles (each runs in its own process) ---------------------------------------------------

def make_batch(run_id: str, client: int, first: int, size: int, rng: random.Random) -> bytes:
    """``size`` final executions with unique execIds ``ld-<run>-<client>-<seq>``, finished just now."""
    now = int(time.time() * 1000)
    events = []
    for seq in range(first, first + size):
        duration = int(rng.lognormvariate(7.0, 1.0))
        failed = rng.random() < 0.04
        ev: dict[str, Any] = {
            "execId": f"ld-{run_id}-{client:03d}-{seq:09d}", "jobId": f"load-job-{seq % JOBS:03d}",
            "status": "failed" if failed else "success", "startedAt": now - duration - 5, "finishedAt": now - 5,
            "durationMs": duration, "exitCode": 1 if failed else 0, "attempt": 1, "host": f"worker-{client % 8}",
            "labels": ["load", f"shard-{seq % 4}"], "metadata": {"rows": seq % 10_000},
            "stdout": f"processed {seq % 10_000} rows",
        }
        if failed:
            ev["errorType"] = "RuntimeError"
            ev["errorMessage"] = ERRORS[seq % len(ERRORS)]
        events.append(ev)
    return orjson.dumps({"executions": events})


def _wait_start(start_at: Any) -> float:
    while start_at.value == 0.0:
        time.sleep(0.01)
    pause = start_at.value - time.time()
    if pause > 0:
        time.sleep(pause)
    return start_at.value


def ingest_role(cfg: dict[str, Any], first_client: int, clients: int, ready: Any, start_at: Any,
                out: Any) -> None:
    """Ingest clients ``first_client .. first_client+clients-1`` in threads; puts one result dict on ``out``."""
    urls = cfg["urls"]
    headers = {"x-api-key": cfg["key"], "Content-Type": "application/json"}
    results: list[dict[str, Any]] = []
    lock = threading.Lock()

    def client(c: int, barrier: threading.Barrier) -> None:
        rng = random.Random(c)
        url = urls[c % len(urls)] + INGEST_PATH
        s = requests.Session()
        s.get(urls[c % len(urls)] + "/api/health", timeout=10)
        lat: list[float] = []
        per_second: Counter = Counter()
        errors: Counter = Counter()
        acked = created = duplicates = retries = 0
        unacked: list[tuple[int, int]] = []
        barrier.wait()
        t0 = _wait_start(start_at)
        end = t0 + cfg["seconds"]
        give_up = end + cfg["retry_grace"]
        per_client_rate = cfg["rate"] / cfg["clients"] if cfg["rate"] else 0.0
        seq = 0
        sent_batches = 0
        while time.time() < end:
            if per_client_rate:
                # Clients are spread evenly over the interval: together they send at a steady pace.
                due = t0 + (sent_batches + c / cfg["clients"]) * cfg["batch"] / per_client_rate
                pause = due - time.time()
                if pause > 0:
                    time.sleep(pause)
                    if time.time() >= end:
                        break
            body = make_batch(cfg["run_id"], c, seq, cfg["batch"], rng)
            first, seq = seq, seq + cfg["batch"]
            sent_batches += 1
            attempt = 0
            while True:
                t = time.perf_counter()
                try:
                    resp = s.post(url, data=body, headers=headers, timeout=cfg["timeout"])
                    status = resp.status_code
                except requests.RequestException as exc:
                    status, resp = type(exc).__name__, None
                took = time.perf_counter() - t
                if status == 200 and resp is not None:
                    data = resp.json()
                    lat.append(took * 1000)
                    acked += cfg["batch"]
                    created += int(data.get("created", 0)) + int(data.get("finished", 0))
                    duplicates += int(data.get("duplicates", 0))
                    per_second[int(time.time() - t0)] += cfg["batch"]
                    break
                errors[str(status)] += 1
                if isinstance(status, int) and status not in RETRY_STATUSES:
                    unacked.append((first, cfg["batch"]))  # refused for good: a bug in this bench or the API
                    break
                attempt += 1
                if time.time() > give_up:
                    unacked.append((first, cfg["batch"]))
                    break
                retries += 1
                time.sleep(min(2.0, 0.05 * 2 ** min(attempt, 6)) * (0.5 + rng.random()))
                if not isinstance(status, int):
                    s.close()
                    s = requests.Session()  # a reset connection: start a fresh one
        s.close()
        with lock:
            results.append({"client": c, "acked": acked, "created": created, "duplicates": duplicates,
                            "retries": retries, "errors": dict(errors), "unacked": unacked, "lat": lat,
                            "per_second": dict(per_second)})

    barrier = threading.Barrier(clients + 1)
    threads = [threading.Thread(target=client, args=(first_client + i, barrier), daemon=True) for i in range(clients)]
    for t in threads:
        t.start()
    barrier.wait()
    ready.put("ingest")
    for t in threads:
        t.join()
    out.put({"role": "ingest", "clients": results})


def reader_role(cfg: dict[str, Any], readers: int, ready: Any, start_at: Any, out: Any) -> None:
    """Dashboard readers: each cycles through the four reads with ``think`` seconds in between."""
    urls = cfg["urls"]
    headers = {"x-api-key": cfg["key"]}
    lat: dict[str, list[float]] = defaultdict(list)
    errors: Counter = Counter()
    lock = threading.Lock()

    def reads(rng: random.Random) -> list[tuple[str, str, dict[str, Any]]]:
        now = int(time.time() * 1000)
        job = f"load-job-{rng.randrange(JOBS):03d}"
        return [
            ("jobs", "/api/jobs", {"limit": 50, "sort": "-lastRunAt"}),
            ("executions?q", "/api/executions", {"q": rng.choice(("timeout", "refused", "quota", "customer")),
                                                 "limit": 50}),
            ("analytics/summary", "/api/analytics/summary", {}),
            ("analytics/timeseries", "/api/analytics/timeseries",
             {"metric": "runs", "bucket": "1m", "jobId": job, "from": now - 3_600_000, "to": now}),
        ]

    def reader(i: int, barrier: threading.Barrier) -> None:
        rng = random.Random(1000 + i)
        s = requests.Session()
        base = urls[i % len(urls)]
        s.get(base + "/api/health", timeout=10)
        mine: dict[str, list[float]] = defaultdict(list)
        errs: Counter = Counter()
        barrier.wait()
        end = _wait_start(start_at) + cfg["seconds"]
        k = i
        while time.time() < end:
            plan = reads(rng)
            name, path, params = plan[k % len(plan)]
            k += 1
            t = time.perf_counter()
            try:
                resp = s.get(base + path, params=params, headers=headers, timeout=cfg["timeout"])
                ok = resp.status_code == 200
                code = str(resp.status_code)
                if ok:
                    resp.json()
            except (requests.RequestException, ValueError) as exc:
                ok, code = False, type(exc).__name__
            if ok:
                mine[name].append((time.perf_counter() - t) * 1000)
            else:
                errs[f"{name} {code}"] += 1
                s.close()
                s = requests.Session()
            time.sleep(cfg["think"] * (0.5 + rng.random()))
        s.close()
        with lock:
            for name, v in mine.items():
                lat[name] += v
            errors.update(errs)

    barrier = threading.Barrier(readers + 1)
    threads = [threading.Thread(target=reader, args=(i, barrier), daemon=True) for i in range(readers)]
    for t in threads:
        t.start()
    barrier.wait()
    ready.put("readers")
    for t in threads:
        t.join()
    out.put({"role": "readers", "lat": dict(lat), "errors": dict(errors)})


def stream_role(cfg: dict[str, Any], streams: int, ready: Any, start_at: Any, expected: Any, out: Any) -> None:
    """SSE clients: count ``execution`` events; reconnect with Last-Event-ID when a connection ends."""
    urls = cfg["urls"]
    results: list[dict[str, Any]] = []
    lock = threading.Lock()
    connected = threading.Barrier(streams + 1)

    def client(i: int) -> None:
        base = urls[i % len(urls)]
        headers = {"x-api-key": cfg["key"], "Accept": "text/event-stream"}
        received = reconnects = out_of_order = 0
        last_id: str | None = None
        last_progress = time.monotonic()
        first = True
        errors: Counter = Counter()
        end_wall: float | None = None
        while True:
            if start_at.value:
                end_wall = start_at.value + cfg["seconds"]
            want = expected.value
            if want >= 0 and received >= want:
                break
            if end_wall is not None and time.time() > end_wall and time.monotonic() - last_progress > cfg["drain"]:
                break
            h = dict(headers)
            if last_id:
                h["Last-Event-ID"] = last_id
            try:
                with requests.get(base + "/api/stream", headers=h, stream=True, timeout=(5, 2.0)) as resp:
                    if resp.status_code != 200:
                        errors[str(resp.status_code)] += 1
                        time.sleep(0.5)
                        continue
                    if first:
                        first = False
                        try:
                            connected.wait(120)
                        except threading.BrokenBarrierError:
                            pass
                    event = None
                    for line in resp.iter_lines(chunk_size=16384):
                        if line.startswith(b"id: "):
                            new_id = line[4:].decode()
                            if last_id is not None and _id_tuple(new_id) <= _id_tuple(last_id):
                                out_of_order += 1
                            last_id = new_id
                        elif line.startswith(b"event: "):
                            event = line[7:]
                        elif line.startswith(b"data: ") and event == b"execution":
                            received += 1
                            last_progress = time.monotonic()
                            event = None
                            want = expected.value
                            if want >= 0 and received >= want:
                                break
            except requests.RequestException as exc:
                if not isinstance(exc, (requests.ConnectionError, requests.Timeout)) or \
                        "Read timed out" not in str(exc):
                    errors[type(exc).__name__] += 1
            reconnects += 1
            if first:  # never connected: do not hold the others at the barrier forever
                time.sleep(0.5)
        with lock:
            results.append({"client": i, "received": received, "reconnects": max(0, reconnects - 1),
                            "out_of_order": out_of_order, "errors": dict(errors)})

    threads = [threading.Thread(target=client, args=(i,), daemon=True) for i in range(streams)]
    for t in threads:
        t.start()
    try:
        connected.wait(120)
    except threading.BrokenBarrierError:
        pass  # a client never connected: it reports its errors; the others go on
    ready.put("streams")
    for t in threads:
        t.join()
    out.put({"role": "streams", "clients": results})


def _id_tuple(entry_id: str) -> tuple[int, int]:
    a, _, b = entry_id.partition("-")
    return int(a), int(b or 0)


# ---- verification --------------------------------------------------------------------------------

def exists_count(r: redis.Redis, owner: str, run_id: str, batches: list[tuple[int, list[tuple[int, int]]]],
                 batch: int) -> int:
    """How many executions of never-acknowledged batches are stored anyway."""
    n = 0
    for client, spans in batches:
        pipe = r.pipeline(transaction=False)
        for first, size in spans:
            for seq in range(first, first + size):
                pipe.exists(keys.execution(owner, f"ld-{run_id}-{client:03d}-{seq:09d}"))
        n += sum(int(x) for x in pipe.execute())
    return n


def verify(r: redis.Redis, url: str, owner: str, acked: int, stored_unacked: int, t0_ms: int) -> tuple[dict, list]:
    """Counts from the index, the ``_all`` 1m runs series, the summary and the jobs; the problems found."""
    index = int(r.execute_command("FT.SEARCH", keys.IDX_EXECUTIONS, "*", "LIMIT", 0, 0, "DIALECT", 2)[0])
    rows = r.execute_command("TS.RANGE", keys.series(owner, keys.ALL_JOBS_SCOPE, "runs", "1m"), "-", "+")
    series = int(sum(float(v) for _, v in rows))
    now = int(time.time() * 1000)
    summary = requests.get(url + "/api/analytics/summary", params={"from": t0_ms - 3_600_000, "to": now + 60_000},
                           headers={"x-api-key": API_KEY}, timeout=120).json()
    pipe = r.pipeline(transaction=False)
    for d in job_definitions():
        pipe.execute_command("JSON.GET", keys.job(owner, d["id"]), "$.totalRuns")
    job_runs = sum(int(orjson.loads(x)[0]) for x in pipe.execute() if x)
    counts = {"acknowledged": acked, "stored_unacknowledged": stored_unacked, "index": index,
              "series_1m": series, "summary_runs": int(summary.get("runs", -1)), "jobs_total_runs": job_runs}
    expected = acked + stored_unacked
    problems = []
    if index < acked:
        problems.append(f"LOSS: the index holds {index} executions, {acked} were acknowledged")
    for name in ("index", "series_1m", "summary_runs", "jobs_total_runs"):
        if counts[name] != expected:
            kind = "DUPLICATE" if counts[name] > expected else "LOSS"
            problems.append(f"{kind}: {name} = {counts[name]}, expected {expected} "
                            f"({acked} acknowledged + {stored_unacked} stored from unacknowledged batches)")
    return counts, problems


# ---- main ----------------------------------------------------------------------------------------

def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--seconds", type=float, default=None, help="length of the load (default 300; 20 with --quick)")
    p.add_argument("--quick", action="store_true", help="20 s unless --seconds is given")
    p.add_argument("--clients", type=int, default=8, help="ingest clients (default 8)")
    p.add_argument("--client-procs", type=int, default=2, help="processes the ingest clients are spread over (2)")
    p.add_argument("--batch", type=int, default=100, help="executions per request (default 100, the SDK's)")
    p.add_argument("--rate", type=float, default=0.0,
                   help="pace ingestion to this many executions/s in total (default 0: as fast as they go)")
    p.add_argument("--readers", type=int, default=4, help="dashboard readers (default 4)")
    p.add_argument("--think", type=float, default=0.5, help="mean seconds between a reader's requests (0.5)")
    p.add_argument("--streams", type=int, default=3, help="SSE clients on /api/stream (default 3)")
    p.add_argument("--drain", type=float, default=10.0,
                   help="seconds a stream client keeps reading after the end without a new event (10)")
    p.add_argument("--timeout", type=float, default=30.0, help="client request timeout, seconds (30)")
    p.add_argument("--workers", type=int, default=2, help="gunicorn workers (default 2)")
    p.add_argument("--threads", type=int, default=32, help="gunicorn threads per worker (default 32)")
    p.add_argument("--keep", action="store_true", help="keep the temp dir (Redis data, gunicorn log)")
    p.add_argument("--collect", metavar="LOG_DIR", type=Path,
                   help="run nothing: print the table of the benchmark logs in LOG_DIR (make bench / soak)")
    p.add_argument("--section", default="bench", help="with --collect: the block of --doc to replace (bench, soak)")
    p.add_argument("--doc", type=Path, help="with --collect: the markdown file whose block is replaced")
    args = p.parse_args(argv)
    if args.seconds is None:
        args.seconds = 20.0 if args.quick else 300.0
    if args.seconds <= 0 or args.clients < 1 or not 1 <= args.batch <= 1000 or args.client_procs < 1:
        p.error("--seconds > 0, --clients >= 1, --client-procs >= 1 and --batch 1..1000 are required")
    args.client_procs = min(args.client_procs, args.clients)
    return args


class Run:
    """Client processes against given web URLs; shared by bench/load.py and bench/scaleout.py."""

    def __init__(self, args: argparse.Namespace, urls: list[str], run_id: str) -> None:
        self.args = args
        self.cfg = {"urls": urls, "key": API_KEY, "seconds": args.seconds, "batch": args.batch,
                    "rate": args.rate, "clients": args.clients, "think": args.think, "drain": args.drain,
                    "timeout": args.timeout, "run_id": run_id, "retry_grace": 60.0}
        self.ctx = mp.get_context("spawn")
        self.ready = self.ctx.Queue()
        self.out = self.ctx.Queue()
        self.start_at = self.ctx.Value("d", 0.0)
        self.expected = self.ctx.Value("q", -1)
        self.procs: list[Any] = []
        self.ingest_procs = 0

    def start(self) -> None:
        a, ctx, cfg = self.args, self.ctx, self.cfg
        per = [a.clients // a.client_procs + (1 if i < a.clients % a.client_procs else 0)
               for i in range(a.client_procs)]
        first = 0
        for n in per:
            self.procs.append(ctx.Process(target=ingest_role, args=(cfg, first, n, self.ready, self.start_at,
                                                                       self.out), daemon=True))
            first += n
            self.ingest_procs += 1
        if a.readers:
            self.procs.append(ctx.Process(target=reader_role, args=(cfg, a.readers, self.ready, self.start_at,
                                                                       self.out), daemon=True))
        if a.streams:
            self.procs.append(ctx.Process(target=stream_role, args=(cfg, a.streams, self.ready, self.start_at,
                                                                       self.expected, self.out), daemon=True))
        for p in self.procs:
            p.start()
        for _ in self.procs:  # every client connected (stream clients subscribed) before the clock starts
            try:
                self.ready.get(timeout=120)
            except Exception as exc:  # noqa: BLE001 - queue.Empty
                raise BenchError("the client processes did not get ready within 120 s") from exc

    def go(self, delay: float = 0.5) -> float:
        t0 = time.time() + delay
        self.start_at.value = t0
        return t0

    def collect(self, on_ingest_done: Any = None) -> dict[str, Any]:
        """Results of every role; ``on_ingest_done(acked)`` runs once the ingest clients have reported."""
        results: dict[str, Any] = {"ingest": [], "readers": None, "streams": None}
        ingest_left = self.ingest_procs
        deadline = time.time() + self.args.seconds + 300
        for _ in self.procs:
            try:
                msg = self.out.get(timeout=max(1.0, deadline - time.time()))
            except Exception as exc:  # noqa: BLE001 - queue.Empty
                raise BenchError("a client process did not report in time") from exc
            if msg["role"] == "ingest":
                results["ingest"] += msg["clients"]
                ingest_left -= 1
                if ingest_left == 0:
                    acked = sum(c["acked"] for c in results["ingest"])
                    self.expected.value = acked
                    if on_ingest_done is not None:
                        on_ingest_done(acked)
            else:
                results[msg["role"]] = msg
        for p in self.procs:
            p.join(30)
        return results

    def stop(self) -> None:
        for p in self.procs:
            if p.is_alive():
                p.kill()
                p.join(5)


def summarize(args: argparse.Namespace, results: dict[str, Any]) -> dict[str, Any]:
    """The figures of a run (rates, latencies, errors, stream counts) from the client results."""
    ing = results["ingest"]
    acked = sum(c["acked"] for c in ing)
    lat = [x for c in ing for x in c["lat"]]
    errors: Counter = Counter()
    for c in ing:
        errors.update(c["errors"])
    per_second: Counter = Counter()
    for c in ing:
        per_second.update({int(k): v for k, v in c["per_second"].items()})
    seconds = args.seconds
    whole = int(seconds) // 10 * 10
    slices = [sum(per_second.get(s, 0) for s in range(a, a + 10)) / 10 for a in range(0, whole, 10)]
    if not slices:  # a run shorter than 10 s: the window itself
        slices = [sum(v for k, v in per_second.items() if k < seconds) / seconds]
    fig: dict[str, Any] = {
        "acknowledged": acked, "rate": acked / seconds, "slowest_10s_rate": min(slices) if slices else 0.0,
        "ingest_requests": len(lat), "ingest_p50_ms": pct(lat, .5), "ingest_p99_ms": pct(lat, .99),
        "ingest_max_ms": max(lat, default=0.0), "ingest_errors": sum(errors.values()), "ingest_error_kinds": dict(errors),
        "retries": sum(c["retries"] for c in ing), "duplicates_answered": sum(c["duplicates"] for c in ing),
        "unacked_batches": sum(len(c["unacked"]) for c in ing),
    }
    rd = results.get("readers")
    if rd:
        fig["reads"] = {name: {"n": len(v), "p50_ms": pct(v, .5), "p99_ms": pct(v, .99)} for name, v in
                        sorted(rd["lat"].items())}
        allr = [x for v in rd["lat"].values() for x in v]
        fig["read_p50_ms"], fig["read_p99_ms"] = pct(allr, .5), pct(allr, .99)
        fig["read_errors"] = sum(rd["errors"].values())
        fig["read_error_kinds"] = rd["errors"]
    st = results.get("streams")
    if st:
        fig["stream_clients"] = sorted(st["clients"], key=lambda c: c["client"])
    return fig


def report(args: argparse.Namespace, fig: dict[str, Any]) -> None:
    log("")
    log(f"ingest: {fig['acknowledged']:,} executions acknowledged in {args.seconds:.0f} s = {fig['rate']:,.0f}/s "
        f"(slowest 10 s: {fig['slowest_10s_rate']:,.0f}/s); {fig['ingest_requests']:,} requests of {args.batch}, "
        f"latency p50 {fig['ingest_p50_ms']:.0f} ms, p99 {fig['ingest_p99_ms']:.0f} ms, max {fig['ingest_max_ms']:.0f} ms")
    log(f"ingest errors: {fig['ingest_errors']} {fig['ingest_error_kinds'] or ''} (retried {fig['retries']}, "
        f"never acknowledged {fig['unacked_batches']} batches)")
    if "reads" in fig:
        log(f"reads: p50 {fig['read_p50_ms']:.0f} ms, p99 {fig['read_p99_ms']:.0f} ms, errors {fig['read_errors']} "
            f"{fig['read_error_kinds'] or ''}")
        for name, v in fig["reads"].items():
            log(f"  {name:<24}{v['n']:>7,} requests  p50 {v['p50_ms']:>7.0f} ms  p99 {v['p99_ms']:>7.0f} ms")
    for c in fig.get("stream_clients", []):
        share = c["received"] / fig["acknowledged"] * 100 if fig["acknowledged"] else 0.0
        log(f"stream client {c['client']}: {c['received']:,} execution events of {fig['acknowledged']:,} "
            f"({share:.1f} %), reconnects {c['reconnects']}, out of order {c['out_of_order']}, "
            f"errors {c['errors'] or 0}")


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.collect:
        print(collect(args.collect, args.section, args.doc))
        return 0
    exit_on_sigterm()
    tmp = Path(tempfile.mkdtemp(prefix="chronos-load-"))
    embedded: EmbeddedRedis | None = None
    web: Gunicorn | None = None
    run: Run | None = None
    load_before = loadavg()
    try:
        embedded = start_redis(tmp / "redis-data")
        r = redis.Redis.from_url(embedded.url, protocol=2)
        log(f"Redis {r.info('server').get('redis_version')} (embedded, port {embedded.port}, appendfsync everysec)")
        web = web_server(embedded.url, tmp, workers=args.workers, threads=args.threads)
        web.start()
        log(f"web: gunicorn {' '.join(web.argv[3:])} -> {web.url}")
        resp = requests.post(web.url + "/api/ingest/jobs/register", json={"jobs": job_definitions()},
                             headers={"x-api-key": API_KEY}, timeout=30)
        if resp.status_code != 200:
            raise BenchError(f"job registration failed: HTTP {resp.status_code}: {resp.text[:300]}")
        owner = _owner(r)
        run_id = f"{int(time.time()):x}"
        run = Run(args, [web.url], run_id)
        run.start()
        r.config_resetstat()
        mem0, rcpu0, wcpu0 = int(r.info("memory")["used_memory"]), redis_cpu(r), web.cpu_seconds()
        t0 = run.go()
        log(f"load: {args.clients} ingest clients (batches of {args.batch}"
            f"{f', paced to {args.rate:,.0f}/s' if args.rate else ', back to back'}), {args.readers} readers, "
            f"{args.streams} stream clients for {args.seconds:.0f} s; load average before {load_before}")
        cpu_at_end: dict[str, float] = {}
        commands: dict[str, Any] = {}

        def ingest_done(_acked: int) -> None:
            cpu_at_end.update(redis=redis_cpu(r), web=web.cpu_seconds() if web else 0.0)
            cpu_at_end["mem"] = int(r.info("memory")["used_memory"])
            commands.update(r.info("commandstats"))

        results = run.collect(ingest_done)
        load_after = loadavg()
        fig = summarize(args, results)
        report(args, fig)

        redis_s = cpu_at_end["redis"] - rcpu0
        web_s = cpu_at_end["web"] - wcpu0
        acked = fig["acknowledged"]
        per_core = acked / (redis_s + web_s) if redis_s + web_s > 0 else 0.0
        mem_per_exec = (cpu_at_end["mem"] - mem0) / acked if acked else 0.0
        log(f"server CPU during the load: web {web_s:.1f} s + Redis {redis_s:.1f} s = "
            f"{acked / max(1e-9, web_s):,.0f} executions per web CPU-second, {acked / max(1e-9, redis_s):,.0f} per "
            f"Redis CPU-second, {per_core:,.0f} per server CPU-second")
        log(f"Redis memory: +{(cpu_at_end['mem'] - mem0) / 1e6:.1f} MB = {mem_per_exec:,.0f} bytes per execution")
        top = sorted(commands.items(), key=lambda kv: -kv[1]["usec"])[:6]
        log("Redis time per acknowledged execution (commands inside scripts are counted again on their own): " +
            ", ".join(f"{name.removeprefix('cmdstat_')} {v['usec'] / max(1, acked):.0f} µs ({v['calls'] / max(1, acked):.2f}"
                      " calls)" for name, v in top))
        log(f"load average before {load_before}, after {load_after}")

        unacked = [(c["client"], c["unacked"]) for c in results["ingest"] if c["unacked"]]
        stored_unacked = exists_count(r, owner, run_id, unacked, args.batch) if unacked else 0
        counts, problems = verify(r, web.url, owner, acked, stored_unacked, int(t0 * 1000))
        log("counts: " + ", ".join(f"{k} {v:,}" for k, v in counts.items()))
        goal = (fig["rate"] >= GOAL_RATE and fig["ingest_p99_ms"] <= GOAL_P99_MS and fig["ingest_errors"] == 0
                and fig.get("read_errors", 0) == 0 and not problems)
        log(f"goal (>= {GOAL_RATE:,.0f}/s, p99 ingest <= {GOAL_P99_MS:.0f} ms, zero errors, zero loss): "
            f"{'met' if goal else 'NOT met'} on this machine (load average {load_after})")
        for p in problems:
            log(f"VERIFICATION FAILED: {p}")
        if not problems:
            log(f"verified: {counts['index']:,} executions stored, each exactly once "
                f"(index = acknowledged = _all 1m runs = summary runs = jobs' totalRuns)")
        record = {"bench": "load", "seconds": args.seconds, "clients": args.clients, "batch": args.batch,
                  "rate_target": args.rate, "readers": args.readers, "streams": args.streams, **fig,
                  "web_cpu_s": round(web_s, 1), "redis_cpu_s": round(redis_s, 1),
                  "exec_per_server_cpu_s": round(per_core), "redis_bytes_per_exec": round(mem_per_exec),
                  "counts": counts, "verified": not problems, "goal_met": goal,
                  "loadavg_before": load_before, "loadavg_after": load_after,
                  "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())}
        log("RESULT " + json.dumps(rounded(record), separators=(",", ":")))
        return 0 if not problems else 1
    except BenchError as exc:
        log(f"bench failed: {exc}")
        return 1
    finally:
        if run is not None:
            run.stop()
        if web is not None:
            web.stop()
        if embedded is not None:
            embedded.stop()
        if args.keep:
            log(f"kept {tmp}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)


# ---- make bench / make soak: the figures of every log, as a table in docs/reliability.md ------------

# Lines worth quoting from the other benchmarks' output (they print no RESULT line).
FIGURE_LINES = {
    "ingest": (r"^HTTP API", r"^ratio API/raw", r"^Redis memory per execution", r"^verified", r"VERIFICATION FAILED"),
    "scheduler": (r"^fires expected", r"^lag ms", r"^duplicates"),
    "batch": (r"records/s", r"^goal"),
    "sdk_overhead": (r"^goal", r"^HTTP|events/s \(runs"),
    "dashboard": (r"^loaded in", r"callbacks, \d+ within"),
}


def _figures_of(name: str, lines: list[str]) -> list[tuple[str, str, bool | None]]:
    """(what, figure, ok) rows of one log: one per RESULT line, else the quoted lines."""
    import re

    rows: list[tuple[str, str, bool | None]] = []
    for line in lines:
        if not line.startswith("RESULT "):
            continue
        d = json.loads(line[7:])
        kind = d.get("bench") or d.get("test", name)
        if kind in ("load", "scaleout"):
            streams = d.get("stream_clients") or []
            got = min((c["received"] for c in streams), default=None)
            fig = (f"{d['rate']:,.0f} executions/s over {d['seconds']:.0f} s (slowest 10 s {d['slowest_10s_rate']:,.0f}/s); "
                   f"ingest p50 {d['ingest_p50_ms']:.0f} ms / p99 {d['ingest_p99_ms']:.0f} ms; reads p50 "
                   f"{d.get('read_p50_ms', 0):.0f} / p99 {d.get('read_p99_ms', 0):.0f} ms; errors "
                   f"{d['ingest_errors'] + d.get('read_errors', 0)}; stream clients got "
                   f"{'n/a' if got is None else f'{got:,}'} of {d['acknowledged']:,}; stored exactly once: "
                   f"{'yes' if d['verified'] else 'NO'}")
            if kind == "load":
                fig += (f"; {d['exec_per_server_cpu_s']:,} executions per server CPU-second; "
                        f"{d['redis_bytes_per_exec']:,} B/execution in Redis")
            else:
                fig += (f"; fires {d['fires']:,}/{d['fires_expected']:,}, duplicates {d['duplicates']}, gaps "
                        f"{d['gaps']}, lag p99 {d['lag_p99_ms']:,.0f} ms; batch {d['batch_delivered']:,} delivered")
            rows.append((f"bench/{kind}.py", fig, bool(d["verified"])))
        elif kind == "redis_sigkill":
            rows.append(("Redis SIGKILL under load", (
                f"{d['kills']} kill(s), {d['down_s']:.0f} s down each, over {d['seconds']:.0f} s; "
                f"{d['raw_acknowledged']:,} acknowledged by plain clients ({d['raw_errors']} failed attempts retried), "
                f"lost {d['lost']}; SDK: {d['sdk_runs']:,} runs x 2 clients, spooled {d['sdk_spooled']} + "
                f"{d['eager_sdk_spooled']}, replayed {d['eager_sdk_replayed']}, all stored once"), None))
        elif kind == "gunicorn_worker_sigkill":
            rows.append(("gunicorn worker SIGKILL", (
                f"{d['kills']} workers killed over {d['seconds']:.0f} s; {d['raw_acknowledged']:,} acknowledged, "
                f"{d['raw_errors']} cut requests retried ({d['duplicates_answered']} executions answered as "
                f"duplicates on retry); SDK {d['sdk_runs']:,} runs; lost 0, doubled 0"), None))
        elif kind == "batch_runner_sigkill":
            rows.append(("batch runner SIGKILL under ingest", (
                f"{d['kills']} runner(s) killed mid-batch; {d['delivered']:,}/{d['records']:,} records delivered, "
                f"{d['failed']} failed, {d['sent_twice']} sent twice (held by the victim, unreported); "
                f"{d['raw_acknowledged']:,} executions posted meanwhile, stored once"), None))
        elif kind == "scheduler_sigkill":
            rows.append(("scheduler SIGKILL (1 of 2)", (
                f"{d['kills']} kill(s) over {d['seconds']:.0f} s, {d['jobs']} jobs '{d['schedule']}': fires "
                f"{d['fires']}/{d['fires_expected']}, duplicates {d['duplicates']}, gaps {d['gaps']}, lag max "
                f"{d['lag_max_ms']} ms, widest interval {d['widest_interval_ms']} ms"), None))
    if rows:
        return rows
    picks = [re.compile(p) for p in FIGURE_LINES.get(name, ())]
    quoted = [" ".join(line.split()) for line in lines if any(p.search(line) for p in picks)]
    if not quoted:
        quoted = [" ".join(line.split()) for line in lines if line.strip() and not line.startswith("#")][-2:]
    return [(f"bench/{name}.py" if name not in ("faults",) else name, "; ".join(quoted), None)]


def collect(log_dir: Path, section: str, doc: Path | None) -> str:
    """A markdown table of every ``<name>.log`` in ``log_dir`` (written by ``make bench`` / ``make soak``);
    replaces the ``section`` block of ``doc`` when given. Returns the table."""
    head = ("| what | command | figures | passed | date | load average (start → end) |\n"
            "|---|---|---|---|---|---|")
    out = [head]
    py = sys.executable
    for path in sorted(log_dir.glob("*.log")):
        lines = path.read_text(errors="replace").splitlines()
        meta = {k: v for k, _, v in (line[2:].partition(": ") for line in lines if line.startswith("# "))}
        command = meta.get("command", "?").replace(py, "python").replace(".venv/bin/python", "python")
        command = " ".join(command.split())
        body = [line for line in lines if not line.startswith("# ")]
        code = meta.get("exit", "?")
        if path.stem == "faults":
            tail = [line for line in body if " passed" in line or " failed" in line]
            if tail:
                body.append(f"pytest: {tail[-1].strip('= ')}")
        for what, figures, ok in _figures_of(path.stem, body):
            passed = "yes" if code == "0" and ok is not False else f"NO (exit {code})"
            figures = figures.replace("|", "\\|")
            out.append(f"| {what} | `{command}` | {figures} | {passed} | {meta.get('started', '?')} | "
                       f"{meta.get('loadavg', '?')} → {meta.get('loadavg-after', '?')} |")
    table = "\n".join(out)
    if doc is not None:
        begin, end = f"<!-- make {section}: begin -->", f"<!-- make {section}: end -->"
        text = doc.read_text() if doc.exists() else ""
        block = f"{begin}\n{table}\n{end}"
        if begin in text and end in text:
            text = text[:text.index(begin)] + block + text[text.index(end) + len(end):]
        else:
            text = text.rstrip("\n") + f"\n\n{block}\n"
        doc.write_text(text)
    return table


def rounded(value: Any) -> Any:
    """``value`` with every float rounded to one decimal (for the RESULT line)."""
    if isinstance(value, float):
        return round(value, 1)
    if isinstance(value, dict):
        return {k: rounded(v) for k, v in value.items()}
    if isinstance(value, list):
        return [rounded(v) for v in value]
    return value


def _owner(r: redis.Redis) -> str:
    from chronos.store import users

    key = users.lookup_key(r, API_KEY)
    if key is None:
        raise BenchError("the bootstrap API key was not created by the server")
    return key.owner


if __name__ == "__main__":
    sys.exit(main())
