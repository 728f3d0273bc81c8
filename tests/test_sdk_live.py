"""The Python SDK (``sdk/``, package ``chronos_sdk``) against the real server over real HTTP.

Uses the session app served by the ``live_server`` fixture (threaded werkzeug) and the bootstrap admin
key. Nothing is mocked: every event goes through ``requests`` to the ingestion API and into Redis Stack,
and every assertion reads it back through the public read API.
"""
from __future__ import annotations

import asyncio
import os
import shutil
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any, Callable, Iterator

import pytest
import requests

import chronos_sdk
from chronos_sdk import ChronosClient, ChronosRunner
from tests.conftest import ADMIN_EMAIL, ADMIN_KEY

ROOT = Path(__file__).resolve().parent.parent
VENV_BIN = Path(sys.executable).parent
HEADERS = {"x-api-key": ADMIN_KEY}


# ---- helpers ------------------------------------------------------------------------------------------

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


def run_async(coro: Any) -> Any:
    """``asyncio.run(coro)`` on a fresh thread. Other test modules may leave an event loop running in the
    main thread (Playwright's sync API does for its session), where ``asyncio.run`` refuses to start."""
    import contextvars

    box: dict[str, Any] = {}
    ctx = contextvars.copy_context()

    def target() -> None:
        try:
            box["value"] = ctx.run(asyncio.run, coro)
        except BaseException as exc:  # noqa: BLE001 - re-raised below
            box["error"] = exc

    thread = threading.Thread(target=target)
    thread.start()
    thread.join(60)
    assert not thread.is_alive(), "the coroutine did not finish within 60 s"
    if "error" in box:
        raise box["error"]
    return box.get("value")


def line_of(fn: Callable[..., Any], marker: str) -> str:
    """The source line of ``fn`` that contains ``marker`` (stripped)."""
    import inspect

    return next(line.strip() for line in inspect.getsource(fn).splitlines() if marker in line)


@pytest.fixture
def sdk(live_server: str, tmp_path: Path) -> Iterator[ChronosClient]:
    """The process-wide client (``chronos_sdk.init``) pointed at the live server, with a temp spool."""
    client = chronos_sdk.init(api_key=ADMIN_KEY, endpoint=live_server, spool_dir=str(tmp_path / "spool"),
                              flush_interval=0.2, app_version="9.9.9-live")
    try:
        yield client
    finally:
        chronos_sdk.close(timeout=5)


# ---- monitor: every field arrives -------------------------------------------------------------------

@chronos_sdk.monitor("live-report", schedule="*/5 * * * *", name="Live report", job_version="3",
                     labels={"team": "data", "tier": "gold"}, metadata={"source": "pytest"}, attempt=2)
def report(rows: int, seen: list) -> int:
    run = chronos_sdk.current_run()
    seen.append(run.exec_id)
    run.metadata["rows"] = rows
    print(f"processing {rows} rows")
    print("a warning on stderr", file=sys.stderr)
    time.sleep(0.05)
    return rows * 2


@chronos_sdk.monitor("live-report", schedule="*/5 * * * *", name="Live report", job_version="3",
                     labels={"team": "data", "tier": "gold"}, metadata={"source": "pytest"}, attempt=2)
def report_that_fails(seen: list) -> None:
    seen.append(chronos_sdk.current_run().exec_id)
    print("loading the input")
    print("about to fail", file=sys.stderr)
    total = sum(range(10))
    raise ValueError(f"bad input: total was {total}")  # the raising line


