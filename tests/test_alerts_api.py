"""Alert channels, rules, history and "send test" through the API; webhook, Slack-style and SMTP delivery."""
from __future__ import annotations

import dataclasses
import hashlib
import hmac

import pytest

from chronos.scheduling import alerts
from chronos.scheduling.notify import Notifier
from tests.test_scheduler_helpers import Receiver, SmtpServer


@pytest.fixture
def user(make_user, client):
    owner, key = make_user("alerts@example.com")

    class U:
        id = owner

        @staticmethod
        def post(path, body):
            return client.post(path, json=body, headers={"x-api-key": key})

        @staticmethod
        def get(path):
            return client.get(path, headers={"x-api-key": key})

        @staticmethod
        def put(path, body):
            return client.put(path, json=body, headers={"x-api-key": key})

        @staticmethod
        def delete(path):
            return client.delete(path, headers={"x-api-key": key})

    return U


@pytest.mark.parametrize("body,fragment", [
    ({"type": "pager", "url": "http://127.0.0.1/"}, "type"),
    ({"type": "webhook"}, "url"),
    ({"type": "webhook", "url": "ftp://127.0.0.1/x"}, "url"),
    ({"type": "webhook", "url": "http://169.254.169.254/latest"}, "always refused"),
    ({"type": "slack", "url": "http://10.0.0.1/hook"}, "CHRONOS_OUTBOUND_ALLOW"),
    ({"type": "email", "to": ["not-an-address"]}, "to"),
    ({"type": "webhook", "url": "http://127.0.0.1/", "events": ["bored"]}, "events"),
])
def test_it_rejects_bad_channels_with_a_reason(user, body, fragment):
    resp = user.post("/api/alerts/channels", body)
    assert resp.status_code == 400 and fragment in resp.json["error"]["message"]


def test_the_webhook_secret_is_shown_once_then_masked(user):
    created = user.post("/api/alerts/channels", {"type": "webhook", "url": "http://127.0.0.1:9/x"}).json
    assert created["secret"].startswith("whsec_") and len(created["secret"]) > 30
    listed = user.get("/api/alerts/channels").json["items"]
    assert listed[0]["id"] == created["id"] and listed[0]["secret"].endswith("…")
    assert user.delete(f"/api/alerts/channels/{created['id']}").status_code == 200
    assert user.get("/api/alerts/channels").json["items"] == []
    assert user.delete(f"/api/alerts/channels/{created['id']}").status_code == 404


def test_send_test_signs_a_webhook_and_records_it(user):
    with Receiver() as hook:
        ch = user.post("/api/alerts/channels", {"type": "webhook", "url": hook.url + "/in", "secret": "s3cret-value"}).json
        resp = user.post(f"/api/alerts/channels/{ch['id']}/test", {})
    assert resp.status_code == 200 and resp.json["status"] == "test"
    (req,) = hook.requests
    assert req["headers"]["X-Chronos-Signature-256"] == "sha256=" + hmac.new(
        b"s3cret-value", req["body"], hashlib.sha256).hexdigest()
    assert hook.json()[0]["test"] is True and req["headers"]["X-Chronos-Event"] == "failure"
    assert user.get("/api/alerts/history").json["items"][0]["status"] == "test"


def test_send_test_reports_a_failing_receiver(user):
    with Receiver(statuses=(500,)) as hook:
        ch = user.post("/api/alerts/channels", {"type": "slack", "url": hook.url}).json
        resp = user.post(f"/api/alerts/channels/{ch['id']}/test", {})
    assert resp.status_code == 502 and "HTTP 500" in resp.json["error"]
    assert "text" in hook.json()[0] and "[test]" in hook.json()[0]["text"]


def test_an_email_channel_goes_through_smtp(user, app, monkeypatch):
    state = app.extensions["chronos"]
    with SmtpServer() as smtp:
        monkeypatch.setattr(state, "settings", dataclasses.replace(
            state.settings, chronos_smtp_host="127.0.0.1", chronos_smtp_port=smtp.port,
            chronos_smtp_from="chronos@example.com"))
        ch = user.post("/api/alerts/channels", {"type": "email", "to": ["oncall@example.com"]}).json
        resp = user.post(f"/api/alerts/channels/{ch['id']}/test", {})
    assert resp.status_code == 200, resp.json
    (msg,) = smtp.messages
    assert msg["to"] == ["<oncall@example.com>"] and "Subject: [test] Chronos: job" in msg["data"]


def test_job_rules_pick_channels_and_events(user, r, app):
    user.post("/api/ingest/jobs/register", {"jobs": [{"id": "j1", "schedule": "@daily"}, {"id": "j2"}]})
    with Receiver() as a, Receiver() as b:
        ca = user.post("/api/alerts/channels", {"type": "webhook", "url": a.url}).json
        cb = user.post("/api/alerts/channels", {"type": "webhook", "url": b.url, "allJobs": False}).json
        bad = user.put("/api/jobs/j1/alert-rules", {"rules": [{"channelId": "nope"}]})
        assert bad.status_code == 400 and "no channel" in bad.json["error"]["message"]
        ok = user.put("/api/jobs/j1/alert-rules", {"rules": [{"channelId": cb["id"], "events": ["recovery"]}]})
        assert ok.status_code == 200 and user.get("/api/jobs/j1/alert-rules").json["rules"][0]["events"] == ["recovery"]
        n = Notifier(r, app.extensions["chronos"].settings)
        change = {"from": "up", "to": "failing", "reason": "x", "at": 1_760_000_000_000}
        assert n.notify({"id": "j1", "owner": user.id}, "failure", change) == 0  # j1's rules: recovery only
        assert n.notify({"id": "j1", "owner": user.id}, "recovery", change) == 1
        assert n.notify({"id": "j2", "owner": user.id}, "failure", change) == 1  # no rules: allJobs channels
        n.drain()
        n.shutdown()
    assert [p["job"]["id"] for p in b.json()] == ["j1"] and [p["job"]["id"] for p in a.json()] == ["j2"]
    assert {h["channelId"] for h in alerts.history(r, user.id)} == {ca["id"], cb["id"]}
