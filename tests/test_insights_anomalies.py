"""GET /api/insights/anomalies and detect_anomaly(): duration outliers, drift, failure spikes and streaks."""
from __future__ import annotations

import time

from chronos.insights import anomalies, history
from chronos.store import executions as exec_store
from chronos.store import jobs as job_store
from pages._ids import job as job_ids
from pages._ids import shell
from tests.browser.support import dash_payload
from tests.conftest import ADMIN_EMAIL, ADMIN_PASSWORD, Api
from tests.helpers import batch, execution
from tests.test_pages_security import session_login

MIN = 60_000


def now_ms() -> int:
    return int(time.time() * 1000)


def seed_normal(api, job_id: str = "etl", n: int = 60, *, end_ms: int | None = None, step_ms: int = 10 * MIN,
                prefix: str = "n") -> int:
    """n successful runs with durations spread over 900-1099 ms, one every step; returns the last finish."""
    end = end_ms if end_ms is not None else now_ms() - 2 * 3_600_000
    events = [execution(f"{prefix}{i}", job_id, "success", finished_ms=end - (n - 1 - i) * step_ms,
                        duration_ms=900 + (i * 37) % 200) for i in range(n)]
    assert api.post("/api/ingest/executions/batch", batch(*events)).status_code == 200
    return end


def test_a_slow_and_a_fast_run_are_flagged_and_normal_runs_are_not(api):
    end = seed_normal(api)
    api.post("/api/ingest/executions/batch", batch(
        execution("slow", "etl", "success", finished_ms=end + 10 * MIN, duration_ms=5000),
        execution("fine", "etl", "success", finished_ms=end + 20 * MIN, duration_ms=1080),
        execution("fast", "etl", "success", finished_ms=end + 30 * MIN, duration_ms=100)))
    body = api.get("/api/insights/anomalies?jobId=etl").json
    found = {a["execId"]: a for a in body["items"]}
    assert set(found) == {"slow", "fast"}
    assert found["slow"]["kind"] == "too_slow" and found["slow"]["direction"] == "up"
    assert found["fast"]["kind"] == "too_fast" and found["fast"]["direction"] == "down"
    assert found["slow"]["score"] > 1 and found["fast"]["score"] > 1
    assert found["slow"]["value"] == 5000 and 950 <= found["slow"]["expected"] <= 1050
    assert "5.0 s" in found["slow"]["reason"] and "usual" in found["slow"]["reason"]
    assert body["jobsChecked"] == 1


def test_the_owner_wide_answer_covers_every_active_job(api):
    end = seed_normal(api, "etl")
    seed_normal(api, "other", prefix="o")
    api.post("/api/ingest/executions/batch", batch(
        execution("slow", "etl", "success", finished_ms=end + 10 * MIN, duration_ms=9000)))
    body = api.get("/api/insights/anomalies").json
    assert body["jobsChecked"] == 2
    assert [a["execId"] for a in body["items"]] == ["slow"]


def test_too_little_history_flags_nothing(api):
    end = now_ms() - 3_600_000
    api.post("/api/ingest/executions/batch", batch(
        *[execution(f"e{i}", "young", finished_ms=end - i * MIN, duration_ms=1000) for i in range(5)],
        execution("big", "young", finished_ms=end + MIN, duration_ms=60_000)))
    assert api.get("/api/insights/anomalies?jobId=young").json["items"] == []


def test_detect_anomaly_judges_one_stored_execution(api, r):
    end = seed_normal(api)
    api.post("/api/ingest/executions/batch", batch(
        execution("slow", "etl", "failed", finished_ms=end + MIN, duration_ms=4000, errorMessage="boom"),
        execution("ok", "etl", "success", finished_ms=end + 2 * MIN, duration_ms=1010)))
    admin = _admin_id(r)
    slow = anomalies.detect_anomaly(r, admin, "etl", exec_store.get(r, admin, "slow"))
    assert slow is not None and slow.kind == "too_slow" and slow.direction == "up"
    assert anomalies.detect_anomaly(r, admin, "etl", exec_store.get(r, admin, "ok")) is None
    assert anomalies.detect_anomaly(r, admin, "nope", exec_store.get(r, admin, "slow")) is None


def test_an_upward_drift_is_reported(api):
    end = seed_normal(api, n=100)
    events = [execution(f"d{i}", "etl", "success", finished_ms=end + (i + 1) * MIN, duration_ms=1700 + i * 5)
              for i in range(20)]
    api.post("/api/ingest/executions/batch", batch(*events))
    kinds = {a["kind"] for a in api.get("/api/insights/anomalies?jobId=etl").json["items"]}
    assert "duration_drift" in kinds
    drift = next(a for a in api.get("/api/insights/anomalies?jobId=etl").json["items"]
                 if a["kind"] == "duration_drift")
    assert drift["direction"] == "up" and drift["value"] > drift["expected"] * 1.5