def test_monitor_success_run_arrives_with_every_field(sdk, live_server, capsys):
    seen: list = []
    before = time.time()
    assert report(21, seen) == 42
    assert sdk.flush(10)
    doc = execution(live_server, seen[0])

    assert doc["status"] == "success" and doc["jobId"] == "live-report" and doc["execId"] == seen[0]
    started = doc["startedAt"]
    finished = doc["finishedAt"]
    assert started.endswith("Z") and finished.endswith("Z") and started <= finished
    assert before - 5 <= _epoch(started) <= _epoch(finished) <= time.time() + 5
    assert doc["durationMs"] >= 40  # the job slept 50 ms
    assert doc["stdout"] == "processing 21 rows\n"
    assert doc["stderr"] == "a warning on stderr\n"
    assert doc["host"] == socket.gethostname() and doc["pid"] == os.getpid()
    assert doc["attempt"] == 2
    assert doc["labels"] == {"team": "data", "tier": "gold"}
    assert doc["metadata"] == {"source": "pytest", "rows": 21}
    assert (doc["jobVersion"], doc["appVersion"]) == ("3", "9.9.9-live")
    assert isinstance(doc["cpuTimeMs"], int) and doc["cpuTimeMs"] >= 0
    assert isinstance(doc["peakMemoryKb"], int) and doc["peakMemoryKb"] > 1000
    for absent in ("errorType", "errorMessage", "errorStack", "codeSnippet", "exitCode"):
        assert absent not in doc

    # The output was teed: the terminal (here pytest's capture) still got it.
    out, err = capsys.readouterr()
    assert "processing 21 rows" in out and "a warning on stderr" in err

    # The schedule/name registered the job the first time it ran.
    job = get(live_server, "/api/jobs/live-report")
    assert (job["name"], job["schedule"], job["registered"]) == ("Live report", "*/5 * * * *", "yes")
    assert job["lastExecId"] == seen[0] and job["lastStatus"] == "success"


def test_monitor_failure_run_arrives_with_error_stack_and_the_raising_code(sdk, live_server, capfd):
    seen: list = []
    with pytest.raises(ValueError, match="bad input: total was 45"):
        report_that_fails(seen)
    assert sdk.flush(10)
    doc = execution(live_server, seen[0])

    assert doc["status"] == "failed"
    assert doc["errorType"] == "ValueError"
    assert doc["errorMessage"] == "bad input: total was 45"
    assert "Traceback (most recent call last)" in doc["errorStack"]
    assert "report_that_fails" in doc["errorStack"] and "ValueError: bad input" in doc["errorStack"]
    assert "chronos_sdk" not in doc["errorStack"].splitlines()[1]  # the SDK's wrapper frame is left out
    raising = line_of(report_that_fails, "# the raising line")
    assert raising in doc["codeSnippet"]
    assert "def report_that_fails" in doc["codeSnippet"]  # lines above the failing one come along
    assert doc["codeLanguage"] == "python"
    assert doc["stdout"] == "loading the input\n" and doc["stderr"] == "about to fail\n"
    assert doc["host"] == socket.gethostname() and doc["pid"] == os.getpid()
    assert doc["attempt"] == 2 and doc["labels"] == {"team": "data", "tier": "gold"}
    assert doc["metadata"] == {"source": "pytest"}
    assert (doc["jobVersion"], doc["appVersion"]) == ("3", "9.9.9-live")
    assert doc["durationMs"] >= 0 and doc["startedAt"] <= doc["finishedAt"]
    assert isinstance(doc["cpuTimeMs"], int) and isinstance(doc["peakMemoryKb"], int)
    assert doc.get("errorGroup")  # the server fingerprinted it

    out, err = capfd.readouterr()
    assert "loading the input" in out and "about to fail" in err

    job = get(live_server, "/api/jobs/live-report")
    assert job["lastStatus"] == "failed" and job["lastError"] == "bad input: total was 45"
    assert job["consecutiveFailures"] == 1
    summary = get(live_server, "/api/analytics/summary", jobId="live-report")
    assert (summary["runs"], summary["failures"]) == (1, 1)


def test_the_running_event_is_visible_while_the_job_runs(sdk, live_server):
    seen: list = []
    with chronos_sdk.monitor("live-long") as run:
        seen.append(run.exec_id)
        assert sdk.flush(10)
        doc = execution(live_server, run.exec_id, final=False)
        assert doc["status"] == "running" and "finishedAt" not in doc
    assert sdk.flush(10)
    assert execution(live_server, seen[0])["status"] == "success"
    assert get(live_server, "/api/executions", jobId="live-long")["total"] == 1


