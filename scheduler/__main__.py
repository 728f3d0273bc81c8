"""``python -m scheduler`` (and ``chronos scheduler``): run one scheduler process until SIGTERM/SIGINT."""
from __future__ import annotations

import argparse
import logging
import sys
from typing import Sequence

from chronos.config import Settings


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="chronos scheduler", description="fire schedules, watch jobs, send alerts")
    p.add_argument("--max-sleep", type=float, default=1.0, help="longest pause between ticks, in seconds")
    p.add_argument("--fire-ahead", type=float, default=2.0,
                   help="claim SDK jobs' fires this many seconds before they are due and send the triggers "
                        "at the due time (0: claim when due)")
    p.add_argument("--workers", type=int, default=None, help="threads for server-side jobs (default: settings)")
    p.add_argument("--no-server-jobs", action="store_true", help="fire triggers and watch, but run no server-side job")
    p.add_argument("--data-dir", help="the data directory (where the embedded Redis keeps its files)")
    p.add_argument("--log-level", default="INFO")
    args = p.parse_args(argv)
    logging.basicConfig(level=args.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    from chronos.db import RedisUnavailable, connect
    from chronos.store.schema import ensure_schema
    from scheduler.core import Scheduler

    settings = Settings.load({"CHRONOS_DATA_DIR": args.data_dir} if args.data_dir else None)
    try:
        r = connect(settings)
        ensure_schema(r)
    except RedisUnavailable as exc:
        print(f"chronos scheduler: {exc}", file=sys.stderr)
        return 1
    sched = Scheduler(r, settings, max_sleep=args.max_sleep, workers=args.workers,
                      run_server_jobs=not args.no_server_jobs, fire_ahead_ms=int(args.fire_ahead * 1000))
    return sched.run()


if __name__ == "__main__":
    sys.exit(main())
