"""GET /api/analytics/query: a tidy table (bucket, group, value) as JSON or CSV, the two always equal."""
from __future__ import annotations

import csv
import io
import time
from datetime import datetime, timezone

import pytest

from chronos.insights import query
from tests.conftest import Api
from tests.helpers import batch, execution, iso

HOUR = 3_600_000
H1 = int(time.time() * 1000) // HOUR * HOUR - 5 * HOUR
H2 = H1 + HOUR


def seed(api) -> None:
    """job-a: four runs started in H1; job-b: two in H2 (plus one still running, left out)."""
    api.post("/api/ingest/executions/batch", batch(
        execution("a1", "job-a", "success", finished_ms=H1 + 60_000, duration_ms=100, jobVersion="v1",
                  labels=["nightly", "etl"], metadata={"rows": 10}, appId="app1", host="h1"),
        execution("a2", "job-a", "success", finished_ms=H1 + 120_000, duration_ms=200, jobVersion="v1",
                  labels=["nightly"], metadata={"rows": 20}, appId="app1", host="h1"),
        execution("a3", "job-a", "failed", finished_ms=H1 + 180_000, duration_ms=300, jobVersion="v2",
                  labels={"env": "prod"}, metadata={"rows": "many"}, errorMessage="boom", appId="app1"),
        execution("a4", "job-a", "timeout", finished_ms=H1 + 240_000, duration_ms=400, jobVersion="v2"),
        execution("b1", "job-b", "success", finished_ms=H2 + 60_000, duration_ms=1000, metadata={"rows": 5}),
        execution("b2", "job-b", "cancelled", finished_ms=H2 + 120_000, duration_ms=50),
        {"execId": "b3", "jobId": "job-b", "status": "running", "startedAt": iso(H2 + 30_000)},
    ))


def table(api, **params) -> list[tuple[str, str, object]]:
    params.setdefault("from", H1 - HOUR)
    params.setdefault("to", H2 + HOUR)
    resp = api.get("/api/analytics/query", query_string=params)
    assert resp.status_code == 200, resp.json
    assert resp.json["columns"] == ["bucket", "group", "value"]
    return [(row["bucket"], row["group"], row["value"]) for row in resp.json["rows"]]


def test_runs_per_job_and_hour(api):
    seed(api)
    assert table(api, metric="runs", groupBy="job", bucket="1h") == [
        (iso(H1), "job-a", 4), (iso(H2), "job-b", 2)]
    day1, day2 = H1 // 86_400_000 * 86_400_000, H2 // 86_400_000 * 86_400_000
    by_day = [(iso(day1), "all", 6)] if day1 == day2 else [(iso(day1), "all", 4), (iso(day2), "all", 2)]
    assert table(api, metric="runs", bucket="1d") == by_day


def test_failures_success_rate_and_durations(api):
    seed(api)
    assert table(api, metric="failures", groupBy="job") == [(iso(H1), "job-a", 2), (iso(H2), "job-b", 0)]
    assert table(api, metric="success_rate", groupBy="job") == [(iso(H1), "job-a", 0.5), (iso(H2), "job-b", 1.0)]
    assert table(api, metric="duration_max", groupBy="job") == [(iso(H1), "job-a", 400), (iso(H2), "job-b", 1000)]
    assert table(api, metric="duration_avg", jobId="job-a") == [(iso(H1), "all", 250)]
    p50 = table(api, metric="duration_p50", jobId="job-a")[0][2]
    assert 200 <= p50 <= 300
    assert table(api, metric="runs", status="running") == [(iso(H2), "all", 1)]


def test_grouping_by_status_version_app_and_label(api):
    seed(api)
    assert table(api, metric="runs", groupBy="status", jobId="job-a") == [
        (iso(H1), "failed", 1), (iso(H1), "success", 2), (iso(H1), "timeout", 1)]
    assert table(api, metric="runs", groupBy="version") == [
        (iso(H1), "v1", 2), (iso(H1), "v2", 2), (iso(H2), "", 2)]
    assert table(api, metric="runs", groupBy="app") == [(iso(H1), "", 1), (iso(H1), "app1", 3), (iso(H2), "", 2)]
    assert table(api, metric="runs", groupBy="label") == [
        (iso(H1), "env:prod", 1), (iso(H1), "etl", 1), (iso(H1), "nightly", 2)]
    assert table(api, metric="runs", label="nightly") == [(iso(H1), "all", 2)]


