"""Execution events handled a read at a time, and firing that never waits behind them."""
from __future__ import annotations

import http.server
import threading
import time

import orjson

from chronos import keys
from chronos.scheduling import monitor
from chronos.store import jobs as job_store
from chronos.timeutil import to_iso
from scheduler.core import Scheduler
from tests.helpers import execution
from tests.test_scheduler_helpers import FakeClock, Receiver, flips, post, settings_of, triggers


def register(client, key, *jobs):
    resp = client.post("/api/ingest/jobs/register", headers={"x-api-key": key}, json={"jobs": list(jobs)})
    assert resp.status_code == 200, resp.json


def monitored(r, owner, job_id, **thresholds):
    r.execute_command("JSON.MERGE", keys.job(owner, job_id), "$", orjson.dumps(thresholds))


def test_failures_then_a_success_in_one_read_flip_and_count_as_one_at_a_time(app, r, client, make_user):
    owner, key = make_user("fold@example.com")
    register(client, key, {"id": "batched", "schedule": "@yearly"}, {"id": "single", "schedule": "@yearly"})
    for job_id in ("batched", "single"):
        monitored(r, owner, job_id, failureThreshold=3, recoveryThreshold=1)
    clock = FakeClock(int(time.time() * 1000))
    s = Scheduler(r, settings_of(app), clock=clock, workers=0)
    s.tick()  # joins the owner's event stream
    outcomes = ["failed", "failed", "failed", "failed", "success"]
    with Receiver() as hook:
        client.post("/api/alerts/channels", headers={"x-api-key": key}, json={"type": "webhook", "url": hook.url})
        post(client, key, *[execution(f"b{i}", "batched", st, finished_ms=clock.now - 10_000 + i)
                            for i, st in enumerate(outcomes)])
        clock.advance(1000)
        s.tick()  # all five events in one read
        for i, st in enumerate(outcomes):
            post(client, key, execution(f"s{i}", "single", st, finished_ms=clock.now - 10_000 + i))
            clock.advance(1000)
            s.tick()
        s.drain()
    expected = [("new", "up"), ("up", "failing"), ("failing", "recovered")]
    assert flips(client, key, "batched") == flips(client, key, "single") == expected
    reasons = [f["reason"] for f in client.get("/api/jobs/batched/flips", headers={"x-api-key": key}).json["items"]]
    assert reasons[1] == "3 consecutive failure(s)"
    for job_id in ("batched", "single"):
        job = job_store.get(r, owner, job_id)
        assert job["state"] == "recovered" and job["consecutiveFailures"] == 0
        assert job["monitor"]["failStreak"] == 0 and job["monitor"]["successStreak"] == 1
    sent = sorted((p["job"]["id"], p["event"]) for p in hook.json())
    assert sent == [("batched", "failure"), ("batched", "recovery"), ("single", "failure"), ("single", "recovery")]


def test_the_fold_decides_each_event_on_what_the_ones_before_left():
    job = {"owner": "u", "id": "j", "state": "up", "failureThreshold": 2, "recoveryThreshold": 2,
           "monitor": {"failStreak": 0, "successStreak": 4}}
    events = [{"execId": f"e{i}", "status": st} for i, st in
              enumerate(["failed", "cancelled", "failed", "timeout", "success", "success", "success"])]
    changes = monitor.fold_executions(job, events, 1000)
    # The cancelled run changes nothing; the incident (opened as failing) stays one incident through the
    # timeout, and the successes count towards its recovery.
    assert [(c.frm, c.to, c.alert) for c in changes] == [
        ("up", "up", None), ("up", "failing", "failure"), ("failing", "timeout", None),
        ("timeout", "failing", None), ("failing", "recovered", "recovery"), ("recovered", "up", None)]
    assert [c.patch["failStreak"] for c in changes] == [1, 2, 3, 0, 0, 0]
    assert [c.patch["successStreak"] for c in changes] == [0, 0, 0, 1, 2, 3]
    assert job["state"] == "up" and job["monitor"] == {"failStreak": 0, "successStreak": 4}  # not mutated