def test_an_async_job_is_monitored_and_concurrent_tasks_keep_their_own_output(sdk, live_server, capsys):
    seen: dict = {}

    @chronos_sdk.monitor("live-async", labels=["async"])
    async def fetch(name: str, delay: float) -> str:
        seen[name] = chronos_sdk.current_run().exec_id
        print(f"{name}: start")
        await asyncio.sleep(delay)
        print(f"{name}: done")
        if name == "bad":
            raise RuntimeError("async failure")
        return name

    async def main() -> list:
        return await asyncio.gather(fetch("a", 0.03), fetch("b", 0.01), fetch("bad", 0.02),
                                    return_exceptions=True)

    results = run_async(main())
    assert results[:2] == ["a", "b"] and isinstance(results[2], RuntimeError)
    assert sdk.flush(10)
    a, b, bad = (execution(live_server, seen[n]) for n in ("a", "b", "bad"))
    assert (a["status"], b["status"], bad["status"]) == ("success", "success", "failed")
    assert a["stdout"] == "a: start\na: done\n" and b["stdout"] == "b: start\nb: done\n"
    assert a["durationMs"] >= 25 and a["labels"] == ["async"]
    assert bad["errorType"] == "RuntimeError" and "async failure" in bad["errorStack"]
    assert 'raise RuntimeError("async failure")' in bad["codeSnippet"]
    assert "a: done" in capsys.readouterr().out
    assert get(live_server, "/api/executions", jobId="live-async")["total"] == 3


def test_monitor_as_a_context_manager_and_async_context_manager(sdk, live_server):
    with chronos_sdk.monitor("live-block", labels={"ticket": "OPS-12"}) as run:
        print("fixing")
        sync_id = run.exec_id

    async def block() -> str:
        async with chronos_sdk.monitor("live-block") as arun:
            await asyncio.sleep(0)
            return arun.exec_id

    async_id = run_async(block())
    assert sdk.flush(10)
    assert execution(live_server, sync_id)["labels"] == {"ticket": "OPS-12"}
    assert execution(live_server, async_id)["status"] == "success"
    # Label search works on what the SDK sent.
    assert get(live_server, "/api/executions", label="ticket:OPS-12")["total"] == 1


def test_stats_and_read_back_through_the_sdk(sdk, live_server):
    for i in range(5):
        with chronos_sdk.monitor("live-read", metadata={"i": i}):
            pass
    assert sdk.flush(10)
    wait_until(lambda: get(live_server, "/api/executions", jobId="live-read")["total"] == 5)
    stats = sdk.stats()
    assert stats["sent"] == 10 and stats["rejected"] == 0 and stats["dropped"] == 0 and stats["lost"] == 0
    items = list(sdk.executions(job_id="live-read", page_size=2))  # follows nextCursor over 3 pages
    assert len(items) == 5 and {e["status"] for e in items} == {"success"}
    assert len({e["execId"] for e in items}) == 5


def test_large_output_is_kept_as_a_tail_and_oversized_batches_are_split(live_server, tmp_path, caplog):
    """60 runs that each print ~100 KB to stdout and to stderr: the SDK keeps the last 64 KiB of each;
    a batch of them is over the server's 5 MiB body limit (413) and is split until it fits."""
    client = ChronosClient(ADMIN_KEY, endpoint=live_server, spool_dir=str(tmp_path / "spool"),
                           flush_interval=30)  # one big batch
    ids = []
    for i in range(60):
        with client.monitor("live-big") as run:
            for chunk in range(10):
                sys.stdout.write("".join(f"run {i:02d} line {chunk}{n:03d} ✓ ok\n" for n in range(400)))
                sys.stderr.write("".join(f"run {i:02d} warn {chunk}{n:03d}\n" for n in range(400)))
            ids.append(run.exec_id)
    with caplog.at_level("INFO", logger="werkzeug"):
        assert client.flush(60)
    stats = client.stats()
    client.close(10)
    assert (stats["rejected"], stats["dropped"], stats["spooled"], stats["lost"]) == (0, 0, 0, 0), stats
    assert any("/api/ingest/executions/batch" in m and " 413 " in m for m in caplog.messages), caplog.messages
    assert get(live_server, "/api/executions", jobId="live-big", status="success")["total"] == 60
    doc = execution(live_server, ids[-1])
    assert doc["stdout"].startswith("[... ") and "bytes truncated ...]" in doc["stdout"].splitlines()[0]
    assert doc["stdout"].endswith("run 59 line 9399 ✓ ok\n")
    assert len(doc["stdout"].encode()) <= 65536 and len(doc["stderr"].encode()) <= 65536
    assert doc["stderr"].endswith("run 59 warn 9399\n")


