from __future__ import annotations

import asyncio
import os
import socket

import pytest

import chronos_sdk
from chronos_sdk import JobTimeoutError, MemoryTransport


def finals(transport):
    return [e for e in transport.executions if e["status"] != "running"]


def test_a_run_sends_running_then_a_final_event_with_the_same_exec_id(client, transport):
    @client.monitor("nightly", job_version="7")
    def work(x):
        return x * 2

    assert work(21) == 42
    client.flush(5)
    running, final = transport.executions
    assert running["status"] == "running" and "finishedAt" not in running
    assert final["status"] == "success" and final["execId"] == running["execId"]
    assert final["startedAt"] == running["startedAt"]
    assert final["finishedAt"].endswith("Z") and isinstance(final["durationMs"], int)
    assert final["jobVersion"] == "7" and final["attempt"] == 1
    assert final["host"] == socket.gethostname() and final["pid"] == os.getpid()
    assert isinstance(final["cpuTimeMs"], int) and final["peakMemoryKb"] > 0


def test_the_users_exception_is_recorded_and_re_raised(client, transport):
    boom = RuntimeError("disk full")

    @client.monitor("backup")
    def work():
        raise boom

    with pytest.raises(RuntimeError) as info:
        work()
    assert info.value is boom
    client.flush(5)
    final = finals(transport)[0]
    assert final["status"] == "failed"
    assert (final["errorType"], final["errorMessage"]) == ("RuntimeError", "disk full")
    assert "raise boom" in final["errorStack"] and "raise boom" in final["codeSnippet"]


def test_the_process_wide_client_from_init_is_used():
    transport = MemoryTransport()
    chronos_sdk.init("chr_x", transport=transport, spool_dir=False, flush_interval=0.05,
                     app_version="2.0.1")

    @chronos_sdk.monitor("global-job", schedule="*/5 * * * *", name="Global job")
    def work():
        print("hi")

    work()
    chronos_sdk.flush(5)
    assert transport.jobs[0]["id"] == "global-job" and transport.jobs[0]["schedule"] == "*/5 * * * *"
    final = finals(transport)[0]
    assert final["appVersion"] == "2.0.1" and final["stdout"] == "hi\n"


def test_it_works_as_a_context_manager_with_labels_and_metadata(client, transport):
    with client.monitor("etl", labels={"team": "data"}, metadata={"source": "s3"}) as run:
        chronos_sdk.current_run().metadata["rows"] = 10
        assert chronos_sdk.current_run() is run
    assert chronos_sdk.current_run() is None
    client.flush(5)
    final = finals(transport)[0]
    assert final["labels"] == {"team": "data"}
    assert final["metadata"] == {"source": "s3", "rows": 10}


def test_system_exit_zero_is_a_success_and_keyboard_interrupt_a_cancel(client, transport):
    with pytest.raises(SystemExit):
        with client.monitor("exits"):
            raise SystemExit(0)
    with pytest.raises(KeyboardInterrupt):
        with client.monitor("interrupted"):
            raise KeyboardInterrupt
    with pytest.raises(JobTimeoutError):
        with client.monitor("slow"):
            raise JobTimeoutError("slow", 5)
    client.flush(5)
    assert [(e["jobId"], e["status"]) for e in finals(transport)] == [
        ("exits", "success"), ("interrupted", "cancelled"), ("slow", "timeout")]


def test_an_async_function_is_monitored(client, transport):
    @client.monitor("async-job")
    async def work():
        await asyncio.sleep(0)
        print("async output")
        return "done"

    assert asyncio.run(work()) == "done"
    client.flush(5)
    running, final = transport.executions
    assert final["execId"] == running["execId"] and final["status"] == "success"
    assert final["stdout"] == "async output\n"


def test_concurrent_async_tasks_capture_their_own_output(client, transport):
    async def job(name):
        async with client.monitor(f"task-{name}"):
            for i in range(3):
                print(f"{name}{i}")
                await asyncio.sleep(0)

    async def main():
        await asyncio.gather(job("a"), job("b"))

    asyncio.run(main())
    client.flush(5)
    out = {e["jobId"]: e["stdout"] for e in finals(transport)}
    assert out == {"task-a": "a0\na1\na2\n", "task-b": "b0\nb1\nb2\n"}


def test_an_async_failure_is_re_raised(client, transport):
    @client.monitor("async-fail")
    async def work():
        raise ValueError("bad input")

    with pytest.raises(ValueError):
        asyncio.run(work())
    client.flush(5)
    assert finals(transport)[0]["status"] == "failed"


def test_each_run_gets_a_new_exec_id(client, transport):
    @client.monitor("repeat")
    def work():
        pass

    work()
    work()
    client.flush(5)
    assert len({e["execId"] for e in finals(transport)}) == 2


def test_app_version_can_name_the_callers_distribution(client, transport):
    import requests

    with client.monitor("versioned", app_version="requests"):
        pass
    client.flush(5)
    assert finals(transport)[0]["appVersion"] == requests.__version__
