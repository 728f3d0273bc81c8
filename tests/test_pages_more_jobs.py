"""The job page's monitoring additions (state changes, alert history, pause / resume / run now) and the new
server-side job form, in a real browser; the viewer locks through the callbacks."""
from __future__ import annotations

import time

import pytest

from callbacks.job import Refused, controls_state, job_action
from chronos import keys
from chronos.scheduling import alerts
from chronos.store import users
from tests.browser.seed import seed
from tests.browser.support import dash_payload, login, open_page, screenshot, texts
from tests.conftest import ADMIN_EMAIL, ADMIN_PASSWORD
from tests.test_pages_security import session_login

pytest_plugins = ["tests.browser.fixtures"]  # the browser fixtures, defined once for the session

HEALTH = {"id": "health-check", "name": "Health check", "type": "http", "schedule": "*/5 * * * *",
          "target": {"method": "GET", "url": "http://127.0.0.1:9/health"},
          "retry": {"strategy": "exponential", "maxRetries": 2, "baseDelayMs": 1000}}


def admin_id(r) -> str:
    return users.find_user_by_email(r, ADMIN_EMAIL)["id"]


def create_server_job(api) -> None:
    resp = api.post("/api/jobs", HEALTH)
    assert resp.status_code == 201, resp.get_json()


def test_a_server_side_job_is_paused_resumed_and_run_from_its_page(api, r, new_page):
    create_server_job(api)
    now = int(time.time() * 1000)
    alerts.record(r, admin_id(r), [
        {"id": "d1:c1", "jobId": "health-check", "event": "failure", "channelId": "c1", "channelType": "webhook",
         "status": "failed", "at": now - 60_000, "reason": "2 consecutive failures", "state": "failing",
         "error": "receiver answered 502"},
        {"id": "d2:c1", "jobId": "other-job", "event": "missed", "channelId": "c1", "channelType": "slack",
         "status": "sent", "at": now - 30_000, "reason": "not this job", "state": "missed"}])
    page, console = new_page()
    login(page, ADMIN_EMAIL, ADMIN_PASSWORD, "/jobs/health-check")
    open_page(page, "/jobs/health-check", "#job-alerts .alert-row")
    assert page.is_visible("#job-controls") and page.is_visible("#job-pause") and not page.is_visible("#job-resume")
    assert page.locator("#job-alerts .alert-row").count() == 1
    assert "receiver answered 502" in page.inner_text("#job-alerts") and "not this job" not in page.inner_text("body")
    assert "No state changes yet" in page.inner_text("#job-flips")

    page.click("#job-pause")
    page.wait_for_selector("#job-action-alert:has-text('Paused')")
    page.wait_for_selector("#job-resume", state="visible")
    assert page.is_disabled("#job-run-now")
    page.wait_for_selector("#job-flips .flip-row:has-text('paused')")
    page.click("#job-resume")
    page.wait_for_selector("#job-action-alert:has-text('Resumed')")
    page.wait_for_function("() => document.querySelectorAll('#job-flips .flip-row').length === 2")
    assert "resumed" in page.inner_text("#job-flips")
    page.wait_for_selector("#job-pause", state="visible")
    page.click("#job-run-now")
    page.wait_for_selector("#job-action-alert:has-text('Queued for a scheduler')")
    assert "No scheduler is running" in page.inner_text("#job-action-alert")
    assert any(b"health-check" in m for m in r.zrange(keys.sched_retries(), 0, -1))
    page.locator("#job-flips").scroll_into_view_if_needed()
    screenshot(page, "job-server-side")
    console.assert_clean()


def test_an_sdk_job_has_no_server_controls_but_shows_its_tables(api, new_page):
    seed(api.post)
    page, console = new_page()
    login(page, ADMIN_EMAIL, ADMIN_PASSWORD, "/jobs/send-invoices")
    open_page(page, "/jobs/send-invoices", "#job-exec-table .exec-row")
    page.wait_for_selector("#job-flips p")
    assert not page.is_visible("#job-controls")
    assert "No alerts for this job" in page.inner_text("#job-alerts")
    console.assert_clean()


