"""Demo data, sent through the public HTTP API only (an API key with the ``ingest`` scope).

``seed()`` registers a realistic set of jobs and reports their last ``days`` of history through
``POST /api/ingest/executions/batch``; every execId is derived from the seed and the scheduled time,
so running it again stores nothing twice (the server is idempotent by execId). ``trickle()`` then
keeps posting a few live runs (a ``running`` event, then its finish) until it is stopped.

    python -m chronos.demo seed --url http://127.0.0.1:8050 --key chr_...
    python -m chronos.demo trickle --url http://127.0.0.1:8050 --key chr_...

This module imports nothing from the server: it is what any client of the API could do.
"""
from __future__ import annotations

import argparse
import json
import logging
import os
import random
import sys
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Iterable, Sequence

import requests

from chronos.demo_catalog import CATALOG, DemoJob, demo_jobs
from chronos.demo_data import DAY_MS, _event, _history, _plan

log = logging.getLogger("chronos.demo")

BATCH_SIZE = 500
MAX_EXECUTIONS = 40_000
DEFAULT_URL = "http://127.0.0.1:8050"


# ---- HTTP ----------------------------------------------------------------------------------------

class DemoApiError(RuntimeError):
    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


class _Api:
    """POSTs to the Chronos API with a key; retries connection errors, 429 and 5xx a few times."""

    def __init__(self, base_url: str, api_key: str, *, timeout: float = 60.0, attempts: int = 4) -> None:
        self.base = base_url.rstrip("/")
        self.timeout = timeout
        self.attempts = attempts
        self.local = threading.local()
        self.headers = {"x-api-key": api_key, "Content-Type": "application/json",
                        "User-Agent": "chronos-demo/1.0"}

    @property
    def session(self) -> requests.Session:
        s = getattr(self.local, "session", None)
        if s is None:
            s = self.local.session = requests.Session()
            s.headers.update(self.headers)
        return s

    def post(self, path: str, body: dict[str, Any], *, attempts: int | None = None) -> dict[str, Any]:
        data = json.dumps(body, separators=(",", ":")).encode()
        tries = attempts or self.attempts
        for i in range(tries):
            last = i == tries - 1
            try:
                resp = self.session.post(self.base + path, data=data, timeout=self.timeout)
            except requests.RequestException as exc:
                if last:
                    raise DemoApiError(f"POST {path}: {exc}") from exc
                time.sleep(0.5 * 2 ** i)
                continue
            if resp.status_code == 200:
                return resp.json()
            message = _error_message(resp)
            if (resp.status_code == 429 or resp.status_code >= 500) and not last:
                time.sleep(float(resp.headers.get("Retry-After", 0.5 * 2 ** i)))
                continue
            raise DemoApiError(f"POST {path}: HTTP {resp.status_code}: {message}", resp.status_code)
        raise AssertionError("unreachable")

    def close(self) -> None:
        s = getattr(self.local, "session", None)
        if s is not None:
            s.close()


def _error_message(resp: requests.Response) -> str:
    try:
        return resp.json()["error"]["message"]
    except Exception:  # noqa: BLE001 - not our JSON error
        return resp.text[:200]


def register(api: _Api, jobs: Iterable[DemoJob]) -> int:
    return int(api.post("/api/ingest/jobs/register", {"jobs": [j.definition() for j in jobs]})["registered"])


# ---- public entry points -------------------------------------------------------------------------

def seed(base_url: str, api_key: str, *, days: int = 30, jobs: int = 24, seed: int = 7,
         now_ms: int | None = None, concurrency: int = 3, max_executions: int = MAX_EXECUTIONS) -> dict[str, Any]:
    """Register ``jobs`` demo jobs and report their last ``days`` days of runs. Idempotent.

    Each job's runs go out in time order on one lane (so its last status and consecutive-failure
    count end up right); ``concurrency`` lanes post in parallel. Returns counts and the elapsed time.
    """
    t0 = time.monotonic()
    now = int(time.time() * 1000) if now_ms is None else int(now_ms)
    chosen = demo_jobs(jobs)
    api = _Api(base_url, api_key)
    registered = register(api, chosen)
    fires = _plan(chosen, days=days, now=now, cap=max_executions)
    window_start = now - days * DAY_MS
    per_job = {j.id: _history(j, fires[j.id], seed=seed, now=now, window_start=window_start) for j in chosen}

    lanes: list[list[dict[str, Any]]] = [[] for _ in range(max(1, concurrency))]
    for job_id in sorted(per_job, key=lambda k: -len(per_job[k])):
        min(lanes, key=len).extend(per_job[job_id])
    batches: list[list[list[dict[str, Any]]]] = []
    for lane in lanes:
        lane.sort(key=lambda e: e.get("finishedAt", e["startedAt"]))
        batches.append([lane[i:i + BATCH_SIZE] for i in range(0, len(lane), BATCH_SIZE)])

    totals = {"created": 0, "finished": 0, "duplicates": 0}
    lock = threading.Lock()
    sent = [0]

    def run_lane(lane_batches: list[list[dict[str, Any]]]) -> None:
        for batch in lane_batches:
            res = api.post("/api/ingest/executions/batch", {"executions": batch})
            with lock:
                for k in totals:
                    totals[k] += int(res.get(k, 0))
                sent[0] += len(batch)
                log.debug("sent %d executions", sent[0])

    with ThreadPoolExecutor(max_workers=len(batches)) as pool:
        for f in [pool.submit(run_lane, b) for b in batches if b]:
            f.result()
    api.close()

    statuses: dict[str, int] = {}
    for events in per_job.values():
        for e in events:
            statuses[e["status"]] = statuses.get(e["status"], 0) + 1
    result = {
        "jobs": registered, "executions": sum(statuses.values()), **totals,
        "success": statuses.get("success", 0), "failed": statuses.get("failed", 0),
        "timeout": statuses.get("timeout", 0), "cancelled": statuses.get("cancelled", 0),
        "running": statuses.get("running", 0),
        "batches": sum(len(b) for b in batches), "days": days, "nowMs": now,
        "seconds": round(time.monotonic() - t0, 2),
    }
    log.info("demo seed: %d executions (%d failed) for %d jobs in %.1fs", result["executions"],
             result["failed"], registered, result["seconds"])
    return result