def test_sdk_read_filters_by_time_and_status_on_the_live_server(sdk, live_server):
    from datetime import datetime, timezone

    @chronos_sdk.monitor("live-filter")
    def job(fail: bool) -> None:
        if fail:
            raise KeyError("missing column")

    job(False)
    time.sleep(0.02)
    middle = datetime.now(timezone.utc)
    time.sleep(0.02)
    with pytest.raises(KeyError):
        job(True)
    job(False)
    assert sdk.flush(10)
    wait_until(lambda: get(live_server, "/api/executions", jobId="live-filter", status="success,failed")
               ["total"] == 3)

    def statuses(**kw: Any) -> list:
        return sorted(e["status"] for e in sdk.executions(job_id="live-filter", **kw))

    assert statuses() == ["failed", "success", "success"]
    assert statuses(since=middle) == ["failed", "success"]
    assert statuses(until=middle) == ["success"]
    epoch_ms = int(middle.timestamp() * 1000)
    assert statuses(since=epoch_ms) == ["failed", "success"]
    assert statuses(since=middle.isoformat()) == ["failed", "success"]
    assert statuses(status="failed") == ["failed"]
    assert statuses(status=["failed", "timeout"], since=middle) == ["failed"]
    with pytest.raises(chronos_sdk.APIError) as info:
        list(sdk.executions(status="exploded"))
    assert info.value.status == 400


def test_sending_the_same_events_again_is_counted_as_duplicates(live_server, tmp_path):
    with ChronosClient(ADMIN_KEY, endpoint=live_server, spool_dir=False, flush_interval=0.1) as client:
        with client.monitor("live-dupe") as run:
            pass
        assert client.flush(10)
        event = run.event
        client.capture_event(event)  # an at-least-once re-send of the final event
        assert client.flush(10)
        stats = client.stats()
    assert stats["duplicates"] == 1
    assert get(live_server, "/api/executions", jobId="live-dupe")["total"] == 1
    assert get(live_server, "/api/analytics/summary", jobId="live-dupe")["runs"] == 1


def test_a_revoked_or_wrong_key_is_rejected_and_never_retried(live_server, tmp_path):
    with ChronosClient("chr_not_a_real_key_000000000000000", endpoint=live_server,
                       spool_dir=str(tmp_path / "spool"), flush_interval=0.1) as client:
        with client.monitor("live-badkey"):
            pass
        assert client.flush(10)
        stats = client.stats()
        with pytest.raises(chronos_sdk.APIError) as info:
            client.register_jobs([{"id": "x", "name": "x"}])
    assert info.value.status == 401
    assert stats["rejected"] == 2 and stats["retries"] == 0 and stats["spooled"] == 0
    assert get(live_server, "/api/executions")["total"] == 0


# ---- the runner ------------------------------------------------------------------------------------

