"""Retry advice, suggested max runtime and grace, and GET /api/insights/jobs/{jobId}."""
from __future__ import annotations

import time

import pytest

from chronos.insights import retry
from chronos.insights.stats import nice_seconds
from tests.conftest import Api
from tests.helpers import batch, execution

HOUR, MIN = 3_600_000, 60_000


def run(status: str, *, error_type: str = "", message: str = "", attempt: int | None = None,
        trigger: str | None = None, duration: int = 1000) -> dict:
    return {"status": status, "errorType": error_type, "errorMessage": message, "attempt": attempt,
            "triggerId": trigger, "durationMs": duration, "finishedAt": 0}


@pytest.mark.parametrize(("error_type", "message", "expected"), [
    ("TimeoutError", "operation timed out", "timeout"),
    ("", "Connection refused by db-1:5432", "connection"),
    ("HTTPError", "429 Too Many Requests", "rate_limit"),
    ("HTTPError", "503 Service Unavailable", "server"),
    ("PermissionError", "access denied", "permission"),
    ("ValueError", "invalid literal for int()", "validation"),
    ("FileNotFoundError", "no such file", "not_found"),
    ("MemoryError", "", "resource"),
    ("Boom", "something odd", "unknown"),
])
def test_errors_are_classified(error_type, message, expected):
    assert retry.classify(error_type, message) == expected


def test_transient_errors_are_worth_retrying_with_backoff():
    runs = [run("success")] * 20 + [run("failed", error_type="TimeoutError", message="timed out")] * 3
    advice = retry.retry_advice(runs)
    assert advice["recommendation"] == "retry" and advice["strategy"] == "exponential"
    assert advice["maxRetries"] == 3 and advice["initialDelaySeconds"] == 10
    assert advice["classes"][0]["class"] == "timeout" and advice["classes"][0]["retryable"] is True


def test_validation_and_permission_errors_are_not_retried():
    runs = [run("success")] * 20 + [run("failed", error_type="ValueError", message="invalid input")] * 4
    advice = retry.retry_advice(runs)
    assert advice["recommendation"] == "no_retry" and advice["maxRetries"] == 0
    assert "validation" in advice["reason"]


def test_measured_retries_that_rarely_succeed_turn_the_advice_down():
    runs = [run("success")] * 30
    for i in range(6):
        runs.append(run("failed", error_type="ConnectionError", message="connection reset", attempt=1, trigger=f"t{i}"))
        runs.append(run("failed", error_type="ConnectionError", message="connection reset", attempt=2, trigger=f"t{i}"))
    advice = retry.retry_advice(runs)
    assert advice["retries"]["attempts"] == 6 and advice["retries"]["successes"] == 0
    assert advice["retries"]["byClass"]["connection"]["attempts"] == 6
    assert advice["recommendation"] == "no_retry" and "rarely help" in advice["reason"]


def test_a_job_that_nearly_always_fails_is_not_retried():
    runs = [run("success")] * 2 + [run("failed", error_type="TimeoutError", message="timed out")] * 18
    assert retry.retry_advice(runs)["recommendation"] == "no_retry"
    assert retry.retry_advice([run("success")] * 5)["recommendation"] == "none_needed"


def test_max_runtime_is_the_p99_times_one_and_a_half_rounded_up():
    assert [nice_seconds(s) for s in (0.4, 7, 50, 61, 100, 4000, 100_000)] == [1, 10, 60, 90, 120, 5400, 100_800]
    runs = [dict(run("success", duration=40_000 + i * 100), startedAt=None) for i in range(100)]
    advice = retry.runtime_advice(runs, {"id": "j"})
    assert advice["suggestedMaxRuntimeSeconds"] == 90  # p99 ≈ 49.8 s x 1.5 ≈ 74.7 s
    assert advice["suggestedGraceSeconds"] is None and "no schedule" in advice["reason"]


def test_grace_comes_from_how_late_runs_start():
    top = int(time.time() * 1000) // HOUR * HOUR - 100 * HOUR
    runs = [{"status": "success", "durationMs": 1000, "startedAt": top + i * HOUR + (5 + i % 40) * 1000,
             "finishedAt": top + i * HOUR + (6 + i % 40) * 1000} for i in range(60)]
    advice = retry.runtime_advice(runs, {"id": "j", "schedule": "0 * * * *"})
    assert 43_000 <= advice["startLatenessP99Ms"] <= 44_000  # late by 5-44 s
    assert advice["suggestedGraceSeconds"] == 90


def test_the_job_report_combines_every_insight(api):
    api.post("/api/ingest/jobs/register", {"jobs": [{"id": "etl", "name": "ETL", "schedule": "0 3 * * *"}]})
    end = int(time.time() * 1000) - HOUR
    events = [execution(f"e{i}", "etl", finished_ms=end - i * 10 * MIN, duration_ms=1000 + i) for i in range(30)]
    events += [execution(f"f{i}", "etl", "failed", finished_ms=end - i * 10 * MIN - MIN, errorType="TimeoutError",
                         errorMessage=f"timeout after {i}s", attempt=1, triggerId=f"t{i}") for i in range(3)]
    events += [execution(f"r{i}", "etl", "success", finished_ms=end - i * 10 * MIN - 30_000, duration_ms=1000,
                         attempt=2, triggerId=f"t{i}") for i in range(3)]
    api.post("/api/ingest/executions/batch", batch(*events))
    body = api.get("/api/insights/jobs/etl").json
    assert body["jobName"] == "ETL" and body["runsAnalysed"] == 36
    assert body["retry"]["recommendation"] == "retry"
    assert body["retry"]["retries"] == {"attempts": 3, "successes": 3, "successRate": 1.0,
                                        "byClass": {"timeout": {"attempts": 3, "successes": 3, "successRate": 1.0}}}
    assert body["runtime"]["suggestedMaxRuntimeSeconds"] == 2
    assert body["errors"][0]["count"] == 3 and body["slot"]["applicable"] is True and body["schedule"] == "0 3 * * *"
    assert isinstance(body["anomalies"], list)


def test_another_users_key_cannot_read_a_job_report(api, make_user):
    api.post("/api/ingest/executions/batch", batch(execution("e1", "etl")))
    _bob, key = make_user("bob@example.com")
    assert Api(api.client, key).get("/api/insights/jobs/etl").status_code == 404
    assert api.get("/api/insights/jobs/etl").status_code == 200
