"""An acknowledged batch survives a SIGKILL of the embedded redis-server (real processes, AOF on)."""
from __future__ import annotations

import time
from pathlib import Path

import pytest
import requests

from tests.processes import Web, wait_health
from chronos.redis_server import EmbeddedRedis, free_port
from tests.helpers import batch, execution

ROOT = Path(__file__).resolve().parent.parent
KEY = "chr_durability_test_key_0000000000"


@pytest.fixture
def stack(tmp_path):
    redis = EmbeddedRedis(tmp_path / "data", port=free_port())
    redis.start()
    web = Web(redis.url, tmp_path / "data", KEY, workers=1, threads=4)
    try:
        web.start()
        yield redis, web.url
    finally:
        web.stop()
        redis.stop()


def test_an_acknowledged_batch_survives_sigkill_of_redis(stack):
    redis, url = stack
    events = [execution(f"durable-{i}", "job-d", "failed" if i % 4 == 0 else "success") for i in range(200)]
    resp = requests.post(url + "/api/ingest/executions/batch", json=batch(*events), headers={"x-api-key": KEY},
                         timeout=30)
    assert resp.status_code == 200 and resp.json()["accepted"] == 200
    redis.kill()  # SIGKILL right after the acknowledgement: no shutdown save, only the AOF
    redis.start()
    wait_health(url)
    headers = {"x-api-key": KEY}
    deadline = time.monotonic() + 20
    while True:  # the web workers reconnect on their next request
        try:
            summary = requests.get(url + "/api/analytics/summary", headers=headers, timeout=5).json()
            break
        except (requests.RequestException, ValueError):
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)
    assert (summary["runs"], summary["failures"]) == (200, 50)
    listed = requests.get(url + "/api/executions?limit=1", headers=headers, timeout=5).json()
    assert listed["total"] == 200
    job = requests.get(url + "/api/jobs/job-d", headers=headers, timeout=5).json()
    assert job["totalRuns"] == 200
    again = requests.post(url + "/api/ingest/executions/batch", json=batch(*events), headers=headers, timeout=30).json()
    assert again["duplicates"] == 200
