"""The batch runner end to end: real runner processes, a real HTTP sink, exact counts."""
from __future__ import annotations

import orjson
import pytest

from batch_runner.sink import Sink
from chronos import keys
from chronos.batches.model import unpack_records
from tests.test_batches_helpers import Runners, config_line, ndjson, records, submit, wait_for


@pytest.fixture
def runners(redis_url):
    group = Runners(redis_url)
    yield group
    group.close()


def n_of(body: bytes) -> int:
    return orjson.loads(body)["n"]


def test_a_batch_is_delivered_and_counted(api, r, runners):
    sink = Sink(lambda body: 200).start()
    try:
        runners.start()
        sub = submit(api, ndjson(config_line(sink.port), records(300)))
        batch = wait_for(api, sub["job_id"])
    finally:
        sink.stop()
    assert batch["total"] == 300 and batch["delivered"] == 300 and batch["failed"] == 0
    assert batch["pending"] == 0 and batch["retries"] == 0
    assert sorted(n_of(b) for b in sink.ok) == list(range(300))
    assert set(sink.requests.values()) == {1}
    lat = batch["latencyMs"]
    assert 0 < lat["min"] <= lat["p50"] <= lat["p95"] <= lat["max"]
    assert batch["startedAt"] and batch["finishedAt"] and batch["throughput"] > 0
    assert sum(h["count"] for h in batch["histogram"]) == 300
    events = progress_events(r, sub["job_id"])
    assert events and events[-1]["state"] == "completed" and events[-1]["delivered"] == 300


def owner_id(r) -> str:
    from chronos.store import users
    from tests.conftest import ADMIN_EMAIL

    return users.find_user_by_email(r, ADMIN_EMAIL)["id"]


def progress_events(r, batch_id: str) -> list[dict]:
    out = []
    for _, fields in r.xrange(keys.events(owner_id(r)), "-", "+"):
        if fields[b"type"] == b"batch:progress":
            data = orjson.loads(fields[b"data"])
            if data["batchId"] == batch_id:
                out.append(data)
    return out


def test_ten_thousand_records_with_500s_and_400s_are_counted_exactly(api, r, runners):
    sink: Sink

    def rule(body: bytes) -> int:
        n = n_of(body)
        if n % 100 == 99:
            return 400  # 1 %: a client error, never retried
        if n % 100 < 5 and sink.requests[body] == 1:
            return 500  # 5 %: a server error on the first attempt only
        return 200

    sink = Sink(rule).start()
    try:
        runners.start()
        runners.start()
        sub = submit(api, ndjson(config_line(sink.port, concurrency=128), records(10_000)))
        batch = wait_for(api, sub["job_id"])
    finally:
        sink.stop()
    assert batch["total"] == 10_000
    assert batch["delivered"] == 9_900 and batch["failed"] == 100 and batch["pending"] == 0
    assert batch["retries"] == 500
    by_n = {n_of(body): count for body, count in sink.requests.items()}
    assert len(by_n) == 10_000
    for n, count in by_n.items():
        if n % 100 == 99:
            assert count == 1 and sink.ok.get(orjson.dumps({"n": n}), 0) == 0
        elif n % 100 < 5:
            assert count == 2
        else:
            assert count == 1
    assert all(v == 1 for v in sink.ok.values()) and len(sink.ok) == 9_900

    page = api.get(f"/api/batches/{sub['job_id']}/records?status=failed&limit=60").get_json()
    assert len(page["records"]) == 60 and page["next"] is not None
    rest = api.get(f"/api/batches/{sub['job_id']}/records?status=failed&limit=60&after={page['next']}").get_json()
    failed = page["records"] + rest["records"]
    assert rest["next"] is None and len(failed) == 100
    assert {rec["id"] for rec in failed} == {n for n in range(10_000) if n % 100 == 99}
    assert all(rec["httpStatus"] == 400 and rec["attempts"] == 1 and "sink says 400" in rec["error"]
               for rec in failed)


def test_a_killed_runners_records_are_finished_by_another(api, r, runners, capsys):
    sink = Sink(lambda body: 200).start()
    total = 20_000
    try:
        victim = runners.start("victim")
        sub = submit(api, ndjson(config_line(sink.port, concurrency=32), records(total)))
        mid = wait_for(api, sub["job_id"], until=lambda b: b["delivered"] >= 2_000)
        victim.kill()  # SIGKILL: no clean shutdown, its records stay pending in the consumer group
        victim.wait()
        held = in_doubt(r, sub["job_id"])
        runners.start("rescuer")
        batch = wait_for(api, sub["job_id"])
    finally:
        sink.stop()
    assert mid["delivered"] < total
    assert batch["delivered"] == total and batch["failed"] == 0 and batch["pending"] == 0
    assert len(sink.ok) == total  # nothing lost
    twice = sum(sink.ok.values()) - total
    with capsys.disabled():
        print(f"\n[crash/reclaim] records held and not yet reported at SIGKILL: {held}; "
              f"delivered twice: {twice}")
    assert twice <= held  # only records the victim held and had not reported can have been sent twice
    assert r.xpending(keys.batch_records(sub["job_id"]), keys.BATCH_GROUP)["pending"] == 0


def in_doubt(r, batch_id: str) -> int:
    """Records in chunks still pending in the consumer group whose result is not yet written."""
    stream = keys.batch_records(batch_id)
    n = 0
    for p in r.xpending_range(stream, keys.BATCH_GROUP, "-", "+", 1000):
        eid = p["message_id"]
        blob = r.xrange(stream, eid, eid)[0][1][b"r"]
        for seq, _, _ in unpack_records(blob):
            slot = r.getrange(keys.batch_results(batch_id), seq * 8, seq * 8)
            n += not slot or slot[0] == 0
    return n