def action_call(button: str) -> dict:
    return dash_payload([("job-action-message", "children"), ("job-action-changed", "data")],
                        [{"id": b, "property": "n_clicks", "value": 1 if b == button else None}
                         for b in ("job-pause", "job-resume", "job-run-now")],
                        state=[{"id": "job-id", "property": "data", "value": "health-check"},
                               {"id": "job-action-changed", "property": "data", "value": 0}],
                        changed=[f"{button}.n_clicks"])


@pytest.mark.parametrize("button", ["job-pause", "job-run-now"])
def test_a_viewer_cannot_pause_or_run_through_the_callback(app, api, r, make_user, button):
    create_server_job(api)
    make_user("viewer@example.com", role="viewer")
    client = app.test_client()
    session_login(client, "viewer@example.com", "password-123")
    resp = client.post("/_dash-update-component", json=action_call(button))
    assert resp.status_code == 200 and "Viewers cannot pause, resume or run jobs" in texts(resp.json)
    assert r.zcard(keys.sched_retries()) == 0
    assert api.get("/api/jobs/health-check").get_json()["state"] != "paused"


def test_the_job_actions_refuse_sdk_jobs_paused_runs_and_other_owners(api, r, make_user):
    create_server_job(api)
    seed(api.post)
    me, now = admin_id(r), int(time.time() * 1000)
    member, _ = make_user("member@example.com")
    with pytest.raises(Refused, match="No such job"):
        job_action(r, member, "member", "health-check", "pause", now)
    with pytest.raises(Refused, match="SDK runs this one"):
        job_action(r, me, "admin", "send-invoices", "run", now)
    assert job_action(r, me, "member", "health-check", "pause", now).startswith("Paused")
    with pytest.raises(Refused, match="resume it first"):
        job_action(r, me, "admin", "health-check", "run", now)
    hidden, pause, resume, *_ = controls_state({"source": "server", "state": "paused"}, "admin")
    assert not hidden and pause == {"display": "none"} and resume == {}
    assert controls_state({"source": "server", "state": "up"}, "viewer")[3:] == (True, True, True)
    assert controls_state({"source": "sdk"}, "admin")[0] is True


# ---- the new server-side job form ---------------------------------------------------------------------------

def test_the_new_job_form_dry_runs_and_creates_a_job_from_a_template(api, new_page):
    page, console = new_page()
    login(page, ADMIN_EMAIL, ADMIN_PASSWORD, "/jobs/new")
    open_page(page, "/jobs/new?template=http-health-check", "#job-new-name")
    assert page.input_value("#job-new-name") == "Health check"
    assert page.input_value("#job-new-schedule") == "*/5 * * * *"
    assert page.input_value("#job-new-url").startswith("http://127.0.0.1")
    assert page.input_value("#job-new-max-retries") == "3"
    page.fill("#job-new-name", "Morning ping")
    page.fill("#job-new-schedule", "0 9 * *")
    page.click("#job-new-dry-run")
    page.wait_for_selector("#job-new-error")
    assert "schedule" in page.inner_text("#job-new-error") and "5 fields" in page.inner_text("#job-new-error")
    page.fill("#job-new-schedule", "0 9 * * 1-5")
    page.fill("#job-new-timezone", "Europe/Berlin")
    page.click("#job-new-dry-run")
    page.wait_for_selector("#job-new-fires li")
    fires = page.locator("#job-new-fires li").all_inner_texts()
    assert len(fires) == 10 and all(" 09:00:00 +0" in f for f in fires)
    assert not any(f.startswith(("Sat", "Sun")) for f in fires)
    assert "host is allowed" in page.inner_text("#job-new-checks")
    page.evaluate("() => window.scrollTo(0, 0)")
    screenshot(page, "job-new")

    page.click("label:has-text('Email')")
    page.wait_for_selector("#job-new-email", state="visible")
    assert not page.is_visible("#job-new-http")
    page.click("label:has-text('HTTP request')")
    page.wait_for_selector("#job-new-http", state="visible")
    page.fill("#job-new-id", "morning-ping")
    page.click("#job-new-create")
    page.wait_for_selector("#job-new-created")
    job = api.get("/api/jobs/morning-ping").get_json()
    assert job["name"] == "Morning ping" and job["schedule"] == "0 9 * * 1-5" and job["type"] == "http"
    assert job["retry"] == {"strategy": "exponential", "maxRetries": 3, "baseDelayMs": 2000}
    page.click("#job-new-created a:has-text('Open the job')")
    page.wait_for_selector("#job-header .job-name")
    assert page.url.endswith("/jobs/morning-ping")
    page.wait_for_selector("#job-pause", state="visible")
    # Creating the same id again is refused with the reason.
    open_page(page, "/jobs/new?template=http-health-check", "#job-new-name")
    page.fill("#job-new-id", "morning-ping")
    page.click("#job-new-create")
    page.wait_for_selector("#job-new-error:has-text('already exists')")
    console.assert_clean()


