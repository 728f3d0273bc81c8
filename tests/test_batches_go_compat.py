"""The Go Chronos service's root paths: POST /run, GET /status?key=, GET /info."""
from __future__ import annotations

from typing import Any

import pytest
from flask import Flask

from chronos.config import Settings
from chronos.store import users
from ingest_api.go_compat import GO_ZERO_TIME, rfc3339
from tests.conftest import ADMIN_EMAIL, ADMIN_KEY
from tests.test_batches_helpers import NDJSON, Runners, config_line, ndjson, records, wait_for

GO_CONFIG = {"primarykey": "batch-001", "protocol": "http", "host": "127.0.0.1", "port": "9",
             "path": "/webhooks/process", "metadata": [{"key": "tenant_id", "value": "tenant-123"}]}


def go_app(app_config: dict[str, Any], **overrides: str) -> Flask:
    """A server with the API and the Go paths (app.py registers them once its owner adds the blueprint;
    a separate Flask app here keeps the session's Dash app untouched and allows other settings)."""
    from chronos.db import store
    from ingest_api import bp as api_bp
    from ingest_api.go_compat import bp as go_bp
    from web.auth import login_manager

    server = Flask(f"go-compat-{len(overrides)}")
    server.config.update(SECRET_KEY="test", TESTING=True)
    store.init_app(server, Settings.load({**app_config, **overrides}))
    login_manager.init_app(server)
    server.register_blueprint(api_bp, url_prefix="/api")
    server.register_blueprint(go_bp)
    return server


@pytest.fixture(scope="module")
def go_server(app_config):
    return go_app(app_config)


@pytest.fixture
def go(go_server, r):
    return go_server.test_client()


def run(client, body: bytes, headers: dict[str, str] | None = None):
    return client.post("/run", data=body, headers={**NDJSON, **(headers or {})})


def test_run_answers_like_the_go_service(go):
    resp = run(go, ndjson(GO_CONFIG, records(3)), {"x-api-key": ADMIN_KEY})
    assert resp.status_code == 202
    body = resp.get_json()
    assert body["message"] == "Job accepted" and resp.headers["X-Job-ID"] == body["job_id"]
    assert body["primarykey"] == "batch-001"  # kept, not overwritten by the job id


def test_run_takes_jsonl_and_refuses_other_types(go):
    data = ndjson(GO_CONFIG, records(1))
    ok = go.post("/run", data=data, headers={"Content-Type": "application/jsonl", "x-api-key": ADMIN_KEY})
    assert ok.status_code == 202
    bad = go.post("/run", data=data, headers={"Content-Type": "application/json", "x-api-key": ADMIN_KEY})
    assert bad.status_code == 415


def test_run_needs_a_key_by_default(go):
    resp = run(go, ndjson(GO_CONFIG, records(1)))
    assert resp.status_code == 401 and resp.get_json()["error"]["code"] == "unauthorized"
    assert go.get("/status?key=x").status_code == 401


def test_a_deployment_can_allow_keyless_go_clients(app_config, r):
    client = go_app(app_config, CHRONOS_GO_COMPAT_OWNER=ADMIN_EMAIL).test_client()
    resp = run(client, ndjson(GO_CONFIG, records(2)))
    assert resp.status_code == 202
    status = client.get(f"/status?key={resp.get_json()['job_id']}")
    assert status.status_code == 200 and status.get_json()["total"] == 2
    owner = users.find_user_by_email(r, ADMIN_EMAIL)["id"]
    from chronos.batches import store as batch_store

    assert batch_store.load(r, resp.get_json()["job_id"], owner) is not None


def test_status_keeps_the_go_keys_and_adds_ours(go, redis_url):
    from batch_runner.sink import Sink

    sink = Sink(lambda b: 200).start()
    runners = Runners(redis_url)
    try:
        runners.start()
        cfg = dict(GO_CONFIG, port=str(sink.port))
        job = run(go, ndjson(cfg, records(20)), {"x-api-key": ADMIN_KEY}).get_json()["job_id"]

        class Api:
            def get(self, path):
                return go.get(path, headers={"x-api-key": ADMIN_KEY})

        wait_for(Api(), job)
    finally:
        runners.close()
        sink.stop()
    status = go.get(f"/status?key={job}", headers={"x-api-key": ADMIN_KEY}).get_json()
    assert status["Count"] == 20 and status["delivered"] == 20 and status["state"] == "completed"
    assert status["MinTime"] <= status["MaxTime"] and status["MinTime"].endswith("Z")
    by_primarykey = go.get("/status?key=batch-001", headers={"x-api-key": ADMIN_KEY}).get_json()
    assert by_primarykey["id"] == job and by_primarykey["Count"] == 20


def test_status_of_a_batch_not_started_has_go_zero_times(go):
    job = run(go, ndjson(GO_CONFIG, records(1)), {"x-api-key": ADMIN_KEY}).get_json()["job_id"]
    status = go.get(f"/status?key={job}", headers={"x-api-key": ADMIN_KEY}).get_json()
    assert status["Count"] == 0 and status["MinTime"] == GO_ZERO_TIME == status["MaxTime"]


def test_status_needs_a_known_key(go):
    h = {"x-api-key": ADMIN_KEY}
    assert go.get("/status", headers=h).status_code == 400
    assert go.get("/status?key=nope", headers=h).status_code == 404


def test_status_is_scoped_to_the_owner(go, make_user):
    job = run(go, ndjson(GO_CONFIG, records(1)), {"x-api-key": ADMIN_KEY}).get_json()["job_id"]
    _, key = make_user("eve@example.com")
    assert go.get(f"/status?key={job}", headers={"x-api-key": key}).status_code == 404
    assert go.get("/status?key=batch-001", headers={"x-api-key": key}).status_code == 404


def test_info_answers_ok(go):
    resp = go.get("/info")
    assert resp.status_code == 200 and resp.get_data(as_text=True) == "ok"


def test_rfc3339_matches_gos_time_format():
    assert rfc3339(None) == GO_ZERO_TIME
    assert rfc3339(1_768_991_400_000) == "2026-01-21T10:30:00Z"
    assert rfc3339(1_768_991_400_120) == "2026-01-21T10:30:00.12Z"
