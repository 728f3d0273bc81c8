"""The load's client processes: ingest clients, dashboard readers and SSE stream clients (bench/load.py).

Each role runs in its own process (``multiprocessing``, spawn) with one thread per client and puts one result
dict on a queue; :class:`Run` starts them against given web URLs, starts the clock for all at once and
gathers the results. Shared by bench/load.py and bench/scaleout.py.
"""
from __future__ import annotations

import argparse
import multiprocessing as mp
import random
import re
import threading
import time
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any, Callable

import orjson
import requests
from servers import BenchError, Gunicorn

API_KEY = "chr_load_" + "k" * 31
ADMIN_EMAIL = "load@example.com"
ADMIN_PASSWORD = "load-password-1"
JOBS = 50
INGEST_PATH = "/api/ingest/executions/batch"
GOAL_RATE = 5000.0
GOAL_P99_MS = 250.0
RETRY_STATUSES = {429, 500, 502, 503, 504}
ERRORS = ("timeout talking to db-3 while loading orders", "connection refused by payments-api",
          "disk quota exceeded on /var/spool/export", "KeyError: 'customer_id' in nightly report")


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


def _run_clients(work: Callable[[int, threading.Barrier], None], ids: range, ready: Any, role: str) -> None:
    """``work(i, barrier)`` for each i in a daemon thread; ``role`` is put on ``ready`` once every client has
    reached the barrier (connected); returns when all have finished."""
    barrier = threading.Barrier(len(ids) + 1)
    threads = [threading.Thread(target=work, args=(i, barrier), daemon=True) for i in ids]
    for t in threads:
        t.start()
    barrier.wait()
    ready.put(role)
    for t in threads:
        t.join()


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
        slow: Counter = Counter()  # requests over the p99 goal, by second of the run
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
                if status in (200, 202) and resp is not None:  # 202: queued ingestion
                    data = resp.json()
                    lat.append(took * 1000)
                    acked += cfg["batch"]
                    created += int(data.get("created", 0)) + int(data.get("finished", 0))
                    duplicates += int(data.get("duplicates", 0))
                    per_second[int(time.time() - t0)] += cfg["batch"]
                    if took * 1000 > GOAL_P99_MS:
                        slow[int(time.time() - t0)] += 1
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
                            "per_second": dict(per_second), "slow": dict(slow)})

    _run_clients(client, range(first_client, first_client + clients), ready, "ingest")
    out.put({"role": "ingest", "clients": results, "cpu": time.process_time()})


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

    _run_clients(reader, range(readers), ready, "readers")
    out.put({"role": "readers", "lat": dict(lat), "errors": dict(errors), "cpu": time.process_time()})


_EXECUTION_ID = re.compile(rb"(?m)^id: (\d+)-(\d+)\nevent: execution\n")


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
                    # Whole chunks at a time, a regex over each: reading the stream should cost this process
                    # far less than the server spends writing it, as they share the machine.
                    rest = b""
                    for chunk in resp.iter_content(chunk_size=65536):
                        buf = rest + chunk
                        cut = buf.rfind(b"\n\n") + 2
                        buf, rest = buf[:cut], buf[cut:]
                        ids = [(int(a), int(b)) for a, b in _EXECUTION_ID.findall(buf)]
                        if not ids:
                            continue
                        prev = _id_tuple(last_id) if last_id is not None else None
                        for cur in ids:
                            if prev is not None and cur <= prev:
                                out_of_order += 1
                            prev = cur
                        last_id = f"{ids[-1][0]}-{ids[-1][1]}"
                        received += len(ids)
                        last_progress = time.monotonic()
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
    out.put({"role": "streams", "clients": results, "cpu": time.process_time()})


def _id_tuple(entry_id: str) -> tuple[int, int]:
    a, _, b = entry_id.partition("-")
    return int(a), int(b or 0)


# ---- running them --------------------------------------------------------------------------------

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
        results: dict[str, Any] = {"ingest": [], "readers": None, "streams": None, "client_cpu": Counter()}
        ingest_left = self.ingest_procs
        deadline = time.time() + self.args.seconds + 300
        for _ in self.procs:
            try:
                msg = self.out.get(timeout=max(1.0, deadline - time.time()))
            except Exception as exc:  # noqa: BLE001 - queue.Empty
                raise BenchError("a client process did not report in time") from exc
            results["client_cpu"][msg["role"]] += msg.get("cpu", 0.0)
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
