"""Bad input gets the documented error and stores nothing of the request."""
from __future__ import annotations

import dataclasses

import pytest

from tests.helpers import batch, execution

BATCH = "/api/ingest/executions/batch"


def stored(api) -> int:
    return api.get("/api/executions").json["total"]


def error_of(resp, status):
    assert resp.status_code == status, resp.get_data(as_text=True)
    body = resp.json
    assert set(body["error"]) == {"code", "message", "details"}
    return body["error"]


def test_it_rejects_malformed_json(api):
    resp = api.client.post(BATCH, data=b'{"executions": [', headers=api.headers({"Content-Type": "application/json"}))
    assert error_of(resp, 400)["code"] == "malformed_json"


def test_it_rejects_a_non_json_content_type(api):
    resp = api.client.post(BATCH, data=b"execId=1", headers=api.headers({"Content-Type": "text/plain"}))
    assert error_of(resp, 415)["code"] == "unsupported_media_type"


@pytest.mark.parametrize("field,value,fragment", [
    ("status", "exploded", "status"),
    ("durationMs", "12", "durationMs"),
    ("durationMs", -5, "durationMs"),
    ("startedAt", "yesterday", "startedAt"),
    ("finishedAt", 12, "finishedAt"),
    ("exitCode", "1", "exitCode"),
    ("labels", "etl", "labels"),
    ("jobId", "has space", "jobId"),
    ("jobId", "ends-in-a-newline\n", "jobId"),
    ("execId", "run-1\n", "execId"),
    ("execId", 7, "execId"),
])
def test_a_bad_event_is_named_by_index_and_nothing_is_stored(api, field, value, fragment):
    good = execution("good-1", "job-a")
    bad = execution("bad-1", "job-a")
    bad[field] = value
    err = error_of(api.post(BATCH, batch(good, bad)), 400)
    assert err["code"] == "validation_failed"
    assert err["message"].startswith("executions[1].")
    assert fragment in err["message"]
    assert {"index": 1} .items() <= err["details"][0].items()
    assert stored(api) == 0
    assert api.get("/api/jobs").json["total"] == 0


def test_a_missing_required_field_is_named(api):
    err = error_of(api.post(BATCH, batch({"jobId": "a", "status": "success"})), 400)
    assert "execId" in err["message"]


def test_an_empty_or_wrong_shaped_body_is_refused(api):
    assert error_of(api.post(BATCH, {"executions": []}), 400)["code"] == "validation_failed"
    assert error_of(api.post(BATCH, {"executions": "x"}), 400)["code"] == "validation_failed"
    assert error_of(api.post(BATCH, [1, 2]), 400)["code"] == "validation_failed"


def test_an_oversized_body_is_413(api, app, monkeypatch):
    state = app.extensions["chronos"]
    monkeypatch.setattr(state, "settings", dataclasses.replace(state.settings, chronos_max_body_bytes=2048))
    err = error_of(api.post(BATCH, batch(execution("big", "job-a", stdout="x" * 5000))), 413)
    assert "2048" in err["message"]
    assert stored(api) == 0


def test_a_missing_key_is_401(client):
    resp = client.post(BATCH, json=batch(execution("e", "job-a")))
    assert error_of(resp, 401)["code"] == "unauthorized"
    assert "Bearer" in resp.headers["WWW-Authenticate"]


def test_a_wrong_key_is_401(client):
    resp = client.post(BATCH, json=batch(execution("e", "job-a")), headers={"x-api-key": "chr_nope_nope_nope_nope_nope"})
    error_of(resp, 401)


def test_a_revoked_key_is_401_and_stores_nothing(api, make_user, r):
    from chronos.store import users
    from tests.conftest import Api

    _uid, secret = make_user("carol@example.com")
    carol = Api(api.client, secret)
    assert carol.post(BATCH, batch(execution("c1", "job-c"))).status_code == 200
    key_id = carol.get("/api/keys").json["items"][0]["id"]
    # A key without the admin scope cannot revoke keys; the CLI (chronos keys revoke) can.
    assert carol.delete(f"/api/keys/{key_id}").status_code == 403
    assert users.revoke_key(r, None, key_id)
    error_of(carol.post(BATCH, batch(execution("c2", "job-c"))), 401)
    error_of(carol.get("/api/jobs"), 401)


def test_bearer_authorization_works_like_x_api_key(client):
    from tests.conftest import ADMIN_KEY

    resp = client.post(BATCH, json=batch(execution("b1", "job-a")), headers={"Authorization": f"Bearer {ADMIN_KEY}"})
    assert resp.status_code == 200


def test_a_read_only_key_cannot_ingest(api, make_user):
    from tests.conftest import Api

    _uid, secret = make_user("reader@example.com", scopes=("read",))
    err = error_of(Api(api.client, secret).post(BATCH, batch(execution("r1", "job-a"))), 403)
    assert "ingest" in err["message"]


def test_the_per_key_rate_limit_answers_429_with_retry_after(api, app, monkeypatch):
    state = app.extensions["chronos"]
    monkeypatch.setattr(state, "settings", dataclasses.replace(state.settings, chronos_rate_limit_per_min=3))
    codes = [api.get("/api/jobs").status_code for _ in range(4)]
    assert codes == [200, 200, 200, 429]
    resp = api.get("/api/jobs")
    assert 1 <= int(resp.headers["Retry-After"]) <= 60
    assert error_of(resp, 429)["code"] == "rate_limited"


def test_unknown_api_paths_answer_json_404(api):
    assert error_of(api.get("/api/nothing-here"), 404)["code"] == "not_found"
    assert error_of(api.get("/api/jobs/nope"), 404)["code"] == "not_found"
    assert error_of(api.get("/api/executions/nope"), 404)["code"] == "not_found"


def test_bad_query_parameters_are_400(api):
    error_of(api.get("/api/executions?from=tomorrow"), 400)
    error_of(api.get("/api/executions?status=weird"), 400)
    error_of(api.get("/api/analytics/timeseries?metric=bogus"), 400)
    error_of(api.get("/api/analytics/timeseries?bucket=7y"), 400)
    error_of(api.get("/api/jobs?limit=abc"), 400)