def create_job_call(name: str) -> dict:
    from callbacks.job_new import FIELDS
    from pages._ids import job_new as job_new_ids

    values = {"name": name, "schedule": "@hourly", "type": "http", "method": "GET", "url": "http://127.0.0.1:9/",
              "strategy": "immediate", "max_retries": 0, "base_delay": 1000}
    return dash_payload([("job-new-result", "children")],
                        [{"id": "job-new-dry-run", "property": "n_clicks", "value": None},
                         {"id": "job-new-create", "property": "n_clicks", "value": 1}],
                        state=[{"id": "job-new-paused", "property": "value", "value": False},
                               *[{"id": getattr(job_new_ids, f), "property": "value", "value": values.get(f)}
                                 for f in FIELDS]],
                        changed=["job-new-create.n_clicks"])


def test_a_viewer_cannot_create_a_job_through_the_callback(app, r, make_user, new_page):
    viewer, _ = make_user("viewer@example.com", role="viewer")
    client = app.test_client()
    session_login(client, "viewer@example.com", "password-123")
    resp = client.post("/_dash-update-component", json=create_job_call("sneaky"))
    assert resp.status_code == 200 and "Viewers cannot create jobs" in texts(resp.json)
    assert api_jobs(r, viewer) == []
    member, _ = make_user("member@example.com")
    member_client = app.test_client()
    session_login(member_client, "member@example.com", "password-123")
    ok = member_client.post("/_dash-update-component", json=create_job_call("allowed"))
    assert "Created" in texts(ok.json) and [j["name"] for j in api_jobs(r, member)] == ["allowed"]
    page, console = new_page()
    login(page, "viewer@example.com", "password-123", "/jobs/new")
    open_page(page, "/jobs/new", "#job-new-name")
    assert page.is_disabled("#job-new-create")
    console.assert_clean()


def api_jobs(r, owner: str) -> list[dict]:
    from chronos.store import jobs as job_store

    ids = [k.decode().rsplit(":", 1)[1] for k in r.keys(keys.job(owner, "*"))]
    return [job_store.get(r, owner, i) for i in ids]


def test_the_form_values_become_the_api_definition():
    from callbacks.job_new import definition_from_form

    d = definition_from_form({"name": " Ping ", "job_id": "", "schedule": "@daily", "timezone": "UTC",
                              "type": "http", "method": "POST", "url": "https://x.example/hook",
                              "body": '{"ping": true}', "timeout": 5000.0, "strategy": "linear",
                              "max_retries": 2.0, "base_delay": 500})
    assert d == {"name": "Ping", "type": "http", "schedule": "@daily", "timezone": "UTC",
                 "target": {"method": "POST", "url": "https://x.example/hook", "body": {"ping": True},
                            "timeoutMs": 5000},
                 "retry": {"strategy": "linear", "maxRetries": 2, "baseDelayMs": 500}}
    shell = definition_from_form({"name": "n", "type": "shell", "command": "echo hi", "cwd": "/tmp", "body": "x"})
    assert shell["target"] == {"command": "echo hi", "cwd": "/tmp"}
    email = definition_from_form({"name": "n", "type": "email", "to": "a@x.io, b@x.io", "subject": "s"})
    assert email["target"] == {"to": ["a@x.io", "b@x.io"], "subject": "s", "body": ""}
    assert definition_from_form({"name": "n", "type": "http", "body": "not json {"})["target"]["body"] == "not json {"
