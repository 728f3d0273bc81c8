"""The dashboard's locks: no page or callback without a session, user text rendered as text (never
markup), and viewers cannot create or revoke API keys, whatever they send."""
from __future__ import annotations

import re
import time

import pytest

from chronos.store import users
from tests.browser.support import dash_payload, login, open_page, texts
from tests.conftest import ADMIN_EMAIL, ADMIN_PASSWORD

pytest_plugins = ["tests.browser.fixtures"]  # the browser fixtures, defined once for the session

SCRIPT = "<script>alert(1)</script>"
IMG = "<img src=x onerror=alert(1)>"
PAGES = ["/", "/jobs", "/jobs/nightly", "/executions", "/executions/run-1", "/analytics", "/settings", "/admin",
         "/profile", "/no-such-page"]


def session_login(client, email: str, password: str) -> None:
    """Sign in a Flask test client through the form (CSRF token included)."""
    page = client.get("/login").get_data(as_text=True)
    token = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
    resp = client.post("/login", data={"email": email, "password": password, "csrf_token": token, "next": "/"})
    assert resp.status_code == 302, resp.get_data(as_text=True)


# ---- no session ---------------------------------------------------------------------------------

@pytest.mark.parametrize("path", PAGES)
def test_a_page_without_a_session_redirects_to_the_login(client, path):
    resp = client.get(path)
    assert resp.status_code == 302
    assert resp.headers["Location"].startswith("/login?next=")


@pytest.mark.parametrize("method,path", [
    ("POST", "/_dash-update-component"), ("GET", "/_dash-layout"), ("GET", "/_dash-dependencies"),
    ("GET", "/api/stream"),
])
def test_dash_endpoints_and_the_stream_refuse_a_request_without_a_session(client, method, path):
    body = dash_payload([("overview-feed", "children")], [{"id": "overview-range", "property": "value",
                                                             "value": "24"}])
    resp = client.open(path, method=method, json=body if method == "POST" else None)
    assert resp.status_code == 401
    assert "overview" not in resp.get_data(as_text=True).lower()


def test_every_callback_refuses_without_a_session(app, client):
    """Each registered callback, called with its own output spec, answers 401."""
    import dash

    callbacks = list(dash.get_app().callback_map.keys())
    assert len(callbacks) >= 15
    for output in callbacks:
        resp = client.post("/_dash-update-component", json={"output": output, "outputs": [], "inputs": [],
                                                            "changedPropIds": []})
        assert resp.status_code == 401, output


def test_a_signed_out_browser_lands_on_the_login_form(new_page):
    page, console = new_page()
    page.goto("/analytics")
    page.wait_for_selector("#email")
    assert "/login?next=/analytics" in page.url
    console.assert_clean()


# ---- user text is text -----------------------------------------------------------------------------

def seed_hostile(api) -> None:
    now = int(time.time() * 1000)
    job = {"id": "nightly", "name": SCRIPT, "schedule": "0 3 * * *", "tags": [IMG], "appId": "x",
           "description": IMG}
    assert api.post("/api/ingest/jobs/register", {"jobs": [job]}).status_code == 200
    run = {"execId": "run-1", "jobId": "nightly", "status": "failed", "startedAt": now - 1000, "finishedAt": now,
           "durationMs": 1000, "errorMessage": f"boom {IMG} {SCRIPT}", "errorType": SCRIPT,
           "errorStack": f"Traceback\n{SCRIPT}", "stdout": f"out {SCRIPT}\n{IMG}", "stderr": IMG,
           "labels": {"env": IMG, "team": SCRIPT}, "metadata": {"html": IMG}, "codeSnippet": f"x = '{IMG}'\n",
           "codeLanguage": '"><img src=x onerror=alert(1)>', "host": SCRIPT}
    assert api.post("/api/ingest/executions/batch", {"executions": [run]}).status_code == 200


def test_hostile_names_logs_labels_and_errors_render_as_text(api, new_page):
    seed_hostile(api)
    page, console = new_page()
    login(page, ADMIN_EMAIL, ADMIN_PASSWORD)
    checks = [("/", "#overview-feed .feed-row"), ("/jobs", "#jobs-table .job-row"),
              ("/jobs/nightly", "#job-exec-table .exec-row"), ("/executions/run-1", "#exec-stdout"),
              ("/executions?q=boom", "#explorer-table .explorer-row"), ("/analytics", "#analytics-runs-chart")]
    for path, ready in checks:
        open_page(page, path, ready)
        page.wait_for_timeout(300)
        body = page.inner_text("body")
        if path != "/analytics":
            assert SCRIPT in body or IMG in body, path
        # No element was made from user text: no <img src=x>, no inline script with alert.
        assert page.locator("img[src='x']").count() == 0, path
        assert page.evaluate("() => [...document.scripts].some(s => s.textContent.includes('alert(1)'))") is False
    open_page(page, "/executions/run-1", "#exec-stdout")
    assert page.inner_text("#exec-stdout") == f"out {SCRIPT}\n{IMG}"
    assert page.inner_text("#exec-stderr") == IMG
    assert SCRIPT in page.inner_text("#exec-error-type")
    assert IMG in page.inner_text("#exec-error-message")
    assert f"env: {IMG}" in page.inner_text("body") and f"team: {SCRIPT}" in page.inner_text("body")
    open_page(page, "/jobs/nightly", "#job-header .job-name")
    assert page.inner_text("#job-header .job-name") == SCRIPT
    assert IMG in page.inner_text("#job-info")
    page.wait_for_timeout(500)
    console.assert_clean()  # also: no dialog opened


