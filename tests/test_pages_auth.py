"""Sign-in, sign-up and sign-out (server-rendered Flask in web/auth.py) in front of the dashboard."""
from __future__ import annotations

import dataclasses
import re

import pytest

from chronos.store import users
from chronos.store.schema import ensure_schema
from tests.conftest import ADMIN_EMAIL, ADMIN_PASSWORD


def csrf(client, path: str = "/login") -> str:
    return re.search(r'name="csrf_token" value="([^"]+)"', client.get(path).get_data(as_text=True)).group(1)


def post_form(client, path: str, **fields: str):
    return client.post(path, data={"csrf_token": csrf(client, path), **fields})


@pytest.fixture
def signup_closed(app):
    state = app.extensions["chronos"]
    before = state.settings
    state.settings = dataclasses.replace(before, chronos_allow_signup=False)
    yield
    state.settings = before


def test_it_signs_in_and_the_dashboard_opens(client):
    resp = post_form(client, "/login", email=ADMIN_EMAIL, password=ADMIN_PASSWORD, next="/jobs")
    assert resp.status_code == 302 and resp.headers["Location"] == "/jobs"
    assert client.get("/jobs").status_code == 200
    assert client.get("/_dash-layout").status_code == 200


def test_it_refuses_a_wrong_password_and_a_missing_csrf_token(client):
    resp = post_form(client, "/login", email=ADMIN_EMAIL, password="nope")
    assert resp.status_code == 401 and "Wrong email or password" in resp.get_data(as_text=True)
    assert client.post("/login", data={"email": ADMIN_EMAIL, "password": ADMIN_PASSWORD}).status_code == 400
    assert client.get("/").status_code == 302


def test_it_never_redirects_off_site_after_sign_in(client):
    resp = post_form(client, "/login", email=ADMIN_EMAIL, password=ADMIN_PASSWORD, next="//evil.example.com/x")
    assert resp.headers["Location"] == "/"


def test_sign_out_ends_the_session_and_the_remember_me_cookie(client):
    post_form(client, "/login", email=ADMIN_EMAIL, password=ADMIN_PASSWORD)
    assert client.get_cookie("remember_token") is not None
    assert client.get("/logout").status_code == 302
    assert client.get_cookie("remember_token") is None
    assert client.get("/").status_code == 302
    assert client.post("/_dash-update-component", json={}).status_code == 401


def test_sign_up_makes_a_member_who_is_signed_in(client, r):
    resp = post_form(client, "/register", email="new@example.com", password="long-enough-1", name="New")
    assert resp.status_code == 302
    assert users.find_user_by_email(r, "new@example.com")["role"] == "member"
    assert client.get("/settings").status_code == 200


def test_the_first_user_becomes_admin(client, r):
    r.flushdb()
    ensure_schema(r)
    post_form(client, "/register", email="first@example.com", password="long-enough-1")
    assert users.find_user_by_email(r, "first@example.com")["role"] == "admin"


def test_closed_sign_up_refuses_new_accounts(client, r, signup_closed):
    assert client.get("/register").status_code == 403
    resp = client.post("/register", data={"email": "x@example.com", "password": "long-enough-1"})
    assert resp.status_code == 403
    assert users.find_user_by_email(r, "x@example.com") is None
    assert "Create one" not in client.get("/login").get_data(as_text=True)


def test_a_disabled_user_loses_the_session(client, make_user, r):
    user_id, _ = make_user("gone@example.com")
    post_form(client, "/login", email="gone@example.com", password="password-123")
    assert client.get("/jobs").status_code == 200
    users.update_user(r, user_id, disabled=True)
    assert client.get("/jobs").status_code == 302
    assert client.post("/_dash-update-component", json={}).status_code == 401