def test_a_numeric_metadata_field_ignores_other_values(api):
    seed(api)
    assert table(api, metric="metadata.rows", groupBy="job") == [(iso(H1), "job-a", 15), (iso(H2), "job-b", 5)]
    assert table(api, metric="metadata.rows", stat="sum") == [(iso(H1), "all", 30), (iso(H2), "all", 5)]
    assert table(api, metric="metadata.nothing") == []


def test_week_and_month_buckets_start_on_calendar_boundaries(api):
    seed(api)
    week = table(api, metric="runs", bucket="1w")[0][0]
    month = table(api, metric="runs", bucket="1M")[0][0]
    wk = datetime.fromisoformat(week.replace("Z", "+00:00"))
    mo = datetime.fromisoformat(month.replace("Z", "+00:00"))
    started = datetime.fromtimestamp(H1 / 1000, timezone.utc)
    assert wk.weekday() == 0 and (wk.hour, wk.minute) == (0, 0) and 0 <= (started - wk).days < 7
    assert (mo.day, mo.hour) == (1, 0) and (mo.year, mo.month) == (started.year, started.month)
    assert table(api, metric="runs", bucket="all", groupBy="job") == [
        (iso(H1 - HOUR), "job-a", 4), (iso(H1 - HOUR), "job-b", 2)]


@pytest.mark.parametrize("params", [
    {"metric": "runs", "groupBy": "job", "bucket": "1h"},
    {"metric": "success_rate", "groupBy": "status"},
    {"metric": "duration_p95", "groupBy": "version", "bucket": "15m"},
    {"metric": "duration_avg", "groupBy": "label"},
    {"metric": "metadata.rows", "stat": "p50", "groupBy": "app"},
    {"metric": "failures", "groupBy": "errorGroup", "bucket": "1d"},
])
def test_json_and_csv_agree(api, params):
    seed(api)
    base = {"from": H1 - HOUR, "to": H2 + HOUR, **params}
    as_json = api.get("/api/analytics/query", query_string=base).json["rows"]
    resp = api.get("/api/analytics/query", query_string={**base, "format": "csv"})
    assert resp.status_code == 200 and resp.mimetype == "text/csv"
    assert "attachment" in resp.headers["Content-Disposition"]
    rows = list(csv.reader(io.StringIO(resp.get_data(as_text=True))))
    assert rows[0] == ["bucket", "group", "value"]
    assert len(rows) - 1 == len(as_json) > 0
    for (bucket, group, value), expected in zip(rows[1:], as_json):
        assert (bucket, group) == (expected["bucket"], expected["group"])
        assert (None if value == "" else float(value)) == expected["value"]
    assert query.to_csv({"rows": as_json}) == resp.get_data(as_text=True)


@pytest.mark.parametrize("params", [
    {"metric": "nope"}, {"metric": "metadata.a.b"}, {"metric": "metadata.x", "stat": "median"},
    {"groupBy": "owner"}, {"bucket": "2h"}, {"status": "weird"}, {"format": "xml"},
    {"from": "2030-01-02", "to": "2030-01-01"}, {"bucket": "1m", "from": "2020-01-01", "to": "2021-01-01"},
])
def test_it_rejects_bad_parameters(api, params):
    resp = api.get("/api/analytics/query", query_string=params)
    assert resp.status_code == 400 and resp.json["error"]["code"] == "bad_request"


def test_another_users_key_sees_no_rows(api, make_user):
    seed(api)
    _bob, key = make_user("bob@example.com")
    bob = Api(api.client, key)
    assert bob.get("/api/analytics/query", query_string={"from": H1 - HOUR, "groupBy": "job"}).json["rows"] == []
    assert bob.get("/api/analytics/query", query_string={"from": H1 - HOUR, "groupBy": "label"}).json["rows"] == []
    assert bob.get("/api/analytics/query", query_string={"from": H1 - HOUR, "format": "csv"}).get_data(
        as_text=True) == "bucket,group,value\n"


def test_a_query_that_runs_out_of_time_is_refused_not_answered_partially(api, r):
    from chronos.insights import history

    seed(api)
    with pytest.raises(history.QueryTooLarge):
        history.aggregate(r, "*", "LOAD", 1, "@status", "APPLY", "@status", "AS", "s", "GROUPBY", 0,
                          "REDUCE", "COUNT", 0, "AS", "n", "DIALECT", 2, timeout_ms=0)
