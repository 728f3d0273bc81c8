"""Healthchecks-compatible pings: curl one-liners report runs by URL alone."""
from __future__ import annotations

import time


def ping_url(api, job_id="backup"):
    api.post("/api/ingest/jobs/register", {"jobs": [{"id": job_id, "name": "Backup", "schedule": "0 3 * * *"}]})
    url = api.get(f"/api/jobs/{job_id}").json["pingUrl"]
    assert url.startswith("http://localhost/ping/")
    return url.removeprefix("http://localhost")


def test_start_then_exit_status_zero_with_rid_records_one_successful_run(api, client):
    path = ping_url(api)
    assert client.get(f"{path}/start?rid=R1").status_code == 200
    time.sleep(0.05)
    resp = client.get(f"{path}/0?rid=R1")
    assert resp.status_code == 200 and resp.get_data(as_text=True) == "OK"
    assert int(resp.headers["Ping-Body-Limit"]) > 0
    runs = api.get("/api/jobs/backup/executions").json["items"]
    assert len(runs) == 1
    assert runs[0]["status"] == "success" and runs[0]["exitCode"] == 0 and runs[0]["durationMs"] >= 50
    assert api.get("/api/analytics/summary").json["runs"] == 1


def test_overlapping_runs_pair_by_rid(api, client):
    path = ping_url(api)
    client.head(f"{path}/start?rid=A")
    client.post(f"{path}/start?rid=B")
    client.post(f"{path}/fail?rid=A", data="disk full")
    client.post(f"{path}/3?rid=B", data="exit three")
    runs = {e["execId"]: e for e in api.get("/api/jobs/backup/executions").json["items"]}
    assert {e["status"] for e in runs.values()} == {"failed"}
    assert runs["ping:backup:B"]["exitCode"] == 3
    assert api.get("/api/executions/ping:backup:A").json["stdout"] == "disk full"


def test_a_plain_ping_without_start_is_a_zero_length_success(api, client):
    path = ping_url(api)
    client.post(path, data="all good")
    run = api.get("/api/jobs/backup/executions").json["items"][0]
    assert (run["status"], run["durationMs"]) == ("success", 0)


def test_start_without_rid_pairs_with_the_next_finish(api, client):
    path = ping_url(api)
    client.get(f"{path}/start")
    client.get(path)
    runs = api.get("/api/jobs/backup/executions").json["items"]
    assert len(runs) == 1 and runs[0]["status"] == "success"


def test_log_pings_change_nothing_and_unknown_uuids_are_404(api, client):
    path = ping_url(api)
    assert client.post(f"{path}/log", data="note").status_code == 200
    assert api.get("/api/executions").json["total"] == 0
    assert client.get("/ping/00000000-0000-0000-0000-000000000000").status_code == 404
    assert client.get(f"{path}/256").status_code == 400
    assert client.get(f"{path}/start?rid=bad%20rid").status_code == 400


def test_slug_urls_with_create(api, client):
    key = api.get("/api/ping-key").json["pingKey"]
    assert client.get(f"/ping/{key}/new-slug").status_code == 404
    assert client.get(f"/ping/{key}/new-slug/start?create=1&rid=x").status_code == 200
    assert client.get(f"/ping/{key}/new-slug/0?rid=x").status_code == 200
    assert api.get("/api/jobs/new-slug").json["registered"] == "yes"
    assert api.get("/api/jobs/new-slug/executions").json["items"][0]["status"] == "success"
    assert client.get(f"/ping/not-a-key/new-slug").status_code == 404
