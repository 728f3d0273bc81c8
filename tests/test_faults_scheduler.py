"""A fault with real processes: one of two schedulers SIGKILLed while jobs fire every 2 seconds.

The test starts its own embedded Redis Stack and two ``python -m scheduler`` processes, no web server.
``CHRONOS_SOAK_SECONDS=N`` makes it run about N seconds with a kill every 15 (``make soak``); it prints one
``RESULT {json}`` line with its figures (``pytest -s`` shows it).
"""
from __future__ import annotations

import itertools
import os
import signal
import subprocess
import sys
import time
from collections import Counter

import orjson

from chronos import keys
from chronos.redis_server import EmbeddedRedis, free_port
from tests.fault_load import ROOT, SOAK, TIMEOUT, result

pytestmark = TIMEOUT


def test_one_of_two_schedulers_sigkilled_the_other_keeps_firing_without_gap_or_duplicate(tmp_path):
    """Two ``python -m scheduler`` processes, jobs firing every 2 seconds; one is SIGKILLed mid-run (in the
    soak variant a replacement is started and the other one killed, in turn). Every due time in the window
    is fired exactly once — no duplicate, nothing coalesced or missed — and late by at most about a tick."""
    from chronos.scheduling import claims, cron
    from chronos.store import jobs as job_store
    from chronos.store.schema import ensure_schema

    server = EmbeddedRedis(tmp_path / "data", port=free_port())
    server.start()
    procs: list[subprocess.Popen] = []
    r = server.client()
    owner, schedule, jobs, tick = "u_faults", "*/2 * * * * *", 20, 1.0
    period_ms = 2000
    duration = max(16.0, SOAK)
    env = {**os.environ, "REDIS_URL": server.url, "PYTHONPATH": str(ROOT)}

    def spawn() -> subprocess.Popen:
        p = subprocess.Popen([sys.executable, "-m", "scheduler", "--no-server-jobs", "--max-sleep", str(tick),
                              "--log-level", "WARNING"], cwd=ROOT, env=env, stdout=subprocess.DEVNULL,
                             stderr=subprocess.PIPE)
        procs.append(p)
        return p

    def wait_alive(ps: list[subprocess.Popen], timeout: float = 60.0) -> None:
        from chronos.scheduling import registry

        end = time.monotonic() + timeout
        while {n["pid"] for n in registry.list_nodes(r) if n["alive"]} < {p.pid for p in ps}:
            assert all(p.poll() is None for p in ps), "a scheduler exited during start-up"
            assert time.monotonic() < end, "the schedulers did not register in time"
            time.sleep(0.1)

    try:
        ensure_schema(r)
        r.sadd(keys.users(), owner)
        job_store.upsert(r, owner, [{"id": f"tick-{i:02d}", "name": f"Tick {i}", "schedule": schedule,
                                     "runMode": "recurring", "graceSeconds": 3600} for i in range(jobs)])
        live = [spawn(), spawn()]
        wait_alive(live)
        sched = cron.parse(schedule)
        now = int(time.time() * 1000)
        lo = cron.CronCache().next_after(sched, now + 1000)
        hi = lo + int(duration * 1000) - 1
        kills = max(1, int(duration // 15))
        killed_at: list[int] = []
        for k in range(kills):
            at = lo + int(duration * 1000 * (k + 0.5) / kills)
            time.sleep(max(0.0, (at - time.time() * 1000) / 1000))
            victim = live.pop(0)
            victim.send_signal(signal.SIGKILL)  # no deregistration, no finished tick
            victim.wait(10)
            killed_at.append(int(time.time() * 1000))
            if k < kills - 1:  # soak: start a replacement, so the next kill again leaves one survivor
                live.append(spawn())
                wait_alive(live)
        time.sleep(max(0.0, (hi - time.time() * 1000) / 1000) + 3 * tick)
        for p in live:
            p.send_signal(signal.SIGTERM)
        for p in live:
            assert p.wait(30) == 0, p.stderr.read().decode()[-2000:] if p.stderr else ""

        dues = [lo, *cron.CronCache().fires(sched, lo, hi, 100_000)]
        dispatched: Counter = Counter()
        lag: list[int] = []
        for entry_id, fields in r.xrange(keys.events(owner), "-", "+"):
            if fields.get(b"type") != b"job:trigger":
                continue
            data = orjson.loads(fields[b"data"])
            from chronos.timeutil import parse_instant

            due = parse_instant(data["scheduledFor"])
            if lo <= due <= hi:
                dispatched[(data["jobId"], due)] += 1
                lag.append(int(entry_id.split(b"-")[0]) - due)
        outcomes: Counter = Counter()
        by_node: Counter = Counter()
        widest = 0
        for i in range(jobs):
            log = [e for e in claims.recent_fires(r, owner, f"tick-{i:02d}", 50) if lo <= e["dueAt"] <= hi]
            outcomes.update(e["outcome"] for e in log)
            by_node.update(e["by"] for e in log)
            fired = sorted(e["firedAt"] for e in log if e["outcome"] == "triggered")
            widest = max([widest, *(b - a for a, b in itertools.pairwise(fired))])
        expected = {(f"tick-{i:02d}", d) for i in range(jobs) for d in dues}
        duplicates = sum(c - 1 for c in dispatched.values() if c > 1)
        gaps = len(expected - set(dispatched))
        lag.sort()
        result("scheduler_sigkill", seconds=duration, kills=len(killed_at), jobs=jobs, schedule=schedule,
               tick_s=tick, fires_expected=len(expected), fires=sum(dispatched.values()), duplicates=duplicates,
               gaps=gaps, outcomes=dict(outcomes), lag_p50_ms=lag[len(lag) // 2] if lag else None,
               lag_max_ms=lag[-1] if lag else None, widest_interval_ms=widest, processes_seen=len(by_node))
        assert duplicates == 0, "a due time was fired twice"
        assert gaps == 0, f"{gaps} due times were never fired"
        assert set(outcomes) == {"triggered"}, outcomes  # nothing coalesced or missed
        # No gap beyond one tick: consecutive fires of a job at most a period plus a tick (and some slack for
        # a loaded machine) apart.
        assert widest <= period_ms + tick * 1000 + 1500, widest
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.wait(10)
        server.stop()
