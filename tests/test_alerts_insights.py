"""Opt-in alert events about single runs: a new error group (once per group) and a duration anomaly."""
from __future__ import annotations

import time

from scheduler.core import Scheduler
from tests.helpers import batch, execution
from tests.test_scheduler_helpers import FakeClock, Receiver, settings_of


def report(client, key, *events):
    resp = client.post("/api/ingest/executions/batch", headers={"x-api-key": key}, json=batch(*events))
    assert resp.status_code == 200, resp.json


def test_a_new_error_alerts_once_per_group_and_anomalies_when_asked(app, r, client, make_user):
    owner, key = make_user("ops@example.com")
    h = {"x-api-key": key}
    now = int(time.time() * 1000)
    with Receiver() as hook:
        ch = client.post("/api/alerts/channels", headers=h, json={
            "type": "webhook", "url": hook.url + "/hook", "events": ["new_error", "anomaly"]})
        assert ch.status_code == 201, ch.json
        s = Scheduler(r, settings_of(app), clock=FakeClock(now), workers=0)
        s.tick()  # joins the owner's event stream
        # 40 normal runs of about a second build the job's baseline; none of them alerts.
        report(client, key, *[execution(f"ok-{i}", "etl", "success", finished_ms=now - 100_000 + i * 1000,
                                        duration_ms=1000 + (i % 5) * 20) for i in range(40)])
        s.tick()
        s.drain()
        assert hook.json() == []
        # Two variants of one new error: one alert. A run 30x slower than usual: one anomaly alert.
        report(client, key,
               execution("e1", "etl", "failed", finished_ms=now - 50_000, errorType="TimeoutError",
                         errorMessage="timeout after 31s on host a1"),
               execution("e2", "etl", "failed", finished_ms=now - 40_000, errorType="TimeoutError",
                         errorMessage="timeout after 45s on host b7"),
               execution("slow", "etl", "success", finished_ms=now - 30_000, duration_ms=30_000))
        s.tick()
        s.drain()
        got = [p["event"] for p in hook.json()]
        assert sorted(got) == ["anomaly", "new_error"], got
        new_error = next(p for p in hook.json() if p["event"] == "new_error")
        assert "TimeoutError" in new_error["reason"]


def test_channels_without_events_do_not_get_insight_alerts(app, r, client, make_user):
    owner, key = make_user("quiet@example.com")
    h = {"x-api-key": key}
    now = int(time.time() * 1000)
    with Receiver() as hook:
        assert client.post("/api/alerts/channels", headers=h, json={
            "type": "webhook", "url": hook.url + "/hook"}).status_code == 201
        s = Scheduler(r, settings_of(app), clock=FakeClock(now), workers=0)
        s.tick()
        report(client, key, execution("x1", "etl", "failed", finished_ms=now - 1000, errorType="KeyError",
                                      errorMessage="'id'"))
        s.tick()
        s.drain()
        assert "new_error" not in [p["event"] for p in hook.json()]
