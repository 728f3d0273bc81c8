"""POST /api/ingest/executions/batch: wire compatibility, idempotency, running→finished, limits."""
from __future__ import annotations

import time

from chronos import keys
from tests.helpers import batch, execution, iso

SYNAPSE_EVENT_FIELDS = {
    "exitCode": 2, "errorMessage": "connection refused to db:5432", "errorType": "ConnectionError",
    "errorStack": "Traceback (most recent call last):\n  File \"job.py\", line 3\nConnectionError", "stdout": "line 1\nline 2",
    "stderr": "warn", "attempt": 2, "labels": ["etl", "nightly"], "metadata": {"rows": 10, "nested": {"a": [1, 2]}},
    "jobVersion": "1.2.0", "appVersion": "3.4.5", "codeSnippet": "def run():\n    connect()", "codeLanguage": "python",
}


def post(api, body, expect=200, fragment=None):
    resp = api.post("/api/ingest/executions/batch", body)
    assert resp.status_code == expect, resp.json
    if fragment:
        assert fragment in resp.json["error"]["message"]
    return resp.json


def counts(api, r):
    """Every count the product keeps: index totals, job counters, and the summed runs series."""
    summary = api.get("/api/analytics/summary?from=2020-01-01T00:00:00Z").json
    job = api.get("/api/jobs/job-a").json
    owner = job["owner"]
    series = {}
    for metric in keys.METRICS:
        for tier in keys.TIERS:
            name = keys.series(owner, keys.ALL_JOBS_SCOPE, metric, tier)
            rows = r.execute_command("TS.RANGE", name, 0, "+") if r.exists(name) else []
            series[(metric, tier)] = sum(float(v) for _, v in rows) if metric != "dur_max" else max(
                [float(v) for _, v in rows] or [0])
    return (summary["runs"], summary["successes"], summary["failures"], api.get("/api/executions").json["total"],
            job["totalRuns"], job["totalFailures"], job["consecutiveFailures"], tuple(sorted(series.items())))


def test_a_synapse_client_reads_every_field_back(api):
    api.post("/api/ingest/jobs/register", {"jobs": [{"id": "job-a", "name": "Job A", "schedule": "*/5 * * * *",
                                                       "runMode": "recurring", "version": "1.2.0"}]})
    event = execution("exec-1", "job-a", "failed", **SYNAPSE_EVENT_FIELDS)
    assert post(api, batch(event))["accepted"] == 1
    got = api.get("/api/executions/exec-1").json
    for field, value in event.items():
        assert got[field] == value, field
    assert got["jobName"] == "Job A"
    listed = api.get("/api/jobs/job-a/executions").json["items"]
    assert [e["execId"] for e in listed] == ["exec-1"]
    assert listed[0]["labels"] == ["etl", "nightly"]


def test_it_accepts_epoch_ms_and_label_maps(api):
    now = int(time.time() * 1000)
    event = {"execId": "e-ms", "jobId": "job-a", "status": "success", "startedAt": now - 50, "finishedAt": now,
             "durationMs": 50, "labels": {"env": "prod", "team": "data"}}
    post(api, batch(event))
    got = api.get("/api/executions/e-ms").json
    assert got["startedAt"] == iso(now - 50) and got["labels"] == {"env": "prod", "team": "data"}
    assert api.get("/api/executions?label=env:prod").json["total"] == 1
    assert api.get("/api/executions?label=env:dev").json["total"] == 0


def test_resending_a_batch_changes_no_count_anywhere(api, r):
    now = int(time.time() * 1000)
    events = [execution(f"e{i}", "job-a", "failed" if i % 3 == 0 else "success", finished_ms=now - i * 1000,
                        duration_ms=100 + i) for i in range(30)]
    first = post(api, batch(*events))
    assert first["accepted"] == 30 and first["duplicates"] == 0
    before = counts(api, r)
    again = post(api, batch(*events))
    assert again["accepted"] == 0 and again["duplicates"] == 30
    assert counts(api, r) == before
    assert before[0] == 30 and before[2] == 10


