"""GET /api/insights/schedule: the weekday x hour heatmap and a quieter cron slot, on data seeded through the API."""
from __future__ import annotations

import time

from tests.conftest import Api
from tests.helpers import batch, execution

DAY, HOUR, MIN = 86_400_000, 3_600_000, 60_000
QUIET = (3, 4, 5)


def seed(api) -> None:
    """14 full days: two busy jobs at :00 and :30 of every hour but 03-05 (failing at 02), nightly at 02:00."""
    api.post("/api/ingest/jobs/register", {"jobs": [{"id": "nightly", "name": "Nightly", "schedule": "0 2 * * *"}]})
    midnight = int(time.time() * 1000) // DAY * DAY
    events = []
    for d in range(1, 15):
        day = midnight - d * DAY
        events.append(execution(f"n{d}", "nightly", finished_ms=day + 2 * HOUR + 1000, duration_ms=1000))
        for h in range(24):
            if h in QUIET:
                continue
            for job, minute in (("busy-a", 0), ("busy-b", 30)):
                status = "failed" if h == 2 else "success"
                events.append(execution(f"{job}-{d}-{h}", job, status, finished_ms=day + h * HOUR + minute * MIN + 1000,
                                        duration_ms=1000, errorMessage="db locked" if status == "failed" else None))
    assert api.post("/api/ingest/executions/batch", batch(*events)).json["accepted"] == len(events)


def test_the_heatmap_counts_load_and_failures_by_weekday_and_hour(api):
    seed(api)
    body = api.get("/api/insights/schedule?jobId=nightly").json
    grid = body["all"]
    assert body["weekdays"][0] == "Mon" and body["hours"] == list(range(24)) and body["tz"] == "UTC"
    assert sum(map(sum, grid["runs"])) == 14 * 21 * 2 + 14
    for wd in range(7):
        assert grid["runs"][wd][2] == 6 and grid["failures"][wd][2] == 4
        assert abs(grid["failureRate"][wd][2] - 4 / 6) < 1e-9
        assert all(grid["runs"][wd][h] == 0 and grid["failureRate"][wd][h] is None for h in QUIET)
        assert grid["runs"][wd][12] == 4 and grid["busyMs"][wd][12] == 4000
        assert body["job"]["runs"][wd][2] == 2
    assert sum(map(sum, body["job"]["runs"])) == 14


def test_it_suggests_the_quiet_hour_nearest_the_current_slot(api):
    seed(api)
    s = api.get("/api/insights/schedule?jobId=nightly").json["suggestion"]
    assert s["applicable"] is True and s["mode"] == "daily" and s["changed"] is True
    assert (s["hour"], s["minute"]) == (3, 1)
    assert s["suggestedSchedule"] == "1 3 * * *"
    assert s["current"]["hour"] == 2 and s["current"]["otherRuns"] == 28 and s["suggested"]["otherRuns"] == 0
    assert "03:01 UTC is quieter than the current 02:00" in s["reason"]
    assert [a["hour"] for a in s["alternatives"]] == [3, 4, 5]


def test_a_job_that_runs_every_few_minutes_gets_no_slot(api):
    api.post("/api/ingest/jobs/register", {"jobs": [{"id": "often", "schedule": "*/5 * * * *"},
                                                     {"id": "hourly", "schedule": "17 * * * *"}]})
    often = api.get("/api/insights/schedule?jobId=often").json["suggestion"]
    assert often["applicable"] is False and "more than once an hour" in often["reason"]
    hourly = api.get("/api/insights/schedule?jobId=hourly").json["suggestion"]
    assert hourly["applicable"] is True and hourly["mode"] == "minute"
    assert hourly["suggestedSchedule"] == "17 * * * *" and hourly["changed"] is False


def test_it_rejects_an_unknown_timezone_and_a_too_long_range(api):
    assert api.get("/api/insights/schedule?tz=Mars/Olympus").status_code == 400
    assert api.get("/api/insights/schedule?from=2020-01-01&to=2021-01-01").status_code == 400
    assert api.get("/api/insights/schedule?tz=Europe/Berlin").json["tz"] == "Europe/Berlin"


def test_another_users_key_sees_an_empty_heatmap(api, make_user):
    seed(api)
    _bob, key = make_user("bob@example.com")
    bob = Api(api.client, key)
    assert bob.get("/api/insights/schedule?jobId=nightly").status_code == 404
    body = bob.get("/api/insights/schedule").json
    assert sum(map(sum, body["all"]["runs"])) == 0 and "suggestion" not in body
