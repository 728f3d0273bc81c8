"""Shared fixtures: a real Redis Stack (embedded, on a free port) and one app per test session.

Every test starts from an empty database: the ``clean`` fixture flushes it and re-creates the
indexes and the bootstrap admin (``ADMIN_EMAIL``, key ``ADMIN_KEY``) before each test.
"""
from __future__ import annotations

import os
import threading
from pathlib import Path
from typing import Any, Iterator

import pytest
import redis
from werkzeug.serving import make_server

from chronos.redis_server import EmbeddedRedis, free_port

ADMIN_EMAIL = "admin@example.com"
ADMIN_PASSWORD = "admin-password-1"
ADMIN_KEY = "chr_test_admin_key_000000000000000000"


@pytest.fixture(scope="session")
def redis_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """``CHRONOS_TEST_REDIS_URL`` when set (an external Redis Stack), else an embedded one."""
    external = os.environ.get("CHRONOS_TEST_REDIS_URL")
    if external:
        yield external
        return
    server = EmbeddedRedis(tmp_path_factory.mktemp("redis"), port=free_port())
    server.start()
    try:
        yield server.url
    finally:
        server.stop()


@pytest.fixture(scope="session")
def app_config(redis_url: str, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    return {
        "REDIS_URL": redis_url,
        "CHRONOS_DATA_DIR": str(tmp_path_factory.mktemp("data")),
        "CHRONOS_SECRET_KEY": "test-secret",
        "CHRONOS_ADMIN_EMAIL": ADMIN_EMAIL,
        "CHRONOS_ADMIN_PASSWORD": ADMIN_PASSWORD,
        "CHRONOS_BOOTSTRAP_API_KEY": ADMIN_KEY,
        "CHRONOS_RATE_LIMIT_PER_MIN": "100000",
    }


@pytest.fixture(scope="session")
def app(app_config: dict[str, Any]):
    """One Flask+Dash app for the whole session (Dash's global callbacks bind to the first app)."""
    from app import create_app

    flask_app = create_app(app_config)
    flask_app.config["TESTING"] = True
    return flask_app


@pytest.fixture
def r(app) -> redis.Redis:
    return app.extensions["chronos"].client


@pytest.fixture(autouse=True)
def clean(request: pytest.FixtureRequest) -> Iterator[None]:
    """Flush before each test that uses the app, then restore indexes and the bootstrap admin."""
    if "app" not in request.fixturenames and "r" not in request.fixturenames:
        yield
        return
    flask_app = request.getfixturevalue("app")
    _reset(flask_app)
    yield


def _reset(flask_app) -> None:
    from chronos.bootstrap import ensure_bootstrap
    from chronos.store.schema import ensure_schema

    state = flask_app.extensions["chronos"]
    state.client.flushdb()
    ensure_schema(state.client)
    ensure_bootstrap(state.client, state.settings)


@pytest.fixture
def client(app):
    return app.test_client()


class Api:
    """A test client bound to one API key: ``api.post(path, json)``, ``api.get(path)``."""

    def __init__(self, client, key: str | None) -> None:
        self.client = client
        self.key = key

    def headers(self, extra: dict[str, str] | None = None) -> dict[str, str]:
        h = {"x-api-key": self.key} if self.key else {}
        h.update(extra or {})
        return h

    def get(self, path: str, **kw: Any):
        return self.client.get(path, headers=self.headers(kw.pop("headers", None)), **kw)

    def post(self, path: str, json: Any = None, **kw: Any):
        return self.client.post(path, json=json, headers=self.headers(kw.pop("headers", None)), **kw)

    def delete(self, path: str, **kw: Any):
        return self.client.delete(path, headers=self.headers(kw.pop("headers", None)), **kw)


@pytest.fixture
def api(client) -> Api:
    return Api(client, ADMIN_KEY)


@pytest.fixture
def make_user(r):
    """Create a member user with a key: ``user_id, key = make_user("bob@example.com")``."""
    from chronos.store import users

    def make(email: str, role: str = "member", scopes: tuple[str, ...] = ("ingest", "read")) -> tuple[str, str]:
        doc = users.create_user(r, email, "password-123", role=role)
        secret, _ = users.create_key(r, doc["id"], scopes=scopes)
        return doc["id"], secret

    return make


@pytest.fixture(scope="session")
def live_server(app) -> Iterator[str]:
    """The session app served over real HTTP on 127.0.0.1 (threaded), for browsers and SSE."""
    server = make_server("127.0.0.1", free_port(), app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()


def pytest_configure(config: pytest.Config) -> None:
    # The screenshots the browser tests take land here (the README links them).
    (Path(__file__).resolve().parent.parent / "docs" / "screenshots").mkdir(parents=True, exist_ok=True)
