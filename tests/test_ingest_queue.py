"""Queued ingestion (CHRONOS_INGEST_QUEUE): acknowledged on enqueue, recorded once by the recorders."""
from __future__ import annotations

import dataclasses
import time
from typing import Iterator

import pytest
import redis
from redis.backoff import NoBackoff
from redis.retry import Retry
from redis.exceptions import RedisError

from chronos import keys
from chronos.recorder import Recorder
from chronos.store import ingest_queue
from tests.helpers import batch, execution

BATCH = "/api/ingest/executions/batch"


@pytest.fixture
def queued(app) -> Iterator[object]:
    """The session app with queued ingestion on (no recorder thread: the tests run recorders themselves)."""
    state = app.extensions["chronos"]
    before = state.settings
    state.settings = dataclasses.replace(before, chronos_ingest_queue=True, chronos_ingest_queue_limit=3)
    ingest_queue.ensure_group(state.client)
    try:
        yield state
    finally:
        state.settings = before


def recorder(state, name: str = "rec-1", **kw) -> Recorder:
    return Recorder(state.client, state.scripts, state.settings, name=name, block_ms=10, **kw)


def drain(rec: Recorder) -> int:
    total = 0
    while (n := rec.run_once()):
        total += n
    return total


def pending(r) -> int:
    return int(r.xpending(keys.ingest_queue(), keys.INGEST_GROUP)["pending"])


def test_a_queued_batch_is_acknowledged_first_and_recorded_once(api, r, queued):
    first = api.post(BATCH, batch(execution("q-1"), execution("q-2", status="failed")))
    assert first.status_code == 202, first.json
    assert first.json == {"accepted": 2, "queued": 2, "duplicates": 0}
    again = api.post(BATCH, batch(execution("q-2", status="failed"), execution("q-3")))  # q-2 re-sent
    assert again.status_code == 202
    assert r.xlen(keys.ingest_queue()) == 2
    assert api.get("/api/executions").json["total"] == 0  # acknowledged, not yet recorded

    assert drain(recorder(queued)) == 4
    assert r.xlen(keys.ingest_queue()) == 0 and pending(r) == 0
    assert api.get("/api/executions").json["total"] == 3
    job = api.get("/api/jobs/job-a").json
    assert (job["totalRuns"], job["totalFailures"]) == (3, 1)
    summary = api.get("/api/analytics/summary?from=2020-01-01T00:00:00Z").json
    assert (summary["runs"], summary["failures"]) == (3, 1)


def test_an_execution_keeps_the_time_its_batch_was_acknowledged(api, r, queued):
    before = int(time.time() * 1000)
    assert api.post(BATCH, batch(execution("q-at"))).status_code == 202
    after = int(time.time() * 1000)
    time.sleep(0.05)
    drain(recorder(queued))
    received = api.get("/api/executions/q-at").json["receivedAt"]
    received_ms = received if isinstance(received, int) else None
    if received_ms is None:
        from datetime import datetime

        received_ms = int(datetime.fromisoformat(received.replace("Z", "+00:00")).timestamp() * 1000)
    assert before <= received_ms <= after


def test_a_batch_a_dead_recorder_held_is_recorded_by_another(api, r, queued):
    assert api.post(BATCH, batch(execution("q-held-1"), execution("q-held-2"))).status_code == 202
    taken = ingest_queue.read(r, "dead-recorder", 10, 10)  # read, then the process died: never acknowledged
    assert [len(e.events) for e in taken] == [2]
    assert recorder(queued, "rec-2").run_once() == 0  # nothing new, and not yet stale
    assert pending(r) == 1

    assert drain(recorder(queued, "rec-3", reclaim_ms=0)) == 2
    assert pending(r) == 0 and r.xlen(keys.ingest_queue()) == 0
    assert api.get("/api/executions").json["total"] == 2
    # Recorded twice (the dead one got as far as the script): still counted once.
    ingest_queue.enqueue(r, queued.scripts, taken[0].owner, taken[0].events, taken[0].received_ms, 10)
    assert drain(recorder(queued)) == 2
    assert api.get("/api/jobs/job-a").json["totalRuns"] == 2


def test_a_full_queue_answers_503_and_loses_nothing_it_acknowledged(api, r, queued):
    for i in range(3):
        assert api.post(BATCH, batch(execution(f"q-full-{i}"))).status_code == 202
    refused = api.post(BATCH, batch(execution("q-full-3")))
    assert refused.status_code == 503
    assert refused.json["error"]["code"] == "queue_full"
    assert refused.headers["Retry-After"] == "5"
    assert r.xlen(keys.ingest_queue()) == 3
    drain(recorder(queued))
    ids = {e["execId"] for e in api.get("/api/executions").json["items"]}
    assert ids == {"q-full-0", "q-full-1", "q-full-2"}
    assert api.post(BATCH, batch(execution("q-full-3"))).status_code == 202  # room again


def test_an_invalid_batch_is_refused_before_it_is_queued(api, r, queued):
    bad = api.post(BATCH, batch(execution("q-ok"), {"execId": "q-bad", "jobId": "job-a", "status": "nope"}))
    assert bad.status_code == 400
    assert r.xlen(keys.ingest_queue()) == 0


def test_the_recorder_thread_records_what_arrives(api, r, queued):
    rec = recorder(queued).start()
    try:
        assert api.post(BATCH, batch(*(execution(f"q-t-{i}") for i in range(25)))).status_code == 202
        deadline = time.monotonic() + 20
        while r.xlen(keys.ingest_queue()) and time.monotonic() < deadline:
            time.sleep(0.02)
    finally:
        rec.stop()
    assert rec.recorded == 25
    assert api.get("/api/executions").json["total"] == 25


