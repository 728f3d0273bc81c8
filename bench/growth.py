#!/usr/bin/env python
"""How Redis's cost per execution changes as the data grows: recording straight into Redis, no web tier.

    python bench/growth.py                  # 1,500,000 executions, a line per 100,000
    python bench/growth.py --n 300000 --step 50000

Starts its own Redis Stack (embedded, temp dir, AOF everysec as production) and records the load bench's
executions (``bench/load_clients.py`` ``make_batch``: 50 jobs, batches of 200, unique execIds) with
``chronos.store.recording.record`` from one process, as fast as it goes. For each step it prints the Redis
CPU per execution (user + system, all threads), the server thread's share, the record script's and
``JSON.SET``'s time per call (``INFO commandstats``), forks and memory. The steps where the keyspace passes a
power of two (262,144, 524,288, 1,048,576 keys) are the ones to compare with their neighbours.
The last line is ``RESULT {json}``.
"""
from __future__ import annotations

import argparse
import json
import random
import shutil
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import orjson  # noqa: E402
import redis  # noqa: E402
from load_clients import make_batch  # noqa: E402  (bench/load_clients.py)
from servers import exit_on_sigterm, log, start_redis  # noqa: E402  (bench/servers.py)

from chronos.config import Settings  # noqa: E402
from chronos.store import recording  # noqa: E402
from chronos.store.lua import Scripts  # noqa: E402
from chronos.store.schema import ensure_schema  # noqa: E402
from ingest_api.schemas import ExecutionEvent  # noqa: E402

BATCH = 200


def cpu(r: redis.Redis) -> tuple[float, float]:
    """(all threads, server thread) CPU seconds of the server."""
    c = r.info("cpu")
    return (float(c["used_cpu_user"]) + float(c["used_cpu_sys"]),
            float(c["used_cpu_user_main_thread"]) + float(c["used_cpu_sys_main_thread"]))


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--n", type=int, default=1_500_000, help="executions to record (1,500,000)")
    p.add_argument("--step", type=int, default=100_000, help="executions per reported step (100,000)")
    args = p.parse_args(argv)
    if args.step < BATCH or args.n < args.step:
        p.error(f"--step >= {BATCH} and --n >= --step are required")
    exit_on_sigterm()
    tmp = Path(tempfile.mkdtemp(prefix="chronos-growth-"))
    embedded = start_redis(tmp / "redis-data")
    try:
        r = redis.Redis.from_url(embedded.url, protocol=2)
        ensure_schema(r)
        scripts, settings, rng = Scripts(r), Settings.load(), random.Random(1)
        events = [[ExecutionEvent.model_validate(e).to_event()
                   for e in orjson.loads(make_batch("g", 0, i * BATCH, BATCH, rng))["executions"]] for i in range(50)]
        steps = []
        done, k = 0, 0
        r.config_resetstat()
        (all0, main0), t0 = cpu(r), time.time()
        while done < args.n:
            batch = [dict(e, execId=f"{e['execId']}-{k}") for e in events[k % len(events)]]
            recording.record(r, scripts, "growth", batch, settings)
            k, done = k + 1, done + BATCH
            if done % args.step == 0:
                (all1, main1), t1 = cpu(r), time.time()
                stats = r.info("commandstats")
                row = {"executions": done, "redis_us": (all1 - all0) / args.step * 1e6,
                       "main_us": (main1 - main0) / args.step * 1e6,
                       "evalsha_us": stats.get("cmdstat_evalsha", {}).get("usec", 0) / args.step,
                       "json_set_us_per_call": stats.get("cmdstat_json.set", {}).get("usec_per_call", 0.0),
                       "rate": args.step / max(1e-9, t1 - t0), "forks": int(r.info("stats")["total_forks"]),
                       "memory_mb": int(r.info("memory")["used_memory"]) / 1e6}
                steps.append(row)
                log(f"{done:>10,}: Redis {row['redis_us']:6.1f} µs/execution (server thread {row['main_us']:6.1f}), "
                    f"record script {row['evalsha_us']:6.1f} µs, JSON.SET {row['json_set_us_per_call']:5.1f} µs/call, "
                    f"{row['rate']:,.0f}/s, forks so far {row['forks']}, {row['memory_mb']:,.0f} MB")
                r.config_resetstat()
                (all0, main0), t0 = cpu(r), time.time()
        log("RESULT " + json.dumps({"bench": "growth", "steps": [{k: round(v, 1) for k, v in s.items()}
                                                                   for s in steps]}, separators=(",", ":")))
        return 0
    finally:
        embedded.stop()
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
