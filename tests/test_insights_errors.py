"""GET /api/insights/errors, GET /api/insights/errors/{fingerprint} and is_new_group()."""
from __future__ import annotations

import time

from chronos.insights import errors
from tests.conftest import Api
from tests.helpers import batch, execution

VARIANTS = ("timeout after 31s on host a1", "timeout after 45s on host b7", "timeout after 12s on host c3",
            "timeout after 120s on host d9", "timeout after 7s on host e2")


def now_ms() -> int:
    return int(time.time() * 1000)


def seed(api, end: int | None = None) -> int:
    end = end if end is not None else now_ms() - 60_000
    events = [execution(f"t{i}", f"job-{i % 3}", "failed", finished_ms=end - (10 - i) * 60_000,
                        errorType="TimeoutError", errorMessage=msg) for i, msg in enumerate(VARIANTS)]
    events += [execution("p1", "job-0", "failed", finished_ms=end - 30 * 60_000, errorType="PermissionError",
                         errorMessage="permission denied for /data/in.csv"),
               execution("p2", "job-0", "failed", finished_ms=end - 20 * 60_000, errorType="PermissionError",
                         errorMessage="permission denied for /data/out.csv"),
               execution("ok", "job-0", "success", finished_ms=end)]
    assert api.post("/api/ingest/executions/batch", batch(*events)).status_code == 200
    return end


def test_variants_of_one_error_form_one_group_and_another_error_stays_apart(api):
    seed(api)
    items = api.get("/api/insights/errors").json["items"]
    assert [g["count"] for g in items] == [5, 2]
    timeout, permission = items
    assert timeout["errorType"] == "TimeoutError"
    assert timeout["message"] == "timeout after <n> on host <host>"
    assert timeout["sampleExecId"] == "t4" and timeout["sampleMessage"] == VARIANTS[4]
    assert timeout["jobCount"] == 3 and timeout["jobIds"] == ["job-0", "job-1", "job-2"]
    assert timeout["isNew"] is True and timeout["firstSeen"] < timeout["lastSeen"]
    assert permission["errorType"] == "PermissionError" and permission["jobIds"] == ["job-0"]
    assert timeout["fingerprint"] != permission["fingerprint"]


def test_the_list_narrows_to_a_job_and_a_window(api):
    end = seed(api)
    assert [g["count"] for g in api.get("/api/insights/errors?jobId=job-1").json["items"]] == [2]
    window = api.get("/api/insights/errors", query_string={"from": end - 25 * 60_000, "to": end}).json["items"]
    assert [g["count"] for g in window] == [5, 1]
    assert api.get("/api/insights/errors?limit=1").json["items"][0]["count"] == 5


def test_a_group_shows_its_jobs_timeline_and_recent_executions(api):
    seed(api)
    fp = api.get("/api/insights/errors").json["items"][0]["fingerprint"]
    group = api.get(f"/api/insights/errors/{fp}").json
    assert group["count"] == 5 and group["fingerprint"] == fp
    assert [e["execId"] for e in group["recent"]] == ["t4", "t3", "t2", "t1", "t0"]
    assert group["recent"][0]["finishedAt"].endswith("Z")
    assert sorted((j["jobId"], j["count"]) for j in group["jobs"]) == [("job-0", 2), ("job-1", 2), ("job-2", 1)]
    assert sum(n for _t, n in group["timeline"]["points"]) == 5
    assert group["sample"]["execId"] == "t4" and group["sample"]["errorMessage"] == VARIANTS[4]


def test_an_unknown_or_malformed_fingerprint_is_404(api):
    seed(api)
    assert api.get("/api/insights/errors/0123456789abcdef").status_code == 404
    assert api.get("/api/insights/errors/not-a-fingerprint").status_code == 404


def test_a_group_is_new_only_when_first_seen_within_the_window(api, r):
    from chronos.store import users
    from tests.conftest import ADMIN_EMAIL

    admin = users.find_user_by_email(r, ADMIN_EMAIL)["id"]
    seed(api)
    fp_timeout, fp_perm = [g["fingerprint"] for g in api.get("/api/insights/errors").json["items"]]
    api.post("/api/ingest/executions/batch", batch(execution(
        "old", "job-0", "failed", finished_ms=now_ms() - 3 * 86_400_000, errorType="PermissionError",
        errorMessage="permission denied for /data/old.csv")))
    assert errors.is_new_group(r, admin, fp_timeout) is True
    assert errors.is_new_group(r, admin, fp_perm) is False
    assert errors.is_new_group(r, admin, fp_timeout, window_ms=60_000) is False
    assert errors.is_new_group(r, admin, "0123456789abcdef") is False
    day = api.get("/api/insights/errors", query_string={"from": now_ms() - 86_400_000}).json["items"]
    perm = next(g for g in day if g["fingerprint"] == fp_perm)
    assert perm["isNew"] is False and perm["count"] == 2


def test_another_users_key_sees_no_error_groups(api, make_user):
    seed(api)
    fp = api.get("/api/insights/errors").json["items"][0]["fingerprint"]
    _bob, key = make_user("bob@example.com")
    bob = Api(api.client, key)
    assert bob.get("/api/insights/errors").json["items"] == []
    assert bob.get(f"/api/insights/errors/{fp}").status_code == 404
    assert bob.get("/api/insights/errors?jobId=job-0").status_code == 404