def test_running_then_finished_is_one_execution(api):
    now = int(time.time() * 1000)
    post(api, batch({"execId": "run-1", "jobId": "job-a", "status": "running", "startedAt": iso(now - 5000)}))
    assert api.get("/api/executions/run-1").json["status"] == "running"
    assert api.get("/api/analytics/summary").json["runs"] == 0
    result = post(api, batch(execution("run-1", "job-a", "success", finished_ms=now, duration_ms=5000, stdout="done")))
    assert result["finished"] == 1
    got = api.get("/api/executions/run-1").json
    assert (got["status"], got["stdout"], got["startedAt"]) == ("success", "done", iso(now - 5000))
    assert api.get("/api/executions").json["total"] == 1
    assert api.get("/api/analytics/summary").json["runs"] == 1


def test_a_finish_that_arrives_before_its_start_does_not_regress(api):
    now = int(time.time() * 1000)
    post(api, batch(execution("late-start", "job-a", "success", finished_ms=now)))
    result = post(api, batch({"execId": "late-start", "jobId": "job-a", "status": "running", "startedAt": iso(now - 900)}))
    assert result["duplicates"] == 1
    assert api.get("/api/executions/late-start").json["status"] == "success"
    assert api.get("/api/analytics/summary").json["runs"] == 1


def test_an_execution_for_an_unknown_job_creates_it_unregistered(api):
    post(api, batch(execution("e-new", "brand-new-job", "failed", errorMessage="boom")))
    job = api.get("/api/jobs/brand-new-job").json
    assert job["registered"] == "no"
    assert (job["lastStatus"], job["consecutiveFailures"], job["totalRuns"]) == ("failed", 1, 1)
    api.post("/api/ingest/jobs/register", {"jobs": [{"id": "brand-new-job", "name": "Now registered"}]})
    job = api.get("/api/jobs/brand-new-job").json
    assert job["registered"] == "yes" and job["totalRuns"] == 1 and job["name"] == "Now registered"


def test_job_state_follows_the_latest_run(api):
    now = int(time.time() * 1000)
    post(api, batch(*[execution(f"f{i}", "job-a", "failed", finished_ms=now - 10_000 + i) for i in range(3)]))
    assert api.get("/api/jobs/job-a").json["consecutiveFailures"] == 3
    # An older success arriving late changes the totals but not the latest-run fields.
    post(api, batch(execution("old-ok", "job-a", "success", finished_ms=now - 60_000)))
    job = api.get("/api/jobs/job-a").json
    assert (job["lastStatus"], job["consecutiveFailures"], job["totalRuns"]) == ("failed", 3, 4)
    post(api, batch(execution("new-ok", "job-a", "success", finished_ms=now)))
    job = api.get("/api/jobs/job-a").json
    assert (job["lastStatus"], job["consecutiveFailures"], job["lastExecId"]) == ("success", 0, "new-ok")


def test_logs_keep_their_tail_and_are_flagged(api, app):
    cap = app.extensions["chronos"].settings.chronos_max_log_bytes
    big = "x" * cap + "THE END"
    post(api, batch(execution("big", "job-a", stdout=big, stderr="small")))
    got = api.get("/api/executions/big").json
    assert got["stdout"].endswith("THE END") and len(got["stdout"].encode()) == cap
    assert got["truncated"] == {"stdout": True}


def test_unknown_fields_are_kept_not_dropped(api):
    post(api, batch(execution("ext", "job-a", futureField={"a": 1})))
    assert api.get("/api/executions/ext").json["extra"] == {"futureField": {"a": 1}}


def test_a_batch_over_the_event_limit_is_refused_whole(api):
    events = [execution(f"many-{i}", "job-a") for i in range(1001)]
    post(api, batch(*events), expect=413, fragment="at most 1000")
    assert api.get("/api/executions").json["total"] == 0


def test_gzip_bodies_are_accepted(api):
    import gzip
    import json

    body = gzip.compress(json.dumps(batch(execution("gz", "job-a"))).encode())
    resp = api.client.post("/api/ingest/executions/batch", data=body,
                           headers=api.headers({"Content-Type": "application/json", "Content-Encoding": "gzip"}))
    assert resp.status_code == 200 and resp.json["accepted"] == 1


def test_a_job_summary_counts_only_that_job(api):
    api.post("/api/ingest/executions/batch", batch(execution("s1", "job-a", "failed"), execution("s2", "job-b")))
    s = api.get("/api/analytics/summary?jobId=job-a").json
    assert (s["runs"], s["failures"], s["jobs"], s["activeJobs"], s["failingJobs"]) == (1, 1, 1, 1, 1)