def test_every_success_in_a_read_starts_the_dependents_and_the_latest_trigger_is_acknowledged(app, r, client,
                                                                                                make_user):
    owner, key = make_user("deps@example.com")
    register(client, key, {"id": "upstream", "schedule": "@yearly"})
    clock = FakeClock(int(time.time() * 1000))
    s = Scheduler(r, settings_of(app), clock=clock, workers=0)
    s.tick()
    with Receiver() as target:
        resp = client.post("/api/jobs", headers={"x-api-key": key}, json={
            "id": "after", "name": "After", "type": "http", "dependsOn": ["upstream"],
            "target": {"url": target.url + "/after"}})
        assert resp.status_code == 201, resp.json
        post(client, key, *[execution(f"u{i}", "upstream", st, finished_ms=clock.now - 5000 + i, triggerId=f"t{i}")
                            for i, st in enumerate(["success", "failed", "success", "success"])])
        clock.advance(1000)
        s.tick()
    assert len(target.requests) == 3
    runs = client.get("/api/jobs/after/executions?limit=10", headers={"x-api-key": key}).json["items"]
    assert sorted(e["triggerId"] for e in runs) == ["after@after:u0", "after@after:u2", "after@after:u3"]
    assert job_store.get(r, owner, "upstream")["sched"]["lastAck"]["triggerId"] == "t3"


class StuckTarget:
    """An HTTP server whose answers wait until ``release`` is set: a dependency run that hangs."""

    def __init__(self) -> None:
        self.arrived = threading.Event()
        self.release = threading.Event()
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                outer.arrived.set()
                outer.release.wait(120)
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *_a) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()
        self.url = f"http://127.0.0.1:{self.server.server_port}"

    def close(self) -> None:
        self.release.set()
        self.server.shutdown()
        self.server.server_close()


def wait_for(condition, what: str) -> None:
    deadline = time.monotonic() + 60  # liveness bound only: nothing here measures how fast
    while not condition():
        assert time.monotonic() < deadline, what
        time.sleep(0.02)


def test_a_due_fire_is_dispatched_while_event_handling_is_stuck_behind_a_backlog(app, r, client, make_user):
    owner, key = make_user("backlog@example.com")
    register(client, key, {"id": "upstream", "schedule": "@yearly"}, {"id": "busy", "schedule": "@yearly"},
             {"id": "timely", "schedule": "0 12 * * *"})
    due = job_store.get(r, owner, "timely")["nextRunAt"]
    clock = FakeClock(due - 3600_000)
    s = Scheduler(r, settings_of(app), clock=clock, workers=0, max_sleep=0.05)
    s.tick()
    stuck = StuckTarget()
    runner = threading.Thread(target=s.run, kwargs={"handle_signals": False})
    try:
        resp = client.post("/api/jobs", headers={"x-api-key": key}, json={
            "id": "after", "name": "After", "type": "http", "dependsOn": ["upstream"],
            "target": {"url": stuck.url, "timeoutMs": 120_000}})
        assert resp.status_code == 201, resp.json
        # A success of "upstream" starts a dependency run that hangs inside event handling; 3,000 more
        # events wait behind it.
        post(client, key, execution("u1", "upstream", finished_ms=clock.now - 700_000))
        for start in range(0, 3000, 1000):
            post(client, key, *[execution(f"x{i}", "busy", finished_ms=clock.now - 600_000 + i)
                                for i in range(start, start + 1000)])
        runner.start()
        wait_for(stuck.arrived.is_set, "the watcher never started the dependency run")
        clock.now = due + 100  # the job falls due while the watcher is stuck
        wait_for(lambda: triggers(r, owner), "the due job was not fired")
        assert triggers(r, owner) == [("timely", to_iso(due))]
        group = [g for g in r.xinfo_groups(keys.events(owner)) if g["name"] == keys.SCHED_GROUP.encode()][0]
        assert group["pending"] > 0 and group["lag"] > 0  # events read but not handled, and never read
        stuck.release.set()
        wait_for(lambda: (job_store.get(r, owner, "busy").get("monitor") or {}).get("successStreak") == 3000,
                 "the backlog was not handled once the dependency run returned")
    finally:
        s.request_stop()
        stuck.close()
        if runner.is_alive():
            runner.join(60)
    assert not runner.is_alive()
    assert r.xpending(keys.events(owner), keys.SCHED_GROUP)["pending"] == 0
    assert triggers(r, owner) == [("timely", to_iso(due))]
