"""Memory: the web process stays flat while a 200 MB batch streams in; Redis bytes per stored record."""
from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Iterator

import orjson
import pytest
import requests

from batch_runner.sink import Sink
from chronos import keys
from chronos.redis_server import free_port
from tests.conftest import ADMIN_EMAIL, ADMIN_KEY, ADMIN_PASSWORD
from tests.test_batches_helpers import NDJSON, PROJECT_ROOT, Runners, config_line, ndjson, submit, wait_for

UPLOAD_BYTES = 200 * 1024 * 1024


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise RuntimeError("no VmRSS")


@pytest.fixture
def web(redis_url, r, tmp_path) -> Iterator[tuple[str, int]]:
    """The real app under gunicorn (one gthread worker); yields (base url, worker pid)."""
    port = free_port()
    env = dict(os.environ, REDIS_URL=redis_url, CHRONOS_DATA_DIR=str(tmp_path), CHRONOS_SECRET_KEY="t",
               CHRONOS_ADMIN_EMAIL=ADMIN_EMAIL, CHRONOS_ADMIN_PASSWORD=ADMIN_PASSWORD,
               CHRONOS_BOOTSTRAP_API_KEY=ADMIN_KEY, CHRONOS_RATE_LIMIT_PER_MIN="100000")
    proc = subprocess.Popen([sys.executable, "-m", "gunicorn", "--bind", f"127.0.0.1:{port}", "--workers", "1",
                             "--worker-class", "gthread", "--threads", "4", "--timeout", "300",
                             "--chdir", str(PROJECT_ROOT), "--log-level", "warning", "app:create_app()"], env=env)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if requests.get(base + "/api/health", timeout=2).status_code == 200:
                    break
            except requests.RequestException:
                pass
            assert time.monotonic() < deadline and proc.poll() is None, "gunicorn did not start"
            time.sleep(0.2)
        children = Path(f"/proc/{proc.pid}/task/{proc.pid}/children").read_text().split()
        yield base, int(children[0])
    finally:
        proc.terminate()
        proc.wait(20)


def body(config: dict, total_bytes: int) -> Iterator[bytes]:
    """A chunked NDJSON body of about ``total_bytes`` (1 KiB records), generated as it is sent."""
    yield orjson.dumps(config) + b"\n"
    filler = "x" * 960
    sent, i, chunk = 0, 0, []
    while sent < total_bytes:
        line = orjson.dumps({"id": i, "payload": {"n": i, "fill": filler}}) + b"\n"
        chunk.append(line)
        sent += len(line)
        i += 1
        if len(chunk) == 256:
            yield b"".join(chunk)
            chunk = []
    if chunk:
        yield b"".join(chunk)


def test_a_200_mb_upload_keeps_the_web_process_flat(web, r, capsys):
    base, worker = web
    headers = {"x-api-key": ADMIN_KEY, **NDJSON}
    warm = requests.post(base + "/api/batches", data=ndjson(config_line(9), [{"id": 1, "payload": "{}"}]),
                         headers=headers, timeout=30)
    assert warm.status_code == 202
    before = rss_kib(worker)
    peak = [before]
    done = threading.Event()

    timeline = []

    def sample() -> None:
        while not done.is_set():
            now = rss_kib(worker)
            peak[0] = max(peak[0], now)
            timeline.append(now)
            time.sleep(0.02)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    started = time.monotonic()
    resp = requests.post(base + "/api/batches", data=body(config_line(9), UPLOAD_BYTES), headers=headers,
                         timeout=600)
    elapsed = time.monotonic() - started
    done.set()
    sampler.join()
    assert resp.status_code == 202, resp.text
    accepted = resp.json()["accepted"]
    growth_mib = (peak[0] - before) / 1024
    first_half = max(timeline[:len(timeline) // 2]) / 1024
    with capsys.disabled():
        print(f"\n[memory] 200 MiB upload, {accepted} records in {elapsed:.1f} s: web worker RSS "
              f"{before / 1024:.1f} MiB before, peak {peak[0] / 1024:.1f} MiB (+{growth_mib:.1f} MiB; "
              f"peak in the first half {first_half:.1f} MiB)")
    assert accepted > 200_000
    assert growth_mib < 32
    batch = resp.json()["job_id"]
    assert int(r.hget(keys.batch(batch), "total")) == accepted
    assert not list(r.scan_iter(keys.batch_ids(batch, 0)[:-1] + "*"))  # duplicate-check sets dropped


def test_redis_keeps_about_thirty_bytes_per_record_beyond_the_payload(api, r, redis_url, capsys):
    n = 100_000
    payload = '{"user":"u","n":1}'
    sink = Sink(lambda b: 200).start()
    runners = Runners(redis_url)
    try:
        runners.start()
        sub = submit(api, ndjson(config_line(sink.port, concurrency=128),
                                 ({"id": i, "payload": payload} for i in range(n))))
        wait_for(api, sub["job_id"], limit_s=300)
    finally:
        runners.close()
        sink.stop()
    batch = sub["job_id"]
    used = {name: r.memory_usage(k, samples=0) or 0 for name, k in (
        ("hash", keys.batch(batch)), ("stream", keys.batch_records(batch)),
        ("results", keys.batch_results(batch)), ("histogram", keys.batch_hist(batch)))}
    total = sum(used.values())
    payload_bytes = n * len(payload)
    per_record = (total - payload_bytes) / n
    with capsys.disabled():
        print(f"\n[memory] {n} records: Redis {total / n:.1f} bytes/record in all "
              f"({per_record:.1f} beyond the {len(payload)}-byte payload): "
              + ", ".join(f"{k} {v / n:.1f}" for k, v in used.items()))
    assert per_record < 40
