"""Reads through the public API and bounded waits, for the SDK tests against the real server
(tests/test_sdk_live_*.py)."""
from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Any, Callable

import requests

from tests.conftest import ADMIN_KEY

ROOT = Path(__file__).resolve().parent.parent
VENV_BIN = Path(sys.executable).parent
HEADERS = {"x-api-key": ADMIN_KEY}


def get(base: str, path: str, **params: Any) -> Any:
    resp = requests.get(base + path, params=params, headers=HEADERS, timeout=10)
    assert resp.status_code == 200, (path, resp.status_code, resp.text[:500])
    return resp.json()


def wait_until(probe: Callable[[], Any], timeout: float = 20.0, interval: float = 0.1) -> Any:
    """The first truthy ``probe()`` within ``timeout`` seconds; fails with the last value otherwise."""
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        last = probe()
        if last:
            return last
        time.sleep(interval)
    raise AssertionError(f"condition not met within {timeout}s (last: {last!r})")


def execution(base: str, exec_id: str, *, final: bool = True) -> dict[str, Any]:
    """``GET /api/executions/{execId}``, waiting (bounded) until it exists and, if ``final``, has finished."""
    def probe() -> Any:
        resp = requests.get(f"{base}/api/executions/{exec_id}", headers=HEADERS, timeout=10)
        if resp.status_code != 200:
            return None
        doc = resp.json()
        return doc if (not final or doc["status"] != "running") else None

    return wait_until(probe)