def test_runner_registers_jobs_with_schedule_and_run_now_records_executions(live_server, tmp_path):
    runner = ChronosRunner(api_key=ADMIN_KEY, endpoint=live_server, trigger_mode="local",
                           spool_dir=str(tmp_path / "spool"), flush_interval=0.2, retry_delay=0.05)
    calls: list = []

    @runner.job("nightly-export", name="Nightly export", schedule="0 2 * * *", timezone="Europe/Paris",
                timeout=30, version="1.2", tags=["etl"])
    def nightly_export() -> int:
        print("exported")
        calls.append("export")
        return 7

    @runner.job("flaky-sync", schedule="*/15 * * * *", retries=1)
    def flaky_sync() -> None:
        calls.append("sync")
        if calls.count("sync") == 1:
            raise ConnectionError("upstream reset")

    @runner.job("async-refresh", schedule="@hourly")
    async def async_refresh() -> str:
        await asyncio.sleep(0.01)
        return "ok"

    release = threading.Event()

    @runner.job("stuck-job", schedule="30 * * * *", timeout=0.3)  # a fractional timeout registers too
    def stuck_job() -> None:
        print("waiting for a lock")
        release.wait(30)  # where it hangs

    runner.start_background()
    try:
        assert runner.started.wait(10)
        jobs = {j["id"]: j for j in get(live_server, "/api/jobs", limit=50)["items"]}
        assert {"nightly-export", "flaky-sync", "async-refresh"} <= set(jobs)
        export = get(live_server, "/api/jobs/nightly-export")
        assert (export["schedule"], export["timezone"], export["name"]) == ("0 2 * * *", "Europe/Paris",
                                                                           "Nightly export")
        assert (export["registered"], export["version"], export["tags"]) == ("yes", "1.2", ["etl"])
        assert export["maxRuntimeSeconds"] == 30 and export["nextRunAt"]
        assert jobs["flaky-sync"]["schedule"] == "*/15 * * * *"
        assert jobs["async-refresh"]["schedule"] == "@hourly"

        result = runner.run_now("nightly-export")
        assert result.ok and result.value == 7 and len(result.exec_ids) == 1
        flaky = runner.run_now("flaky-sync")
        assert (flaky.status, flaky.attempts, len(flaky.exec_ids)) == ("success", 2, 2)
        refreshed = runner.run_now("async-refresh")
        assert refreshed.ok and refreshed.value == "ok"
        assert runner.client.flush(10)

        doc = execution(live_server, result.exec_ids[0])
        assert doc["status"] == "success" and doc["stdout"] == "exported\n" and doc["jobVersion"] == "1.2"
        first, second = (execution(live_server, e) for e in flaky.exec_ids)
        assert (first["status"], first["attempt"], first["errorType"]) == ("failed", 1, "ConnectionError")
        assert (second["status"], second["attempt"]) == ("success", 2)
        assert execution(live_server, refreshed.exec_ids[0])["status"] == "success"
        assert get(live_server, "/api/jobs/flaky-sync")["totalRuns"] == 2

        stuck = runner.run_now("stuck-job")
        release.set()
        assert stuck.status == "timeout"
        assert runner.client.flush(10)
        doc = execution(live_server, stuck.exec_ids[0])
        assert (doc["status"], doc["errorType"], doc["stdout"]) == ("timeout", "JobTimeoutError",
                                                                    "waiting for a lock\n")
        assert "release.wait(30)  # where it hangs" in doc["codeSnippet"]
        assert get(live_server, "/api/jobs/stuck-job")["maxRuntimeSeconds"] == 1
    finally:
        release.set()
        runner.stop()


def test_runner_local_mode_fires_a_seconds_cron_job(live_server, tmp_path):
    client = ChronosClient(ADMIN_KEY, endpoint=live_server, spool_dir=str(tmp_path / "spool"),
                           flush_interval=0.2)
    runner = ChronosRunner(client=client, trigger_mode="local")
    runner.register("every-second", lambda: print("tick"), schedule="* * * * * *")
    runner.start_background()
    try:
        assert runner.started.wait(10)
        # Bounded wait for fires to be recorded by the server (not a timing assertion).
        wait_until(lambda: client.flush(1) and
                   get(live_server, "/api/executions", jobId="every-second", status="success")["total"] >= 2,
                   timeout=20, interval=0.3)
    finally:
        runner.stop()
        client.close(5)
    doc = get(live_server, "/api/executions", jobId="every-second", limit=1)["items"][0]
    assert execution(live_server, doc["execId"])["stdout"] == "tick\n"


