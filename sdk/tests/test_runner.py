from __future__ import annotations

import threading
import time
from datetime import datetime, timedelta, timezone

import pytest

from chronos_sdk import ChronosRunner, JobSpec, MemoryTransport, NetworkError
from chronos_sdk.schedule import next_fire, validate_cron
from chronos_sdk.sse import EventStream, SSEParser


def finals(transport):
    return [e for e in transport.executions if e["status"] != "running"]


class FakeTime:
    """A clock that only moves when the runner sleeps; waits for dispatched jobs to finish."""

    def __init__(self, start, runner_box, stop_after):
        self.now = start
        self.box = runner_box
        self.stop_after = stop_after

    def clock(self):
        return self.now

    def sleep(self, seconds):
        runner = self.box[0]
        while any(runner._active.values()):  # let dispatched jobs finish before time moves
            time.sleep(0.001)
        self.now += timedelta(seconds=max(seconds, 0.001))
        if self.now >= self.stop_after:
            runner.stop(timeout=0)


def test_six_field_cron_puts_seconds_first():
    t0 = datetime(2026, 11, 23, 2, 0, 1, tzinfo=timezone.utc)
    assert next_fire("*/10 * * * * *", t0) == t0.replace(second=10)
    assert next_fire("*/5 * * * *", t0) == t0.replace(minute=5, second=0)
    assert next_fire("0 2 * * *", t0, "Europe/Paris") == datetime(2026, 11, 24, 1, 0, tzinfo=timezone.utc)
    with pytest.raises(ValueError):
        validate_cron("* * *")


def test_local_mode_fires_a_six_field_seconds_cron(make_client):
    transport = MemoryTransport()
    client = make_client(transport)
    box = []
    start = datetime(2026, 11, 23, 2, 0, 1, tzinfo=timezone.utc)
    fake = FakeTime(start, box, stop_after=start + timedelta(seconds=16))
    runner = ChronosRunner(client, trigger_mode="local", clock=fake.clock, sleep=fake.sleep)
    box.append(runner)
    seen = []

    @runner.job("every-5s", schedule="*/5 * * * * *")
    def tick():
        seen.append(fake.now)
        print("tick")

    runner.start()
    assert [t.second for t in seen] == [5, 10, 15]
    assert transport.jobs[0]["id"] == "every-5s" and transport.jobs[0]["schedule"] == "*/5 * * * * *"
    client.flush(5)
    assert [e["status"] for e in finals(transport)] == ["success"] * 3
    assert all(e["stdout"] == "tick\n" for e in finals(transport))


def test_a_once_job_runs_at_run_at_only(make_client):
    transport = MemoryTransport()
    client = make_client(transport)
    box = []
    start = datetime(2026, 11, 23, 2, 0, 0, tzinfo=timezone.utc)
    fake = FakeTime(start, box, stop_after=start + timedelta(seconds=30))
    runner = ChronosRunner(client, trigger_mode="local", clock=fake.clock, sleep=fake.sleep)
    box.append(runner)
    ran = []
    runner.register("launch", lambda: ran.append(fake.now), run_mode="once",
                    run_at="2026-11-23T02:00:10Z")
    runner.start()
    assert ran == [start + timedelta(seconds=10)]
    assert transport.jobs[0]["runMode"] == "once" and transport.jobs[0]["runAt"] == "2026-11-23T02:00:10.000Z"


def test_retries_record_each_attempt(make_client, fake_sleep):
    transport = MemoryTransport()
    client = make_client(transport)
    runner = ChronosRunner(client, sleep=fake_sleep, retry_delay=2.0)
    calls = []

    def flaky():
        calls.append(1)
        if len(calls) < 3:
            raise ConnectionError(f"try {len(calls)}")
        return "ok"

    runner.register("flaky", flaky, retries=3)
    result = runner.run_now("flaky")
    assert result.ok and result.value == "ok" and result.attempts == 3
    assert fake_sleep.calls == [2.0, 4.0]
    client.flush(5)
    got = [(e["attempt"], e["status"]) for e in finals(transport)]
    assert got == [(1, "failed"), (2, "failed"), (3, "success")]
    assert len(set(result.exec_ids)) == 3


def test_a_job_past_its_timeout_is_marked_timeout(make_client):
    transport = MemoryTransport()
    client = make_client(transport)
    runner = ChronosRunner(client)
    release = threading.Event()

    def hangs():
        print("started")
        release.wait(30)

    runner.register("hangs", hangs, timeout=0.2)
    result = runner.run_now("hangs")
    release.set()
    assert result.status == "timeout" and result.attempts == 1
    client.flush(5)
    final = finals(transport)[0]
    assert final["status"] == "timeout" and final["errorType"] == "JobTimeoutError"
    assert "release.wait(30)" in final["errorStack"] and final["stdout"] == "started\n"
    assert "release.wait(30)" in final["codeSnippet"]


