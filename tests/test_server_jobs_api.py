"""Job management API: create/replace/patch/delete, versions, clone, templates, dry run, import/export,
pause and resume, history, dependencies, and the scheduler status."""
from __future__ import annotations

import functools

import pytest
import yaml

from chronos.scheduling import registry
from chronos.store import jobs as job_store
from chronos.timeutil import now_ms

HTTP_JOB = {"id": "ping", "name": "Ping", "type": "http", "schedule": "*/10 * * * *", "timezone": "Europe/Berlin",
            "target": {"url": "http://127.0.0.1:9/health"}, "retry": {"strategy": "linear", "maxRetries": 2}}


@pytest.fixture
def u(make_user, client):
    owner, key = make_user("jobs@example.com")

    class U:
        id = owner

        @staticmethod
        def call(method, path, body=None, **kw):
            return client.open(path, method=method, json=body, headers={"x-api-key": key}, **kw)

    return U


def created(u, body):
    resp = u.call("POST", "/api/jobs", body)
    assert resp.status_code == 201, resp.json
    return resp.json


@pytest.mark.parametrize("body,fragment", [
    ({"name": "x", "schedule": "* * * * *", "target": {}}, "type"),
    ({**HTTP_JOB, "schedule": "61 * * * *"}, "schedule"),
    ({**HTTP_JOB, "timezone": "Mars/Base"}, "timezone"),
    ({**HTTP_JOB, "target": {"url": "file:///etc/passwd"}}, "target.url"),
    ({**HTTP_JOB, "target": {"url": "http://127.0.0.1/", "verb": "GET"}}, "target.verb"),
    ({**HTTP_JOB, "type": "shell", "target": {"command": []}}, "target.command"),
    ({**HTTP_JOB, "type": "email", "target": {"to": "nobody", "subject": "s"}}, "target.to"),
    ({**HTTP_JOB, "retry": {"strategy": "fibonacci"}}, "retry.strategy"),
    ({**HTTP_JOB, "retry": {"maxRetries": 99}}, "retry.maxRetries"),
    ({k: v for k, v in HTTP_JOB.items() if k != "schedule"}, "needs a schedule"),
    ({**HTTP_JOB, "runMode": "once", "schedule": None}, "runAt"),
    ({**HTTP_JOB, "dependsOn": ["ghost"]}, "no job 'ghost'"),
    ({**HTTP_JOB, "dependsOn": ["ping"]}, "itself"),
    ({**HTTP_JOB, "target": {**HTTP_JOB["target"], "body": functools.reduce(lambda v, _: {"a": v}, range(200), 1)}},
     "nested deeper than 32 levels"),
])
def test_it_rejects_bad_definitions_naming_the_field(u, body, fragment):
    resp = u.call("POST", "/api/jobs", {k: v for k, v in body.items() if v is not None})
    assert resp.status_code == 400 and fragment in resp.json["error"]["message"], resp.json


def test_create_read_replace_versions_and_delete(u, r):
    job = created(u, HTTP_JOB)
    assert job["definitionVersion"] == 1 and job["source"] == "server" and job["nextRunAt"].endswith("Z")
    assert u.call("POST", "/api/jobs", HTTP_JOB).status_code == 409
    got = u.call("GET", "/api/jobs/ping").json
    assert got["target"] == {"method": "GET", "url": "http://127.0.0.1:9/health", "headers": {}, "timeoutMs": 30000}
    renamed = u.call("PUT", "/api/jobs/ping", {**HTTP_JOB, "id": None, "name": "Ping!"} | {"id": "ping"}).json
    assert renamed["name"] == "Ping!" and renamed["newVersion"] is False and renamed["definitionVersion"] == 1
    moved = u.call("PATCH", "/api/jobs/ping", {"schedule": "0 * * * *"}).json
    assert moved["newVersion"] is True and moved["definitionVersion"] == 2 and moved["retry"]["strategy"] == "linear"
    versions = u.call("GET", "/api/jobs/ping/versions").json
    assert [v["version"] for v in versions["items"]] == [2, 1]
    assert versions["items"][1]["definition"]["schedule"] == "*/10 * * * *"
    assert u.call("DELETE", "/api/jobs/ping").status_code == 200
    assert u.call("GET", "/api/jobs/ping").status_code == 404


