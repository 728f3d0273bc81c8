"""The Python SDK against the real server over real HTTP: ``ChronosRunner`` registering jobs, running them
now, on a local seconds schedule, and on ``job:trigger`` events from the server's stream.

Uses the session app served by the ``live_server`` fixture (threaded werkzeug) and the bootstrap admin
key. Nothing is mocked: every event goes through ``requests`` to the ingestion API and into Redis Stack,
and every assertion reads it back through the public read API.
"""
from __future__ import annotations

import asyncio
import threading
import time

from chronos_sdk import ChronosClient, ChronosRunner
from tests.conftest import ADMIN_EMAIL, ADMIN_KEY
from tests.live_sdk import execution, get, wait_until


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