def test_a_fractional_timeout_is_registered_as_whole_seconds():
    # The server takes maxRuntimeSeconds as an integer >= 1 (a float is refused with 400).
    assert JobSpec("a", max_runtime_seconds=0.2).to_dict()["maxRuntimeSeconds"] == 1
    assert JobSpec("a", max_runtime_seconds=30.0).to_dict()["maxRuntimeSeconds"] == 30
    assert JobSpec("a", max_runtime_seconds=2.5).to_dict()["maxRuntimeSeconds"] == 3
    assert "maxRuntimeSeconds" not in JobSpec("a").to_dict()


def test_run_now_rejects_an_unknown_job(client):
    with pytest.raises(KeyError):
        ChronosRunner(client).run_now("nope")


def test_server_mode_runs_triggered_jobs_and_ignores_other_events(make_client):
    transport = MemoryTransport()
    transport.add_stream([
        ": ping", "",
        "id: 41", "event: execution", 'data: {"execId": "x"}', "",
        "id: 42", "event: job:trigger",
        'data: {"jobId": "report", "triggerId": "t-1", "scheduledFor": "2026-11-23T02:00:00Z"}', "",
        "id: 43", "event: job:trigger", 'data: {"jobId": "unknown-job", "triggerId": "t-2"}', "",
    ])
    transport.add_stream(["id: 44", "event: job:trigger",
                          'data: {"jobId": "report", "triggerId": "t-1"}', ""])  # a replay
    client = make_client(transport)
    runner = ChronosRunner(client, sleep=lambda s: time.sleep(0.01))
    ran = threading.Event()
    runner.register("report", lambda: ran.set(), schedule="0 * * * *")
    runner.start_background()
    assert ran.wait(10)
    assert transport.wait_for(lambda t: len(t.stream_requests) >= 3, 10)
    runner.stop(timeout=10)
    client.flush(5)
    done = finals(transport)
    assert [(e["jobId"], e["triggerId"]) for e in done] == [("report", "t-1")]
    assert transport.jobs[0]["id"] == "report"
    second = transport.stream_requests[1]
    assert second.headers.get("Last-Event-ID") == "43"
    assert transport.stream_requests[2].headers.get("Last-Event-ID") == "44"


def test_the_event_stream_backs_off_between_failed_connects():
    transport = MemoryTransport()
    transport.add_stream(NetworkError("refused")).add_stream(NetworkError("refused"))
    transport.add_stream(["id: 1", "event: job:trigger", 'data: {"jobId": "a"}', ""])
    sleeps = []
    stream = EventStream(transport, sleep=sleeps.append, min_delay=1.0, max_delay=30.0)
    event = next(iter(stream))
    assert (event.event, event.json(), event.id) == ("job:trigger", {"jobId": "a"}, "1")
    assert len(sleeps) == 2 and 0.5 <= sleeps[0] <= 1.0 and 1.0 <= sleeps[1] <= 2.0
    stream.close()


def test_the_sse_parser_follows_the_spec():
    parser = SSEParser()
    lines = [": comment", "event: job:trigger", "data: line one", "data:line two", "id: 9",
             "retry: 2500", "", "data: plain", ""]
    events = [e for e in (parser.feed(line) for line in lines) if e is not None]
    assert events[0].event == "job:trigger" and events[0].data == "line one\nline two"
    assert events[0].id == "9" and parser.retry_ms == 2500
    assert events[1].event == "message" and events[1].id == "9"


def test_async_jobs_run_under_the_runner(make_client):
    transport = MemoryTransport()
    client = make_client(transport)
    runner = ChronosRunner(client)

    @runner.job()
    async def async_job():
        return 5

    assert runner.run_now("async_job").value == 5


def test_run_now_of_an_async_job_works_where_an_event_loop_is_already_running(make_client):
    # e.g. a notebook, or an async web app calling run_now(): asyncio.run() refuses to nest.
    import asyncio

    transport = MemoryTransport()
    client = make_client(transport)
    runner = ChronosRunner(client)

    @runner.job()
    async def async_job():
        await asyncio.sleep(0)
        print("inside")
        return 6

    async def caller():
        return runner.run_now("async_job")

    result = asyncio.run(caller())
    assert result.ok and result.value == 6, result.error
    client.flush(5)
    assert finals(transport)[0]["stdout"] == "inside\n"
