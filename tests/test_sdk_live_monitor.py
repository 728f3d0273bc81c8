"""The Python SDK (``sdk/``, package ``chronos_sdk``) against the real server over real HTTP: ``monitor``,
the client's delivery and its reads.

Uses the session app served by the ``live_server`` fixture (threaded werkzeug) and the bootstrap admin
key. Nothing is mocked: every event goes through ``requests`` to the ingestion API and into Redis Stack,
and every assertion reads it back through the public read API.
"""
from __future__ import annotations

import asyncio
import os
import socket
import sys
import threading
import time
from pathlib import Path
from typing import Any, Callable, Iterator

import pytest

import chronos_sdk
from chronos_sdk import ChronosClient
from tests.conftest import ADMIN_KEY
from tests.live_sdk import execution, get, wait_until


# ---- helpers ------------------------------------------------------------------------------------------

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


def _epoch(iso: str) -> float:
    from datetime import datetime

    return datetime.fromisoformat(iso.replace("Z", "+00:00")).timestamp()
