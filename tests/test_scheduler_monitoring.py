"""Monitoring states: thresholds, timeouts, trigger acknowledgement and SSE delivery, the outage guard."""
from __future__ import annotations

import orjson
import requests

from chronos.scheduling import triggers as trig
from chronos.scheduling.outage import OutageGuard
from chronos.store import jobs as job_store
from scheduler.core import Scheduler
from tests.helpers import execution
from tests.test_scheduler_helpers import FakeClock, Receiver, flips, post, settings_of


def setup(app, r, client, make_user, jobs, email="mon@example.com"):
    owner, key = make_user(email)
    resp = client.post("/api/ingest/jobs/register", headers={"x-api-key": key}, json={"jobs": jobs})
    assert resp.status_code == 200, resp.json
    t0 = job_store.get(r, owner, jobs[0]["id"])["nextRunAt"] - 60_000
    clock = FakeClock(t0 + 60_000 - 1)
    s = Scheduler(r, settings_of(app), clock=clock, workers=0)
    s.tick()
    return owner, key, t0, clock, s


def run_until(s, clock, until_ms, step_ms=5000):
    while clock.now < until_ms:
        clock.advance(min(step_ms, until_ms - clock.now))
        s.tick()
    s.drain()


def test_failing_after_the_threshold_and_recovered_after_enough_successes(app, r, client, make_user):
    owner, key, t0, clock, s = setup(app, r, client, make_user, [
        {"id": "etl", "schedule": "* * * * *", "graceSeconds": 300}])
    r.execute_command("JSON.MERGE", f"chr:job:{owner}:etl", "$",
                      orjson.dumps({"failureThreshold": 2, "recoveryThreshold": 2}))
    with Receiver() as hook:
        client.post("/api/alerts/channels", headers={"x-api-key": key}, json={"type": "webhook", "url": hook.url})
        outcomes = ["failed", "failed", "failed", "success", "success", "success"]
        for i, status in enumerate(outcomes):
            post(client, key, execution(f"e{i}", "etl", status, finished_ms=t0 + 60_000 + i * 1000))
            run_until(s, clock, clock.now + 1000, 1000)
    assert flips(client, key, "etl") == [("new", "up"), ("up", "failing"), ("failing", "recovered"),
                                         ("recovered", "up")]
    assert [p["event"] for p in hook.json()] == ["failure", "recovery"]


def test_a_run_that_outlives_its_max_runtime_times_out_once(app, r, client, make_user):
    owner, key, t0, clock, s = setup(app, r, client, make_user, [
        {"id": "long", "schedule": "0 0 1 1 *", "maxRuntimeSeconds": 120}])
    post(client, key, {"execId": "x1", "jobId": "long", "status": "running", "startedAt": clock.now})
    run_until(s, clock, clock.now + 2000, 1000)
    assert job_store.get(r, owner, "long")["state"] == "running"
    run_until(s, clock, clock.now + 100_000)
    assert job_store.get(r, owner, "long")["state"] == "running"
    run_until(s, clock, clock.now + 60_000)
    assert flips(client, key, "long") == [("new", "running"), ("running", "timeout")]
    run_until(s, clock, clock.now + 60_000)
    assert len(flips(client, key, "long")) == 2
    post(client, key, execution("x1", "long", "success", finished_ms=clock.now))
    run_until(s, clock, clock.now + 1000, 1000)
    assert flips(client, key, "long")[-1] == ("timeout", "recovered")


def test_a_trigger_reaches_the_stream_and_an_execution_with_its_id_acknowledges_it(app, r, client, make_user,
                                                                                   live_server):
    owner, key, t0, clock, s = setup(app, r, client, make_user, [{"id": "sdk-job", "schedule": "* * * * *"}],
                                     email="runner@example.com")
    run_until(s, clock, t0 + 60_500)
    tid = f"sdk-job@{t0 + 60_000}"
    with requests.get(live_server + "/api/stream", headers={"x-api-key": key, "Last-Event-ID": "0-0"},
                      stream=True, timeout=30) as resp:
        frame: dict[str, str] = {}
        for line in resp.iter_lines(decode_unicode=True):
            if line.startswith(("event:", "data:")):
                name, _, value = line.partition(": ")
                frame[name] = value
            if frame.get("event") == "job:trigger" and "data" in frame:
                break
    data = orjson.loads(frame["data"])
    assert data == {"jobId": "sdk-job", "triggerId": tid, "scheduledFor": data["scheduledFor"]}
    assert trig.trigger_status(r, owner, [tid]) == {}
    post(client, key, execution("run-by-runner", "sdk-job", finished_ms=t0 + 61_000, triggerId=tid))
    run_until(s, clock, t0 + 62_000, 1000)
    assert job_store.get(r, owner, "sdk-job")["sched"]["lastAck"]["triggerId"] == tid
    assert trig.trigger_status(r, owner, [tid, "other@1"]) == {tid: "run-by-runner"}


def test_the_outage_guard_holds_back_missed_alerts_when_ingestion_goes_silent(app, r, client, make_user):
    jobs = [{"id": f"job-{i:02d}", "schedule": "* * * * *", "graceSeconds": 30} for i in range(12)]
    owner, key, t0, clock, s = setup(app, r, client, make_user, jobs)
    OutageGuard().count_ingest(r, t0 - 30 * 60_000, 600)  # the usual volume: 20 runs a minute
    with Receiver() as hook:
        client.post("/api/alerts/channels", headers={"x-api-key": key}, json={"type": "webhook", "url": hook.url})
        run_until(s, clock, t0 + 200_000)
        assert {job_store.get(r, owner, j["id"])["state"] for j in jobs} == {"missed"}
        post(client, key, *[execution(f"back-{j['id']}", j["id"], finished_ms=clock.now) for j in jobs])
        run_until(s, clock, clock.now + 2000, 1000)
    assert hook.requests == []
    history = client.get("/api/alerts/history", headers={"x-api-key": key}).json["items"]
    assert sorted({(a["event"], a["status"]) for a in history}) == [("missed", "held"), ("recovery", "held")]
    assert len(history) == 24 and "outage" in history[-1]["error"]


def test_a_single_missing_job_is_not_an_outage(app, r, client, make_user):
    owner, key, t0, clock, s = setup(app, r, client, make_user, [
        {"id": "solo", "schedule": "* * * * *", "graceSeconds": 30}])
    OutageGuard().count_ingest(r, t0 - 30 * 60_000, 600)
    with Receiver() as hook:
        client.post("/api/alerts/channels", headers={"x-api-key": key}, json={"type": "webhook", "url": hook.url})
        run_until(s, clock, t0 + 200_000)
    assert [p["event"] for p in hook.json()] == ["missed"]


def test_events_a_dead_scheduler_read_but_never_handled_are_taken_over(app, r, client, make_user):
    from chronos import keys

    owner, key, t0, clock, s = setup(app, r, client, make_user, [{"id": "orphan", "schedule": "@daily"}])
    post(client, key, execution("o1", "orphan", finished_ms=clock.now))
    # Another scheduler reads the event and dies before handling it.
    taken = r.xreadgroup(keys.SCHED_GROUP, "dead-node", {keys.events(owner): ">"}, count=10)
    assert taken and job_store.get(r, owner, "orphan")["state"] == "new"
    s.watcher.reclaim_idle_ms = 0
    run_until(s, clock, clock.now + 31_000)
    assert job_store.get(r, owner, "orphan")["state"] == "up"
    assert r.xpending(keys.events(owner), keys.SCHED_GROUP)["pending"] == 0
