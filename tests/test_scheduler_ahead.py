"""Claiming ahead: an SDK job's fire is claimed before it is due and its trigger sent at the due time."""
from __future__ import annotations

from chronos import keys
from chronos.scheduling import claims, jobstore
from chronos.store import jobs as job_store
from chronos.timeutil import parse_instant, to_iso
from scheduler.core import Scheduler
from tests.test_scheduler_helpers import FakeClock, add_job, settings_of, tick_together, triggers

OWNER = "u_ahead"
T0 = parse_instant("2025-06-01T10:00:00Z")


def make(app, r, clock, **kw):
    return Scheduler(r, settings_of(app), clock=clock, fire_ahead_ms=2000, **kw)


def test_a_fire_claimed_ahead_is_sent_at_its_due_time_and_not_before(app, r):
    clock = FakeClock(T0 + 100)
    add_job(r, OWNER, "every-5s", "*/5 * * * * *", start_ms=T0)
    s = make(app, r, clock, max_sleep=10.0)
    assert s.tick() == 2.9  # until the fire at T0+5s comes within reach
    clock.now = T0 + 3500
    assert s.tick() == 1.5  # claimed: now until it is due
    assert triggers(r, OWNER) == []
    job = job_store.get(r, OWNER, "every-5s")
    assert job["nextRunAt"] == T0 + 10_000 and job["sched"]["cursor"] == T0 + 5000
    fired = claims.recent_fires(r, OWNER, "every-5s")
    assert [(f["dueAt"], f["firedAt"], f["outcome"]) for f in fired] == [(T0 + 5000, T0 + 5000, "triggered")]
    clock.now = T0 + 4999
    s.tick()
    assert triggers(r, OWNER) == []
    clock.now = T0 + 5000
    s.tick()
    s.tick()
    assert triggers(r, OWNER) == [("every-5s", to_iso(T0 + 5000))]
    assert r.zcard(keys.sched_pending()) == 0 and keys.sched_pending() == "chr:sched:pending"


def test_triggers_claimed_by_a_scheduler_that_went_away_are_sent_by_another(app, r):
    clock = FakeClock(T0 + 4000)
    add_job(r, OWNER, "orphaned", "*/5 * * * * *", start_ms=T0)
    make(app, r, clock).tick()  # claims the T0+5s fire ahead, then is never heard of again
    clock.now = T0 + 5000
    Scheduler(r, settings_of(app), clock=clock).tick()  # one that does not claim ahead still releases
    assert triggers(r, OWNER) == [("orphaned", to_iso(T0 + 5000))]


def test_server_side_jobs_and_fires_that_would_coalesce_are_claimed_when_due(app, r):
    clock = FakeClock(T0)
    jobstore.create(r, OWNER, {"id": "srv", "name": "srv", "type": "http", "schedule": "*/5 * * * * *",
                               "target": {"url": "http://127.0.0.1:9/x"}}, T0)
    add_job(r, OWNER, "hinted", "*/1 * * * * *", start_ms=T0)
    r.execute_command("JSON.SET", keys.job(OWNER, "hinted"), "$.nextRunAt", T0 + 1500)  # a hint, 2 fires away
    clock.now = T0 + 3500
    s = make(app, r, clock, run_server_jobs=False)
    s.tick()
    assert claims.recent_fires(r, OWNER, "srv") == [] and claims.recent_fires(r, OWNER, "hinted")
    assert job_store.get(r, OWNER, "srv")["nextRunAt"] == T0 + 5000


def test_racing_schedulers_claiming_ahead_send_each_due_time_once_and_never_early(app, r):
    clock = FakeClock(T0)
    for i in range(40):
        add_job(r, OWNER, f"r{i}", "*/5 * * * * *", start_ms=T0)
    scheds = [make(app, r, clock, page_size=10) for _ in range(3)] + [
        Scheduler(r, settings_of(app), clock=clock, page_size=10)]
    for step in range(1, 62):
        clock.now = T0 + step * 1000
        tick_together(scheds, clock.now)
        sent = triggers(r, OWNER)
        assert all(parse_instant(when) <= clock.now for _job, when in sent), "a trigger went out early"
    fired = triggers(r, OWNER)
    assert len(fired) == len(set(fired)) == 40 * 12
    assert sorted({when for _j, when in fired}) == [to_iso(T0 + k * 5000) for k in range(1, 13)]
    assert sum(s.totals.claimed for s in scheds) == 40 * 12
    assert sum(s.totals.ahead for s in scheds) > 0