# ---- viewers and keys --------------------------------------------------------------------------------

CREATE_OUTPUTS = [("settings-keys", "children"), ("settings-created-key", "children"),
                  ("settings-message", "children"), ("settings-snippet", "children"),
                  ("settings-create-key", "disabled")]


def create_key_call(clicks: int = 1, scopes: list[str] | None = None) -> dict:
    return dash_payload(
        CREATE_OUTPUTS,
        [{"id": "settings-create-key", "property": "n_clicks", "value": clicks}, []],
        state=[{"id": "settings-key-name", "property": "value", "value": "sneaky"},
               {"id": "settings-key-scopes", "property": "value", "value": scopes or ["ingest", "read"]}],
        changed=["settings-create-key.n_clicks"],
    )


def revoke_key_call(key_id: str) -> dict:
    button = {"type": "settings-revoke", "key": key_id}
    return dash_payload(
        CREATE_OUTPUTS,
        [{"id": "settings-create-key", "property": "n_clicks", "value": None},
         [{"id": button, "property": "n_clicks", "value": 1}]],
        state=[{"id": "settings-key-name", "property": "value", "value": None},
               {"id": "settings-key-scopes", "property": "value", "value": ["ingest"]}],
        changed=['{"key":"%s","type":"settings-revoke"}.n_clicks' % key_id],
    )


def test_a_viewer_cannot_create_a_key_through_the_callback(app, make_user, r):
    viewer_id, _ = make_user("viewer@example.com", role="viewer")
    before = len(users.list_keys(r, viewer_id))
    client = app.test_client()
    session_login(client, "viewer@example.com", "password-123")
    resp = client.post("/_dash-update-component", json=create_key_call())
    assert resp.status_code == 200
    assert "Viewers cannot create or revoke API keys" in texts(resp.json)
    assert len(users.list_keys(r, viewer_id)) == before
    assert "chr_" not in texts(resp.json["response"]["settings-created-key"])


def test_a_viewer_cannot_revoke_a_key_through_the_callback(app, make_user, r):
    viewer_id, secret = make_user("viewer@example.com", role="viewer")
    key_id = users.lookup_key(r, secret).id
    client = app.test_client()
    session_login(client, "viewer@example.com", "password-123")
    resp = client.post("/_dash-update-component", json=revoke_key_call(key_id))
    assert "Viewers cannot create or revoke API keys" in texts(resp.json)
    assert users.lookup_key(r, secret) is not None  # still valid


def test_a_member_can_create_but_not_an_admin_scoped_key(app, make_user, r):
    member_id, _ = make_user("member@example.com")
    client = app.test_client()
    session_login(client, "member@example.com", "password-123")
    refused = client.post("/_dash-update-component", json=create_key_call(scopes=["admin"]))
    assert "Only administrators" in texts(refused.json)
    ok = client.post("/_dash-update-component", json=create_key_call(clicks=2))
    assert "shown only once" in texts(ok.json)
    assert [k.name for k in users.list_keys(r, member_id)].count("sneaky") == 1


def test_a_viewer_sees_the_settings_without_key_controls(make_user, new_page):
    make_user("viewer@example.com", role="viewer")
    page, console = new_page()
    login(page, "viewer@example.com", "password-123", "/settings")
    open_page(page, "/settings", "#settings-keys .key-row")
    assert page.is_disabled("#settings-create-key")
    assert page.is_disabled("#settings-keys button:has-text('Revoke')")
    assert page.locator("nav a:has-text('Admin')").count() == 0
    open_page(page, "/admin", "#admin-refused")
    console.assert_clean()


def test_a_member_calling_the_admin_callbacks_gets_nothing(app, make_user):
    make_user("member@example.com")
    client = app.test_client()
    session_login(client, "member@example.com", "password-123")
    body = dash_payload([("admin-users", "children"), ("admin-message", "children")],
                        [{"id": "admin-refresh", "property": "n_clicks", "value": 1}, [], []],
                        changed=["admin-refresh.n_clicks"])
    resp = client.post("/_dash-update-component", json=body)
    assert "for administrators" in texts(resp.json)
    assert ADMIN_EMAIL not in texts(resp.json)