def test_runner_server_mode_runs_a_job_triggered_over_the_sse_stream(live_server, r, tmp_path):
    """A ``job:trigger`` emitted the way the scheduler emits it reaches the runner over ``GET /api/stream``;
    the run carries the triggerId, and the same trigger replayed is not run twice."""
    from chronos.scheduling.triggers import Emitter
    from chronos.store import users

    owner = users.find_user_by_email(r, ADMIN_EMAIL)["id"]
    client = ChronosClient(ADMIN_KEY, endpoint=live_server, spool_dir=str(tmp_path / "spool"),
                           flush_interval=0.2)
    runner = ChronosRunner(client=client, trigger_mode="server")
    ran: list = []
    runner.register("triggered-job", lambda: ran.append(1) or print("triggered!"), schedule="0 4 * * *")
    runner.start_background()
    try:
        assert runner.started.wait(10)
        emitter = Emitter(r)
        # The stream connects asynchronously; emit until the runner has seen one (bounded).
        def fired() -> bool:
            if not ran:
                emitter.trigger(owner, "triggered-job", "trig-1", int(time.time() * 1000), pipe=r)
            return bool(ran)

        wait_until(fired, timeout=20, interval=0.5)
        emitter.trigger(owner, "unknown-job", "trig-2", int(time.time() * 1000), pipe=r)
        assert client.flush(10)
        found = wait_until(lambda: get(live_server, "/api/executions", jobId="triggered-job")["items"])
    finally:
        runner.stop()
        client.close(5)
    assert len(ran) == 1  # trig-1 may have been emitted more than once; it ran once
    assert len(found) == 1
    doc = execution(live_server, found[0]["execId"])
    assert (doc["status"], doc["triggerId"], doc["stdout"]) == ("success", "trig-1", "triggered!\n")


# ---- chronos exec --------------------------------------------------------------------------------------

