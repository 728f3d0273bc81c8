"""An acknowledged batch survives a SIGKILL of the embedded redis-server (real processes, AOF on)."""
from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests

from chronos.redis_server import EmbeddedRedis, free_port
from tests.helpers import batch, execution

ROOT = Path(__file__).resolve().parent.parent
KEY = "chr_durability_test_key_0000000000"


def wait_health(url: str, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if requests.get(url + "/api/health", timeout=1).status_code == 200:
                return
        except requests.RequestException:
            pass
        time.sleep(0.2)
    raise AssertionError(f"{url} never became healthy")


@pytest.fixture
def stack(tmp_path):
    redis = EmbeddedRedis(tmp_path / "data", port=free_port())
    redis.start()
    port = free_port()
    env = dict(os.environ, REDIS_URL=redis.url, CHRONOS_DATA_DIR=str(tmp_path / "data"),
               CHRONOS_ADMIN_EMAIL="ops@example.com", CHRONOS_ADMIN_PASSWORD="ops-password",
               CHRONOS_BOOTSTRAP_API_KEY=KEY, CHRONOS_SECRET_KEY="x")
    web = subprocess.Popen([sys.executable, "-m", "gunicorn", "-b", f"127.0.0.1:{port}", "-w", "1", "-k", "gthread",
                            "--threads", "4", "--chdir", str(ROOT), "app:create_app()"], env=env,
                           stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_health(url)
        yield redis, url
    finally:
        web.terminate()
        web.wait(10)
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