def test_an_id_is_made_from_the_name_when_absent(u):
    job = created(u, {k: v for k, v in HTTP_JOB.items() if k != "id"} | {"name": "Nightly Report!"})
    assert job["id"].startswith("nightly-report-")


def test_sdk_jobs_accept_only_monitoring_fields(u):
    u.call("POST", "/api/ingest/jobs/register", {"jobs": [{"id": "sdk", "schedule": "@hourly"}]})
    ok = u.call("PATCH", "/api/jobs/sdk", {"graceSeconds": 600, "failureThreshold": 3, "misfirePolicy": "run_late"})
    assert ok.status_code == 200 and ok.json["graceSeconds"] == 600 and ok.json["misfirePolicy"] == "run_late"
    bad = u.call("PATCH", "/api/jobs/sdk", {"type": "http"})
    assert bad.status_code == 400 and "monitoring fields only" in bad.json["error"]["message"]
    assert u.call("PUT", "/api/jobs/sdk", HTTP_JOB).status_code == 409


def test_pause_and_resume(u, r):
    created(u, HTTP_JOB)
    paused = u.call("PATCH", "/api/jobs/ping/status", {"status": "paused"}).json
    assert paused["state"] == "paused"
    assert u.call("POST", "/api/jobs/ping/run").status_code == 409
    before = now_ms()
    resumed = u.call("PATCH", "/api/jobs/ping/status", {"status": "active"}).json
    assert resumed["state"] == "new"
    assert job_store.get(r, u.id, "ping")["sched"]["cursor"] >= before  # no backlog from the pause
    flips = u.call("GET", "/api/jobs/ping/flips").json["items"]
    assert [(f["from"], f["to"], f["reason"]) for f in reversed(flips)] == [("new", "paused", "paused"),
                                                                             ("paused", "new", "resumed")]
    assert u.call("PATCH", "/api/jobs/ping/status", {"status": "sleeping"}).status_code == 400


def test_clone_and_templates(u):
    created(u, HTTP_JOB)
    copy = u.call("POST", "/api/jobs/ping/clone", {"id": "ping-2"}).json
    assert copy["id"] == "ping-2" and copy["name"] == "Ping (copy)" and copy["state"] == "paused"
    assert copy["target"] == u.call("GET", "/api/jobs/ping").json["target"]
    templates = u.call("GET", "/api/job-templates").json["items"]
    assert {"http-health-check", "nightly-shell", "weekly-email"} <= {t["id"] for t in templates}
    from_tpl = created(u, {"template": "weekly-email", "id": "remind", "target": {
        "to": ["me@example.com"], "subject": "Hi"}})
    assert from_tpl["schedule"] == "0 9 * * 1" and from_tpl["type"] == "email"
    assert u.call("POST", "/api/jobs", {"template": "nope"}).status_code == 400


def test_dry_run_lists_the_next_fires_in_the_jobs_timezone_and_checks_the_target(u):
    created(u, {**HTTP_JOB, "schedule": "30 2 * * *"})
    dry = u.call("GET", "/api/jobs/ping/dry-run").json
    assert dry["timezone"] == "Europe/Berlin" and len(dry["nextFires"]) == 10
    assert all(f[11:19] in ("02:30:00", "03:00:00") and f[-6:] in ("+01:00", "+02:00") for f in dry["nextFires"])
    assert dry["checks"] == [{"check": "outbound", "ok": True, "message": "the URL's host is allowed"}]
    refused = u.call("POST", "/api/jobs/dry-run", {**HTTP_JOB, "target": {"url": "http://10.1.2.3/"}}).json
    assert refused["valid"] is True and refused["checks"][0]["ok"] is False
    shell = u.call("POST", "/api/jobs/dry-run", {**HTTP_JOB, "type": "shell",
                                                 "target": {"command": ["definitely-not-a-command"]}}).json
    assert [c["ok"] for c in shell["checks"]] == [False, False]
    invalid = u.call("POST", "/api/jobs/dry-run", {**HTTP_JOB, "schedule": "bad"}).json
    assert invalid["valid"] is False and invalid["error"]["field"] == "schedule"


