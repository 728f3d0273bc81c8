"""POST /api/ingest/jobs/register: idempotent upsert of job definitions."""
from __future__ import annotations

import pytest

REGISTER = "/api/ingest/jobs/register"


def test_it_is_idempotent_and_keeps_runtime_fields(api):
    job = {"id": "sync", "name": "Sync", "schedule": "*/10 * * * *", "runMode": "recurring", "tags": ["io"],
           "timezone": "Europe/Paris", "graceSeconds": 120, "maxRuntimeSeconds": 600, "description": "d",
           "appId": "billing", "version": "2", "signatureHash": "abc", "orgId": "org-1"}
    assert api.post(REGISTER, {"jobs": [job]}).status_code == 200
    api.post("/api/ingest/executions/batch", {"executions": [{"execId": "x1", "jobId": "sync", "status": "failed",
                                                              "durationMs": 5}]})
    assert api.post(REGISTER, {"jobs": [job]}).status_code == 200
    got = api.get("/api/jobs/sync").json
    for k, v in job.items():
        assert got[k] == v, k
    assert got["totalRuns"] == 1 and got["consecutiveFailures"] == 1
    assert api.get("/api/jobs").json["total"] == 1


def test_a_once_job_takes_its_run_at_as_next_run(api):
    api.post(REGISTER, {"jobs": [{"id": "one-off", "runMode": "once", "runAt": "2100-01-01T10:00:00+02:00"}]})
    assert api.get("/api/jobs/one-off").json["nextRunAt"] == "2100-01-01T08:00:00.000Z"


def test_next_run_follows_the_job_timezone(api):
    api.post(REGISTER, {"jobs": [{"id": "paris-9am", "schedule": "0 9 * * *", "timezone": "Europe/Paris"},
                                 {"id": "utc-9am", "schedule": "0 9 * * *"}]})
    paris = api.get("/api/jobs/paris-9am").json["nextRunAt"]
    utc = api.get("/api/jobs/utc-9am").json["nextRunAt"]
    assert utc.endswith("T09:00:00.000Z")
    assert paris[11:13] in ("07", "08")  # 9:00 in Paris is 07:00 or 08:00 UTC depending on DST


@pytest.mark.parametrize("job,fragment", [
    ({"id": "x", "schedule": "every day"}, "cron"),
    ({"id": "x", "schedule": "0 * * * *", "timezone": "Mars/Olympus"}, "timezone"),
    ({"id": "x", "runMode": "sometimes"}, "runMode"),
    ({"id": "bad id"}, "id"),
    ({"name": "no id"}, "id"),
])
def test_it_rejects_bad_definitions_and_stores_none(api, job, fragment):
    resp = api.post(REGISTER, {"jobs": [{"id": "fine"}, job]})
    assert resp.status_code == 400
    assert fragment in resp.json["error"]["message"]
    assert resp.json["error"]["details"][0]["index"] == 1
    assert api.get("/api/jobs").json["total"] == 0


def test_six_field_cron_with_seconds_is_accepted(api):
    assert api.post(REGISTER, {"jobs": [{"id": "fast", "schedule": "*/15 * * * * *"}]}).status_code == 200
