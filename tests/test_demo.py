"""The demo seeder against the session app served over real HTTP, and the ingestion benchmark's smoke run."""
from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import requests

from chronos.demo import seed
from tests.conftest import ADMIN_KEY

ROOT = Path(__file__).resolve().parent.parent
HOUR_MS = 3_600_000


def _get(base: str, path: str, **params: Any) -> dict[str, Any]:
    resp = requests.get(base + path, params=params, headers={"x-api-key": ADMIN_KEY}, timeout=30)
    assert resp.status_code == 200, resp.text
    return resp.json()


def _counts(base: str, frm: int, to: int) -> dict[str, Any]:
    summary = _get(base, "/api/analytics/summary", **{"from": frm, "to": to})
    return {
        "jobs": _get(base, "/api/jobs", limit=1)["total"],
        "executions": _get(base, "/api/executions", limit=1)["total"],
        "runs": summary["runs"], "successes": summary["successes"], "failures": summary["failures"],
    }


def test_seed_fills_the_api_and_is_idempotent(live_server):
    now = int(time.time() * 1000)
    frm, to = now - 3 * 24 * HOUR_MS, now + 60_000

    first = seed(live_server, ADMIN_KEY, days=2, jobs=20, now_ms=now)
    assert first["jobs"] == 20
    assert first["created"] == first["executions"] > 1000
    assert first["duplicates"] == 0

    jobs = _get(live_server, "/api/jobs", limit=200)
    assert jobs["total"] >= 20
    assert {"Nightly DB backup", "Hourly ETL: orders", "Payments reconciliation"} <= {j["name"] for j in jobs["items"]}
    assert any(j.get("timezone") == "Europe/Paris" for j in jobs["items"])
    assert len({j.get("appId") for j in jobs["items"]}) >= 2

    failed = _get(live_server, "/api/executions", status="failed", limit=5)
    succeeded = _get(live_server, "/api/executions", status="success", limit=5)
    assert failed["total"] > 0 and succeeded["total"] > 0
    doc = _get(live_server, f"/api/executions/{failed['items'][0]['execId']}")
    assert doc["errorType"] and doc["errorMessage"] and "Traceback" in doc["errorStack"]
    assert doc["codeLanguage"] == "python" and doc["codeSnippet"]
    assert doc["exitCode"] != 0 and doc["stdout"] and doc["host"] and doc["jobVersion"] and doc["appVersion"]
    assert isinstance(doc["labels"], (list, dict)) and doc["metadata"] is not None

    # The incident: the last scheduled runs of the payments job all failed.
    recon = _get(live_server, "/api/jobs/payments-recon")
    assert recon["consecutiveFailures"] >= 3

    before = _counts(live_server, frm, to)
    assert before["executions"] == first["executions"]
    assert before["runs"] == first["executions"] - first["running"]
    assert before["failures"] > 0 and before["successes"] > 0

    again = seed(live_server, ADMIN_KEY, days=2, jobs=20, now_ms=now)
    assert again["created"] == 0 and again["finished"] == 0
    assert again["duplicates"] == first["executions"]
    assert _counts(live_server, frm, to) == before


def test_bench_quick_smoke():
    proc = subprocess.run([sys.executable, str(ROOT / "bench" / "ingest.py"), "--quick", "--n", "2000"],
                          cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert "verified" in proc.stdout
    assert "ratio API/raw" in proc.stdout
