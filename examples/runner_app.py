#!/usr/bin/env python
"""A small service whose scheduled jobs are run and reported by ``chronos_sdk.ChronosRunner``.

    export CHRONOS_ENDPOINT=http://127.0.0.1:8050     # default
    export CHRONOS_API_KEY=chr_...                     # `chronos up --demo` prints one
    python examples/runner_app.py                      # runs until Ctrl-C or SIGTERM
    python examples/runner_app.py --seconds 10         # stops by itself after 10 s
    python examples/runner_app.py --run-now example-report   # also runs that job once at start
    python examples/runner_app.py --trigger-mode server      # the Chronos scheduler triggers the jobs

In the default ``local`` trigger mode the jobs fire from their cron expressions in this process; the
server only receives the job definitions and every run. In ``server`` mode the runner waits for
``job:trigger`` events on ``GET /api/stream`` instead.
"""
from __future__ import annotations

import argparse
import asyncio
import os
import random
import shutil
import sys
import tempfile
import time

from chronos_sdk import ChronosRunner, current_run


def define_jobs(r: ChronosRunner) -> None:
    @r.job("example-heartbeat", name="Heartbeat", schedule="*/2 * * * * *", tags=["example"],
           description="Every 2 seconds: proves the service is alive.")
    def heartbeat() -> None:
        print(f"alive at {time.strftime('%H:%M:%S')} (pid {os.getpid()})")

    @r.job("example-cleanup", name="Temp cleanup", schedule="*/15 * * * *", timeout=60, retries=2,
           tags=["example", "maintenance"], description="Removes old scratch directories; retried on failure.")
    def cleanup() -> int:
        base = os.path.join(tempfile.gettempdir(), "chronos-example-scratch")
        os.makedirs(base, exist_ok=True)
        removed = 0
        for name in os.listdir(base):
            path = os.path.join(base, name)
            if time.time() - os.path.getmtime(path) > 3600:
                shutil.rmtree(path, ignore_errors=True)
                removed += 1
        run = current_run()
        if run is not None:
            run.metadata["removed"] = removed  # shows up on the execution in the dashboard
        if random.random() < 0.2:
            raise OSError("scratch volume busy")  # a failing attempt: the runner retries it
        print(f"removed {removed} scratch director{'y' if removed == 1 else 'ies'}")
        return removed

    @r.job("example-report", name="Daily report", schedule="0 6 * * *", timezone="Europe/Paris",
           timeout=300, version="2.1", tags=["example", "reporting"])
    async def report() -> dict:
        await asyncio.sleep(0.2)  # stands in for queries
        totals = {"orders": random.randint(900, 1100), "refunds": random.randint(0, 20)}
        print(f"report: {totals}")
        run = current_run()
        if run is not None:
            run.metadata.update(totals)
        return totals


def main(argv: "list[str] | None" = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--seconds", type=float, help="stop after this many seconds (default: run until stopped)")
    p.add_argument("--trigger-mode", choices=["local", "server"], default="local")
    p.add_argument("--run-now", action="append", default=[], metavar="JOB",
                   help="run this job once right after start (repeatable)")
    args = p.parse_args(argv)
    if not os.environ.get("CHRONOS_API_KEY"):
        print("warning: CHRONOS_API_KEY is not set; the jobs run but nothing is reported", file=sys.stderr)

    # Endpoint and key come from CHRONOS_ENDPOINT / CHRONOS_API_KEY.
    runner = ChronosRunner(trigger_mode=args.trigger_mode, app_id="runner-example", app_version="1.0.0")
    define_jobs(runner)
    for job in args.run_now:
        if job not in runner.jobs:
            p.error(f"unknown job {job!r}; jobs: {', '.join(runner.jobs)}")

    if args.seconds is None and not args.run_now:
        runner.start()  # blocking; Ctrl-C or SIGTERM stops it
        return 0

    thread = runner.start_background()
    while not runner.started.wait(0.1):
        if not thread.is_alive():  # start() failed, e.g. the server refused the key
            print("error: the runner could not start (see above)", file=sys.stderr)
            return 1
    print(f"runner started ({args.trigger_mode} triggers) with jobs: {', '.join(runner.jobs)}", flush=True)
    try:
        for job in args.run_now:
            result = runner.run_now(job)
            print(f"{job}: {result.status} after {result.attempts} attempt(s)", flush=True)
        if args.seconds is None:
            thread.join()
        else:
            thread.join(args.seconds)
    except KeyboardInterrupt:
        pass
    finally:
        runner.stop()
    stats = runner.client.stats()
    print(f"stopped; events sent {stats['sent']}, spooled {stats['spooled']}, dropped {stats['dropped']}",
          flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
