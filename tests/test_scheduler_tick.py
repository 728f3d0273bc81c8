"""The tick loop against a real Redis: due jobs by nextRunAt, claims, advance-before-dispatch, policies."""
from __future__ import annotations

from chronos import keys
from chronos.scheduling import claims, cron
from chronos.store import jobs as job_store
from chronos.timeutil import parse_instant, to_iso
from scheduler.core import Scheduler
from tests.test_scheduler_helpers import FakeClock, add_job, settings_of, tick_together, triggers

OWNER = "u_tick"
T0 = parse_instant("2025-06-01T10:00:00Z")


def make(app, r, clock, **kw):
    return Scheduler(r, settings_of(app), clock=clock, **kw)


def test_a_tick_fires_due_jobs_and_advances_next_run(app, r):
    clock = FakeClock(T0)
    add_job(r, OWNER, "every-5s", "*/5 * * * * *", start_ms=T0)
    add_job(r, OWNER, "hourly", "0 * * * *", start_ms=T0)
    s = make(app, r, clock)
    s.tick()
    assert triggers(r, OWNER) == []
    clock.advance(5000)
    s.tick()
    assert triggers(r, OWNER) == [("every-5s", to_iso(T0 + 5000))]
    job = job_store.get(r, OWNER, "every-5s")
    assert job["nextRunAt"] == T0 + 10_000 and job["sched"]["cursor"] == T0 + 5000
    fired = claims.recent_fires(r, OWNER, "every-5s")
    assert fired[0]["outcome"] == "triggered" and fired[0]["triggerId"] == f"every-5s@{T0 + 5000}"
    assert job_store.get(r, OWNER, "hourly")["nextRunAt"] == T0 + 3600_000


def test_the_sleep_is_until_the_next_due_time_capped(app, r):
    clock = FakeClock(T0 + 100)
    add_job(r, OWNER, "a", "*/5 * * * * *", start_ms=T0 + 100)
    assert make(app, r, clock, max_sleep=2.0).tick() == 2.0
    s = make(app, r, clock, max_sleep=10.0)
    assert s.tick() == 4.9
    clock.now = T0 + 4_999
    assert s.tick() == 0.001


def test_more_due_jobs_than_a_page_all_fire_once(app, r):
    clock = FakeClock(T0)
    for i in range(57):
        add_job(r, OWNER, f"j{i:02d}", "*/5 * * * * *", start_ms=T0)
    s = make(app, r, clock, page_size=7)
    clock.advance(5000)
    s.tick()
    s.tick()
    fired = triggers(r, OWNER)
    assert sorted(fired) == sorted((f"j{i:02d}", to_iso(T0 + 5000)) for i in range(57))


def test_a_one_time_job_fires_once_whatever_nextrunat_says_later(app, r):
    clock = FakeClock(T0)
    add_job(r, OWNER, "once", runMode="once", runAt=T0 + 30_000, start_ms=T0)
    s = make(app, r, clock)
    for _ in range(3):
        clock.advance(20_000)
        s.tick()
        # Ingest recomputes nextRunAt on every execution; a fired one-time job must stay fired.
        r.execute_command("JSON.SET", keys.job(OWNER, "once"), "$.nextRunAt", T0)
    assert triggers(r, OWNER) == [("once", to_iso(T0 + 30_000))]
    s.tick()
    assert "nextRunAt" not in job_store.get(r, OWNER, "once")


