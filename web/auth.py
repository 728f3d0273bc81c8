"""Sign-in with flask-login: the session user, sign-in / sign-up / sign-out routes, the session gate.

Every page and Dash callback needs a session; the REST API authenticates on its own (keys or session).
Forms carry a per-session CSRF token; sign-in attempts are limited per address and email.
"""
from __future__ import annotations

import hmac
import secrets
import time
from typing import Any
from urllib.parse import urlparse

from flask import Blueprint, Flask, abort, jsonify, redirect, render_template_string, request, session, url_for
from flask_login import LoginManager, UserMixin, current_user, login_user, logout_user

from chronos import keys
from chronos.db import store
from chronos.store import users
from web.vendor import BOOTSTRAP_CSS

bp = Blueprint("webauth", __name__)
login_manager = LoginManager()
login_manager.login_view = "webauth.login"

PUBLIC_PREFIXES = ("/api/", "/auth/", "/login", "/register", "/vendor/", "/favicon.ico", "/ping/", "/metrics")
# Paths of the Go batch service's API (exact matches: a prefix "/run" would also expose "/runs/...").
PUBLIC_PATHS = frozenset({"/run", "/status", "/info"})
LOGIN_ATTEMPTS_PER_5_MIN = 10


class User(UserMixin):
    """The signed-in user as the session knows it."""

    def __init__(self, doc: dict[str, Any]) -> None:
        self.id = doc["id"]
        self.email = doc["email"]
        self.name = doc.get("name", "")
        self.role = doc.get("role", "member")
        self.disabled = bool(doc.get("disabled"))

    @property
    def is_active(self) -> bool:
        return not self.disabled


@login_manager.user_loader
def _load_user(user_id: str) -> User | None:
    doc = users.get_user(store.client, user_id)
    return User(doc) if doc and not doc.get("disabled") else None


def csrf_token() -> str:
    if "_csrf" not in session:
        session["_csrf"] = secrets.token_urlsafe(24)
    return session["_csrf"]


def check_csrf() -> None:
    sent = request.form.get("csrf_token", "")
    if not sent or not hmac.compare_digest(sent, session.get("_csrf", "")):
        abort(400, "the form expired; reload the page and try again")


def _safe_next(target: str | None) -> str:
    if target:
        parts = urlparse(target)
        if not parts.scheme and not parts.netloc and target.startswith("/") and not target.startswith("//"):
            return target
    return "/"