def test_a_failure_spike_and_a_streak_are_reported(api):
    day = 86_400_000
    start = now_ms() - 5 * day
    base = [execution(f"b{i}", "sync", "failed" if i in (7, 30) else "success",
                      finished_ms=start + i * 100 * MIN, duration_ms=1000, errorMessage="x") for i in range(50)]
    recent_end = now_ms() - 10 * MIN
    recent = [execution(f"w{i}", "sync", "failed" if i >= 5 else "success", finished_ms=recent_end - (9 - i) * 30 * MIN,
                        duration_ms=1000, errorType="TimeoutError", errorMessage="timed out") for i in range(10)]
    api.post("/api/ingest/executions/batch", batch(*base, *recent))
    items = api.get("/api/insights/anomalies?jobId=sync").json["items"]
    by_kind = {a["kind"]: a for a in items}
    spike, streak = by_kind["failure_spike"], by_kind["failure_streak"]
    assert spike["value"] == 0.5 and spike["details"]["baselineRuns"] == 50 and spike["direction"] == "up"
    assert streak["value"] == 5 and streak["execId"] == "w9" and "5 runs failed in a row" in streak["reason"]


def charts_call(job_id: str) -> dict:
    """The job page's refresh_charts callback as the browser posts it (24 h range)."""
    return dash_payload([(job_ids.duration_chart, "figure"), (job_ids.runs_chart, "figure")],
                        [{"id": job_ids.id, "property": "data", "value": job_id},
                         {"id": job_ids.range, "property": "value", "value": "24"},
                         {"id": shell.poll, "property": "n_intervals", "value": 0},
                         {"id": shell.live_event, "property": "data", "value": None}],
                        changed=[f"{job_ids.id}.data"])


def test_the_job_charts_read_exec_ids_from_the_documents_since_exec_id_is_not_indexed(app, api, r):
    # Regression: the executions index has no execId field, so run history must read it from each document;
    # without it the newest failed run had no execId and the job page's charts answered 500.
    end = seed_normal(api)
    failed = [execution(f"f{i}", "etl", "failed", finished_ms=end + (i + 2) * MIN, duration_ms=1000,
                        errorType="IOError", errorMessage="disk full") for i in range(3)]
    assert api.post("/api/ingest/executions/batch", batch(
        execution("slow", "etl", "success", finished_ms=end + MIN, duration_ms=6000), *failed)).status_code == 200
    admin, now = _admin_id(r), now_ms()
    runs = history.recent_runs(r, admin, "etl", before_ms=now, fields=anomalies.FIELDS)
    assert [run["execId"] for run in runs] == [f"n{i}" for i in range(60)] + ["slow", "f0", "f1", "f2"]
    settings = app.extensions["chronos"].settings
    found = anomalies.job_anomalies(r, settings, job_store.get(r, admin, "etl"), now - 24 * 3_600_000, now)
    by_kind = {a.kind: a for a in found}
    assert by_kind["too_slow"].exec_id == "slow"
    streak = by_kind["failure_streak"]
    assert streak.exec_id == "f2" and streak.details["firstExecId"] == "f0"
    assert "IOError: disk full" in streak.reason  # read from the newest run's document by its execId
    assert all(exec_store.get(r, admin, a.exec_id) for a in found if a.exec_id)
    client = app.test_client()
    session_login(client, ADMIN_EMAIL, ADMIN_PASSWORD)
    resp = client.post("/_dash-update-component", json=charts_call("etl"))
    assert resp.status_code == 200
    traces = resp.json["response"][job_ids.duration_chart]["figure"]["data"]
    assert [t["y"] for t in traces if t["name"] == "Anomaly"] == [[6000]]


def test_another_users_key_sees_no_anomalies(api, make_user):
    end = seed_normal(api)
    api.post("/api/ingest/executions/batch", batch(
        execution("slow", "etl", "success", finished_ms=end + 10 * MIN, duration_ms=5000)))
    _bob, key = make_user("bob@example.com")
    bob = Api(api.client, key)
    assert bob.get("/api/insights/anomalies?jobId=etl").status_code == 404
    body = bob.get("/api/insights/anomalies").json
    assert body["items"] == [] and body["jobsChecked"] == 0


def test_it_rejects_a_bad_range(api):
    assert api.get("/api/insights/anomalies?from=2030-01-02&to=2030-01-01").status_code == 400
    assert api.get("/api/insights/anomalies?from=2020-01-01&to=2021-01-01").status_code == 400


def _admin_id(r) -> str:
    from chronos.store import users
    from tests.conftest import ADMIN_EMAIL

    return users.find_user_by_email(r, ADMIN_EMAIL)["id"]


def test_an_hour_that_is_always_heavy_gets_its_own_baseline():
    day, step = 86_400_000, 5 * MIN
    start = 1_700_000_000_000 // day * day
    runs = []
    for i in range(5 * day // step):
        finished = start + i * step + 2_000
        heavy = (finished // 3_600_000) % 24 == 2
        runs.append({"execId": f"r{i}", "status": "success", "startedAt": finished - 2_000,
                     "finishedAt": finished, "durationMs": 5000 if heavy else 1000})
    odd = next(r for r in reversed(runs) if (r["startedAt"] // 3_600_000) % 24 == 2)
    found = anomalies.duration_anomalies(runs, start + 4 * day, start + 5 * day, "j", "j")
    assert found == []  # the 02:00 runs are compared with other 02:00 runs
    odd["durationMs"] = 1000  # normal for other hours, a fifth of what 02:00 runs take
    (fast,) = anomalies.duration_anomalies(runs, start + 4 * day, start + 5 * day, "j", "j")
    assert fast.kind == "too_fast" and fast.exec_id == odd["execId"]
    assert fast.details["baselineScope"] == "runs at 02:00-02:59 UTC"