def trickle(base_url: str, api_key: str, *, interval: float = 3.0, stop: threading.Event | None = None,
            seed: int | None = None, jobs: int = len(CATALOG), max_ticks: int | None = None) -> dict[str, int]:
    """Post a few live runs every ``interval`` seconds until ``stop`` is set (or ``max_ticks`` ticks).

    Each run is a ``running`` event, then its final event a moment later with the same execId. Server
    and network errors are logged and retried on the next tick (finishes that did not get through are
    kept and re-sent; on the way out, even on Ctrl-C, open runs are finished once more). An invalid
    key (401/403) ends it with DemoApiError. Returns counts.
    """
    stop = stop or threading.Event()
    rng = random.Random(seed)
    catalog = demo_jobs(jobs)
    weights = [1.0 / max(0.2, j.base_ms / 60_000) ** 0.3 for j in catalog]
    api = _Api(base_url, api_key, timeout=15.0, attempts=1)
    registered = False
    open_runs: list[tuple[DemoJob, str, int]] = []   # started (or about to be), not yet finished
    stats = {"ticks": 0, "started": 0, "finished": 0, "errors": 0}

    def send(events: list[dict[str, Any]]) -> None:
        api.post("/api/ingest/executions/batch", {"executions": events})

    def finish() -> None:
        end = int(time.time() * 1000)
        finals = []
        for job, exec_id, started in open_runs:
            status = "failed" if rng.random() < job.failure_rate else "success"
            finals.append(_event(job, rng, exec_id=exec_id, started=started, dur=max(1, end - started),
                                 status=status, attempt=1, now=end,
                                 error_kind=job.errors[0] if status == "failed" else None))
        send(finals)
        stats["finished"] += len(finals)
        open_runs.clear()

    try:
        while not stop.is_set():
            stats["ticks"] += 1
            try:
                if not registered:
                    register(api, catalog)
                    registered = True
                if open_runs:  # a finish that failed on an earlier tick
                    finish()
                now = int(time.time() * 1000)
                runs = []
                for job in rng.choices(catalog, weights=weights, k=rng.randint(1, 3)):
                    exec_id = f"live-{job.id}-{uuid.UUID(int=rng.getrandbits(128)).hex[:16]}"
                    runs.append((job, exec_id, now - rng.randrange(0, 200)))
                open_runs.extend(runs)  # before sending: an interrupted send still gets its finish
                send([_event(j, rng, exec_id=x, started=t, dur=0, status="running", attempt=1, now=now,
                             running=True) for j, x, t in runs])
                stats["started"] += len(runs)
                stop.wait(min(interval * 0.6, rng.uniform(0.4, 1.5)))
                finish()
            except DemoApiError as exc:
                if exc.status in (401, 403):
                    raise
                stats["errors"] += 1
                log.warning("demo trickle: %s; retrying next tick", exc)
            except Exception as exc:  # noqa: BLE001 - keep trickling whatever happens
                stats["errors"] += 1
                log.warning("demo trickle: unexpected %s: %s; retrying next tick", type(exc).__name__, exc)
            if max_ticks is not None and stats["ticks"] >= max_ticks:
                break
            stop.wait(interval)
    finally:
        if open_runs:
            try:
                finish()
            except Exception as exc:  # noqa: BLE001
                log.warning("demo trickle: could not finish %d open runs: %s", len(open_runs), exc)
        api.close()
    return stats


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m chronos.demo", description="Chronos Synapse demo data")
    sub = parser.add_subparsers(dest="command", required=True)

    def common(p: argparse.ArgumentParser) -> None:
        p.add_argument("--url", default=os.environ.get("CHRONOS_URL", DEFAULT_URL),
                       help=f"server base URL (default $CHRONOS_URL or {DEFAULT_URL})")
        p.add_argument("--key", default=os.environ.get("CHRONOS_API_KEY") or os.environ.get("CHRONOS_BOOTSTRAP_API_KEY"),
                       help="API key with the ingest scope (default $CHRONOS_API_KEY or $CHRONOS_BOOTSTRAP_API_KEY)")
        p.add_argument("--jobs", type=int, default=len(CATALOG), help="number of demo jobs (default %(default)s)")
        p.add_argument("-v", "--verbose", action="store_true")

    p_seed = sub.add_parser("seed", help="register demo jobs and report their history (idempotent)")
    common(p_seed)
    p_seed.add_argument("--days", type=int, default=30)
    p_seed.add_argument("--seed", type=int, default=7)
    p_trickle = sub.add_parser("trickle", help="post a few live runs every few seconds until interrupted")
    common(p_trickle)
    p_trickle.add_argument("--interval", type=float, default=3.0)
    p_trickle.add_argument("--seed", type=int, default=None)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    if not args.key:
        parser.error("--key is required (or set CHRONOS_API_KEY)")
    try:
        if args.command == "seed":
            result = seed(args.url, args.key, days=args.days, jobs=args.jobs, seed=args.seed)
            print(json.dumps(result, indent=2))
        else:
            stop = threading.Event()
            try:
                trickle(args.url, args.key, interval=args.interval, stop=stop, seed=args.seed, jobs=args.jobs)
            except KeyboardInterrupt:
                stop.set()
    except DemoApiError as exc:
        print(f"chronos demo: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