def test_queued_mode_is_in_the_api_document(api):
    doc = api.get("/api/openapi.json").json
    responses = doc["paths"]["/api/ingest/executions/batch"]["post"]["responses"]
    assert "202" in responses and "503" in responses


def test_an_admin_sees_the_queue_backlog_and_a_member_does_not(api, r, queued, client, make_user):
    from tests.conftest import Api

    assert api.post(BATCH, batch(execution("q-info"))).status_code == 202
    seen = api.get("/api/info").json["ingestQueue"]
    assert seen["enabled"] is True and seen["batches"] == 1 and seen["oldestMs"] >= 0
    _, key = make_user("member@example.com")
    assert Api(client, key).get("/api/info").json["ingestQueue"] == {"enabled": True}
    drain(recorder(queued))
    assert api.get("/api/info").json["ingestQueue"]["batches"] == 0


def queued_owner(r) -> str:
    return r.xrange(keys.ingest_queue(), count=1)[0][1][b"owner"].decode()


def test_a_batch_that_keeps_failing_is_dead_lettered_and_holds_up_nothing(api, r, queued, caplog):
    assert api.post(BATCH, batch(execution("q-good-1"))).status_code == 202
    owner = queued_owner(r)
    # Queued without a jobId (the API never queues such a batch): recording it raises, as a bug would.
    ingest_queue.enqueue(r, queued.scripts, owner, [{"execId": "q-poison"}], int(time.time() * 1000), 10)
    assert api.post(BATCH, batch(execution("q-good-2"))).status_code == 202

    rec = recorder(queued)
    assert rec.run_once() == 2 and rec.failed == 1  # read together, the good batches are still recorded
    assert api.get("/api/executions").json["total"] == 2
    assert pending(r) == 1
    rounds = 1
    while not rec.dead_lettered:
        assert rec.run_once() == 0
        rounds += 1
        assert rounds <= ingest_queue.MAX_DELIVERIES
    assert rounds == ingest_queue.MAX_DELIVERIES
    assert r.xlen(keys.ingest_queue()) == 0 and pending(r) == 0
    [dead] = ingest_queue.dead(r)
    assert (dead["owner"], dead["executions"]) == (owner, 1) and dead["error"].startswith("KeyError")
    assert "moved to the dead letters" in caplog.text

    assert api.post(BATCH, batch(execution("q-good-3"))).status_code == 202
    assert drain(rec) == 1 and rec.failed == 0  # the queue flows again
    assert api.get("/api/info").json["ingestQueue"]["dead"] == 1

    assert ingest_queue.requeue_dead(r) == 1  # after a fix: back in the queue, as it was
    assert r.xlen(keys.ingest_dead()) == 0
    [again] = ingest_queue.read(r, "rec-2", 10, 10)
    assert (again.owner, again.events) == (owner, [{"execId": "q-poison"}])


def test_redis_refusing_writes_pauses_the_recorder_without_dead_lettering(api, r, queued):
    assert api.post(BATCH, batch(execution("q-oom-1"), execution("q-oom-2"))).status_code == 202
    rec = recorder(queued)
    for _ in range(ingest_queue.MAX_DELIVERIES):  # handed out often enough to be dead-lettered at its next failure
        [entry] = ingest_queue.read(r, rec.name, 10, 10, own_pending=True) or ingest_queue.read(r, rec.name, 10, 10)
    assert ingest_queue.deliveries(r, entry.id) == ingest_queue.MAX_DELIVERIES
    before = r.config_get("maxmemory")["maxmemory"]
    r.config_set("maxmemory", 1)  # every write is refused with OOM from now on
    try:
        for _ in range(3):
            with pytest.raises(RedisError, match="maxmemory"):
                rec.record_entries([entry])
    finally:
        r.config_set("maxmemory", before)
    assert rec.dead_lettered == 0 and r.xlen(keys.ingest_dead()) == 0 and pending(r) == 1
    assert drain(rec) == 2
    assert api.get("/api/executions").json["total"] == 2


def test_only_redis_being_away_or_full_counts_as_transient(r):
    from chronos.recorder import _transient

    def error_of(call) -> Exception:
        with pytest.raises(Exception) as info:
            call()
        return info.value

    script_bug = error_of(lambda: r.eval("return redis.call('JSON.GET')", 0))  # wrong arguments in a script
    before = r.config_get("maxmemory")["maxmemory"]
    r.config_set("maxmemory", 1)
    try:
        full = error_of(lambda: r.eval("redis.call('SET', KEYS[1], 'x') return 1", 1, "chr:test:oom"))
    finally:
        r.config_set("maxmemory", before)
    away = error_of(lambda: redis.Redis(port=1, socket_connect_timeout=0.2, retry=Retry(NoBackoff(), 0)).ping())
    assert _transient(full) and _transient(away)
    assert not _transient(script_bug) and not _transient(KeyError("jobId"))


def test_wait_empty_reports_whether_the_queue_emptied(api, r, queued):
    assert api.post(BATCH, batch(execution("q-wait"))).status_code == 202
    emptied, waited = ingest_queue.wait_empty(r, timeout=0.1, poll=0.01)
    assert not emptied and waited >= 0.1
    rec = recorder(queued).start()
    try:
        assert ingest_queue.wait_empty(r, timeout=20)[0]
    finally:
        rec.stop()
    assert api.get("/api/executions").json["total"] == 1
