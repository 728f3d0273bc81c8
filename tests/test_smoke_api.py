"""A first pass over the API with the session app (more thorough files per endpoint follow)."""
from __future__ import annotations


def test_health_reports_modules(client):
    resp = client.get("/api/health")
    assert resp.status_code == 200
    assert resp.json == {"status": "ok", "redis": "ok", "missingModules": []}


def test_it_registers_and_lists_a_job(api):
    resp = api.post("/api/ingest/jobs/register", {"jobs": [{"id": "nightly", "name": "Nightly", "schedule": "0 3 * * *"}]})
    assert resp.status_code == 200, resp.json
    jobs = api.get("/api/jobs").json
    assert [j["id"] for j in jobs["items"]] == ["nightly"]
    assert jobs["items"][0]["nextRunAt"].endswith("03:00:00.000Z")
