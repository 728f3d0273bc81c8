"""The Batches page in a real browser: a batch submitted through the API and delivered by a real runner process
to a local HTTP server that answers 500 for some records; counts, failed records, retry and cancel."""
from __future__ import annotations

import json
import threading
from collections import Counter
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from callbacks.batches import VIEWER_REFUSED, Refused, act, concerns, histogram_figure
from tests.browser.support import dash_payload, login, open_page, screenshot, texts
from tests.conftest import ADMIN_EMAIL, ADMIN_PASSWORD
from tests.test_batches_helpers import Runners, config_line, ndjson, submit, wait_for
from tests.test_pages_security import IMG, session_login

pytest_plugins = ["tests.browser.fixtures"]  # the browser fixtures, defined once for the session

RECORDS = 20
FAILING = {n for n in range(RECORDS) if n % 4 == 3}  # 3, 7, 11, 15, 19: 500 on their first request


class Target:
    """A local http.server: 500 on the first request of a FAILING record, 200 otherwise."""

    def __init__(self) -> None:
        seen: Counter[int] = Counter()
        lock = threading.Lock()

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                n = json.loads(body)["n"]
                with lock:
                    seen[n] += 1
                    first = seen[n] == 1
                status = 500 if n in FAILING and first else 200
                answer = b'{"error":"target says 500"}' if status == 500 else b"ok"
                self.send_response(status)
                self.send_header("Content-Length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)

            def log_message(self, *args: object) -> None:
                pass

        self.seen = seen
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def target() -> Iterator[Target]:
    t = Target()
    yield t
    t.close()


@pytest.fixture
def runners(redis_url):
    group = Runners(redis_url)
    yield group
    group.close()


def batch_body(port: int, key: str) -> bytes:
    records = [{"id": f"rec-{n}", "payload": {"n": n}} for n in range(RECORDS)]
    return ndjson(config_line(port, primarykey=key, retries=0, concurrency=4), records)


def test_the_batches_page_shows_counts_failed_records_and_retries_them(api, new_page, target, runners):
    runners.start()
    sub = submit(api, batch_body(target.port, "nightly-export"))
    batch_id = sub["job_id"]
    done = wait_for(api, batch_id)
    assert done["delivered"] == RECORDS - len(FAILING) and done["failed"] == len(FAILING)

    page, console = new_page()
    login(page, ADMIN_EMAIL, ADMIN_PASSWORD, "/batches")
    open_page(page, "/batches", "#batches-list .batch-row")
    row = page.locator(f"#batches-list .batch-row[data-batch='{batch_id}']")
    assert "nightly-export" in row.inner_text() and "COMPLETED" in row.inner_text().upper()
    assert row.locator(".batch-total").inner_text() == str(RECORDS)
    assert row.locator(".batch-delivered").inner_text() == str(RECORDS - len(FAILING))
    assert row.locator(".batch-failed").inner_text() == str(len(FAILING))
    assert row.locator(".progress-bar.bg-success").count() == 1

    row.locator("a.batch-link").click()
    page.wait_for_selector("#batches-failed .failed-row")
    assert page.url.endswith(f"/batches?batch={batch_id}")
    failed = page.inner_text("#batches-failed")
    assert page.locator("#batches-failed .failed-row").count() == len(FAILING)
    for n in FAILING:
        assert f"rec-{n}" in failed
    assert "500" in failed and "target says 500" in failed
    assert page.inner_text("#batch-kpi-failed").split("\n")[1] == str(len(FAILING))
    page.wait_for_selector("#batches-histogram .bars")
    assert page.is_disabled("#batches-cancel") and page.is_enabled("#batches-retry")
    screenshot(page, "batches")

    # Retry failed: the runner sends them again, the target answers 200 this time, the page follows.
    page.click("#batches-retry")
    page.wait_for_selector("#batches-alert:has-text('Sent 5 failed records again')")
    page.wait_for_function(
        "n => (document.querySelector('#batches-list .batch-row .batch-delivered') || {}).innerText === n",
        arg=str(RECORDS), timeout=20_000)
    page.wait_for_selector("#batches-failed:has-text('No failed records')")
    assert page.locator(f".batch-row[data-batch='{batch_id}'] .batch-failed").inner_text() == "0"
    page.wait_for_function("() => document.getElementById('batch-detail-body').innerText.toUpperCase()"
                           ".includes('COMPLETED')")
    assert all(target.seen[n] == 2 for n in FAILING)
    console.assert_clean()


def test_a_queued_batch_is_cancelled_from_the_page(api, new_page, target):
    sub = submit(api, batch_body(target.port, f"never-sent {IMG}"))  # no runner: it stays queued
    page, console = new_page()
    login(page, ADMIN_EMAIL, ADMIN_PASSWORD, f"/batches?batch={sub['job_id']}")
    open_page(page, f"/batches?batch={sub['job_id']}", "#batch-detail-body")
    assert "QUEUED" in page.inner_text("#batch-detail-body").upper()
    assert IMG in page.inner_text("#batch-name") and page.locator("img[src='x']").count() == 0
    assert page.is_disabled("#batches-retry")
    page.click("#batches-cancel")
    page.wait_for_selector("#batches-alert:has-text('Cancelled')")
    page.wait_for_function("() => document.getElementById('batch-detail-body').innerText.toUpperCase()"
                           ".includes('CANCELLED')")
    assert api.get(f"/api/batches/{sub['job_id']}").get_json()["state"] == "cancelled"
    assert page.is_disabled("#batches-cancel")
    console.assert_clean()


def test_a_batch_progress_event_redraws_the_list_without_a_reload(api, new_page, target):
    first = submit(api, batch_body(target.port, "first"))
    api.post(f"/api/batches/{first['job_id']}/cancel")  # nothing in flight: the page's own refresh is off
    page, console = new_page()
    login(page, ADMIN_EMAIL, ADMIN_PASSWORD, "/batches")
    open_page(page, "/batches", "#batches-list .batch-row")
    assert page.evaluate("() => document.getElementById('batches-selected-row').style.display") == "none"
    second = submit(api, batch_body(target.port, "second"))
    # What assets/live.js does with a batch:progress event from the stream.
    page.evaluate("id => window.dash_clientside.set_props('shell-live-event', {data: {_type: 'batch:progress',"
                  " batchId: id, state: 'queued', total: 20, delivered: 0, failed: 0}})", second["job_id"])
    page.wait_for_selector(f"#batches-list .batch-row[data-batch='{second['job_id']}']", timeout=5_000)
    assert page.url.endswith("/batches")  # no navigation happened
    console.assert_clean()


def test_an_empty_account_sees_how_to_submit_a_batch(make_user, new_page):
    make_user("fresh@example.com")
    page, console = new_page()
    login(page, "fresh@example.com", "password-123", "/batches")
    open_page(page, "/batches", "#batches-list .empty-state")
    assert "POST /api/batches" in page.inner_text("#batches-list")
    console.assert_clean()


def cancel_call(batch_id: str) -> dict:
    return dash_payload([("batches-message", "children"), ("batches-changed", "data")],
                        [{"id": "batches-retry", "property": "n_clicks", "value": None},
                         {"id": "batches-cancel", "property": "n_clicks", "value": 1}],
                        state=[{"id": "batches-selected", "property": "data", "value": batch_id},
                               {"id": "batches-changed", "property": "data", "value": 0}],
                        changed=["batches-cancel.n_clicks"])


def test_a_viewer_cannot_cancel_through_the_callback(app, api, make_user, target):
    sub = submit(api, batch_body(target.port, "keep-me"))
    make_user("viewer@example.com", role="viewer")
    client = app.test_client()
    session_login(client, "viewer@example.com", "password-123")
    resp = client.post("/_dash-update-component", json=cancel_call(sub["job_id"]))
    assert resp.status_code == 200 and "Viewers cannot retry or cancel" in texts(resp.json)
    assert api.get(f"/api/batches/{sub['job_id']}").get_json()["state"] == "queued"


def test_another_owners_batch_is_not_found_by_the_actions(app, api, r, make_user, target):
    sub = submit(api, batch_body(target.port, "admins"))
    member, _ = make_user("member@example.com")
    with app.test_request_context():
        with pytest.raises(Refused, match="No such batch"):
            act(r, member, "member", sub["job_id"], "cancel")
        with pytest.raises(Refused, match="Viewers"):
            act(r, member, "viewer", sub["job_id"], "cancel")
    assert VIEWER_REFUSED.startswith("Viewers")
    assert api.get(f"/api/batches/{sub['job_id']}").get_json()["state"] == "queued"


def test_only_batch_progress_events_of_the_batch_shown_redraw_it():
    event = {"_type": "batch:progress", "batchId": "job-1", "delivered": 3}
    assert concerns(event) and concerns(event, "job-1") and not concerns(event, "job-2")
    assert not concerns({"_type": "execution", "jobId": "job-1"}) and not concerns(None)
    fig = histogram_figure([{"fromMs": 1.0, "toMs": 1.09, "count": 4}, {"fromMs": 10.0, "toMs": 10.9, "count": 1}])
    assert fig["data"][0]["y"] == [4, 1] and fig["data"][0]["x"][0] == "1–1.09 ms"
    assert histogram_figure([])["data"] == []