def test_late_fires_follow_the_misfire_policy_and_are_logged(app, r):
    clock = FakeClock(T0)
    add_job(r, OWNER, "m", "* * * * *", start_ms=T0, misfireGraceSeconds=90)
    s = make(app, r, clock)
    clock.advance(5 * 60_000 + 30_000)  # the scheduler was away for five minutes
    s.tick()
    fired = list(reversed(claims.recent_fires(r, OWNER, "m")))
    assert [(f["dueAt"] - T0) // 60_000 for f in fired] == [1, 2, 3, 4, 5]
    assert [f["outcome"] for f in fired] == ["missed", "missed", "missed", "coalesced", "triggered"]
    assert triggers(r, OWNER) == [("m", to_iso(T0 + 5 * 60_000))]
    assert job_store.get(r, OWNER, "m")["nextRunAt"] == T0 + 6 * 60_000


def test_paused_jobs_do_not_fire(app, r):
    clock = FakeClock(T0)
    add_job(r, OWNER, "p", "*/5 * * * * *", start_ms=T0, state="paused")
    s = make(app, r, clock)
    clock.advance(60_000)
    s.tick()
    assert triggers(r, OWNER) == []


def test_many_schedulers_racing_in_threads_fire_each_due_time_once(app, r):
    clock = FakeClock(T0)
    for i in range(40):
        add_job(r, OWNER, f"r{i}", "*/5 * * * * *", start_ms=T0)
    scheds = [make(app, r, clock, page_size=10) for _ in range(4)]
    for step in range(12):
        clock.now = T0 + (step + 1) * 5000
        tick_together(scheds, clock.now)
    fired = triggers(r, OWNER)
    assert len(fired) == len(set(fired)) == 40 * 12
    assert sum(s.totals.claimed for s in scheds) == 40 * 12


def test_a_fall_back_night_through_the_tick(app, r):
    start = parse_instant("2025-10-25T22:00:00Z")  # midnight in Berlin, before the clocks go back
    clock = FakeClock(start)
    add_job(r, OWNER, "fixed", "30 2 * * *", start_ms=start, tz="Europe/Berlin")
    add_job(r, OWNER, "hourly", "@hourly", start_ms=start, tz="Europe/Berlin")
    s = make(app, r, clock)
    while clock.now < start + 6 * 3600_000:
        clock.advance(60_000)
        s.tick()
    got = {}
    for job_id, when in triggers(r, OWNER):
        got.setdefault(job_id, []).append(cron.describe_local(parse_instant(when), "Europe/Berlin"))
    assert got["fixed"] == ["2025-10-26T02:30:00+02:00"]
    assert got["hourly"] == ["2025-10-26T01:00:00+02:00", "2025-10-26T02:00:00+02:00", "2025-10-26T02:00:00+01:00",
                             "2025-10-26T03:00:00+01:00", "2025-10-26T04:00:00+01:00", "2025-10-26T05:00:00+01:00"]


def test_the_process_heartbeats_and_exits_cleanly_on_sigterm(r, redis_url):
    import os
    import signal
    import subprocess
    import sys
    import time

    from chronos.config import PROJECT_ROOT
    from chronos.scheduling import registry

    env = {**os.environ, "REDIS_URL": redis_url, "PYTHONPATH": str(PROJECT_ROOT)}
    for sig in (signal.SIGTERM, signal.SIGINT):
        proc = subprocess.Popen([sys.executable, "-m", "scheduler", "--max-sleep", "0.2"], cwd=PROJECT_ROOT, env=env,
                                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        try:
            deadline = time.monotonic() + 60  # liveness bound only: start-up on a slow machine
            while not [n for n in registry.list_nodes(r) if n["pid"] == proc.pid and n["alive"]]:
                assert proc.poll() is None, proc.stderr.read().decode()
                assert time.monotonic() < deadline, "the scheduler never registered"
                time.sleep(0.05)
            node = [n for n in registry.list_nodes(r) if n["pid"] == proc.pid][0]
            assert r.ttl(keys.sched_node(node["id"])) > 0
            proc.send_signal(sig)
            assert proc.wait(timeout=30) == 0
            assert [n for n in registry.list_nodes(r) if n["pid"] == proc.pid] == []
        finally:
            if proc.poll() is None:
                proc.kill()


def test_the_scheduler_imports_no_web_framework():
    import subprocess
    import sys

    from chronos.config import PROJECT_ROOT

    code = ("import sys, scheduler.__main__, scheduler.core, chronos.scheduling.jobstore, chronos.scheduling.notify; "
            "print(' '.join(sorted(sys.modules)))")
    loaded = {m.split(".")[0] for m in subprocess.run([sys.executable, "-c", code], cwd=PROJECT_ROOT, check=True,
                                                       capture_output=True, text=True).stdout.split()}
    assert not loaded & {"flask", "dash", "ingest_api", "pages", "callbacks", "web"}
