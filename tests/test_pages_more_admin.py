"""The admin page's scheduler heartbeats: live and gone processes, admins only."""
from __future__ import annotations

import time

import pytest

from chronos import keys
from chronos.scheduling import registry
from tests.browser.support import dash_payload, login, open_page, screenshot, texts
from tests.conftest import ADMIN_EMAIL, ADMIN_PASSWORD
from tests.test_pages_security import session_login

pytest_plugins = ["tests.browser.fixtures"]  # the browser fixtures, defined once for the session


def register_nodes(r) -> None:
    now = int(time.time() * 1000)
    registry.register_birth(r, "worker-a:101:abc123", now - 600_000)
    registry.beat(r, "worker-a:101:abc123", now, {"claimed": 1234, "lost": 2, "dispatched": 1200, "missed": 0,
                                                 "coalesced": 5})
    registry.register_birth(r, "worker-b:202:def456", now - 3_600_000)
    r.delete(keys.sched_node("worker-b:202:def456"))  # died without deregistering: its heartbeat expired
    r.zadd(keys.sched_pending(), {b"chr:events:u1\n{}": now + 2000, b"chr:events:u2\n{}": now + 1500})


def test_the_admin_page_lists_scheduler_heartbeats(r, new_page):
    register_nodes(r)
    page, console = new_page()
    login(page, ADMIN_EMAIL, ADMIN_PASSWORD, "/admin")
    open_page(page, "/admin", "#admin-scheduler-nodes .scheduler-row")
    rows = page.locator("#admin-scheduler-nodes .scheduler-row")
    assert rows.count() == 2
    alive = page.inner_text(".scheduler-row:has-text('worker-a:101:abc123')")
    assert "alive" in alive and "claimed 1,234" in alive and "coalesced 5" in alive
    assert "gone" in page.inner_text(".scheduler-row:has-text('worker-b:202:def456')")
    assert page.inner_text("#admin-pending-triggers").startswith("2 triggers claimed ahead")
    page.locator("#admin-scheduler-nodes").scroll_into_view_if_needed()
    screenshot(page, "admin-schedulers")
    console.assert_clean()


def test_no_scheduler_says_what_to_start(r, new_page):
    page, console = new_page()
    login(page, ADMIN_EMAIL, ADMIN_PASSWORD, "/admin")
    open_page(page, "/admin", "#admin-no-schedulers")
    assert "chronos scheduler" in page.inner_text("#admin-no-schedulers")
    console.assert_clean()


def test_a_member_calling_the_scheduler_callback_gets_nothing(app, r, make_user):
    register_nodes(r)
    make_user("member@example.com")
    client = app.test_client()
    session_login(client, "member@example.com", "password-123")
    body = dash_payload([("admin-scheduler-nodes", "children")],
                        [{"id": "admin-refresh", "property": "n_clicks", "value": 1},
                         {"id": "shell-poll", "property": "n_intervals", "value": None}],
                        changed=["admin-refresh.n_clicks"])
    resp = client.post("/_dash-update-component", json=body)
    assert resp.status_code == 200 and "for administrators" in texts(resp.json)
    assert "worker-a" not in texts(resp.json)


@pytest.mark.parametrize("path", ["/batches", "/batches?batch=job-x", "/insights", "/explorer?metric=runs",
                                  "/jobs/new"])
def test_the_new_pages_redirect_to_the_login_without_a_session(client, path):
    resp = client.get(path)
    assert resp.status_code == 302 and resp.headers["Location"].startswith("/login?next=")
