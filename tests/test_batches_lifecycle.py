"""Batches after submission: retry-failed, cancel, rate limit, refused targets, clean shutdown, records."""
from __future__ import annotations

import time

import orjson
import pytest

from batch_runner.sink import Sink
from chronos import keys
from tests.test_batches_helpers import Runners, config_line, ndjson, records, submit, wait_for
from tests.test_batches_runner import n_of, progress_events


@pytest.fixture
def runners(redis_url):
    group = Runners(redis_url)
    yield group
    group.close()


def test_retry_failed_sends_the_failed_records_again(api, runners):
    fixed = {"now": False}
    sink = Sink(lambda body: 200 if fixed["now"] or n_of(body) % 10 else 422).start()
    try:
        runners.start()
        sub = submit(api, ndjson(config_line(sink.port), records(250)))
        job = sub["job_id"]
        first = wait_for(api, job)
        assert first["delivered"] == 225 and first["failed"] == 25 and first["retries"] == 0
        fixed["now"] = True
        resp = api.post(f"/api/batches/{job}/retry-failed")
        assert resp.status_code == 200 and resp.get_json()["requeued"] == 25
        second = wait_for(api, job)
    finally:
        sink.stop()
    assert second["delivered"] == 250 and second["failed"] == 0 and second["pending"] == 0
    assert all(count == 1 for count in sink.ok.values()) and len(sink.ok) == 250
    assert api.get(f"/api/batches/{job}/records?status=failed").get_json()["records"] == []
    page = api.get(f"/api/batches/{job}/records?status=delivered&limit=20").get_json()["records"]
    assert [x["id"] for x in page] == list(range(20))
    assert all(x["httpStatus"] == 200 and x["latencyMs"] > 0 for x in page)
    assert api.post(f"/api/batches/{job}/retry-failed").get_json()["requeued"] == 0


def test_a_running_batch_can_be_cancelled_and_stops_sending(api, r, runners):
    sink = Sink(lambda body: 200).start()
    try:
        runners.start()
        sub = submit(api, ndjson(config_line(sink.port, rateLimit=100, concurrency=4), records(2000)))
        job = sub["job_id"]
        wait_for(api, job, until=lambda b: b["delivered"] >= 20)
        assert api.post(f"/api/batches/{job}/cancel").get_json()["cancelled"] is True
        # Records already on the wire may still finish. Once the runner has let go of every chunk (nothing
        # pending in the consumer group), nothing more can be sent.
        stream = keys.batch_records(job)
        wait_for(api, job, until=lambda b: r.xpending(stream, keys.BATCH_GROUP)["pending"] == 0)
        settled = api.get(f"/api/batches/{job}").get_json()
        time.sleep(0.5)
        after = api.get(f"/api/batches/{job}").get_json()
    finally:
        sink.stop()
    assert after["delivered"] == settled["delivered"] == sink.total < 2000
    assert after["delivered"] + after["failed"] + after["cancelled"] == 2000 and after["pending"] == 0


def test_the_rate_limit_holds_across_runners(api, runners):
    stamps: list[float] = []

    def rule(body: bytes) -> int:
        stamps.append(time.monotonic())
        return 200

    sink = Sink(rule).start()
    try:
        runners.start()
        runners.start()
        sub = submit(api, ndjson(config_line(sink.port, rateLimit=200, concurrency=64), records(600)))
        batch = wait_for(api, sub["job_id"])
    finally:
        sink.stop()
    assert batch["delivered"] == 600
    # 200 records/s in 100 ms windows of 20: 600 records need at least 30 windows, so the first and the
    # last request are at least 2.9 s apart however fast everything else is.
    assert stamps[-1] - stamps[0] >= 2.8


def test_records_to_a_target_the_runner_refuses_fail_without_being_sent(api, redis_url):
    sink = Sink(lambda body: 200).start()
    strict = Runners(redis_url, CHRONOS_OUTBOUND_ALLOW="localhost")
    try:
        strict.start()
        sub = submit(api, ndjson(config_line(sink.port), records(5)))
        batch = wait_for(api, sub["job_id"])
    finally:
        strict.close()
        sink.stop()
    assert batch["failed"] == 5 and sink.total == 0 and batch["retries"] == 0
    failed = api.get(f"/api/batches/{sub['job_id']}/records?status=failed").get_json()["records"]
    assert all("outbound refused" in x["error"] and x["httpStatus"] is None for x in failed)


def test_timeouts_and_connection_errors_are_retried_then_reported(api, runners):
    from chronos.redis_server import free_port

    dead = free_port()  # nothing listens there
    runners.start()
    sub = submit(api, ndjson(config_line(dead, retries=2, backoffMs=10), records(3)))
    batch = wait_for(api, sub["job_id"])
    assert batch["failed"] == 3 and batch["retries"] == 6
    failed = api.get(f"/api/batches/{sub['job_id']}/records?status=failed").get_json()["records"]
    assert all(x["attempts"] == 3 and x["error"].startswith("connect") for x in failed)
    assert batch["latencyMs"]["p50"] is None  # no answer, no latency


def test_a_stopped_runner_hands_its_records_to_the_others(api, r, runners):
    sink = Sink(lambda body: 200).start()
    try:
        first = runners.start("first")
        sub = submit(api, ndjson(config_line(sink.port, rateLimit=400, concurrency=8), records(1500)))
        wait_for(api, sub["job_id"], until=lambda b: b["delivered"] >= 100)
        first.terminate()  # SIGTERM: finish what is on the wire, report it, hand back the rest
        first.wait(30)
        stopped = api.get(f"/api/batches/{sub['job_id']}").get_json()
        runners.start("second")
        batch = wait_for(api, sub["job_id"])
    finally:
        sink.stop()
    assert stopped["delivered"] < 1500 and batch["delivered"] == 1500
    assert len(sink.ok) == 1500 and sum(sink.ok.values()) == 1500  # a clean stop sends nothing twice


def test_progress_events_are_throttled_and_end_with_the_final_state(api, r, runners):
    sink = Sink(lambda body: 200).start()
    try:
        runners.start()
        sub = submit(api, ndjson(config_line(sink.port, rateLimit=500), records(1000)))
        batch = wait_for(api, sub["job_id"])
    finally:
        sink.stop()
    events = progress_events(r, sub["job_id"])
    assert events[0]["state"] == "queued" and events[-1]["state"] == "completed"
    assert events[-1]["delivered"] == 1000 and events[-1]["pending"] == 0
    running = [e for e in events if e["state"] == "running"]
    assert running and all(a["delivered"] <= b["delivered"] for a, b in zip(running, running[1:]))
    seconds = (orjson.loads(orjson.dumps(batch))["throughput"] and 1000 / batch["throughput"])
    assert len(running) <= 4 * seconds + 2  # at most four a second