def test_export_then_import_elsewhere_with_a_validate_only_dry_run(u, make_user, client):
    created(u, HTTP_JOB)
    created(u, {**HTTP_JOB, "id": "after", "name": "After", "schedule": None, "dependsOn": ["ping"]} | {})
    exported = u.call("GET", "/api/export/jobs?format=yaml")
    assert exported.mimetype == "application/yaml"
    doc = yaml.safe_load(exported.get_data(as_text=True))
    assert sorted(j["id"] for j in doc["jobs"]) == ["after", "ping"]
    _other, key = make_user("other@example.com")
    h = {"x-api-key": key, "Content-Type": "application/yaml"}
    dry = client.post("/api/import/jobs?dryRun=1", data=exported.get_data(), headers=h)
    assert dry.status_code == 200 and dry.json["valid"] and {j["action"] for j in dry.json["jobs"]} == {"create"}
    assert client.get("/api/jobs", headers={"x-api-key": key}).json["total"] == 0
    done = client.post("/api/import/jobs", data=exported.get_data(), headers=h)
    assert done.status_code == 200, done.json
    again = client.post("/api/import/jobs", data=exported.get_data(), headers=h).json
    assert {j["action"] for j in again["jobs"]} == {"update"}
    theirs = client.get("/api/jobs/after", headers={"x-api-key": key}).json
    assert theirs["dependsOn"] == ["ping"] and theirs["definitionVersion"] == 1


def test_an_import_with_a_cycle_is_rejected_whole(u):
    jobs = [{**HTTP_JOB, "id": "a", "dependsOn": ["c"]}, {**HTTP_JOB, "id": "b", "dependsOn": ["a"]},
            {**HTTP_JOB, "id": "c", "dependsOn": ["b"]}, {**HTTP_JOB, "id": "d"}]
    resp = u.call("POST", "/api/import/jobs", {"jobs": jobs})
    assert resp.status_code == 400 and "dependency cycle: a → c → b → a" in resp.json["error"]["message"]
    assert u.call("GET", "/api/jobs").json["total"] == 0
    broken = u.call("POST", "/api/import/jobs", {"jobs": [HTTP_JOB, {"name": "x"}]})
    assert broken.status_code == 400 and broken.json["error"]["details"][0]["index"] == 1


def test_a_job_others_depend_on_cannot_be_deleted(u):
    created(u, HTTP_JOB)
    created(u, {**HTTP_JOB, "id": "child", "dependsOn": ["ping"]})
    resp = u.call("DELETE", "/api/jobs/ping")
    assert resp.status_code == 409 and "child" in resp.json["error"]["message"]
    assert u.call("DELETE", "/api/jobs/child").status_code == 200
    assert u.call("DELETE", "/api/jobs/ping").status_code == 200


def test_deleting_history_removes_the_runs(u):
    created(u, HTTP_JOB)
    u.call("POST", "/api/ingest/executions/batch", {"executions": [
        {"execId": f"x{i}", "jobId": "ping", "status": "success", "finishedAt": now_ms() - i, "durationMs": 5}
        for i in range(3)]})
    assert u.call("GET", "/api/jobs/ping/executions").json["total"] == 3
    assert u.call("DELETE", "/api/jobs/ping/history").json["executionsDeleted"] == 3
    assert u.call("GET", "/api/jobs/ping/executions").json["total"] == 0
    assert u.call("GET", "/api/jobs/ping").json["totalRuns"] == 0


def test_the_scheduler_status_shows_live_processes(api, r, u):
    registry.register_birth(r, "host:1:abc", now_ms())
    status = api.get("/api/scheduler/status").json
    assert status["alive"] == 1 and status["nodes"][0]["id"] == "host:1:abc"
    assert u.call("GET", "/api/scheduler/status").status_code == 403