def test_chronos_exec_reports_a_failing_command_and_keeps_its_exit_code(live_server, tmp_path):
    env = dict(os.environ, CHRONOS_ENDPOINT=live_server, CHRONOS_API_KEY=ADMIN_KEY,
               CHRONOS_SPOOL_DIR=str(tmp_path / "spool"))
    proc = subprocess.run([str(VENV_BIN / "chronos"), "exec", "--job", "wrapped", "--", "sh", "-c", "echo hi; exit 3"],
                          env=env, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 3
    assert proc.stdout == "hi\n"  # still printed

    items = wait_until(lambda: get(live_server, "/api/executions", jobId="wrapped")["items"])
    assert len(items) == 1
    doc = execution(live_server, items[0]["execId"])
    assert (doc["status"], doc["exitCode"], doc["errorMessage"]) == ("failed", 3, "exit status 3")
    assert "hi" in doc["stdout"] and doc["stdout"] == "hi\n" and "stderr" not in doc
    assert doc["metadata"]["command"] == ["sh", "-c", "echo hi; exit 3"]
    assert doc["host"] == socket.gethostname() and isinstance(doc["pid"], int)
    assert doc["durationMs"] >= 0 and isinstance(doc["cpuTimeMs"], int) and doc["errorType"] == "NonZeroExit"
    assert get(live_server, "/api/analytics/summary", jobId="wrapped")["failures"] == 1
    assert not any((tmp_path / "spool").rglob("*.jsonl"))  # delivered, nothing left behind


def test_chronos_exec_passes_stderr_through_and_reports_it(live_server, tmp_path):
    env = dict(os.environ, CHRONOS_ENDPOINT=live_server, CHRONOS_API_KEY=ADMIN_KEY,
               CHRONOS_SPOOL_DIR=str(tmp_path / "spool"))
    proc = subprocess.run([str(VENV_BIN / "chronos"), "exec", "--job", "wrapped-err", "--timeout", "30", "--",
                           "sh", "-c", "echo out; echo oops >&2; exit 0"],
                          env=env, capture_output=True, text=True, timeout=60)
    assert (proc.returncode, proc.stdout, proc.stderr) == (0, "out\n", "oops\n")
    items = wait_until(lambda: get(live_server, "/api/executions", jobId="wrapped-err")["items"])
    doc = execution(live_server, items[0]["execId"])
    assert (doc["status"], doc["stdout"], doc["stderr"]) == ("success", "out\n", "oops\n")


def test_chronos_exec_success_with_schedule_and_labels(live_server, tmp_path):
    env = dict(os.environ, CHRONOS_ENDPOINT=live_server, CHRONOS_API_KEY=ADMIN_KEY,
               CHRONOS_SPOOL_DIR=str(tmp_path / "spool"))
    proc = subprocess.run([str(VENV_BIN / "chronos-exec"), "--job", "wrapped-ok", "--schedule", "0 3 * * *",
                           "--name", "Wrapped OK", "--label", "env=test", "--", "sh", "-c", "echo done"],
                          env=env, capture_output=True, text=True, timeout=60)
    assert (proc.returncode, proc.stdout) == (0, "done\n")
    items = wait_until(lambda: get(live_server, "/api/executions", jobId="wrapped-ok")["items"])
    doc = execution(live_server, items[0]["execId"])
    assert (doc["status"], doc["exitCode"], doc["labels"]) == ("success", 0, {"env": "test"})
    job = get(live_server, "/api/jobs/wrapped-ok")
    assert (job["schedule"], job["name"], job["registered"]) == ("0 3 * * *", "Wrapped OK", "yes")


# ---- Healthchecks-style pings over real HTTP ----------------------------------------------------------

def test_ping_start_then_exit_zero_over_http_records_one_successful_run(live_server):
    requests.post(live_server + "/api/ingest/jobs/register", headers=HEADERS, timeout=10,
                  json={"jobs": [{"id": "curl-backup", "name": "Backup", "schedule": "0 3 * * *"}]}
                  ).raise_for_status()
    ping_url = get(live_server, "/api/jobs/curl-backup")["pingUrl"]
    assert ping_url.startswith(live_server + "/ping/")

    start = requests.get(ping_url + "/start", params={"rid": "R"}, timeout=10)
    assert (start.status_code, start.text) == (200, "OK")
    time.sleep(0.05)
    done = requests.post(ping_url + "/0", params={"rid": "R"}, data="backup finished\n", timeout=10)
    assert (done.status_code, done.text) == (200, "OK") and int(done.headers["Ping-Body-Limit"]) > 0

    items = get(live_server, "/api/executions", jobId="curl-backup")["items"]
    assert len(items) == 1
    doc = execution(live_server, items[0]["execId"])
    assert (doc["status"], doc["exitCode"], doc["stdout"]) == ("success", 0, "backup finished\n")
    assert doc["durationMs"] >= 40 and doc["startedAt"] < doc["finishedAt"]
    assert get(live_server, "/api/analytics/summary", jobId="curl-backup")["runs"] == 1

    # A failing exit status through HEAD-less curl style GET, and an unknown uuid.
    assert requests.get(ping_url + "/2", timeout=10).status_code == 200
    assert get(live_server, "/api/jobs/curl-backup")["lastStatus"] == "failed"
    bogus = live_server + "/ping/00000000-0000-0000-0000-000000000000"
    assert requests.get(bogus, timeout=10).status_code == 404


# ---- examples/runner_app.py ------------------------------------------------------------------------

def test_examples_runner_app_runs_against_a_live_server(live_server, tmp_path):
    env = dict(os.environ, CHRONOS_ENDPOINT=live_server, CHRONOS_API_KEY=ADMIN_KEY,
               CHRONOS_SPOOL_DIR=str(tmp_path / "spool"), PYTHONUNBUFFERED="1")
    proc = subprocess.run([sys.executable, str(ROOT / "examples" / "runner_app.py"), "--seconds", "3",
                           "--run-now", "example-report"],
                          env=env, capture_output=True, text=True, timeout=120, cwd=str(tmp_path))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "example-report: success" in proc.stdout and "alive at" in proc.stdout
    assert "dropped 0" in proc.stdout and "spooled 0" in proc.stdout
    jobs = {j["id"]: j for j in get(live_server, "/api/jobs", limit=50)["items"]}
    assert {"example-heartbeat", "example-cleanup", "example-report"} <= set(jobs)
    assert all(jobs[j]["registered"] == "yes" and jobs[j]["schedule"] for j in
               ("example-heartbeat", "example-cleanup", "example-report"))
    beats = wait_until(lambda: get(live_server, "/api/executions", jobId="example-heartbeat")["items"])
    assert any(b["status"] == "success" for b in beats)
    assert {b["appId"] for b in beats} == {"runner-example"}
    reports = get(live_server, "/api/executions", jobId="example-report")["items"]
    assert len(reports) == 1
    report_doc = execution(live_server, reports[0]["execId"])
    assert report_doc["status"] == "success" and report_doc["stdout"].startswith("report: {")
    assert set(report_doc["metadata"]) == {"orders", "refunds"}
    assert get(live_server, "/api/jobs/example-report")["timezone"] == "Europe/Paris"
    assert not any((tmp_path / "spool").rglob("*.jsonl"))


def test_examples_runner_app_exits_1_when_the_server_refuses_the_key(live_server, tmp_path):
    env = dict(os.environ, CHRONOS_ENDPOINT=live_server, CHRONOS_API_KEY="chr_wrong_key_00000000000000000",
               CHRONOS_SPOOL_DIR=str(tmp_path / "spool"))
    proc = subprocess.run([sys.executable, str(ROOT / "examples" / "runner_app.py"), "--seconds", "1"],
                          env=env, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 1 and "could not start" in proc.stderr
    assert "APIError" in proc.stderr and "401" in proc.stderr


@pytest.mark.skipif(not shutil.which("curl"), reason="needs curl")
def test_examples_ping_sh_reports_a_command_through_curl(live_server, tmp_path):
    requests.post(live_server + "/api/ingest/jobs/register", headers=HEADERS, timeout=10,
                  json={"jobs": [{"id": "curl-job", "name": "Curl job", "schedule": "0 5 * * *"}]}
                  ).raise_for_status()
    ping_url = get(live_server, "/api/jobs/curl-job")["pingUrl"]
    script = str(ROOT / "examples" / "ping.sh")
    env = dict(os.environ, PING_URL=ping_url)
    ok = subprocess.run(["sh", script, "sh", "-c", "echo copied 3 files"], env=env, capture_output=True,
                        text=True, timeout=60)
    assert (ok.returncode, ok.stdout) == (0, "copied 3 files\n"), ok.stderr
    bad = subprocess.run(["sh", script, "sh", "-c", "echo disk full >&2; exit 4"], env=env,
                         capture_output=True, text=True, timeout=60)
    assert (bad.returncode, bad.stdout) == (4, "disk full\n"), bad.stderr
    plain = subprocess.run(["sh", script], env=env, capture_output=True, text=True, timeout=60)
    assert plain.returncode == 0, plain.stderr

    items = get(live_server, "/api/executions", jobId="curl-job")["items"]
    assert len(items) == 3
    docs = {d.get("stdout"): d for d in (execution(live_server, i["execId"]) for i in items)}
    assert docs["copied 3 files\n"]["status"] == "success" and docs["copied 3 files\n"]["exitCode"] == 0
    assert docs["disk full\n"]["status"] == "failed" and docs["disk full\n"]["exitCode"] == 4
    assert docs["copied 3 files\n"]["durationMs"] >= 0 and docs[None]["status"] == "success"
    assert get(live_server, "/api/analytics/summary", jobId="curl-job")["runs"] == 3

    away = dict(env, PING_URL="http://127.0.0.1:9/ping/00000000-0000-0000-0000-000000000000")
    offline = subprocess.run(["sh", script, "sh", "-c", "exit 0"], env=away, capture_output=True, text=True,
                             timeout=120)
    assert offline.returncode == 0 and "ping /start" in offline.stderr  # a dead server never fails the job


def test_examples_crontab_lines_parse_as_cron_and_as_chronos_exec():
    import shlex

    from chronos_sdk.cli import _split, build_parser
    from chronos_sdk.schedule import validate_cron

    lines = [ln for ln in (ROOT / "examples" / "crontab.txt").read_text().splitlines()
             if ln.strip() and not ln.lstrip().startswith("#") and "=" not in ln.split()[0]]
    assert len(lines) >= 3
    for line in lines:
        fields = line.split(None, 5)
        validate_cron(" ".join(fields[:5]))
        argv = shlex.split(fields[5])
        assert argv[0] in ("chronos", "chronos-exec"), line
        opts, command = _split(argv[1:])
        args = build_parser().parse_args(opts)
        assert args.job and command, line
        if args.schedule:
            assert args.schedule == " ".join(fields[:5]), line  # registered schedule == crontab's


def _epoch(iso: str) -> float:
    from datetime import datetime

    return datetime.fromisoformat(iso.replace("Z", "+00:00")).timestamp()
