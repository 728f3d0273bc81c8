"""The SDK rides out a server outage: nothing is lost, nothing is counted twice.

Real processes: an embedded Redis Stack and ``gunicorn 'app:create_app()'`` (as ``chronos up`` runs it).
The web server is stopped with SIGTERM for about 30 seconds while 1,000 monitored runs happen in this
process; the SDK spools what it cannot send to a temp ``spool_dir``. The server is started again on the
same port, and the client's own probe finds it and replays the spool.
"""
from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Iterator

import pytest
import requests

from tests.processes import Web
from chronos.redis_server import EmbeddedRedis, free_port
from chronos_sdk import ChronosClient

ROOT = Path(__file__).resolve().parent.parent
KEY = "chr_sdk_outage_test_key_000000000000"
HEADERS = {"x-api-key": KEY}
RUNS = 1000
OUTAGE_SECONDS = 30.0
RECOVERY_DEADLINE = 120.0  # the client probes a missing server at growing pauses (5 s doubling to 60 s)


@pytest.fixture
def stack(tmp_path: Path) -> Iterator[tuple[EmbeddedRedis, Web]]:
    redis = EmbeddedRedis(tmp_path / "data", port=free_port())
    redis.start()
    web = Web(redis.url, tmp_path / "data", KEY)
    try:
        web.start()
        yield redis, web
    finally:
        web.stop()
        redis.stop()


def api(url: str, path: str, **params: Any) -> Any:
    resp = requests.get(url + path, params=params, headers=HEADERS, timeout=10)
    assert resp.status_code == 200, resp.text[:300]
    return resp.json()


def test_1000_runs_during_a_30s_outage_are_all_stored_exactly_once(stack, tmp_path):
    _, web = stack
    spool_dir = tmp_path / "spool"
    client = ChronosClient(KEY, endpoint=web.url, spool_dir=str(spool_dir))  # default delivery options

    @client.monitor("outage-job", schedule="* * * * *", name="Outage job")
    def job(i: int) -> int:
        print(f"run {i}")
        return i

    # The job is known to the server before the outage.
    client.register_jobs([{"id": "outage-job", "name": "Outage job", "schedule": "* * * * *"}])

    web.stop()  # SIGTERM: gunicorn shuts down gracefully; the port is closed
    down_at = time.monotonic()
    with pytest.raises(requests.ConnectionError):
        requests.get(web.url + "/api/health", timeout=2)

    # 1,000 runs spread over the outage, as a busy service would produce them.
    pace = (OUTAGE_SECONDS - 1.0) / RUNS
    for i in range(RUNS):
        assert job(i) == i
        pause = down_at + (i + 1) * pace - time.monotonic()
        if pause > 0:
            time.sleep(pause)
    time.sleep(max(0.0, down_at + OUTAGE_SECONDS - time.monotonic()))

    during = client.stats()
    assert during["submitted"] == 2 * RUNS
    assert during["dropped"] == 0 and during["lost"] == 0, during
    assert during["spooled"] > 0 and any(spool_dir.rglob("*.jsonl"))  # durable, on disk

    web.start()  # same port
    up_at = time.monotonic()
    assert client.flush(30)

    def stored() -> int:
        try:
            return api(web.url, "/api/executions", jobId="outage-job", limit=1)["total"]
        except (requests.RequestException, AssertionError):
            return -1

    deadline = time.monotonic() + RECOVERY_DEADLINE
    while stored() < RUNS or any(spool_dir.rglob("*.jsonl")):
        assert time.monotonic() < deadline, (stored(), client.stats())
        time.sleep(0.5)
    recovered_in = time.monotonic() - up_at
    client.close(10)

    stats = client.stats()
    print(f"\noutage {OUTAGE_SECONDS:.0f}s, {RUNS} runs; all stored {recovered_in:.1f}s after the restart; "
          f"spooled {stats['spooled']}, replayed {stats['replayed']}, sent {stats['sent']}, "
          f"retries {stats['retries']}, retry windows cut short {client.retrier.cut_short}")
    assert stats["dropped"] == 0 and stats["lost"] == 0 and stats["rejected"] == 0, stats
    assert stats["replayed"] >= during["spooled"]
    listed = api(web.url, "/api/executions", jobId="outage-job", limit=1)
    assert listed["total"] == RUNS
    assert api(web.url, "/api/executions", jobId="outage-job", status="running", limit=1)["total"] == 0
    assert api(web.url, "/api/executions", jobId="outage-job", status="success", limit=1)["total"] == RUNS
    summary = api(web.url, "/api/analytics/summary", jobId="outage-job")
    assert (summary["runs"], summary["successes"], summary["failures"]) == (RUNS, RUNS, 0)
    assert api(web.url, "/api/analytics/summary")["runs"] == RUNS
    assert api(web.url, "/api/jobs/outage-job")["totalRuns"] == RUNS
    assert not any(spool_dir.rglob("*.jsonl"))
    # Each run kept its own output through the spool.
    newest = listed["items"][0]["execId"]
    assert api(web.url, f"/api/executions/{newest}")["stdout"].startswith("run ")


