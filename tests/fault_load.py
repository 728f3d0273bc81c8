"""Load and counting helpers for the fault tests (tests/test_faults_*.py).

The clients are threads of the test process: the SDK's ``ChronosClient`` with a temp spool, and
:class:`Poster`, plain ``requests`` posters that retry a batch until it is acknowledged. Afterwards the
counts must be exact (:func:`stored`, :func:`series_runs`, :func:`get`): every acknowledged execution
stored, none twice.

Short by default (CI). ``CHRONOS_SOAK_SECONDS=N`` (:data:`SOAK`) makes each test run about N seconds of load
with a fault every few seconds (``make soak``). Each test prints one ``RESULT {json}`` line with its figures
(:func:`result`; ``pytest -s`` shows them).
"""
from __future__ import annotations

import json
import os
import random
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any

import orjson
import pytest
import redis as redis_py
import requests

from chronos import keys
from chronos.store import ingest_queue

ROOT = Path(__file__).resolve().parent.parent
KEY = "chr_fault_test_key_00000000000000000"
HEADERS = {"x-api-key": KEY}
SOAK = float(os.environ.get("CHRONOS_SOAK_SECONDS") or 0)
#: The fault test modules' ``pytestmark``: the suite's 300 s would cut a long soak short.
TIMEOUT = pytest.mark.timeout(int(240 + 3 * SOAK))


def loadavg() -> str:
    try:
        return " ".join(Path("/proc/loadavg").read_text().split()[:3])
    except OSError:
        return "n/a"


def wait_recorded(r: redis_py.Redis, timeout: float = 60.0) -> None:
    """Queued ingestion: wait until the recorders have emptied the ingest queue (direct: returns at once)."""
    emptied, _ = ingest_queue.wait_empty(r, timeout, poll=0.2)
    assert emptied, f"{r.xlen(keys.ingest_queue())} batches still queued"


def result(name: str, **figures: Any) -> None:
    figures.update(test=name, soak_seconds=SOAK, loadavg=loadavg(), date=time.strftime("%Y-%m-%d %H:%M UTC",
                                                                                       time.gmtime()))
    print("\nRESULT " + json.dumps(figures, separators=(",", ":")), flush=True)


def get(url: str, path: str, *, deadline: float = 30.0, **params: Any) -> Any:
    """GET with retries (the server may still be reconnecting to a restarted Redis)."""
    end = time.monotonic() + deadline
    while True:
        try:
            resp = requests.get(url + path, params=params, headers=HEADERS, timeout=30)
            if resp.status_code == 200:
                return resp.json()
            problem = f"HTTP {resp.status_code}: {resp.text[:200]}"
        except (requests.RequestException, ValueError) as exc:
            problem = repr(exc)
        assert time.monotonic() < end, f"GET {path}: {problem}"
        time.sleep(0.3)


def stored(url: str, job_id: str, status: str | None = None) -> int:
    params: dict[str, Any] = {"jobId": job_id, "limit": 1}
    if status:
        params["status"] = status
    return int(get(url, "/api/executions", **params)["total"])


def series_runs(r: redis_py.Redis, owner: str, scope: str) -> int:
    """Runs counted in a scope's 1m series (the job id or ``_all``)."""
    rows = r.execute_command("TS.RANGE", keys.series(owner, scope, "runs", "1m"), "-", "+")
    return int(sum(float(v) for _, v in rows))


def owner_of(r: redis_py.Redis) -> str:
    from chronos.store import users

    key = users.lookup_key(r, KEY)
    assert key is not None
    return key.owner


class Poster:
    """Threads posting batches of final executions with unique execIds for ``job_id``; a batch that fails
    (connection error, 5xx) is sent again, identical, until it is acknowledged with HTTP 200."""

    def __init__(self, url: str, job_id: str, *, threads: int = 2, batch: int = 20, pause: float = 0.05) -> None:
        self.url, self.job_id, self.batch, self.pause = url, job_id, batch, pause
        self.stop_event = threading.Event()
        self.lock = threading.Lock()
        self.acked: list[str] = []
        self.errors: Counter = Counter()
        self.duplicates = 0
        self.retries = 0
        self.pending: list[list[str]] = []  # batches never acknowledged (must stay empty)
        self.threads = [threading.Thread(target=self._run, args=(i,), daemon=True) for i in range(threads)]

    def __enter__(self) -> Poster:
        for t in self.threads:
            t.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.stop()

    def stop(self, timeout: float = 90.0) -> None:
        self.stop_event.set()
        for t in self.threads:
            t.join(timeout)

    def _run(self, i: int) -> None:
        session = requests.Session()
        seq = 0
        rng = random.Random(i)
        while not self.stop_event.is_set():
            now = int(time.time() * 1000)
            ids = [f"{self.job_id}-{i}-{seq + k:06d}" for k in range(self.batch)]
            seq += self.batch
            body = orjson.dumps({"executions": [
                {"execId": e, "jobId": self.job_id, "status": "success", "startedAt": now - 20, "finishedAt": now,
                 "durationMs": 20} for e in ids]})
            give_up = time.monotonic() + 90
            while True:
                try:
                    resp = session.post(self.url + "/api/ingest/executions/batch", data=body, timeout=20,
                                        headers={**HEADERS, "Content-Type": "application/json"})
                    status: Any = resp.status_code
                except requests.RequestException as exc:
                    status, resp = type(exc).__name__, None
                if status in (200, 202) and resp is not None:  # 202: queued ingestion
                    with self.lock:
                        self.acked += ids
                        self.duplicates += int(resp.json().get("duplicates", 0))
                    break
                with self.lock:
                    self.errors[str(status)] += 1
                if (isinstance(status, int) and status < 500) or time.monotonic() > give_up:
                    with self.lock:
                        self.pending.append(ids)
                    break
                self.retries += 1
                if not isinstance(status, int):
                    session.close()
                    session = requests.Session()
                time.sleep(0.1 + 0.2 * rng.random())
            time.sleep(self.pause)
        session.close()
