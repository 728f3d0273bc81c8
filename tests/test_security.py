"""Security defaults: secrets never stored in plaintext, cookie flags, CSRF, sign-in limits, roles."""
from __future__ import annotations

import re

from tests.conftest import ADMIN_EMAIL, ADMIN_KEY, ADMIN_PASSWORD


def all_values(r) -> str:
    dump = []
    for key in r.scan_iter(count=1000):
        kind = r.type(key).decode()
        if kind == "string":
            dump.append(r.get(key) or b"")
        elif kind == "ReJSON-RL":
            dump.append(r.execute_command("JSON.GET", key) or b"")
        elif kind == "hash":
            dump.extend(v for kv in r.hgetall(key).items() for v in kv)
        elif kind == "set":
            dump.extend(r.smembers(key))
        dump.append(key)
    return b"\n".join(x if isinstance(x, bytes) else str(x).encode() for x in dump).decode("utf-8", "replace")


def sign_in(client, email=ADMIN_EMAIL, password=ADMIN_PASSWORD):
    page = client.get("/login").get_data(as_text=True)
    token = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
    return client.post("/login", data={"email": email, "password": password, "csrf_token": token})


def test_api_keys_and_passwords_are_never_stored_in_plaintext(api, r):
    created = api.client.post("/api/keys", json={"name": "ci"}, headers={"x-api-key": ADMIN_KEY})
    assert created.status_code == 201
    new_secret = created.json["key"]
    stored = all_values(r)
    for plaintext in (ADMIN_KEY, new_secret, ADMIN_PASSWORD):
        assert plaintext not in stored


def test_session_cookie_flags(client):
    resp = sign_in(client)
    assert resp.status_code == 302
    cookies = resp.headers.getlist("Set-Cookie")
    session = next(c for c in cookies if c.startswith("session="))
    assert "HttpOnly" in session and "SameSite=Lax" in session
    remember = next(c for c in cookies if c.startswith("remember_token="))
    assert "HttpOnly" in remember and "SameSite=Lax" in remember


def test_sign_in_needs_the_forms_csrf_token(client):
    resp = client.post("/login", data={"email": ADMIN_EMAIL, "password": ADMIN_PASSWORD})
    assert resp.status_code == 400
    assert client.get("/").status_code == 302


def test_sign_in_attempts_are_limited(client):
    statuses = [sign_in(client, password="wrong-password").status_code for _ in range(11)]
    assert statuses[:10] == [401] * 10 and statuses[10] == 429
    assert sign_in(client).status_code == 429  # even the right password waits out the window


def test_the_next_parameter_cannot_redirect_off_site(client):
    page = client.get("/login?next=//evil.example/x").get_data(as_text=True)
    token = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
    resp = client.post("/login", data={"email": ADMIN_EMAIL, "password": ADMIN_PASSWORD, "csrf_token": token,
                                       "next": "https://evil.example/"})
    assert resp.headers["Location"] == "/"


def test_session_writes_from_another_site_are_refused(client):
    sign_in(client)
    cross = client.post("/api/keys", json={"name": "x"}, headers={"Origin": "https://evil.example"})
    assert cross.status_code == 403 and cross.json["error"]["code"] == "csrf"
    form = client.post("/api/keys", data="name=x", headers={"Content-Type": "text/plain"})
    assert form.status_code == 415
    same = client.post("/api/keys", json={"name": "mine"}, headers={"Origin": "http://localhost"})
    assert same.status_code == 201 and same.json["key"].startswith("chr_")


def test_pages_and_callbacks_need_a_session(client):
    assert client.get("/").status_code == 302
    assert client.get("/jobs").headers["Location"].startswith("/login")
    resp = client.post("/_dash-update-component", json={"output": "x.children", "inputs": []})
    assert resp.status_code == 401
    assert client.get("/_dash-layout").status_code == 401


def test_the_role_matrix_for_keys(client, make_user):
    from tests.conftest import Api

    _v, viewer_key = make_user("viewer@example.com", role="viewer", scopes=("read",))
    viewer = Api(client, viewer_key)
    assert viewer.get("/api/jobs").status_code == 200
    assert viewer.post("/api/ingest/executions/batch", {"executions": [{"execId": "x", "jobId": "j",
                                                                        "status": "success"}]}).status_code == 403
    assert viewer.post("/api/keys", {"name": "x"}).status_code == 403
    _m, member_key = make_user("member@example.com", role="member", scopes=("ingest", "read", "admin"))
    member = Api(client, member_key)
    assert member.post("/api/keys", {"name": "x", "scopes": ["admin"]}).status_code == 403
    assert member.get("/api/jobs?owner=all").json["total"] == 0  # a member's admin-scoped key is no admin