def test_chronos_exec_during_an_outage_keeps_the_exit_code_and_the_next_run_delivers_it(stack, tmp_path):
    """A cron job wrapped with ``chronos exec`` while the server is down: the command's output and exit
    code are untouched, the report is spooled, and the next wrapped run (server back) sends both."""
    _, web = stack
    env = dict(os.environ, CHRONOS_ENDPOINT=web.url, CHRONOS_API_KEY=KEY, CHRONOS_SPOOL_DIR=str(tmp_path / "sp"))
    chronos = str(Path(sys.executable).parent / "chronos")

    def wrapped(script: str, flush_timeout: str) -> subprocess.CompletedProcess:
        return subprocess.run([chronos, "exec", "--job", "cron-backup", "--flush-timeout", flush_timeout, "--",
                               "sh", "-c", script], env=env, capture_output=True, text=True, timeout=120)

    web.stop()
    down = wrapped("echo partial backup; exit 5", "1")  # waits at most 1 s for the server
    assert (down.returncode, down.stdout) == (5, "partial backup\n")
    assert "written to the spool" in down.stderr
    assert any((tmp_path / "sp").rglob("*.jsonl"))

    web.start()
    up = wrapped("echo full backup", "20")
    assert (up.returncode, up.stdout) == (0, "full backup\n")

    items = api(web.url, "/api/executions", jobId="cron-backup")["items"]
    assert sorted((e["status"], e.get("exitCode")) for e in items) == [("failed", 5), ("success", 0)]
    failed = next(e for e in items if e["status"] == "failed")
    assert api(web.url, f"/api/executions/{failed['execId']}")["stdout"] == "partial backup\n"
    assert not any((tmp_path / "sp").rglob("*.jsonl"))


def test_a_server_mode_runner_survives_a_server_restart_and_resumes_missed_triggers(stack, tmp_path):
    """The runner's SSE connection is cut when gunicorn stops; it reconnects with ``Last-Event-ID`` once the
    server is back, receives the trigger emitted while it was away, and runs it once."""
    from chronos.scheduling.triggers import Emitter
    from chronos.store import users
    from chronos_sdk import ChronosRunner

    redis, web = stack
    r = redis.client()
    owner = users.find_user_by_email(r, "ops@example.com")["id"]
    emitter = Emitter(r)
    client = ChronosClient(KEY, endpoint=web.url, spool_dir=str(tmp_path / "spool"), flush_interval=0.2)
    runner = ChronosRunner(client=client, trigger_mode="server")
    ran: list[str] = []
    runner.register("restart-job", lambda: ran.append("run"), schedule="0 1 * * *")
    thread = runner.start_background()
    try:
        assert runner.started.wait(30)
        deadline = time.monotonic() + 30
        while not ran:  # the stream connects asynchronously: emit until the first trigger is seen
            assert time.monotonic() < deadline
            emitter.trigger(owner, "restart-job", "before-restart", int(time.time() * 1000), pipe=r)
            time.sleep(0.5)

        web.stop()  # cuts the open event stream
        emitter.trigger(owner, "restart-job", "while-down", int(time.time() * 1000), pipe=r)
        web.start()
        deadline = time.monotonic() + 90  # reconnect backoff grows up to 30 s
        while len(ran) < 2:
            assert thread.is_alive(), "the runner stopped when its stream was cut"
            assert time.monotonic() < deadline, ran
            time.sleep(0.2)
        assert client.flush(10)
        items = api(web.url, "/api/executions", jobId="restart-job")["items"]
    finally:
        runner.stop()
        client.close(5)
    assert len(ran) == 2
    assert sorted(e["triggerId"] for e in items) == ["before-restart", "while-down"]
    assert {e["status"] for e in items} == {"success"}
