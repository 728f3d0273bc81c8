"""Live updates in the browser: an execution posted through the API shows up on an open page without a
reload, over the SSE stream (session cookie), and through the poll when the stream is down."""
from __future__ import annotations

import time

from tests.browser.seed import seed
from tests.browser.support import login, open_page, wait_live
from tests.conftest import ADMIN_EMAIL, ADMIN_PASSWORD

pytest_plugins = ["tests.browser.fixtures"]  # the browser fixtures, defined once for the session


def post_run(api, exec_id: str, job_id: str, status: str = "success", **extra) -> None:
    now = int(time.time() * 1000)
    event = {"execId": exec_id, "jobId": job_id, "status": status, "startedAt": now - 800, "finishedAt": now,
             "durationMs": 800, **extra}
    resp = api.post("/api/ingest/executions/batch", {"executions": [event]})
    assert resp.status_code == 200, resp.json


def test_a_new_execution_appears_on_the_open_overview_within_two_seconds(api, new_page):
    seed(api.post)
    page, console = new_page()
    login(page, ADMIN_EMAIL, ADMIN_PASSWORD)
    open_page(page, "/", "#overview-feed .feed-row")
    wait_live(page)
    runs_before = page.inner_text("#kpi-runs")
    post_run(api, "live-run-1", "brand-new-job", "failed", errorMessage="disk full on /var")
    # The requirement is this bound: the row appears within 2 s of the POST, with no reload.
    page.wait_for_selector("#overview-feed .feed-row[data-exec='live-run-1']", timeout=2000)
    assert "disk full on /var" in page.inner_text("#overview-feed")
    page.wait_for_function(f"() => document.getElementById('kpi-runs').innerText !== {runs_before!r}")
    assert page.url.endswith("/")  # no navigation happened
    console.assert_clean()


def test_a_new_execution_appears_on_its_open_job_page(api, new_page):
    seed(api.post)
    page, console = new_page()
    login(page, ADMIN_EMAIL, ADMIN_PASSWORD, "/jobs/sync-crm")
    open_page(page, "/jobs/sync-crm", "#job-exec-table .exec-row")
    wait_live(page)
    post_run(api, "sync-crm-live", "sync-crm")
    page.wait_for_selector("#job-exec-table a:has-text('sync-crm-live')", timeout=2000)
    assert "91" in page.inner_text("#job-kpis")  # 90 seeded runs + this one
    console.assert_clean()


def test_the_poll_takes_over_when_the_stream_is_down(api, new_page):
    page, console = new_page()
    page.route("**/api/stream*", lambda route: route.fulfill(status=503, body="down"))
    login(page, ADMIN_EMAIL, ADMIN_PASSWORD)
    open_page(page, "/", "#overview-feed")
    page.wait_for_function("() => document.getElementById('shell-live-status').textContent === 'polling'")
    assert "state-polling" in page.get_attribute("#shell-live-status-wrap", "class")
    post_run(api, "polled-run", "poll-job")
    page.wait_for_selector("#overview-feed .feed-row[data-exec='polled-run']", timeout=12_000)
    # The refused stream is the only error the console may show.
    console.errors = [e for e in console.errors if "api/stream" not in e and "503" not in e]
    console.assert_clean()


def test_the_indicator_says_offline_when_the_server_is_unreachable(api, new_page):
    page, console = new_page()
    login(page, ADMIN_EMAIL, ADMIN_PASSWORD)
    open_page(page, "/", "#overview-feed")
    wait_live(page)
    page.context.set_offline(True)
    page.evaluate("() => window.dispatchEvent(new Event('offline'))")
    page.wait_for_function("() => document.getElementById('shell-live-status').textContent === 'offline'")
    page.context.set_offline(False)
