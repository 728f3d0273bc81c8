"""Two scheduler processes against one Redis, driven through a minute of injected time in lockstep:
1,000 jobs firing every 5 seconds, every fire exactly once (claimed when due, or two seconds ahead)."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import time

import orjson
import pytest

from chronos import keys
from chronos.config import PROJECT_ROOT
from chronos.scheduling import claims
from chronos.timeutil import parse_instant, to_iso
from tests.test_scheduler_helpers import add_job, triggers

T0 = parse_instant("2025-06-01T10:00:00Z")
OWNERS = [f"u_mp{i}" for i in range(4)]  # 4 x 250 jobs: each owner's event stream holds all its triggers
JOBS_PER_OWNER = 250
STEPS = 60  # one tick per simulated second


def drive(redis_url: str, name: str, steps: int, ahead_ms: int = 0) -> None:
    """One scheduler process: tick at T0+1s, T0+2s, ... meeting the other process at a barrier each time."""
    import redis

    from chronos.config import Settings
    from scheduler.core import Scheduler

    r = redis.Redis.from_url(redis_url, protocol=2)
    settings = Settings.load({"REDIS_URL": redis_url})
    s = Scheduler(r, settings, clock=lambda: T0, node_id=name, page_size=200, run_server_jobs=False,
                  fire_ahead_ms=ahead_ms)
    for step in range(1, steps + 1):
        arrived = r.incr(f"test:barrier:{step}")
        while arrived < 2:
            time.sleep(0.002)
            arrived = int(r.get(f"test:barrier:{step}"))
        s.tick(T0 + step * 1000)
    print(json.dumps(s.stats()))


@pytest.mark.parametrize("ahead_ms", [0, 2000])
def test_two_processes_fire_every_due_time_exactly_once(r, redis_url, ahead_ms):
    for owner in OWNERS:
        for i in range(JOBS_PER_OWNER):
            add_job(r, owner, f"job-{i:03d}", "*/5 * * * * *", start_ms=T0, graceSeconds=3600)
    code = ("import sys; from tests.test_scheduler_multiprocess import drive; "
            "drive(sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]))")
    env = {**os.environ, "PYTHONPATH": str(PROJECT_ROOT)}
    procs = [subprocess.Popen([sys.executable, "-c", code, redis_url, name, str(STEPS), str(ahead_ms)],
                              cwd=PROJECT_ROOT, env=env,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE) for name in ("sched-a", "sched-b")]
    outputs = [p.communicate(timeout=240) for p in procs]
    for p, (out, err) in zip(procs, outputs):
        assert p.returncode == 0, err.decode()[-3000:]
    stats = [json.loads(out.decode().strip().splitlines()[-1]) for out, _ in outputs]

    expected = {(f"job-{i:03d}", to_iso(T0 + k * 5000)) for i in range(JOBS_PER_OWNER) for k in range(1, 13)}
    for owner in OWNERS:
        fired = triggers(r, owner)
        assert len(fired) == len(set(fired)), "a fire was dispatched twice"
        assert set(fired) == expected, "a fire is missing"
        log = claims.recent_fires(r, owner, "job-007")
        assert sorted(e["dueAt"] for e in log) == [T0 + k * 5000 for k in range(1, 13)]
        assert {e["by"] for e in log} <= {"sched-a", "sched-b"}
    assert sum(s["claimed"] for s in stats) == len(OWNERS) * JOBS_PER_OWNER * 12
    assert sum(s["dispatched"] for s in stats) == len(OWNERS) * JOBS_PER_OWNER * 12
    job = orjson.loads(r.execute_command("JSON.GET", keys.job(OWNERS[0], "job-000")))
    assert job["nextRunAt"] == T0 + 65_000