def _too_many_attempts(email: str) -> bool:
    r = store.client
    window = int(time.time() // 300)
    k = keys.rate_limit(f"login:{request.remote_addr}:{email}", window)
    n = r.incr(k)
    if n == 1:
        r.expire(k, 301)
    return n > LOGIN_ATTEMPTS_PER_5_MIN


PAGE = """<!doctype html>
<html lang="en" data-bs-theme="light"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{{ title }} · Chronos Synapse</title><link rel="stylesheet" href="{{ css }}">
<script>try{var t=localStorage.getItem('shell-theme');if(t)document.documentElement.setAttribute('data-bs-theme',JSON.parse(t));}catch(e){}</script>
</head><body class="bg-body-tertiary">
<main class="container" style="max-width: 420px; margin-top: 10vh">
  <h1 class="h3 mb-1">Chronos Synapse</h1>
  <p class="text-body-secondary mb-4">{{ subtitle }}</p>
  {% if error %}<div class="alert alert-danger" role="alert" id="auth-error">{{ error }}</div>{% endif %}
  {% if notice %}<div class="alert alert-info" role="alert">{{ notice }}</div>{% endif %}
  <form method="post" action="{{ action }}" class="card card-body shadow-sm">
    <input type="hidden" name="csrf_token" value="{{ csrf }}">
    <input type="hidden" name="next" value="{{ next }}">
    {% if register %}<div class="mb-3"><label class="form-label" for="name">Name</label>
      <input class="form-control" id="name" name="name" autocomplete="name"></div>{% endif %}
    <div class="mb-3"><label class="form-label" for="email">Email</label>
      <input class="form-control" id="email" name="email" type="email" required autocomplete="username" value="{{ email }}"></div>
    <div class="mb-3"><label class="form-label" for="password">Password</label>
      <input class="form-control" id="password" name="password" type="password" required minlength="{{ 8 if register else 1 }}"
        autocomplete="{{ 'new-password' if register else 'current-password' }}"></div>
    <button class="btn btn-primary w-100" type="submit" id="submit">{{ button }}</button>
  </form>
  <p class="mt-3 small">{% if register %}Have an account? <a href="/login">Sign in</a>
  {% elif allow_signup %}No account yet? <a href="/register">Create one</a>{% endif %}</p>
</main></body></html>"""


def _render(*, register: bool, error: str = "", notice: str = "", email: str = "", status: int = 200):
    html = render_template_string(
        PAGE, title="Create account" if register else "Sign in", css=BOOTSTRAP_CSS,
        subtitle=("The first account becomes the administrator." if register else "Sign in to see your jobs."),
        error=error, notice=notice, email=email, csrf=csrf_token(), next=_safe_next(request.values.get("next")),
        action="/register" if register else "/login", button="Create account" if register else "Sign in",
        register=register, allow_signup=store.settings.chronos_allow_signup,
    )
    return html, status


@bp.route("/login", methods=["GET", "POST"])
def login():
    if request.method == "GET":
        if current_user.is_authenticated:
            return redirect(_safe_next(request.args.get("next")))
        return _render(register=False)
    check_csrf()
    email = request.form.get("email", "").strip().lower()[:254]
    if _too_many_attempts(email):
        return _render(register=False, error="Too many attempts; wait a few minutes.", email=email, status=429)
    user = users.authenticate(store.client, email, request.form.get("password", ""))
    if user is None:
        return _render(register=False, error="Wrong email or password.", email=email, status=401)
    session.clear()  # a fresh session on sign-in (no fixation)
    login_user(User(user), remember=True)
    return redirect(_safe_next(request.form.get("next")))


@bp.route("/register", methods=["GET", "POST"])
def register():
    settings = store.settings
    first = store.client.scard(keys.users()) == 0
    if not settings.chronos_allow_signup and not first:
        return _render(register=False, error="Sign-up is closed on this server; ask an administrator.", status=403)
    if request.method == "GET":
        return _render(register=True)
    check_csrf()
    email = request.form.get("email", "").strip().lower()[:254]
    password = request.form.get("password", "")
    if "@" not in email or len(password) < 8:
        return _render(register=True, error="Use a valid email and a password of at least 8 characters.",
                       email=email, status=400)
    try:
        doc = users.create_user(store.client, email, password, name=request.form.get("name", "")[:100])
    except users.UserExists:
        return _render(register=True, error="That email is already registered.", email=email, status=409)
    session.clear()
    login_user(User(doc), remember=True)
    return redirect("/")


@bp.route("/logout", methods=["GET", "POST"])
def logout():
    session.clear()
    logout_user()  # after clear(): it marks the remember-me cookie for deletion in the session
    return redirect("/login")


def install(app: Flask) -> None:
    """Wire flask-login and the gate that keeps every non-public route behind a session."""
    login_manager.init_app(app)
    app.register_blueprint(bp)

    @app.before_request
    def _gate():
        path = request.path
        if path in PUBLIC_PATHS or path.startswith(PUBLIC_PREFIXES) or current_user.is_authenticated:
            return None
        if path.startswith("/_dash-") or request.method != "GET" or path.startswith("/_reload-hash"):
            return jsonify({"error": {"code": "unauthorized", "message": "sign in first", "details": None}}), 401
        return redirect(url_for("webauth.login", next=request.full_path.rstrip("?")))
