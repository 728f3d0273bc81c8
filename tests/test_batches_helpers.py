"""Helpers for the batch tests (no tests here): NDJSON builders, runner processes, waiting for a batch."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Iterable

import orjson

PROJECT_ROOT = Path(__file__).resolve().parent.parent
NDJSON = {"Content-Type": "application/x-ndjson"}


def config_line(url_port: int, **extra: Any) -> dict[str, Any]:
    cfg = {"protocol": "http", "host": "127.0.0.1", "port": str(url_port), "path": "/hook"}
    cfg.update(extra)
    return cfg


def ndjson(config: dict[str, Any] | bytes, records: Iterable[dict[str, Any] | bytes | str]) -> bytes:
    lines = [config if isinstance(config, bytes) else orjson.dumps(config)]
    for rec in records:
        if isinstance(rec, str):
            lines.append(rec.encode())
        elif isinstance(rec, bytes):
            lines.append(rec)
        else:
            lines.append(orjson.dumps(rec))
    return b"\n".join(lines) + b"\n"


def records(n: int, start: int = 0) -> list[dict[str, Any]]:
    """Go-style records: integer ids, payload a JSON string naming the record."""
    return [{"id": i, "payload": orjson.dumps({"n": i}).decode()} for i in range(start, start + n)]


def submit(api, body: bytes, path: str = "/api/batches") -> dict[str, Any]:
    resp = api.post(path, data=body, headers=NDJSON)
    assert resp.status_code == 202, resp.get_json()
    return resp.get_json()


class Runners:
    """Batch runner processes started for one test (each stopped or killed at the end)."""

    def __init__(self, redis_url: str, **env: str) -> None:
        self.env = dict(os.environ)
        self.env.update({"REDIS_URL": redis_url, "CHRONOS_BATCH_RECLAIM_MS": "1500",
                         "CHRONOS_OUTBOUND_ALLOW": "127.0.0.1,localhost"})
        self.env.update(env)
        self.procs: list[subprocess.Popen] = []

    def start(self, name: str | None = None, *args: str) -> subprocess.Popen:
        argv = [sys.executable, "-m", "batch_runner", "--log-level", "warning", *args]
        if name:
            argv += ["--name", name]
        proc = subprocess.Popen(argv, env=self.env, cwd=str(PROJECT_ROOT))
        self.procs.append(proc)
        return proc

    def close(self) -> None:
        for proc in self.procs:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for proc in self.procs:
            try:
                proc.wait(15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def wait_for(api, batch_id: str, states: tuple[str, ...] = ("completed",), limit_s: float = 120.0,
             until=None) -> dict[str, Any]:
    """Poll the batch until it reaches one of ``states`` (or ``until(batch)`` holds); fails after ``limit_s``."""
    deadline = time.monotonic() + limit_s
    while True:
        batch = api.get(f"/api/batches/{batch_id}").get_json()
        if (until(batch) if until else batch["state"] in states):
            return batch
        assert time.monotonic() < deadline, f"batch never got there: {batch}"
        time.sleep(0.05)
