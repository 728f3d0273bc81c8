"""The batch record script keeps exactly the per-event semantics: the same events recorded one call per event
(owner A) and as one batch spanning several script chunks (owner B) leave identical jobs, series and counts."""
from __future__ import annotations

import random
import time
from typing import Any

import orjson

from chronos import keys
from chronos.store import recording

RUNTIME_FIELDS = ("lastStatus", "lastRunAt", "lastDurationMs", "lastExecId", "lastError", "consecutiveFailures",
                  "totalRuns", "totalFailures")


def make_events(seed: int, n: int) -> list[dict[str, Any]]:
    """Runs of 7 jobs over the last 3 hours, out of order, with repeats, running→final pairs and late starts."""
    rnd = random.Random(seed)
    now = int(time.time() * 1000)
    events: list[dict[str, Any]] = []
    for i in range(n):
        job = f"job-{rnd.randrange(7)}"
        finished = now - rnd.randrange(3 * 3_600_000)
        status = rnd.choice(["success", "success", "failed", "timeout", "cancelled"])
        ev = {"execId": f"e-{i}", "jobId": job, "status": status, "startedAt": finished - 500,
              "finishedAt": finished, "durationMs": rnd.randrange(1, 5000)}
        if status == "failed":
            ev["errorMessage"] = f"boom {i}"
        roll = rnd.random()
        if roll < 0.1:  # reported running first, finished later in the same batch
            events.append({"execId": ev["execId"], "jobId": job, "status": "running", "startedAt": ev["startedAt"]})
        events.append(ev)
        if roll > 0.9:  # a retry of the same event (an SDK resend)
            events.append(dict(ev, durationMs=1))
        if 0.85 < roll <= 0.9:  # a late "running" after the final: must not regress it
            events.append({"execId": ev["execId"], "jobId": job, "status": "running", "startedAt": ev["startedAt"]})
    return events


def snapshot(r, owner: str) -> dict[str, Any]:
    jobs = {}
    for key in r.scan_iter(match=keys.job(owner, "*")):
        doc = orjson.loads(r.execute_command("JSON.GET", key))
        jobs[doc["id"]] = {f: doc.get(f) for f in RUNTIME_FIELDS}
    series = {}
    prefix = keys.series(owner, "", "", "")[:-2]
    for key in r.scan_iter(match=keys.series(owner, "*", "*", "*")):
        name = key.decode()[len(prefix):]
        series[name] = [(ts, float(v)) for ts, v in r.execute_command("TS.RANGE", key, 0, "+")]
    return {"jobs": jobs, "series": series}


def test_one_batch_equals_one_call_per_event(app, r):
    state = app.extensions["chronos"]
    events = make_events(seed=7, n=600)
    assert len(events) > 2 * recording.CHUNK  # the batch spans several script calls

    one_by_one = recording.RecordResult()
    for ev in events:
        res = recording.record(r, state.scripts, "owner-a", [ev], state.settings)
        one_by_one.created += res.created
        one_by_one.finished += res.finished
        one_by_one.duplicates += res.duplicates
    batched = recording.record(r, state.scripts, "owner-b", events, state.settings)

    assert (batched.created, batched.finished, batched.duplicates) == (
        one_by_one.created, one_by_one.finished, one_by_one.duplicates)
    assert batched.duplicates > 0 and batched.finished > 0
    a, b = snapshot(r, "owner-a"), snapshot(r, "owner-b")
    assert a["jobs"] == b["jobs"]
    assert a["series"] == b["series"]
    finals = {e["execId"]: e for e in events if e["status"] != "running"}
    assert sum(j["totalRuns"] for j in b["jobs"].values()) == len(finals)
    runs_1h = sum(v for _, v in b["series"][f"{keys.ALL_JOBS_SCOPE}:runs:1h"])
    assert runs_1h == len(finals)


def test_recording_again_changes_nothing(app, r):
    state = app.extensions["chronos"]
    events = make_events(seed=11, n=300)
    recording.record(r, state.scripts, "owner-c", events, state.settings)
    before = snapshot(r, "owner-c")
    again = recording.record(r, state.scripts, "owner-c", events, state.settings)
    assert again.accepted == 0 and again.duplicates == len(events)
    assert snapshot(r, "owner-c") == before


def test_consecutive_failures_follow_finish_order(app, r):
    """Failures count up in finish order; a success that finished earlier than the last failure does not
    reset the count, whatever the order the events arrive in."""
    state = app.extensions["chronos"]
    now = int(time.time() * 1000)

    def ev(i: int, status: str, at: int) -> dict[str, Any]:
        return {"execId": f"x-{i}", "jobId": "job-x", "status": status, "startedAt": at - 10, "finishedAt": at,
                "durationMs": 10, "errorMessage": "no" if status == "failed" else None}

    events = [ev(1, "failed", now - 5000), ev(2, "success", now - 9000), ev(3, "failed", now - 4000),
              ev(4, "failed", now - 3000)]
    recording.record(r, state.scripts, "owner-d", [{k: v for k, v in e.items() if v is not None} for e in events],
                     state.settings)
    job = orjson.loads(r.execute_command("JSON.GET", keys.job("owner-d", "job-x")))
    assert (job["consecutiveFailures"], job["totalRuns"], job["totalFailures"]) == (3, 4, 3)
    assert (job["lastExecId"], job["lastRunAt"], job["lastStatus"]) == ("x-4", now - 3000, "failed")


def test_series_count_only_the_runs_not_stored_before(app, r):
    """Whole chunks of new final runs, and chunks where a third of the runs were already stored, leave the
    same series as recording one event per call."""
    state = app.extensions["chronos"]
    finals = list({e["execId"]: e for e in make_events(seed=5, n=400) if e["status"] != "running"}.values())
    for ev in finals:
        recording.record(r, state.scripts, "owner-e", [ev], state.settings)
    recording.record(r, state.scripts, "owner-f", finals, state.settings)           # every chunk new
    recording.record(r, state.scripts, "owner-g", finals[::3], state.settings)
    again = recording.record(r, state.scripts, "owner-g", finals, state.settings)   # a third already stored
    assert again.duplicates == len(finals[::3]) and again.created == len(finals) - len(finals[::3])
    e, f, g = snapshot(r, "owner-e"), snapshot(r, "owner-f"), snapshot(r, "owner-g")
    assert e["series"] == f["series"] == g["series"]
    assert sum(v for _, v in f["series"][f"{keys.ALL_JOBS_SCOPE}:runs:1d"]) == len(finals)
