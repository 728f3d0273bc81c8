"""A job that stops reporting goes late, then missed: one alert to a webhook on 127.0.0.1; after it reports
again, one recovery. Driven by an injected clock; reports go through the real ingest API."""
from __future__ import annotations

import hashlib
import hmac

from chronos.store import jobs as job_store
from scheduler.core import Scheduler
from tests.helpers import batch, execution
from tests.test_scheduler_helpers import FakeClock, Receiver, events, settings_of


def start(app, r, clock):
    s = Scheduler(r, settings_of(app), clock=clock, workers=0)
    s.tick()  # joins the owners' event streams before anything is reported
    return s


def run_until(s, clock, until_ms, step_ms=5000):
    while clock.now < until_ms:
        clock.advance(min(step_ms, until_ms - clock.now))
        s.tick()
    s.drain()


def report(client, key, exec_id, job_id, finished_ms, status="success"):
    resp = client.post("/api/ingest/executions/batch", headers={"x-api-key": key},
                       json=batch(execution(exec_id, job_id, status, finished_ms=finished_ms, duration_ms=400)))
    assert resp.status_code == 200, resp.json


def test_late_then_missed_alerts_once_and_recovers_once(app, r, client, make_user):
    owner, key = make_user("ops@example.com")
    h = {"x-api-key": key}
    with Receiver() as hook:
        ch = client.post("/api/alerts/channels", headers=h, json={"type": "webhook", "url": hook.url + "/hook",
                                                                   "name": "ops hook"})
        assert ch.status_code == 201, ch.json
        secret = ch.json["secret"]
        assert client.post("/api/ingest/jobs/register", headers=h, json={"jobs": [
            {"id": "nightly", "name": "Nightly", "schedule": "* * * * *", "graceSeconds": 30}]}).status_code == 200
        t0 = job_store.get(r, owner, "nightly")["nextRunAt"] - 60_000  # a minute boundary
        clock = FakeClock(t0 + 60_000 - 1)
        s = start(app, r, clock)

        run_until(s, clock, t0 + 60_500)             # fires at t0+60s
        report(client, key, "run-1", "nightly", t0 + 61_000)
        run_until(s, clock, t0 + 65_000)
        assert job_store.get(r, owner, "nightly")["state"] == "up"

        run_until(s, clock, t0 + 150_500)            # the t0+120s run never comes: late after 30 s
        assert job_store.get(r, owner, "nightly")["state"] == "late"
        assert hook.requests == []
        run_until(s, clock, t0 + 400_000)            # missed after another 30 s; then silence for minutes
        assert job_store.get(r, owner, "nightly")["state"] == "missed"
        assert [p["event"] for p in hook.json()] == ["missed"]

        report(client, key, "run-2", "nightly", t0 + 401_000)
        run_until(s, clock, t0 + 405_000)
        assert job_store.get(r, owner, "nightly")["state"] == "recovered"
        for minute in range(7, 12):                  # reporting on time again: no more alerts
            fire = t0 + minute * 60_000
            run_until(s, clock, fire + 500)
            report(client, key, f"run-{minute}", "nightly", fire + 1000)
            run_until(s, clock, fire + 5000)

    sent = hook.json()
    assert [p["event"] for p in sent] == ["missed", "recovery"]
    assert sent[0]["job"]["id"] == "nightly" and sent[0]["state"] == "missed"
    for req in hook.requests:
        expected = "sha256=" + hmac.new(secret.encode(), req["body"], hashlib.sha256).hexdigest()
        assert req["headers"]["X-Chronos-Signature-256"] == expected
        assert req["path"] == "/hook"

    flips = client.get("/api/jobs/nightly/flips", headers=h).json
    assert [(f["from"], f["to"]) for f in reversed(flips["items"])][:4] == [
        ("new", "up"), ("up", "late"), ("late", "missed"), ("missed", "recovered")]
    assert all(f["reason"] and f["at"].endswith("Z") for f in flips["items"])
    assert flips["state"] == "up"
    history = client.get("/api/alerts/history?jobId=nightly", headers=h).json["items"]
    assert [(a["event"], a["status"]) for a in history] == [("recovery", "sent"), ("missed", "sent")]
    states = [d["to"] for _t, d in events(r, owner, "job:state")]
    assert states[:4] == ["up", "late", "missed", "recovered"]
